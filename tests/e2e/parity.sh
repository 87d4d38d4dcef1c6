#!/usr/bin/env bash
# The same behaviours through every runtime: our Python, Node.js and C runtimes and
# AWS's aws-lambda-ric, each a function deployed with the AWS CLI and invoked over HTTP.
source "$(dirname "$0")/lib.sh"
RIC=$(cd "$(dirname "$0")/../clients/ric" && pwd)/node_modules/aws-lambda-ric
[ -f "$RIC/dist/rapid-client.node" ] || missing_dep "aws-lambda-ric is not built: run scripts/install-deps"
start_server
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NODEV=$(node -p 'process.versions.node.split(".")[0]')
NRT=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })

# The ric variant: the Node.js handler, the client's files and a bootstrap that starts it.
ricdir="$WORK/ric"
mkdir -p "$ricdir/node_modules/aws-lambda-ric"
cp "$FIXTURES/parity-node/index.mjs" "$ricdir/"
cp -r "$RIC/package.json" "$RIC/bin" "$RIC/dist" "$ricdir/node_modules/aws-lambda-ric/"
printf '#!/bin/sh\ncd /var/task\nexec node /var/task/node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"\n' >"$ricdir/bootstrap"
chmod +x "$ricdir/bootstrap"

deploy() { # deploy NAME RUNTIME HANDLER ZIP [ENV]
	awsl create-function --function-name "$1" --runtime "$2" --handler "$3" --timeout 2 --memory-size 256 \
		--environment "Variables={GREETING=hi${5:+,$5}}" --role arn:aws:iam::000000000000:role/r \
		--zip-file "fileb://$4" >/dev/null
}
python3 -c 'import json; print(json.dumps({"op": "echo", "big": "a" * 6000000}))' >"$WORK/big.json"

# The C variant: tests/fixtures/parity-c built with runtimes/c into a bootstrap.
cdir="$WORK/cfn"; mkdir -p "$cdir"
CRT=$(cd "$(dirname "$0")/../../runtimes/c" && pwd)
cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -I"$CRT" "$FIXTURES/parity-c/parity.c" \
	"$CRT/lambda_runtime.c" -o "$cdir/bootstrap" || { echo "FAIL: the C parity function does not build"; exit 1; }

pyzip=$(fixture_zip parity-py); nodezip=$(fixture_zip parity-node); riczip=$(make_zip ricfn "$ricdir")
for spec in "py python$PYV app.handler $pyzip" "node $NRT index.handler $nodezip" "ric provided.al2023 index.handler $riczip" \
	"c provided.al2023 unused $(make_zip cfn "$cdir")"; do
	set -- $spec
	R=$1
	deploy "p-$R" "$2" "$3" "$4"
	deploy "p-$R-initfail" "$2" "$3" "$4" INIT_FAIL=1
	inv "p-$R" '{"op":"echo","list":[1,2.5,{"u":"é✓ 😀"}],"t":true}' >/dev/null
	check "$R: echo of a JSON event with unicode" "{'op': 'echo', 'list': [1, 2.5, {'u': 'é✓ 😀'}], 't': True}" "$(jq_ 'd')"
	code=$(curl -s -o "$WORK/b" -w '%{http_code}' -X POST --data-binary @"$WORK/big.json" "$ENDPOINT/2015-03-31/functions/p-$R/invocations")
	check "$R: a 6 MB payload comes back whole" "200 6000000" "$code $(jq_ 'len(d["big"])')"
	inv "p-$R" '{"op":"null"}' >/dev/null; check "$R: null return" null "$(cat "$WORK/b")"
	inv "p-$R" '{"op":"string"}' >/dev/null; check "$R: string return" '"just a string"' "$(cat "$WORK/b")"
	inv "p-$R" '{"op":"number"}' >/dev/null; check "$R: number return" 42 "$(cat "$WORK/b")"
	inv "p-$R" '[1,2]' >/dev/null; check "$R: a non-object event" '[1, 2]' "$(jq_ 'd')"
	inv "p-$R" '{"op":"context"}' >/dev/null
	check "$R: context ids" "$(hdr x-amzn-RequestId) p-$R \$LATEST arn:aws:lambda:us-east-1:000000000000:function:p-$R 256 /aws/lambda/p-$R" \
		"$(jq_ '" ".join([d["request_id"], d["function_name"], d["function_version"], d["arn"], d["memory"], d["log_group"]])')"
	check_contains "$R: context log stream" '[$LATEST]' "$(jq_ 'd["log_stream"]')"
	check "$R: remaining time decreases, within the timeout" True "$(jq_ '2000 >= d["remaining"][0] > d["remaining"][1] > 0')"
	inv "p-$R" '{"op":"env"}' >/dev/null
	check "$R: environment variables" "hi us-east-1" "$(jq_ 'd["greeting"] + " " + d["region"]')"
	code=$(inv "p-$R" '{"op":"raise"}')
	check "$R: handler exception" "200 Unhandled parity failure" "$code $(hdr X-Amz-Function-Error) $(jq_ 'd["errorMessage"]')"
	inv "p-$R" '{"op":"count"}' >/dev/null; n1=$(jq_ 'd["n"]')
	inv "p-$R" '{"op":"count"}' >/dev/null
	check "$R: a warm call reuses module state" "$((n1 + 1))" "$(jq_ 'd["n"]')"
	inv "p-$R" '{"op":"print"}' >/dev/null
	tail_txt=$(hdr X-Amz-Log-Result | base64 -d)
	for want in "START RequestId:" "PARITY-LOG-LINE" "END RequestId:" "REPORT RequestId:"; do
		check_contains "$R: log has $want" "$want" "$tail_txt"
	done
	code=$(inv "p-$R" '{"op":"exit"}')
	check "$R: process exit inside the handler" "200 Runtime.ExitError" "$code $(jq_ 'd["errorType"]')"
	code=$(inv "p-$R" '{"op":"sleep","s":5}')
	check "$R: timeout" "200 Sandbox.Timedout" "$code $(jq_ 'd["errorType"]')"
	code=$(inv "p-$R-initfail" '{}')
	check "$R: init failure is a function error" "200 Unhandled" "$code $(hdr X-Amz-Function-Error)"
	check_contains "$R: init failure says why" "init failed on purpose" "$(cat "$WORK/b")"
done
