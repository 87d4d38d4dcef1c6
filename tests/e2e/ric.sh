#!/usr/bin/env bash
# AWS's own Node.js runtime interface client (npm aws-lambda-ric, unmodified) runs a
# Node.js handler inside a lambdad provided.al2023 function, as users deploy it.
source "$(dirname "$0")/lib.sh"
RIC=$(cd "$(dirname "$0")/../clients/ric" && pwd)/node_modules/aws-lambda-ric
[ -f "$RIC/dist/rapid-client.node" ] || missing_dep "aws-lambda-ric is not built: run scripts/install-deps"
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

# Handler styles, each a function deployed twice: through lambdad's Node.js runtime and
# through aws-lambda-ric. Both must answer the same.
NODEV=$(node -p 'process.versions.node.split(".")[0]')
NRT=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })
sty="$WORK/styles"
cp -r "$FIXTURES/styles-node" "$sty"
styzip=$(make_zip styles "$sty")
cp -r "$fn/node_modules" "$fn/bootstrap" "$sty/"
styriczip=$(make_zip styles-ric "$sty")
for spec in "node $NRT $styzip" "ric provided.al2023 $styriczip"; do
	set -- $spec
	R=$1
	for h in callback nowait promise cberror reject throws rejectstring logs succeed done; do
		awsl create-function --function-name "s-$R-$h" --runtime "$2" --handler "index.$h" --timeout 3 \
			--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$3" >/dev/null
	done
	for h in app plain; do
		awsl create-function --function-name "s-$R-esm-$h" --runtime "$2" --handler "esm/$h.handler" \
			--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$3" >/dev/null
	done
	check "$R: CommonJS callback handler" "200 callback 7" "$(inv "s-$R-callback" '{"k":7}') $(jq_ 'd["style"], d["event"]["k"]' | tr -d "(),'")"
	check_contains "$R: callback waits for the empty event loop" TIMER-FIRED "$(hdr X-Amz-Log-Result | base64 -d)"
	check "$R: callbackWaitsForEmptyEventLoop=false answers before a 10 s timer (timeout 3 s)" "200  nowait True" \
		"$(inv "s-$R-nowait" '{}') $(hdr X-Amz-Function-Error) $(jq_ 'd["style"], d["remaining"]' | tr -d "(),'")"
	check "$R: handler returning a promise" "200 promise 1" "$(inv "s-$R-promise" '{"k":1}') $(jq_ 'd["style"], d["event"]["k"]' | tr -d "(),'")"
	for spec2 in "cberror RangeError callback failure" "reject SyntaxError rejected on purpose" \
		"throws TypeError thrown on purpose" "rejectstring string a bare string" "done Error done with an error"; do
		set -- $spec2
		h=$1; shift
		code=$(inv "s-$R-$h" '{}')
		check "$R: $h is a function error with its type and message" "200 Unhandled $*" \
			"$code $(hdr X-Amz-Function-Error) $(jq_ 'd["errorType"] + " " + d["errorMessage"]')"
	done
	check "$R: context.succeed" "200 succeed" "$(inv "s-$R-succeed" '{}') $(jq_ 'd["style"]')"
	inv "s-$R-logs" '{}' >/dev/null
	check_contains "$R: console.log from a callback handler, with the request id" "$(hdr x-amzn-RequestId)" \
		"$(hdr X-Amz-Log-Result | base64 -d | grep STYLES-LOG-LINE)"
	check "$R: ES module through package.json type module, in a subdirectory" "200 esm-type-module app.js s-$R-esm-app" \
		"$(inv "s-$R-esm-app" '{}') $(jq_ 'd["style"], d["file"], d["name"]' | tr -d "(),'")"
	check "$R: .mjs with top-level await" "200 mjs ready" "$(inv "s-$R-esm-plain" '{}') $(jq_ 'd["style"], d["ready"]' | tr -d "(),'")"
done
