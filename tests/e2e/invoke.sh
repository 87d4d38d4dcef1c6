#!/usr/bin/env bash
# Invoke end to end: results, warm reuse, parallel environments, every error a caller can meet, logs.
source "$(dirname "$0")/lib.sh"
start_server

create_fn tool tool --timeout 2 --environment 'Variables={GREETING=hello}' >/dev/null
create_fn echo echo >/dev/null

# invoke_raw NAME PAYLOAD [curl args]: POSTs to Invoke with curl; headers to $WORK/h, body to $WORK/b; prints the status.
invoke_raw() {
	local name=$1 payload=$2; shift 2
	curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X POST --data-binary "$payload" "$@" \
		"$ENDPOINT/2015-03-31/functions/$name/invocations"
}

# --- RequestResponse through the AWS CLI, with the log tail.
out=$(awsl invoke --function-name echo --cli-binary-format raw-in-base64-out --payload '{"hello":"world"}' \
	--log-type Tail "$WORK/out.json")
check "CLI invoke body" '{"hello":"world"}' "$(cat "$WORK/out.json")"
check "CLI invoke status" 200 "$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["StatusCode"])')"
tail_txt=$(echo "$out" | python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(sys.stdin)["LogResult"]).decode())')
check_contains "tail has START" "START RequestId:" "$tail_txt"
check_contains "tail has function output" "echo: invocation 1" "$tail_txt"
check_contains "tail has REPORT with Init Duration on a cold start" "Init Duration:" "$tail_txt"
check_contains "tail has Billed Duration" "Billed Duration:" "$tail_txt"
out=$(awsl invoke --function-name echo --cli-binary-format raw-in-base64-out --payload '{}' --log-type Tail "$WORK/out.json")
tail_txt=$(echo "$out" | python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(sys.stdin)["LogResult"]).decode())')
check_contains "second call reached the same (warm) environment" "echo: invocation 2" "$tail_txt"
if [[ "$tail_txt" == *"Init Duration"* ]]; then fail "warm REPORT has no Init Duration"; else pass "warm REPORT has no Init Duration"; fi

# --- DryRun and Event.
code=$(invoke_raw echo '{}' -H 'X-Amz-Invocation-Type: DryRun')
check "DryRun answers 204" 204 "$code"
code=$(invoke_raw echo '{}' -H 'X-Amz-Invocation-Type: Event')
check "Event is accepted (202, the queue: tests/e2e/async.sh)" 202 "$code"
check "Event answers with an empty body" "" "$(cat "$WORK/b")"
code=$(curl -s -o "$WORK/b" -w '%{http_code}' -X POST --data '{"k":1}' "$ENDPOINT/2014-11-13/functions/echo/invoke-async/")
check "the deprecated InvokeAsync answers 202 {\"Status\":202}" '202 {"Status":202}' "$code $(cat "$WORK/b")"
python3 -c 'print("\"" + "a" * 300000 + "\"")' >"$WORK/300k.json"
code=$(curl -s -o "$WORK/b" -w '%{http_code}' -X POST --data-binary @"$WORK/300k.json" \
	"$ENDPOINT/2014-11-13/functions/echo/invoke-async/")
check "InvokeAsync keeps its 256 KB limit" 413 "$code"

# --- Warm reuse: a counter in the function's memory.
invoke_raw tool '{"op":"count"}' >/dev/null
c1=$(jq_ 'd["count"]'); p1=$(jq_ 'd["env_id"]')
invoke_raw tool '{"op":"count"}' >/dev/null
c2=$(jq_ 'd["count"]'); p2=$(jq_ 'd["env_id"]')
check "warm: counter grows in the same environment" "$((c1 + 1))" "$c2"
check "warm: same process" "$p1" "$p2"

# --- The environment a function sees, and the Runtime API headers.
ctx=$(printf '{"custom":{"k":"v"}}' | base64 -w0)
code=$(invoke_raw tool '{"op":"env"}' -H "X-Amz-Client-Context: $ctx")
check "env invoke 200" 200 "$code"
check "AWS_LAMBDA_FUNCTION_NAME" tool "$(jq_ 'd["env"]["AWS_LAMBDA_FUNCTION_NAME"]')"
check "AWS_LAMBDA_FUNCTION_VERSION" '$LATEST' "$(jq_ 'd["env"]["AWS_LAMBDA_FUNCTION_VERSION"]')"
check "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" 128 "$(jq_ 'd["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]')"
check "AWS_LAMBDA_LOG_GROUP_NAME" /aws/lambda/tool "$(jq_ 'd["env"]["AWS_LAMBDA_LOG_GROUP_NAME"]')"
check_contains "AWS_LAMBDA_LOG_STREAM_NAME" '/[$LATEST]' "$(jq_ 'd["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]')"
check "_HANDLER" x "$(jq_ 'd["env"]["_HANDLER"]')"
check "AWS_REGION" us-east-1 "$(jq_ 'd["env"]["AWS_REGION"]')"
check "TZ" :UTC "$(jq_ 'd["env"]["TZ"]')"
check "function's own variable" hello "$(jq_ 'd["env"]["GREETING"]')"
check "cwd is the task root" "$(jq_ 'd["env"]["LAMBDA_TASK_ROOT"]')" "$(jq_ 'd["cwd"]')"
check_contains "AWS_LAMBDA_RUNTIME_API on loopback" "127.0.0.1:" "$(jq_ 'd["env"]["AWS_LAMBDA_RUNTIME_API"]')"
check "request id header matches the response" "$(hdr x-amzn-RequestId)" "$(jq_ 'd["headers"]["lambda-runtime-aws-request-id"]')"
check "invoked function ARN" "arn:aws:lambda:us-east-1:000000000000:function:tool" "$(jq_ 'd["headers"]["lambda-runtime-invoked-function-arn"]')"
check_contains "trace id" "Root=1-" "$(jq_ 'd["headers"]["lambda-runtime-trace-id"]')"
check "client context passed decoded" '{"custom":{"k":"v"}}' "$(jq_ 'd["headers"]["lambda-runtime-client-context"]')"
dl=$(jq_ 'int(d["headers"]["lambda-runtime-deadline-ms"])')
now=$(jq_ 'd["now_ms"]') # when the function received the event
if [ $((dl - now)) -gt 0 ] && [ $((dl - now)) -le 2100 ]; then pass "deadline is now + timeout"; else fail "deadline $dl vs now $now"; fi

# --- Runtime API status codes: unknown request id 403, init/error after init 403.
invoke_raw tool '{"op":"badid"}' >/dev/null
check "response for an unknown request id is 403" 403 "$(jq_ 'd["badid_status"]')"
check "init/error after init is 403" 403 "$(jq_ 'd["late_init_error_status"]')"

# --- Function error: 200 with X-Amz-Function-Error and the runtime's error body.
code=$(invoke_raw tool '{"op":"error","message":"boom"}')
check "function error is HTTP 200" 200 "$code"
check "X-Amz-Function-Error" Unhandled "$(hdr X-Amz-Function-Error)"
check "error body errorType" MyError "$(jq_ 'd["errorType"]')"
check "error body errorMessage" boom "$(jq_ 'd["errorMessage"]')"
check "error body stackTrace" "['line 1']" "$(jq_ 'd["stackTrace"]')"
invoke_raw tool '{"op":"count"}' >/dev/null
check "a handled error keeps the environment" "$p1" "$(jq_ 'd["env_id"]')"

# --- Runtime exit: Runtime.ExitError, and the environment is replaced.
code=$(invoke_raw tool '{"op":"exit","code":3}')
check "exit: HTTP 200" 200 "$code"
check "exit: X-Amz-Function-Error" Unhandled "$(hdr X-Amz-Function-Error)"
check "exit: errorType" Runtime.ExitError "$(jq_ 'd["errorType"]')"
check_contains "exit: errorMessage" "Error: Runtime exited with error: exit status 3" "$(jq_ 'd["errorMessage"]')"
invoke_raw tool '{"op":"kill"}' >/dev/null
check_contains "killed: signal named" "Runtime exited with error: signal: killed" "$(jq_ 'd["errorMessage"]')"
invoke_raw tool '{"op":"count"}' >/dev/null
check "after a crash a new environment serves" 1 "$(jq_ 'd["count"]')"
if [ "$(jq_ 'd["env_id"]')" != "$p1" ]; then pass "new environment has a new process"; else fail "process reused after crash"; fi

# --- Timeout: killed when the timeout passes, Sandbox.Timedout.
start=$(date +%s%N)
code=$(invoke_raw tool '{"op":"sleep","seconds":30}' -H 'X-Amz-Log-Type: Tail')
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "timeout: HTTP 200" 200 "$code"
check "timeout: errorType" Sandbox.Timedout "$(jq_ 'd["errorType"]')"
check_contains "timeout: message" "Task timed out after 2.00 seconds" "$(jq_ 'd["errorMessage"]')"
check_contains "timeout: log line" "Task timed out after 2.00 seconds" "$(hdr X-Amz-Log-Result | base64 -d)"
if [ "$elapsed_ms" -lt 20000 ]; then pass "timeout answered long before the function would finish"; else fail "timeout took ${elapsed_ms} ms"; fi
invoke_raw tool '{"op":"count"}' >/dev/null
check "after a timeout a new environment serves" 1 "$(jq_ 'd["count"]')"

# --- Payload limits: over 6 MB in, over 6 MB out.
head -c 6291457 /dev/zero | tr '\0' 'a' | sed 's/^/"/; s/$/"/' > "$WORK/big.json"
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X POST --data-binary @"$WORK/big.json" "$ENDPOINT/2015-03-31/functions/tool/invocations")
check "payload over 6 MB is 413" 413 "$code"
check "413 error type" RequestTooLargeException "$(hdr X-Amzn-ErrorType)"
code=$(invoke_raw tool '{"op":"big","bytes":6300000}')
check "response over 6 MB: function error" Function.ResponseSizeTooLarge "$(jq_ 'd["errorType"]')"
code=$(invoke_raw tool '{"op":"big","bytes":5000000}')
check "response of 5 MB comes through" 5000002 "$(stat -c %s "$WORK/b")"

# --- Bad requests.
code=$(invoke_raw nosuch '{}')
check "unknown function is 404" 404 "$code"
check "404 type" ResourceNotFoundException "$(hdr X-Amzn-ErrorType)"
code=$(invoke_raw tool 'not json')
check "payload that is not JSON is 400" 400 "$code"
check "bad payload type" InvalidRequestContentException "$(hdr X-Amzn-ErrorType)"
code=$(invoke_raw tool '{}' -H 'X-Amz-Client-Context: !!!')
check "bad client context is 400" 400 "$code"
code=$(invoke_raw 'tool?Qualifier=7' '{}')
check "unknown qualifier is 404" 404 "$code"
code=$(invoke_raw "arn:aws:lambda:us-east-1:000000000000:function:echo" '{"by":"arn"}')
check "invoke by ARN" 200 "$code"
if awsl invoke --function-name nosuch "$WORK/o.json" 2>"$WORK/err"; then fail "CLI: unknown function fails"; else
	check_contains "CLI shows ResourceNotFoundException" ResourceNotFoundException "$(cat "$WORK/err")"; fi

# --- Init errors: reported through /init/error, or a crash before the first /next.
create_fn initerror initerror >/dev/null
code=$(invoke_raw initerror '{}')
check "init error: 200 with function error" "200 Unhandled" "$code $(hdr X-Amz-Function-Error)"
check "init error: the runtime's errorType" Runtime.ImportModuleError "$(jq_ 'd["errorType"]')"
create_fn crashinit crashinit >/dev/null
code=$(invoke_raw crashinit '{}' -H 'X-Amz-Log-Type: Tail')
check "crash at init: Runtime.ExitError" Runtime.ExitError "$(jq_ 'd["errorType"]')"
check_contains "crash at init: exit status" "exit status 7" "$(jq_ 'd["errorMessage"]')"
check_contains "crash at init: its output is in the tail" "crashinit: dying" "$(hdr X-Amz-Log-Result | base64 -d)"

# --- N parallel invokes get N environments.
N=8
# (wait on the clients only: a bare `wait` would also wait for the server.)
clients=()
for i in $(seq 1 $N); do
	curl -s -X POST --data '{"op":"sleep","seconds":1}' "$ENDPOINT/2015-03-31/functions/tool/invocations" -o /dev/null &
	clients+=($!)
done
# Until all N run at once (or the bound passes: then fewer are counted, and it fails).
wait_for 15 eval '[ "$(envs tool busy)" -ge $N ]' || true
pids=$(count_descendants "bootstrap")
wait "${clients[@]}"
clients=()
for i in $(seq 1 $N); do
	curl -s -X POST --data '{"op":"sleep","seconds":0.3}' "$ENDPOINT/2015-03-31/functions/tool/invocations" -o "$WORK/p$i" &
	clients+=($!)
done
wait "${clients[@]}"
distinct=$(cat "$WORK"/p* | python3 -c 'import sys,json; print(len({json.loads(l)["env_id"] for l in sys.stdin.read().replace("}{","}\n{").splitlines()}))')
if [ "$pids" -ge $N ]; then pass "$N concurrent invokes ran in $pids environments"; else fail "only $pids environments for $N concurrent invokes"; fi
if [ "$distinct" -ge 2 ]; then pass "parallel invokes spread over $distinct warm environments"; else fail "parallel invokes used $distinct environments"; fi

# --- Logs are kept per function with each environment's stream.
log=$(curl -s "$ENDPOINT/lambdad/v1/functions/echo/logs")
check_contains "function log has START" "START RequestId:" "$log"
check_contains "function log has REPORT" "REPORT RequestId:" "$log"
check_contains "function log lines carry the log stream" '/[$LATEST]' "$log"

# --- Hostile functions: floods of output, leftover children, junk at the Runtime API.
code=$(invoke_raw tool '{"op":"flood","mb":24}' -H 'X-Amz-Log-Type: Tail')
check "flood of 24 MB of output: 200" 200 "$code"
check "flood: result" 24 "$(jq_ 'd["flooded"]')"
tail_len=$(hdr X-Amz-Log-Result | base64 -d | wc -c)
if [ "$tail_len" -le 4096 ] && [ "$tail_len" -gt 0 ]; then pass "flood: tail is at most 4 KB ($tail_len)"; else fail "flood: tail is $tail_len bytes"; fi
check_contains "flood: the line after it is in the tail" "tool: flood done" "$(hdr X-Amz-Log-Result | base64 -d)"
invoke_raw tool '{"op":"orphan"}' >/dev/null
check "orphan child runs while its environment lives" 1 "$(count_descendants '^sleep 300')"
invoke_raw tool '{"op":"exit","code":1}' >/dev/null
for _ in $(seq 1 40); do [ "$(count_descendants '^sleep 300')" = 0 ] && break; sleep 0.05; done
check "children die with their environment" 0 "$(count_descendants '^sleep 300')"
code=$(invoke_raw tool '{"op":"garbage"}')
check "junk at the Runtime API: the invocation still completes" "200 sent" "$code $(jq_ 'd["garbage"]')"
code=$(invoke_raw tool '{"op":"double"}')
check "a second response for one request: the first one counts" "200 True" "$code $(jq_ 'd["first"]')"
wait_for 10 grep -qa 'second response' "$DATA/logs/tool.log" || true # the log is flushed every 250 ms
check_contains "a second response for one request is refused" "tool: second response status=4" "$(grep -a 'second response' "$DATA/logs/tool.log")"

# --- The server survived all of it.
code=$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/2016-08-19/account-settings/")
check "server alive at the end" 200 "$code"

# --- Keep-alive: idle environments are reaped (a server restarted with a 1 s keep-alive;
# the rest of this test keeps the default so slow clients never see a reaped environment).
stop_server
start_server --keep-alive 1s
clients=()
for i in 1 2 3; do
	curl -s -X POST --data '{"op":"sleep","seconds":0.5}' "$ENDPOINT/2015-03-31/functions/tool/invocations" -o /dev/null &
	clients+=($!)
done
wait "${clients[@]}"
before=$(count_descendants "bootstrap")
wait_for 15 eval '[ "$(count_descendants bootstrap)" = 0 ]' || true
after=$(count_descendants "bootstrap")
if [ "$before" -ge 3 ] && [ "$after" -eq 0 ]; then pass "idle environments reaped after keep-alive ($before -> $after)"; else fail "keep-alive reaping: $before -> $after"; fi
invoke_raw tool '{"op":"count"}' >/dev/null
check "after reaping a cold start serves" 1 "$(jq_ 'd["count"]')"
