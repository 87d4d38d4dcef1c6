#!/usr/bin/env bash
# AWS's own Node.js runtime interface client (npm aws-lambda-ric, unmodified) runs a
# Node.js handler inside a lambdad provided.al2023 function, as users deploy it.
source "$(dirname "$0")/lib.sh"
RIC=$(cd "$(dirname "$0")/../clients/ric" && pwd)/node_modules/aws-lambda-ric
[ -f "$RIC/dist/rapid-client.node" ] || { echo "FAIL: aws-lambda-ric is not built: run scripts/install-deps"; exit 1; }
start_server

# The function's zip: the handler, the client's runtime files, and a bootstrap that starts it.
fn="$WORK/fn"
mkdir -p "$fn/node_modules/aws-lambda-ric"
cp "$FIXTURES/nodeapp/index.mjs" "$fn/"
cp -r "$RIC/package.json" "$RIC/bin" "$RIC/dist" "$fn/node_modules/aws-lambda-ric/"
printf '#!/bin/sh\ncd /var/task\nexec node /var/task/node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"\n' >"$fn/bootstrap"
chmod +x "$fn/bootstrap"
awsl create-function --function-name ric --runtime provided.al2023 --handler index.handler --memory-size 512 \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip ric "$fn")" >/dev/null


check "ric: 200" 200 "$(inv ric '{"n":1}')"
check "ric: the event comes back" 1 "$(jq_ 'd["echo"]["n"]')"
check "ric: context from the Runtime API headers" "ric True" "$(jq_ 'd["functionName"], d["remainingOk"]' | tr -d "(),'")"
check "ric: request id" "$(hdr x-amzn-RequestId)" "$(jq_ 'd["requestId"]')"
check_contains "ric: console.log carries the request id" "$(hdr x-amzn-RequestId)" "$(hdr X-Amz-Log-Result | base64 -d | grep 'node: invocation 1')"
inv ric '{}' >/dev/null
check "ric: warm: module state kept" 2 "$(jq_ 'd["count"]')"
code=$(inv ric '{"fail":"x"}')
check "ric: thrown error" "200 Unhandled TypeError" "$code $(hdr X-Amz-Function-Error) $(jq_ 'd["errorType"]')"
check "ric: error message" "asked to fail: x" "$(jq_ 'd["errorMessage"]')"
