// The AWS SDK for JavaScript v3 against a lambdad in --auth sigv4 mode with the credentials
// a test gives (tests/e2e/sigv4.sh): ListFunctions, printing "ok <count>" or
// "<HTTP status> <error name>: <message>".
//   node sigv4_js.mjs ENDPOINT AKID SECRET
import { createRequire } from "node:module";

// The SDK tests/clients/js installs (scripts/install-deps).
const require = createRequire(new URL("../clients/js/package.json", import.meta.url));
const { LambdaClient, ListFunctionsCommand } = require("@aws-sdk/client-lambda");

const [endpoint, accessKeyId, secretAccessKey] = process.argv.slice(2);
const c = new LambdaClient({ endpoint, region: "us-east-1", maxAttempts: 1, credentials: { accessKeyId, secretAccessKey } });
try {
  const r = await c.send(new ListFunctionsCommand({}));
  console.log(`ok ${r.Functions.length}`);
} catch (e) {
  console.log(`${e.$metadata?.httpStatusCode} ${e.name}: ${e.message}`);
}
