// One long-lived AWS SDK for JavaScript v3 client for an e2e script, as driver.py is for
// boto3 (tests/e2e/lib.sh's js_start starts it). It reads one JSON request per line on
// stdin and writes one JSON answer per line on stdout:
//
//   {"service": "lambda", "op": "AddPermission", "params": {...}}
//       the SDK's command (OP + "Command" of @aws-sdk/client-SERVICE) sent by its client.
//       Strings "fileb://PATH" in params become the bytes of PATH. Answers
//       {"ok": true, "result": {...}, "status": 200} or
//       {"ok": false, "code": "<the error's name>", "message": "...", "status": 4xx};
//       a Uint8Array in the result (Invoke's Payload) is text. No retries.
//   {"reset": true}   forgets the clients (the server restarted).
//
// It says {"ready": true} first. Usage: node driver.mjs ENDPOINT [REGION]
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const [endpoint, region = "us-east-1"] = process.argv.slice(2);
const modules = {};
let clients = {};

async function client(service) {
  if (!clients[service]) {
    modules[service] ??= await import(`@aws-sdk/client-${service}`);
    const m = modules[service];
    const ctor = Object.keys(m).find((k) => k.endsWith("Client") && k !== "__Client" && typeof m[k] === "function");
    clients[service] = new m[ctor]({
      endpoint, region, maxAttempts: 1,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
  }
  return clients[service];
}

function files(v) {
  if (typeof v === "string" && v.startsWith("fileb://")) return new Uint8Array(readFileSync(v.slice(8)));
  if (Array.isArray(v)) return v.map(files);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, files(x)]));
  return v;
}

function plain(v) {
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).filter(([k]) => k !== "$metadata").map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

async function call(req) {
  if (req.reset) {
    for (const c of Object.values(clients)) c.destroy();
    clients = {};
    return { ok: true };
  }
  const c = await client(req.service);
  const Cmd = modules[req.service][`${req.op}Command`];
  if (!Cmd) return { ok: false, code: "NoSuchCommand", message: `@aws-sdk/client-${req.service} has no ${req.op}Command` };
  try {
    const r = await c.send(new Cmd(files(req.params ?? {})));
    return { ok: true, result: plain(r), status: r.$metadata.httpStatusCode };
  } catch (e) {
    return { ok: false, code: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
}

console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await call(JSON.parse(line));
  } catch (e) {
    answer = { ok: false, code: "DriverError", message: String(e) };
  }
  console.log(JSON.stringify(answer));
}
