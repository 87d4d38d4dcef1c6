#!/usr/bin/env bash
# Asynchronous invocation (InvocationType Event) end to end: 202 and limits, delivery
# with the same request id, retries with the server's delays, event age, throttles,
# event invoke config, destinations, DeadLetterConfig, lambdad's dead-letter store
# (events failed / replay), and the stats.
source "$(dirname "$0")/lib.sh"
# Retries 1 s then 3 s; one second of MaximumEventAgeInSeconds lasts 50 ms (60 -> 3 s).
export LAMBDAD_ASYNC_RETRY_DELAYS=1s,3s LAMBDAD_ASYNC_AGE_UNIT_MS=50
start_server

ev() { inv "$1" "$2" -H 'X-Amz-Invocation-Type: Event'; }
# lines NAME [PATTERN]: the function's ASYNC log lines (containing PATTERN).
# Log lines are "TIME STREAM text": the text is "ASYNC <unix time> <request id> <event>".
lines() { curl -s "$ENDPOINT/lambdad/v1/functions/$1/logs" | cut -d' ' -f3- | grep '^ASYNC ' | grep -F -- "${2:-ASYNC}" || true; }
# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s; false if it never succeeds.
wait_until() { local t=$1; shift; for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
nlines() { [ "$(lines "$1" "$2" | wc -l)" -ge "$3" ]; }
stat_() { "$LAMBDAD" events stats "$1" --json --endpoint "$ENDPOINT" | jq -r --arg k "$2" '.[$k]'; }
stat_is() { [ "$(stat_ "$1" "$2")" == "$3" ]; }
# record NAME PATTERN: the JSON event of the function's last log line containing PATTERN.
record() { lines "$1" "$2" | tail -1 | cut -d' ' -f4-; }
# pyj JSON EXPR JSON: the Python expression EXPR on d = JSON (evaluated in the driver).
pyj() { printf '%s' "$3" | pyx "$2"; }
ARN=arn:aws:lambda:us-east-1:000000000000:function

create_fn fn async-fn >/dev/null
create_fn dest async-fn >/dev/null

# --- 1. Accepted: 202 after the commit, the request id, limits, DryRun.
out=$(awsl invoke --function-name fn --invocation-type Event --cli-binary-format raw-in-base64-out \
	--payload '{"op":"ok","via":"cli"}' "$WORK/out.json")
check "CLI: --invocation-type Event answers 202" 202 "$(pyj "$out" 'd["StatusCode"]' "$out")"
code=$(ev fn '{"op":"ok","via":"curl"}')
rid=$(hdr x-amzn-RequestId)
check "curl: Event answers 202" 202 "$code"
check "202 has an empty body" 0 "$(stat -c %s "$WORK/b")"
if [[ "$rid" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]; then pass "x-amzn-RequestId is a request id"; else fail "x-amzn-RequestId: [$rid]"; fi
wait_until 10 nlines fn "$rid" 1 || true
check_contains "the event reached the function with the 202's request id" '"via":"curl"' "$(lines fn "$rid")"
check_contains "the CLI's event reached the function" '"via":"cli"' "$(lines fn)"
python3 -c 'import sys; sys.stdout.write("\"" + "a" * (1048576 - 2) + "\"")' >"$WORK/1mb.json"
python3 -c 'import sys; sys.stdout.write("\"" + "a" * (1048577 - 2) + "\"")' >"$WORK/1mb1.json"
create_fn big async-fn >/dev/null # its log gets the 1 MB line
check "an event of exactly 1 MB is accepted" 202 "$(ev big @"$WORK/1mb.json")"
check "an event over 1 MB: 413" 413 "$(ev big @"$WORK/1mb1.json")"
check "... RequestTooLargeException" RequestTooLargeException "$(hdr X-Amzn-ErrorType)"
check_contains "... says the limit" "1048576 bytes" "$(cat "$WORK/b")"
check "a payload over 1 MB is still fine for RequestResponse" 200 "$(inv big @"$WORK/1mb1.json")"
check "an event that is not JSON: 400" 400 "$(ev fn '{nope')"
check "... InvalidRequestContentException" InvalidRequestContentException "$(hdr X-Amzn-ErrorType)"
check "an event for a missing function: 404" 404 "$(ev nosuch '{}')"
check "DryRun stays 204" 204 "$(inv fn '{}' -H 'X-Amz-Invocation-Type: DryRun')"
check "stats count the accepted events" 2 "$(stat_ fn Accepted)"
wait_until 10 stat_is fn Delivered 2 || true
check "stats: both delivered" 2 "$(stat_ fn Delivered)"
check "stats: queue empty" 0 "$(stat_ fn QueueDepth)"

# --- 2 and 3. Retries: the same request id, Lambda's order of delays (here 1 s, 3 s).
code=$(ev fn '{"op":"fail_first","n":2,"tag":"retry"}')
rid=$(hdr x-amzn-RequestId)
wait_until 15 nlines fn "$rid" 3 || true
check "a failing event is invoked 1 + 2 times" 3 "$(lines fn "$rid" | wc -l)"
check "every attempt had the event's request id" 3 "$(lines fn "$rid" | awk -v r="$rid" '$3 == r' | wc -l)"
gaps=$(lines fn "$rid" | awk 'NR > 1 { printf "%.1f ", $2 - prev } { prev = $2 }')
# At least the delays, the shorter first; how much longer depends on the machine's load.
check "retries wait the configured delays (1 s, then 3 s)" "ok" "$(echo "$gaps" | awk '{ print ($1 >= 0.9 && $2 >= 2.9 && $1 < $2) ? "ok" : "gaps " $0 }')"
wait_until 5 stat_is fn Retries 2 || true
check "stats: 2 retries" 2 "$(stat_ fn Retries)"
check "stats: the retried event ended delivered" 3 "$(stat_ fn Delivered)"

# --- 4. Event invoke config through the API.
awsl put-function-event-invoke-config --function-name fn --maximum-retry-attempts 3 >"$WORK/o" 2>&1 || true
check_contains "MaximumRetryAttempts 3: ValidationException" "ValidationException" "$(cat "$WORK/o")"
# (The AWS CLI refuses 59 itself: curl sends it.)
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X PUT --data '{"MaximumEventAgeInSeconds":59}' \
	"$ENDPOINT/2019-09-25/functions/fn/event-invoke-config")
check "MaximumEventAgeInSeconds 59: 400 ValidationException" "400 ValidationException" "$code $(hdr X-Amzn-ErrorType)"
check_contains "... names the field" "maximumEventAgeInSeconds" "$(cat "$WORK/b")"
awsl put-function-event-invoke-config --function-name fn --destination-config \
	"{\"OnSuccess\":{\"Destination\":\"$ARN:fn\"}}" >"$WORK/o" 2>&1 || true
check_contains "a function is not its own destination" "InvalidParameterValueException" "$(cat "$WORK/o")"
awsl put-function-event-invoke-config --function-name fn --destination-config \
	'{"OnSuccess":{"Destination":"not-an-arn"}}' >"$WORK/o" 2>&1 || true
check_contains "a destination must be an ARN" "InvalidParameterValueException" "$(cat "$WORK/o")"
awsl put-function-event-invoke-config --function-name fn --destination-config \
	'{"OnSuccess":{"Destination":"arn:aws:s3:::bucket"}}' >"$WORK/o" 2>&1 || true
check_contains "S3 is not an OnSuccess destination" "InvalidParameterValueException" "$(cat "$WORK/o")"
awsl update-function-event-invoke-config --function-name fn --maximum-retry-attempts 1 >"$WORK/o" 2>&1 || true
check_contains "Update without a config: ResourceNotFoundException" "ResourceNotFoundException" "$(cat "$WORK/o")"
out=$(awsl put-function-event-invoke-config --function-name fn --maximum-retry-attempts 1 \
	--destination-config "{\"OnSuccess\":{\"Destination\":\"$ARN:dest\"},\"OnFailure\":{\"Destination\":\"$ARN:dest\"}}")
check "Put: MaximumRetryAttempts" 1 "$(pyj "$out" 'd["MaximumRetryAttempts"]' "$out")"
check "Put: FunctionArn is qualified" "$ARN:fn:\$LATEST" "$(pyj "$out" 'd["FunctionArn"]' "$out")"
check "Put: OnSuccess" "$ARN:dest" "$(pyj "$out" 'd["DestinationConfig"]["OnSuccess"]["Destination"]' "$out")"
out=$(awsl update-function-event-invoke-config --function-name fn --maximum-event-age-in-seconds 3600)
check "Update keeps what it does not name" "1 3600" "$(pyj "$out" 'd["MaximumRetryAttempts"], d["MaximumEventAgeInSeconds"]' "$out" | tr -d '(),')"
out=$(awsl get-function-event-invoke-config --function-name fn)
check "Get" "1 3600 $ARN:dest" "$(pyj "$out" 'd["MaximumRetryAttempts"], d["MaximumEventAgeInSeconds"], d["DestinationConfig"]["OnFailure"]["Destination"]' "$out" | tr -d "(),'")"
out=$(awsl list-function-event-invoke-configs --function-name fn)
check "List has it" 1 "$(pyj "$out" 'len(d["FunctionEventInvokeConfigs"])' "$out")"
awsl get-function-event-invoke-config --function-name dest >"$WORK/o" 2>&1 || true
check_contains "Get without a config: ResourceNotFoundException" "ResourceNotFoundException" "$(cat "$WORK/o")"

# --- 5. Destinations: records shaped as Lambda's, delivered to another function.
code=$(ev fn '{"op":"ok","tag":"to-success"}')
rid=$(hdr x-amzn-RequestId)
wait_until 10 nlines dest "$rid" 1 || true
rec=$(record dest "$rid")
check "OnSuccess record: condition" Success "$(pyj "$rec" 'd["requestContext"]["condition"]' "$rec")"
check "OnSuccess record: requestId" "$rid" "$(pyj "$rec" 'd["requestContext"]["requestId"]' "$rec")"
check "OnSuccess record: functionArn" "$ARN:fn:\$LATEST" "$(pyj "$rec" 'd["requestContext"]["functionArn"]' "$rec")"
check "OnSuccess record: approximateInvokeCount" 1 "$(pyj "$rec" 'd["requestContext"]["approximateInvokeCount"]' "$rec")"
check "OnSuccess record: requestPayload" to-success "$(pyj "$rec" 'd["requestPayload"]["tag"]' "$rec")"
check "OnSuccess record: responseContext" "200 \$LATEST" "$(pyj "$rec" 'd["responseContext"]["statusCode"], d["responseContext"]["executedVersion"]' "$rec" | tr -d "(),'")"
check "OnSuccess record: responsePayload" "$rid" "$(pyj "$rec" 'd["responsePayload"]["rid"]' "$rec")"
check "OnSuccess record: version" 1.0 "$(pyj "$rec" 'd["version"]' "$rec")"
code=$(ev fn '{"op":"error","message":"boom","tag":"to-failure"}')
rid=$(hdr x-amzn-RequestId)
wait_until 10 nlines dest "$rid" 1 || true
rec=$(record dest "$rid")
check "OnFailure record: condition" RetriesExhausted "$(pyj "$rec" 'd["requestContext"]["condition"]' "$rec")"
check "OnFailure record: approximateInvokeCount (1 + MaximumRetryAttempts 1)" 2 "$(pyj "$rec" 'd["requestContext"]["approximateInvokeCount"]' "$rec")"
check "OnFailure record: functionError" Unhandled "$(pyj "$rec" 'd["responseContext"]["functionError"]' "$rec")"
check "OnFailure record: responsePayload" "boom MyError" "$(pyj "$rec" 'd["responsePayload"]["errorMessage"], d["responsePayload"]["errorType"]' "$rec" | tr -d "(),'")"
check "OnFailure record: requestPayload" to-failure "$(pyj "$rec" 'd["requestPayload"]["tag"]' "$rec")"
check "the function was invoked twice for it" 2 "$(lines fn "$rid" | wc -l)"

# Event age: 60 "seconds" (3 s here) is over before the second retry (1 s + 3 s).
awsl put-function-event-invoke-config --function-name fn --maximum-event-age-in-seconds 60 \
	--destination-config "{\"OnFailure\":{\"Destination\":\"$ARN:dest\"}}" >/dev/null
code=$(ev fn '{"op":"error","tag":"too-old"}')
rid=$(hdr x-amzn-RequestId)
wait_until 10 nlines dest "$rid" 1 || true
rec=$(record dest "$rid")
check "EventAgeExceeded record" "EventAgeExceeded 2" "$(pyj "$rec" 'd["requestContext"]["condition"], d["requestContext"]["approximateInvokeCount"]' "$rec" | tr -d "(),'")"
check "an event past its age is not invoked again" 2 "$(lines fn "$rid" | wc -l)"
check "stats: dropped by age" 1 "$(stat_ fn DroppedByAge)"

# --- DeadLetterConfig on the function configuration.
out=$(awsl update-function-configuration --function-name fn --dead-letter-config TargetArn=arn:aws:sqs:us-east-1:000000000000:dlq)
check "UpdateFunctionConfiguration sets DeadLetterConfig" arn:aws:sqs:us-east-1:000000000000:dlq "$(pyj "$out" 'd["DeadLetterConfig"]["TargetArn"]' "$out")"
awsl update-function-configuration --function-name fn --dead-letter-config TargetArn=$ARN:dest >"$WORK/o" 2>&1 || true
check_contains "a Lambda ARN is not a DeadLetterConfig target" InvalidParameterValueException "$(cat "$WORK/o")"
awsl create-function --function-name dlqfn --runtime provided.al2023 --handler x --role arn:aws:iam::000000000000:role/r \
	--zip-file "fileb://$(fixture_zip async-fn)" --dead-letter-config TargetArn=arn:aws:sns:us-east-1:000000000000:topic \
	--environment 'Variables={MODE=fail}' >/dev/null
out=$(awsl get-function-configuration --function-name dlqfn)
check "CreateFunction keeps DeadLetterConfig" arn:aws:sns:us-east-1:000000000000:topic "$(pyj "$out" 'd["DeadLetterConfig"]["TargetArn"]' "$out")"
out=$(awsl get-function-configuration --function-name dest)
check "no DeadLetterConfig when none is set" None "$(pyj "$out" 'd.get("DeadLetterConfig")' "$out")"

# --- 6. Never dropped: the DLQ cannot take it yet, so lambdad keeps it.
awsl put-function-event-invoke-config --function-name dlqfn --maximum-retry-attempts 0 >/dev/null
ev dlqfn '{"op":"mode","n":1}' >/dev/null
rid1=$(hdr x-amzn-RequestId)
ev dlqfn '{"op":"mode","n":2}' >/dev/null
rid2=$(hdr x-amzn-RequestId)
wait_until 10 stat_is dlqfn FailedStored 2 || true
failed=$("$LAMBDAD" events failed dlqfn --endpoint "$ENDPOINT")
check_contains "events failed lists the event" "$rid1" "$failed"
check_contains "... with the reason" "DeadLetterConfig target arn:aws:sns:us-east-1:000000000000:topic did not take it: SNS topics are not available in lambdad yet" "$failed"
check_contains "... and the last error" "MODE is fail" "$failed"
check_contains "... and the condition" "RetriesExhausted" "$failed"
awsl update-function-configuration --function-name dlqfn --environment 'Variables={MODE=ok}' --dead-letter-config TargetArn= >/dev/null
out=$(awsl get-function-configuration --function-name dlqfn)
check "TargetArn '' removes DeadLetterConfig" None "$(pyj "$out" 'd.get("DeadLetterConfig")' "$out")"
"$LAMBDAD" events replay dlqfn "$rid1" --endpoint "$ENDPOINT" >"$WORK/o" 2>&1
check "events replay ID" "replayed $rid1" "$(cat "$WORK/o")"
wait_until 10 stat_is dlqfn FailedStored 1 || true
wait_until 10 nlines dlqfn "$rid1" 2 || true
check "the replayed event was delivered again with its request id" 2 "$(lines dlqfn "$rid1" | wc -l)"
wait_until 5 stat_is dlqfn Delivered 1 || true
check "... and succeeded" 1 "$(stat_ dlqfn Delivered)"
failed=$("$LAMBDAD" events failed dlqfn --endpoint "$ENDPOINT")
check_contains "the other one is still kept" "$rid2" "$failed"
if [[ "$failed" == *"$rid1"* ]]; then fail "a replayed event left the store"; else pass "a replayed event left the store"; fi
if "$LAMBDAD" events replay dlqfn 00000000-0000-4000-8000-000000000000 --endpoint "$ENDPOINT" >"$WORK/o" 2>&1; then
	fail "replaying an unknown id fails"; else check_contains "replaying an unknown id fails" "no kept event" "$(cat "$WORK/o")"; fi
"$LAMBDAD" events replay dlqfn --endpoint "$ENDPOINT" >"$WORK/o" 2>&1
check "events replay with no id replays them all" "replayed $rid2" "$(cat "$WORK/o")"
wait_until 10 stat_is dlqfn Delivered 2 || true
check "no failed event left" "no failed events kept for dlqfn" "$("$LAMBDAD" events failed dlqfn --endpoint "$ENDPOINT")"

# An OnSuccess destination that cannot take the record: the record is not lost either.
awsl put-function-event-invoke-config --function-name dlqfn \
	--destination-config '{"OnSuccess":{"Destination":"arn:aws:sqs:us-east-1:000000000000:done"}}' >/dev/null
ev dlqfn '{"op":"ok"}' >/dev/null
rid=$(hdr x-amzn-RequestId)
wait_until 10 stat_is dlqfn FailedStored 1 || true
check_contains "an undeliverable OnSuccess record is kept" "OnSuccess destination arn:aws:sqs:us-east-1:000000000000:done did not take the record" "$("$LAMBDAD" events failed dlqfn --endpoint "$ENDPOINT")"

# A function deleted while its event waits for a retry.
create_fn gone async-fn >/dev/null
ev gone '{"op":"error"}' >/dev/null
rid=$(hdr x-amzn-RequestId)
wait_until 10 nlines gone "$rid" 1 || true
awsl delete-function --function-name gone
wait_until 10 stat_is gone FailedStored 1 || true
check_contains "a deleted function's event is kept" "FunctionDeleted" "$("$LAMBDAD" events failed gone --endpoint "$ENDPOINT")"

# --- 2. Throttled: reserved concurrency 0 holds the event back (not an attempt), it is
# delivered once the limit goes.
awsl put-function-concurrency --function-name dest --reserved-concurrent-executions 0 >/dev/null
ev dest '{"op":"ok","tag":"throttled"}' >/dev/null
rid=$(hdr x-amzn-RequestId)
# Until it has been tried twice (at once, then after a 1 s backoff).
wait_until 15 eval '[ "$(stat_ dest Throttles)" -ge 2 ]' || true
st=$("$LAMBDAD" events stats dest --json --endpoint "$ENDPOINT")
check "a throttled event waits" 0 "$(lines dest "$rid" | wc -l)"
# With delays of 1 s, 2 s, 4 s ... the n-th try comes 2^(n-1) - 1 s after the first at
# the earliest: however slow the machine, n tries mean at least that age.
check "stats: throttles counted with backoff (n tries take 2^(n-1) - 1 s at least)" yes \
	"$(jq -r '.Throttles as $t | .OldestEventAgeSeconds as $a |
		if $t >= 2 and $a >= (pow(2; $t - 1) - 1) then "yes" else "\($t) tries at age \($a)" end' <<<"$st")"
check "stats: it is still queued" 1 "$(jq -r .QueueDepth <<<"$st")"
check "stats: oldest event age, in seconds" yes "$(jq -r 'if (.OldestEventAgeSeconds | type) == "number" and .OldestEventAgeSeconds >= 1 then "yes" else .OldestEventAgeSeconds end' <<<"$st")"
awsl delete-function-concurrency --function-name dest
wait_until 10 nlines dest "$rid" 1 || true
check "delivered once the limit is lifted, on its first attempt" 1 "$(lines dest "$rid" | wc -l)"

# --- 8. Stats through the CLI, and /metrics when it carries them.
stats=$("$LAMBDAD" events stats fn --endpoint "$ENDPOINT")
check_contains "events stats: retries" "retries" "$stats"
check_contains "events stats: dropped by age" "dropped by age         1" "$stats"
check_contains "events stats: dead-lettered" "dead-lettered          2" "$stats"
check_contains "events stats: delivery latency" "delivery latency       p50" "$stats"
m=$(curl -s "$ENDPOINT/metrics")
if [[ "$m" == *lambdad_async_* ]]; then
	check_contains "/metrics: queue depth" 'lambdad_async_queue_depth{function="fn"} 0' "$m"
	check_contains "/metrics: dropped by age" 'lambdad_async_dropped_by_age_total{function="fn"} 1' "$m"
	check_contains "/metrics: dead-lettered" 'lambdad_async_dead_lettered_total{function="dlqfn"}' "$m"
	check_contains "/metrics: retries" 'lambdad_async_retries_total{function="fn"}' "$m"
	check_contains "/metrics: oldest event age" 'lambdad_async_oldest_event_age_seconds{function="fn"}' "$m"
else
	echo "# /metrics does not carry the async metrics yet (async_metrics_render is not called there)"
fi

# --- Durable: configs, the dead-letter store and retry waits survive a restart.
awsl put-function-event-invoke-config --function-name fn --maximum-retry-attempts 1 >/dev/null
awsl update-function-configuration --function-name fn --dead-letter-config TargetArn=arn:aws:sqs:us-east-1:000000000000:dlq >/dev/null
ev fn '{"op":"fail_first","n":1,"tag":"restart"}' >/dev/null
rid=$(hdr x-amzn-RequestId)
wait_until 10 nlines fn "$rid" 1 || true
stop_server
start_server
out=$(awsl get-function-event-invoke-config --function-name fn)
check "the event invoke config survives a restart" 1 "$(pyj "$out" 'd["MaximumRetryAttempts"]' "$out")"
out=$(awsl get-function-configuration --function-name fn)
check "DeadLetterConfig survives a restart" arn:aws:sqs:us-east-1:000000000000:dlq "$(pyj "$out" 'd["DeadLetterConfig"]["TargetArn"]' "$out")"
check_contains "the dead-letter store survives a restart" "OnSuccess destination" "$("$LAMBDAD" events failed dlqfn --endpoint "$ENDPOINT")"
wait_until 10 nlines fn "$rid" 2 || true
check "an event waiting for its retry is retried after the restart" 2 "$(lines fn "$rid" | wc -l)"
wait_until 5 stat_is fn DeadLettered 1 || true
check "... and, failing again in a new environment, went to its end (the DLQ, kept by lambdad)" 1 "$(stat_ fn DeadLettered)"
