#!/usr/bin/env bash
# Functions as Lambda users write them reach lambdad from inside: boto3 (the runtime's,
# Debian's python3-boto3) and the AWS SDK for JavaScript v3 (the runtime's, by require
# and by import) call Invoke on another function, and SQS, with no endpoint in their code, through
# 127.0.0.1:4566 in the sandbox (or the API's own address with --isolation none). A
# function's bundled copy of the SDK wins; AWS_EXECUTION_ENV names the runtime; the
# host's API port itself stays out of reach.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
/usr/bin/python3 -c 'import boto3' 2>/dev/null || missing_dep "/usr/bin/python3 has no boto3 (scripts/install-deps installs python3-boto3)"
[ -d "$ROOT/runtimes/node_modules/@aws-sdk/client-lambda" ] || missing_dep "runtimes/node has no AWS SDK (run scripts/install-deps)"
PYV=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NODEV=$(node -p 'process.versions.node.split(".")[0]')
NRT=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })
mk() { # mk NAME RUNTIME HANDLER FIXTURE
	awsl create-function --function-name "$1" --runtime "$2" --handler "$3" --timeout 30 \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip "$4")" >/dev/null
}

start_server
if grep -q "environments run in namespaces" "$WORK/server.log"; then ISOLATED=1; else ISOLATED=""; fi
mk target "python$PYV" app.handler sdk-py
mk py "python$PYV" app.handler sdk-py
mk nodecjs "$NRT" index.handler sdk-node
mk nodeesm "$NRT" esm.handler sdk-node
mk pybundled "python$PYV" app.handler sdk-py-bundled
mk nodebundled "$NRT" index.handler sdk-node-bundled
mk nodebundledesm "$NRT" esm.handler sdk-node-bundled

# --- Invoke from inside, no endpoint in the code.
code=$(inv py '{"op":"invoke","target":"target","payload":{"op":"echo","value":"from-py"}}')
check "python: boto3 invoke from inside answers 200" "200 200" "$code $(jq_ 'd.get("status")')"
check "python: the other function's result comes back" "from-py target" "$(jq_ 'd["result"]["echo"], d["result"]["from"]' | tr -d "(),'")"
code=$(inv nodecjs '{"op":"invoke","target":"target","payload":{"op":"echo","value":"from-cjs"}}')
check "node (require): LambdaClient invoke from inside answers 200" "200 200" "$code $(jq_ 'd.get("status")')"
check "node (require): the other function's result comes back" "from-cjs target" "$(jq_ 'd["result"]["echo"], d["result"]["from"]' | tr -d "(),'")"
code=$(inv nodeesm '{"op":"invoke","target":"target","payload":{"op":"echo","value":"from-esm"}}')
check "node (import, .mjs): LambdaClient invoke from inside answers 200" "200 200" "$code $(jq_ 'd.get("status")')"
check "node (import, .mjs): the other function's result comes back" "from-esm target" "$(jq_ 'd["result"]["echo"], d["result"]["from"]' | tr -d "(),'")"

# --- SQS from inside (issue 15, point 8): a queue made, sent to and received from.
inv py '{"op":"sqs","queue":"from-py","body":"hello from python"}' >/dev/null
check "python: boto3's SQS client from inside sends and receives" "['hello from python']" "$(jq_ 'd["bodies"]')"
inv nodecjs '{"op":"sqs","queue":"from-node","body":"hello from node"}' >/dev/null
check "node: @aws-sdk/client-sqs from inside sends and receives" "['hello from node']" "$(jq_ 'd["bodies"]')"
check "the queues are lambdad's, seen from outside" "True True" \
	"$(curl -s -X POST -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: AmazonSQS.ListQueues' -d '{}' "$ENDPOINT/" |
		python3 -c 'import json,sys; u=json.load(sys.stdin)["QueueUrls"]; print(any(x.endswith("/from-py") for x in u), any(x.endswith("/from-node") for x in u))')"

# --- The environment, as Lambda sets it.
inv py '{"op":"env"}' >/dev/null
check "python: AWS_EXECUTION_ENV" "AWS_Lambda_python$PYV" "$(jq_ 'd["AWS_EXECUTION_ENV"]')"
if [ -n "$ISOLATED" ]; then
	check "python: AWS_ENDPOINT_URL is the sandbox's own listener" http://127.0.0.1:4566 "$(jq_ 'd["AWS_ENDPOINT_URL"]')"
fi
check "python: region and credentials are set" "us-east-1 us-east-1 True True True" \
	"$(jq_ 'd["AWS_REGION"], d["AWS_DEFAULT_REGION"], bool(d["AWS_ACCESS_KEY_ID"]), bool(d["AWS_SECRET_ACCESS_KEY"]), bool(d["AWS_SESSION_TOKEN"])' | tr -d "(),'")"
check_contains "python: boto3 is the runtime's (Debian's)" "/usr/lib/python3/dist-packages/boto3/" "$(jq_ 'd["boto3_file"]')"
check "python: a client's default endpoint is AWS_ENDPOINT_URL (botocore 1.29 does not read it: the runtime does)" "$(jq_ 'd["AWS_ENDPOINT_URL"]')" "$(jq_ 'd["default_endpoint"]')"
check "python: an endpoint_url given in the code is kept" http://127.0.0.1:1 "$(jq_ 'd["explicit_endpoint"]')"
inv nodecjs '{"op":"env"}' >/dev/null
check "node: AWS_EXECUTION_ENV" "AWS_Lambda_$NRT" "$(jq_ 'd["exec"]')"
check_contains "node (require): the SDK is the runtime's" "/node_modules/@aws-sdk/client-lambda/" "$(jq_ 'd["sdk"]')"
inv nodeesm '{"op":"env"}' >/dev/null
check_contains "node (import): the SDK is the runtime's" "/node_modules/@aws-sdk/client-lambda/" "$(jq_ 'd["sdk"]')"
check "node (import): S3 and lib-dynamodb are there too" "function function" "$(jq_ 'd["more"]')"

# --- A function's own copy wins over the runtime's.
inv pybundled '{}' >/dev/null
check "python: a bundled boto3 wins" "True /var/task/boto3/__init__.py" "$(jq_ 'd["bundled"], d["boto3_file"]' | tr -d "(),'" | sed "s#$DATA/code/[0-9a-f]*#/var/task#")"
check "python: the runtime's endpoint hook loads no botocore of its own" False "$(jq_ 'd["botocore_loaded"]')"
inv nodebundled '{}' >/dev/null
check "node (require): a bundled @aws-sdk/client-lambda wins" True "$(jq_ 'd["bundled"]')"
inv nodebundledesm '{}' >/dev/null
check "node (import): a bundled @aws-sdk/client-lambda wins" True "$(jq_ 'd["bundled"]')"

# --- From inside, 4566 is lambdad; the host's API port is not.
if [ -n "$ISOLATED" ]; then
	inv py "{\"op\":\"connect\",\"addrs\":[\"127.0.0.1:4566\",\"127.0.0.1:$PORT\"]}" >/dev/null
	check "inside: 127.0.0.1:4566 answers" ok "$(jq_ 'd["127.0.0.1:4566"]')"
	check "inside: the host's API port is unreachable" ConnectionRefusedError "$(jq_ "d['127.0.0.1:$PORT']")"
fi

# --- On the host (--isolation none), the endpoint is the API's own address.
stop_server
start_server --isolation none
inv py '{"op":"env"}' >/dev/null
check "isolation none: AWS_ENDPOINT_URL is the API's address" "$ENDPOINT" "$(jq_ 'd["AWS_ENDPOINT_URL"]')"
code=$(inv py '{"op":"invoke","target":"target","payload":{"op":"echo","value":"on-host"}}')
check "isolation none: boto3 invoke answers 200" "200 on-host" "$code $(jq_ 'd["result"]["echo"]')"
code=$(inv nodecjs '{"op":"invoke","target":"target","payload":{"op":"echo","value":"on-host-js"}}')
check "isolation none: LambdaClient invoke answers 200" "200 on-host-js" "$code $(jq_ 'd["result"]["echo"]')"
code=$(inv nodeesm '{"op":"invoke","target":"target","payload":{"op":"echo","value":"on-host-esm"}}')
check "isolation none: an .mjs handler imports the runtime's SDK and invokes" "200 on-host-esm" "$code $(jq_ 'd["result"]["echo"]')"
inv nodebundledesm '{}' >/dev/null
check "isolation none: a bundled @aws-sdk/client-lambda still wins for import" True "$(jq_ 'd["bundled"]')"
