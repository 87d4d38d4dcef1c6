#!/usr/bin/env bash
# Managed runtimes: Python and Node.js functions written the way Lambda documents them,
# run by the project's runtimes on the host's interpreters; identifiers the host cannot
# serve are refused at CreateFunction.
source "$(dirname "$0")/lib.sh"
start_server
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NODEV=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo "")
mk() { # mk NAME RUNTIME HANDLER FIXTURE
	awsl create-function --function-name "$1" --runtime "$2" --handler "$3" \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip "$4")" >/dev/null
}

# --- Python
mk py "python$PYV" app.handler pyapp
check "python: 200" 200 "$(inv py '{"n":1}')"
check "python: the event comes back" 1 "$(jq_ 'd["echo"]["n"]')"
check "python: a package import works" 42 "$(jq_ 'd["helper"]')"
check "python: context" "py 128 True" "$(jq_ 'd["function_name"], d["memory"], d["remaining_ok"]' | tr -d "(),'")"
check "python: request id in the context is the invocation's" "$(hdr x-amzn-RequestId)" "$(jq_ 'd["request_id"]')"
check_contains "python: print reaches the log tail" "app: invocation 1" "$(hdr X-Amz-Log-Result | base64 -d)"
check_contains "python: logging carries the request id" "$(hdr x-amzn-RequestId)" "$(hdr X-Amz-Log-Result | base64 -d | grep 'logged 1')"
inv py '{"n":2}' >/dev/null
check "python: module code ran once (warm)" 2 "$(jq_ 'd["count"]')"
code=$(inv py '{"fail":"boom"}')
check "python: exception is a function error" "200 Unhandled" "$code $(hdr X-Amz-Function-Error)"
check "python: errorType is the exception class" ValueError "$(jq_ 'd["errorType"]')"
check "python: errorMessage" "asked to fail: boom" "$(jq_ 'd["errorMessage"]')"
check "python: stackTrace names the handler's file" True "$(jq_ 'any("app.py" in l for l in d["stackTrace"])')"
mk pybad "python$PYV" nosuch.handler pyapp
inv pybad '{}' >/dev/null
check "python: a missing module is Runtime.ImportModuleError" Runtime.ImportModuleError "$(jq_ 'd["errorType"]')"

# --- Node.js
if [ -n "$NODEV" ] && [ "$NODEV" -ge 18 ]; then
	nrt=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })
	mk nd "$nrt" index.handler nodeapp
	check "node: 200" 200 "$(inv nd '{"n":1}')"
	check "node: the event comes back" 1 "$(jq_ 'd["echo"]["n"]')"
	check "node: context" "nd True" "$(jq_ 'd["functionName"], d["remainingOk"]' | tr -d "(),'")"
	check_contains "node: console.log reaches the log tail with the request id" "$(hdr x-amzn-RequestId)" "$(hdr X-Amz-Log-Result | base64 -d | grep 'node: invocation 1')"
	inv nd '{}' >/dev/null
	check "node: module code ran once (warm)" 2 "$(jq_ 'd["count"]')"
	code=$(inv nd '{"fail":"x"}')
	check "node: thrown error is a function error" "200 Unhandled TypeError" "$code $(hdr X-Amz-Function-Error) $(jq_ 'd["errorType"]')"
fi

# --- Identifiers the host cannot serve, or lambdad does not know.
if awsl create-function --function-name too-new --runtime python3.99 --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip pyapp)" 2>"$WORK/err"; then
	fail "an unknown python version was accepted"
else
	check_contains "an unknown identifier lists the supported ones" "python3.13" "$(cat "$WORK/err")"
fi
if [ "$PYV" != 3.13 ]; then
	if awsl create-function --function-name py313 --runtime python3.13 --handler app.handler \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip pyapp)" 2>"$WORK/err"; then
		fail "python3.13 accepted on a host with Python $PYV"
	else
		check_contains "a runtime newer than the host's interpreter is refused, naming what to install" "needs Python 3.13 or newer" "$(cat "$WORK/err")"
	fi
fi
check "refused create left nothing" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/2015-03-31/functions/py313")"
