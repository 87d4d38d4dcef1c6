#!/usr/bin/env bash
# InvokeWithResponseStream end to end (svc/lambda/stream.c's event-stream framing, the
# encoder in proto/eventstream.c): boto3's invoke_with_response_stream (the machine's
# newest boto3: Debian's predates the operation) and the JS SDK v3's
# InvokeWithResponseStreamCommand read a Node.js function's chunks in order as it writes
# them, and a buffered Python function's answer as one PayloadChunk; failures mid-stream,
# before any byte and by timeout end in InvokeComplete's ErrorCode; LogResult with Tail;
# errors before the stream are Invoke's JSON errors. The gated function writes its last
# chunk only once the client, holding the first three, sends it SIGUSR2: no timing.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENTS=$(cd "$HERE/../clients" && pwd)
python3 -c 'import sys, botocore.session as s
sys.exit("InvokeWithResponseStream" not in s.get_session().get_service_model("lambda").operation_names)' 2>/dev/null ||
	missing_dep "python3 has no boto3 with InvokeWithResponseStream"
NODEV=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$NODEV" -ge 18 ] || missing_dep "no Node.js 18 or newer"
[ -d "$CLIENTS/js/node_modules/@aws-sdk/client-lambda" ] || missing_dep "run scripts/install-deps (AWS SDK for JavaScript)"
start_server
NRT=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NZIP=$(fixture_zip rstream-node)
mk() { # mk NAME RUNTIME HANDLER ZIP TIMEOUT
	awsl create-function --function-name "$1" --runtime "$2" --handler "$3" --timeout "$5" \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$4" >/dev/null
}
mk rn "$NRT" index.handler "$NZIP" 60
mk rh "$NRT" index.handler "$NZIP" 3
mk rp "python$PYV" app.handler "$(fixture_zip rstream-py)" 30
mk rz "python$PYV" app.handler "$(fixture_zip rstream-py)" 30

# st FUNCTION PAYLOAD [options]: boto3's answer (rstream_client.py) in $WORK/r.json.
st() { python3 "$HERE/rstream_client.py" "$ENDPOINT" "$SERVER_PID" "$@" >"$WORK/r.json" 2>"$WORK/st.err" || cat "$WORK/st.err"; }
# r EXPR: a Python expression on that answer, as d; C is its PayloadChunk payloads, E
# the InvokeComplete event (or None).
r() { pyx "(lambda C, E: ($1))([e['payload'] for e in d.get('events', []) if e['type'] == 'PayloadChunk'], ([e for e in d.get('events', []) if e['type'] == 'InvokeComplete'] or [None])[-1])" "$WORK/r.json" 2>&1; }
concurrent() { curl -s "$ENDPOINT/metrics" | sed -n "s/^lambdad_concurrent_executions{function=\"$1\"} //p"; }
idle() { [ "$(concurrent "$1")" = 0 ]; }

# --- boto3: the chunks in order, as the function writes them.
st rn '{"op":"chunks"}' --gate
check "boto3: 200, \$LATEST, the event-stream content type" "200 \$LATEST application/vnd.amazon.eventstream" \
	"$(r 'd["status"], d["executed_version"], d["content_type"]' | tr -d "(),'")"
check "boto3: the answer is chunked" chunked "$(r 'd["headers"].get("transfer-encoding")')"
check "boto3: the first three chunks arrived before the last was written" "chunk-1|chunk-2|chunk-3|" \
	"$(r '"|".join("".join(d["before_release"]).split("\n"))')"
check "... while the invocation was in flight, and the function was released only then" "1 True" \
	"$(r 'd["metrics"], d["released"] >= 1' | tr -d "(),'")"
check "boto3: every chunk, in order, the last in its own PayloadChunk" "chunk-1|chunk-2|chunk-3|last| last" \
	"$(r '"|".join("".join(C).split("\n")) + " " + C[-1].strip()')"
echo "# boto3: $(r 'len(C)') PayloadChunk events for the 4 writes"
check "boto3: then InvokeComplete, last, with no error and no LogResult unasked" "InvokeComplete ['type']" \
	"$(r 'd["events"][-1]["type"] + " " + str(sorted(E))')"
check_contains "boto3: x-amzn-RequestId" "-" "$(r 'd["request_id"]')"

# Tail and the client context.
CC=$(printf '{"custom":{"k":"v"},"env":{"e":"1"}}' | base64 -w0)
st rn '{"op":"context"}' --tail --client-context "$CC"
id=$(r 'd["request_id"]')
check "the function sees the event, the request id and the client context" "context $id v" \
	"$(r 'json.loads("".join(C))["event"]["op"], json.loads("".join(C))["requestId"], json.loads("".join(C))["clientContext"]["custom"]["k"]' | tr -d "(),'")"
tail_txt=$(r 'E.get("LogResult", "")' | base64 -d)
check_contains "Tail: LogResult has START" "START RequestId: $id" "$tail_txt"
check_contains "Tail: ... the function's log line" "rstream: context for $id" "$tail_txt"
check_contains "Tail: ... and REPORT" "REPORT RequestId: $id" "$tail_txt"

# Failures: mid-stream, before any byte, by timeout.
st rn '{"op":"fail"}'
check "mid-stream failure: the chunk sent, then InvokeComplete's ErrorCode and ErrorDetails" \
	"200 ['partial\\n'] Error mid-stream failure" "$(r '"%s %r %s %s" % (d["status"], C, E["ErrorCode"], E["ErrorDetails"])')"
st rn '{"op":"context"}'
check "the environment answers after a mid-stream failure" context "$(r 'json.loads("".join(C))["event"]["op"]')"
st rn '{"op":"early"}'
check "a failure before any byte: no PayloadChunk, ErrorCode the error's type" "200 [] TypeError failed before any byte" \
	"$(r '"%s %r %s %s" % (d["status"], C, E["ErrorCode"], E["ErrorDetails"])')"
st rh '{"op":"hang"}'
check "a stream cut by the timeout: the first chunk, then Sandbox.Timedout" "['first\\n'] Sandbox.Timedout" \
	"$(r '"%r %s" % (C, E["ErrorCode"])')"
check_contains "... ErrorDetails says so" "Task timed out after 3.00 seconds" "$(r 'E["ErrorDetails"]')"

# A large stream arrives whole and in order.
st rn '{"op":"big"}'
check "a 1.5 MiB stream arrives intact, then InvokeComplete" "True ['type']" \
	"$(r '"%s %s" % ("".join(C) == "".join(chr(97 + i % 26) * 65536 for i in range(24)), sorted(E))')"
echo "# boto3: the 1.5 MiB stream came in $(r 'len(C)') PayloadChunk events"

# A buffered Python function: its whole answer is one PayloadChunk.
st rp '{"x":1}' --tail
check "buffered: one PayloadChunk with the whole answer" "1 {'x': 1}" "$(r '"%s %s" % (len(C), json.loads(C[0])["echo"])')"
check_contains "buffered: LogResult with Tail" "rstream-py: invoked with" "$(r 'E.get("LogResult", "")' | base64 -d)"
st rp '{"fail":"boom"}'
check "buffered failure: no PayloadChunk, ErrorCode ValueError" "[] ValueError asked to fail: boom" \
	"$(r '"%r %s %s" % (C, E["ErrorCode"], E["ErrorDetails"])')"

# A client that leaves mid-stream: the invocation ends on its own, the server goes on.
st rn '{"op":"chunks"}' --disconnect
check "disconnect: the client had the first chunks" "chunk-1|chunk-2|chunk-3|" "$(r '"|".join("".join(d["before_release"]).split("\n"))')"
wait_for 60 idle rn || true
check "the invocation ends after the client left" 0 "$(concurrent rn)"
st rn '{"op":"context"}'
check "the next call is answered" context "$(r 'json.loads("".join(C))["event"]["op"]')"

# --- Errors before the stream: Invoke's JSON errors.
st no-such '{}'
check "no function: 404 ResourceNotFoundException" "404 ResourceNotFoundException" "$(r 'd["error"]["status"], d["error"]["code"]' | tr -d "(),'")"
st rn 'not json'
check "a payload that is not JSON: 400 InvalidRequestContentException" "400 InvalidRequestContentException" \
	"$(r 'd["error"]["status"], d["error"]["code"]' | tr -d "(),'")"
st rn '{}' --type Event
check "InvocationType Event: 400 ValidationException" "400 ValidationException" "$(r 'd["error"]["status"], d["error"]["code"]' | tr -d "(),'")"
check_contains "... naming the field and the allowed values" "at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]" \
	"$(r 'd["error"]["message"]')"
st rn '{}' --client-context 'not base64!'
check "a bad client context: InvalidRequestContentException" InvalidRequestContentException "$(r 'd["error"]["code"]')"
st rn '{}' --qualifier nope
check "an unknown qualifier: 404 ResourceNotFoundException" "404 ResourceNotFoundException" "$(r 'd["error"]["status"], d["error"]["code"]' | tr -d "(),'")"
st rn '{"op":"context"}' --qualifier '$LATEST'
check "Qualifier \$LATEST streams" "200 context" "$(r 'd["status"], json.loads("".join(C))["event"]["op"]' | tr -d "(),'")"
st rn '{}' --type DryRun
check "DryRun: 204, no events" "204 \$LATEST []" "$(r '"%s %s %s" % (d["status"], d["executed_version"], d["events"])')"
b3 lambda put_function_concurrency '{"FunctionName":"rz","ReservedConcurrentExecutions":0}' >/dev/null
st rz '{}'
check "reserved concurrency 0: 429 TooManyRequestsException" "429 TooManyRequestsException ReservedFunctionConcurrentInvocationLimitExceeded" \
	"$(r 'd["error"]["status"], d["error"]["code"], d["error"]["reason"]' | tr -d "(),'")"
b3 lambda delete_function_concurrency '{"FunctionName":"rz"}' >/dev/null
RS=/2021-11-15/functions
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X POST -H 'X-Amz-Log-Type: Bogus' --data-binary '{}' "$ENDPOINT$RS/rn/response-streaming-invocations")
check "a bad X-Amz-Log-Type: 400 ValidationException in JSON" "400 ValidationException application/json" "$code $(hdr X-Amzn-ErrorType) $(hdr Content-Type)"
check_contains "... naming logType" "at 'logType'" "$(jq_ 'd["message"]')"
head -c 7000000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X POST --data-binary "@$WORK/big.json" "$ENDPOINT$RS/rn/response-streaming-invocations")
check "a payload over 6 MB: 413 RequestTooLargeException" "413 RequestTooLargeException" "$code $(hdr X-Amzn-ErrorType)"

# --- The bytes on the wire, read with curl and decoded by botocore's own parser.
code=$(curl -s -N -o "$WORK/raw" -D "$WORK/h" -w '%{http_code}' -X POST --data-binary '{"x":2}' "$ENDPOINT$RS/rp/response-streaming-invocations")
check "curl: 200 chunked application/vnd.amazon.eventstream, X-Amz-Executed-Version" \
	"200 chunked application/vnd.amazon.eventstream \$LATEST" "$code $(hdr Transfer-Encoding) $(hdr Content-Type) $(hdr X-Amz-Executed-Version)"
check "curl: botocore's EventStreamBuffer decodes the body (CRCs checked)" \
	"PayloadChunk event application/octet-stream {'x': 2}|InvokeComplete event application/json {}" \
	"$(python3 -c '
import json, sys
from botocore.eventstream import EventStreamBuffer
b = EventStreamBuffer(); b.add_data(open(sys.argv[1], "rb").read())
out = []
for m in b:
    h = m.headers; p = json.loads(m.payload)
    out.append("%s %s %s %s" % (h[":event-type"], h[":message-type"], h[":content-type"], p.get("echo", p)))
print("|".join(out))' "$WORK/raw" 2>&1)"

# --- The AWS SDK for JavaScript v3.
(cd "$CLIENTS/js" && node rstream.mjs "$ENDPOINT" "$SERVER_PID" rn rp "$HERE/rstream_client.py") >"$WORK/js.json" 2>"$WORK/js.err" ||
	{ fail "the JS client failed: $(head -c 600 "$WORK/js.err")"; echo '{}' >"$WORK/js.json"; }
j() { pyx "$1" "$WORK/js.json" 2>&1; }
check "js: 200, \$LATEST, the event-stream content type" "200 \$LATEST application/vnd.amazon.eventstream" \
	"$(j 'd["gated"]["status"], d["gated"]["version"], d["gated"]["contentType"]' | tr -d "(),'")"
check "js: the first three chunks arrived before the last was written" "chunk-1|chunk-2|chunk-3| True" \
	"$(j '"|".join("".join(d["gated"]["beforeRelease"]).split("\n")) + " " + str(d["gated"]["released"] >= 1)')"
check "js: every chunk in order, then InvokeComplete" "chunk-1|chunk-2|chunk-3|last| InvokeComplete" \
	"$(j '"|".join("".join(e.get("payload", "") for e in d["gated"]["events"]).split("\n")) + " " + d["gated"]["events"][-1]["type"]')"
check "js: a mid-stream failure's ErrorCode and ErrorDetails" "partial Error mid-stream failure" \
	"$(j 'd["fail"]["events"][0]["payload"].strip(), d["fail"]["events"][-1]["ErrorCode"], d["fail"]["events"][-1]["ErrorDetails"]' | tr -d "(),'")"
check_contains "js: LogResult with Tail" "REPORT RequestId: $(j 'd["tail"]["requestId"]')" "$(j 'd["tail"]["events"][-1]["LogResult"]' | base64 -d)"
check "js: a buffered function's answer is one PayloadChunk" "1 js" \
	"$(j 'sum(e["type"] == "PayloadChunk" for e in d["buffered"]["events"]), json.loads(d["buffered"]["events"][0]["payload"])["echo"]["from"]' | tr -d "(),'")"
check "js: no function is ResourceNotFoundException 404" "ResourceNotFoundException 404" "$(j 'd["missing"]')"

# --- The AWS CLI v2, when it has the operation (Debian's 2.9 predates it).
if "$AWS_BIN" lambda help 2>/dev/null | grep -q invoke-with-response-stream; then
	aws_proc lambda invoke-with-response-stream --function-name rp --cli-binary-format raw-in-base64-out \
		--payload '{"cli":1}' "$WORK/cli.out" >"$WORK/cli.json" 2>"$WORK/cli.err" || true
	check_contains "aws lambda invoke-with-response-stream: the function's answer" '"cli": 1' "$(cat "$WORK/cli.out" "$WORK/cli.json" 2>/dev/null)"
else
	echo "# the AWS CLI at $AWS_BIN ($("$AWS_BIN" --version 2>&1 | cut -d' ' -f1)) has no invoke-with-response-stream: not run"
fi
kill -0 "$SERVER_PID" 2>/dev/null && pass "the server is up after it all" || fail "the server died"
