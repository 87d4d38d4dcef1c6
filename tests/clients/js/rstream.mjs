// tests/e2e/rstream.sh's AWS SDK for JavaScript v3 client of InvokeWithResponseStream
// (InvokeWithResponseStreamCommand; the SDK decodes the event stream and checks its CRCs).
// usage: node rstream.mjs ENDPOINT SERVER_PID STREAMING_FN BUFFERED_FN RELEASE_SCRIPT
// The gated call: once the third chunk is in, the chunks so far are recorded and the
// function released (RELEASE_SCRIPT release SERVER_PID sends it SIGUSR2); only then does
// it write its last chunk. Prints one JSON object of observations.
import { execFileSync } from "node:child_process";
import { LambdaClient, InvokeWithResponseStreamCommand } from "@aws-sdk/client-lambda";

const [endpoint, serverPid, fn, buffered, releaseScript] = process.argv.slice(2);
const lam = new LambdaClient({
  endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});
const dec = new TextDecoder();

// Invokes and reads the stream; gate: release the function after "chunk-3\n".
async function call(input, gate) {
  const r = await lam.send(new InvokeWithResponseStreamCommand(input));
  const res = { status: r.StatusCode, version: r.ExecutedVersion, contentType: r.ResponseStreamContentType,
    requestId: r.$metadata.requestId, events: [], beforeRelease: null };
  let got = "";
  for await (const ev of r.EventStream) {
    if (ev.PayloadChunk) {
      const text = dec.decode(ev.PayloadChunk.Payload);
      got += text;
      res.events.push({ type: "PayloadChunk", payload: text });
    } else if (ev.InvokeComplete) {
      res.events.push({ type: "InvokeComplete", ...ev.InvokeComplete });
    } else {
      res.events.push({ type: Object.keys(ev).join(",") });
    }
    if (gate && res.beforeRelease === null && got.endsWith("chunk-3\n")) {
      res.beforeRelease = res.events.map((e) => e.payload);
      res.released = Number(execFileSync("python3", [releaseScript, "release", serverPid]).toString().trim());
    }
  }
  return res;
}

const payload = (o) => new TextEncoder().encode(JSON.stringify(o));
const out = {};
out.gated = await call({ FunctionName: fn, Payload: payload({ op: "chunks" }) }, true);
out.fail = await call({ FunctionName: fn, Payload: payload({ op: "fail" }) });
out.tail = await call({ FunctionName: fn, Payload: payload({ op: "context" }), LogType: "Tail" });
out.buffered = await call({ FunctionName: buffered, Payload: payload({ from: "js" }) });
try {
  await call({ FunctionName: "no-such-function", Payload: payload({}) });
  out.missing = "answered";
} catch (err) {
  out.missing = `${err.name} ${err.$metadata && err.$metadata.httpStatusCode}`;
}
console.log(JSON.stringify(out));
