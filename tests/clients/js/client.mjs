// The AWS SDK for JavaScript v3 as a user drives lambdad: invoke (it sends
// application/octet-stream), get-function, a paginated list. Prints one JSON object.
import {
  LambdaClient, InvokeCommand, GetFunctionCommand, paginateListFunctions,
} from "@aws-sdk/client-lambda";

const [endpoint, name] = process.argv.slice(2);
const lam = new LambdaClient({
  endpoint, region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});
const out = {};
const r = await lam.send(new InvokeCommand({
  FunctionName: name, Payload: new TextEncoder().encode(JSON.stringify({ op: "echo", from: "js" })), LogType: "Tail",
}));
out.status = r.StatusCode;
out.payload = JSON.parse(new TextDecoder().decode(r.Payload));
out.tail_has_start = Buffer.from(r.LogResult, "base64").toString().includes("START RequestId:");
const e = await lam.send(new InvokeCommand({
  FunctionName: name, Payload: new TextEncoder().encode(JSON.stringify({ op: "error", message: "from js" })),
}));
out.function_error = e.FunctionError;
const g = await lam.send(new GetFunctionCommand({ FunctionName: name }));
out.code_location = g.Code.Location;
out.runtime = g.Configuration.Runtime;
try {
  await lam.send(new GetFunctionCommand({ FunctionName: "nope" }));
} catch (err) {
  out.missing = err.name;
}
const names = [];
for await (const page of paginateListFunctions({ client: lam, pageSize: 2 }, {})) {
  for (const f of page.Functions) names.push(f.FunctionName);
}
out.names = names;
console.log(JSON.stringify(out));
