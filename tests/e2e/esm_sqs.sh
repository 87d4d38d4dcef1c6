#!/usr/bin/env bash
# The SQS poller of event source mappings (src/esm/poller.c, src/esm/source_sqs.c): messages
# sent with the AWS CLI and boto3 reach a Python function in batches with Lambda's SQS event
# record and are deleted; a failing message reappears after the visibility timeout and goes
# to the dead-letter queue after maxReceiveCount; ReportBatchItemFailures leaves only the
# listed messages (a malformed answer fails the whole batch); FilterCriteria drops (deletes)
# what does not match; Disabled stops polling and Enabled resumes it; mappings survive a
# restart; a mapping on an alias invokes its version; deleting the function or the queue
# disables the mapping with a reason.
source "$(dirname "$0")/lib.sh"
start_server

PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ZIP=$(fixture_zip esm-py)
Q=arn:aws:sqs:us-east-1:000000000000
URL="$ENDPOINT/000000000000"
mkfn() { # mkfn NAME [MODE]
	awsl create-function --function-name "$1" --runtime "python$PYV" --handler app.handler \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$ZIP" \
		--environment "Variables={MODE=${2:-ok}}" >/dev/null
}
mkq() { # mkq NAME [ATTRIBUTES-JSON]
	b3 sqs create_queue "{\"QueueName\":\"$1\",\"Attributes\":${2:-{\}}}" >/dev/null
}
# batches FN: the "ESM {...}" lines the function logged, one JSON a line.
batches() { curl -s "$ENDPOINT/lambdad/v1/functions/$1/logs" | grep -o 'ESM {.*' | cut -c5- || true; }
# seen FN: every body the function got, with its receive count ("body:count"), sorted.
seen() { batches "$1" | python3 -c '
import json, sys
out = []
for l in sys.stdin:
    d = json.loads(l)
    out += ["%s:%s" % (b, c) for b, c in zip(d["bodies"], d["counts"])]
print(" ".join(sorted(out)))'; }
nseen() { batches "$1" | python3 -c 'import json, sys; print(sum(len(json.loads(l)["ids"]) for l in sys.stdin))'; }
# until_eq WANT CMD...: polls CMD until it prints WANT (generous bound); prints the last output.
until_eq() {
	local want=$1 got="" end=$((SECONDS + 90)); shift
	while :; do
		got=$("$@")
		[ "$got" = "$want" ] || [ $SECONDS -ge $end ] && break
		sleep 0.1
	done
	echo "$got"
}
qcount() { # qcount QUEUE: visible + in flight
	b3 sqs get_queue_attributes "{\"QueueUrl\":\"$URL/$1\",\"AttributeNames\":[\"All\"]}" |
		pyx 'int(d["result"]["Attributes"]["ApproximateNumberOfMessages"]) + int(d["result"]["Attributes"]["ApproximateNumberOfMessagesNotVisible"])'
}
state() { b3 lambda get_event_source_mapping "{\"UUID\":\"$1\"}" | pyx 'd["result"]["State"] if d["ok"] else d["code"]'; }
reason() { b3 lambda get_event_source_mapping "{\"UUID\":\"$1\"}" | pyx 'd["result"]["StateTransitionReason"]'; }
mapping() { # mapping FN QUEUE [extra create_event_source_mapping JSON members]: the UUID
	b3 lambda create_event_source_mapping "{\"FunctionName\":\"$1\",\"EventSourceArn\":\"$Q:$2\"${3:+,$3}}" |
		pyx 'd["result"]["UUID"] if d["ok"] else "FAILED " + d["message"]'
}
send_batch() { # send_batch QUEUE BODY...: one SendMessageBatch (boto3) of the bodies
	local q=$1 i=0 entries="" sep=""; shift
	for b in "$@"; do
		entries+="$sep{\"Id\":\"m$i\",\"MessageBody\":\"$b\"}"; sep=,; i=$((i + 1))
	done
	b3 sqs send_message_batch "{\"QueueUrl\":\"$URL/$q\",\"Entries\":[$entries]}" >/dev/null
}

# --- Batches: 25 messages through a mapping of BatchSize 10 with a 1 s window.
mkfn work
mkq work-q
u=$(mapping work work-q '"BatchSize":10,"MaximumBatchingWindowInSeconds":1')
check "the mapping is Enabled" Enabled "$(until_eq Enabled state "$u")"
send_batch work-q a01 a02 a03 a04 a05 a06 a07 a08 a09 a10
send_batch work-q a11 a12 a13 a14 a15 a16 a17 a18 a19 a20
aws_cli sqs send-message --queue-url "$URL/work-q" --message-body a21 --message-attributes \
	'{"color":{"DataType":"String","StringValue":"blue"}}' >/dev/null
for b in a22 a23 a24 a25; do aws_cli sqs send-message --queue-url "$URL/work-q" --message-body $b >/dev/null; done
check "all 25 messages reach the function once" 25 "$(until_eq 25 nseen work)"
check "... each with receive count 1" "$(for i in $(seq -w 1 25); do printf 'a%s:1 ' "$i"; done | sed 's/ $//')" "$(seen work)"
check "... in batches of at most 10, fewer batches than messages" "True" \
	"$(batches work | python3 -c 'import json,sys; n=[len(json.loads(l)["ids"]) for l in sys.stdin]; print(max(n) <= 10 and len(n) < 25)')"
check "the record has Lambda's SQS fields" \
	"aws:sqs $Q:work-q ['attributes', 'awsRegion', 'body', 'eventSource', 'eventSourceARN', 'md5OfBody', 'messageAttributes', 'messageId', 'receiptHandle']" \
	"$(batches work | head -1 | python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(d["source"], d["arn"], d["keys"])')"
check "a message attribute in Lambda's shape" "{'color': {'binaryListValues': [], 'dataType': 'String', 'stringListValues': [], 'stringValue': 'blue'}}" \
	"$(batches work | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    for b, m in zip(d["bodies"], d["mattrs"]):
        if b == "a21":
            print({k: dict(sorted(v.items())) for k, v in m.items()})')"
check "... and {} when a message has none" "{}" \
	"$(batches work | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    for b, m in zip(d["bodies"], d["mattrs"]):
        if b == "a22":
            print(m)')"
check "the queue is empty: every message deleted" 0 "$(until_eq 0 qcount work-q)"
check "/metrics counts the mapping's records and batches" "25 True" \
	"$(curl -s "$ENDPOINT/metrics" | python3 -c '
import re, sys
t = sys.stdin.read()
r = re.search(r"lambdad_esm_records_total\{uuid=\"'"$u"'\",function=\"work\"\} (\d+)", t)
b = re.search(r"lambdad_esm_batches_total\{uuid=\"'"$u"'\",function=\"work\"\} (\d+)", t)
print(r.group(1) if r else "none", bool(b) and 1 <= int(b.group(1)) < 25)')"
check "... and its polling lag" True \
	"$(curl -s "$ENDPOINT/metrics" | python3 -c '
import re, sys
m = re.search(r"lambdad_esm_polling_lag_seconds\{uuid=\"'"$u"'\",function=\"work\"\} ([0-9.e+-]+)", sys.stdin.read())
print(bool(m) and 0 <= float(m.group(1)) < 600)')"

# --- A failure reappears after the visibility timeout, then goes to the DLQ. (The
# timeouts leave room for a cold start: a message whose lease ends while its batch runs is
# delivered again, as SQS does.)
mkfn flaky
mkq flaky-dlq
mkq flaky-q "{\"VisibilityTimeout\":\"4\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$Q:flaky-dlq\\\",\\\"maxReceiveCount\\\":\\\"2\\\"}\"}"
u=$(mapping flaky flaky-q '"BatchSize":1')
aws_cli sqs send-message --queue-url "$URL/flaky-q" --message-body boom >/dev/null
aws_cli sqs send-message --queue-url "$URL/flaky-q" --message-body fine >/dev/null
check "the failing message is delivered again after its visibility timeout; the other once" \
	"boom:1 boom:2 fine:1" "$(until_eq "boom:1 boom:2 fine:1" seen flaky)"
check "after maxReceiveCount it is in the dead-letter queue" 1 "$(until_eq 1 qcount flaky-dlq)"
check "... and gone from the queue" 0 "$(until_eq 0 qcount flaky-q)"

# --- ReportBatchItemFailures: only the listed messages reappear.
mkfn partial partial
mkq partial-dlq
mkq partial-q "{\"VisibilityTimeout\":\"4\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$Q:partial-dlq\\\",\\\"maxReceiveCount\\\":\\\"2\\\"}\"}"
u=$(mapping partial partial-q '"BatchSize":10,"MaximumBatchingWindowInSeconds":1,"FunctionResponseTypes":["ReportBatchItemFailures"]')
send_batch partial-q good1 bad1 good2
check "the reported message reappears, the others are deleted after one delivery" \
	"bad1:1 bad1:2 good1:1 good2:1" "$(until_eq "bad1:1 bad1:2 good1:1 good2:1" seen partial)"
check "... and the reported one ends in the DLQ" 1 "$(until_eq 1 qcount partial-dlq)"

# --- A malformed batchItemFailures fails the whole batch.
mkfn malformed malformed
mkq malformed-q '{"VisibilityTimeout":"4"}'
u=$(mapping malformed malformed-q '"FunctionResponseTypes":["ReportBatchItemFailures"]')
aws_cli sqs send-message --queue-url "$URL/malformed-q" --message-body m1 >/dev/null
seen2() { seen "$1" | cut -d' ' -f1-2; }
check "a malformed answer: the message is delivered again" "m1:1 m1:2" "$(until_eq "m1:1 m1:2" seen2 malformed)"
b3 lambda delete_event_source_mapping "{\"UUID\":\"$u\"}" >/dev/null

# --- FilterCriteria: only matching messages invoke; the others are deleted.
mkfn filt
mkq filt-q
pat='{\"body\":{\"kind\":[\"order\"],\"n\":[{\"numeric\":[\">\",10]}]}}'
u=$(mapping filt filt-q "\"FilterCriteria\":{\"Filters\":[{\"Pattern\":\"$pat\"}]}")
send_batch filt-q '{\"kind\":\"order\",\"n\":11}' '{\"kind\":\"order\",\"n\":5}' '{\"kind\":\"other\",\"n\":50}' plain
check "only the matching message reaches the function" '{"kind":"order","n":11}:1' \
	"$(until_eq '{"kind":"order","n":11}:1' seen filt)"
check "the filtered-out messages are deleted" 0 "$(until_eq 0 qcount filt-q)"

# --- Disable stops polling; enable resumes.
b3 lambda update_event_source_mapping "{\"UUID\":\"$u\",\"Enabled\":false}" >/dev/null
check "Disabled" Disabled "$(until_eq Disabled state "$u")"
send_batch filt-q '{\"kind\":\"order\",\"n\":12}'
check "a message sent while disabled stays in the queue" 1 "$(qcount filt-q)"
b3 lambda update_event_source_mapping "{\"UUID\":\"$u\",\"Enabled\":true}" >/dev/null
check "enabled again, it is consumed" '{"kind":"order","n":11}:1 {"kind":"order","n":12}:1' \
	"$(until_eq '{"kind":"order","n":11}:1 {"kind":"order","n":12}:1' seen filt)"

# --- FIFO: a group's messages arrive in order. ($u stays the filtering mapping.)
mkfn fifo
b3 sqs create_queue '{"QueueName":"f.fifo","Attributes":{"FifoQueue":"true","ContentBasedDeduplication":"true"}}' >/dev/null
uf=$(mapping fifo f.fifo '"BatchSize":10')
for b in f1 f2 f3 f4 f5; do
	aws_cli sqs send-message --queue-url "$URL/f.fifo" --message-body $b --message-group-id g >/dev/null
done
check "a FIFO group's messages reach the function in order" "f1 f2 f3 f4 f5" \
	"$(until_eq "f1 f2 f3 f4 f5" sh -c "curl -s '$ENDPOINT/lambdad/v1/functions/fifo/logs' | grep -o 'ESM {.*' | cut -c5- | python3 -c 'import json,sys; print(\" \".join(b for l in sys.stdin for b in json.loads(l)[\"bodies\"]))'")"

# --- A throttle (reserved concurrency 0) leaves the messages in the queue, and is no failure.
mkfn thr
mkq thr-q
awsl put-function-concurrency --function-name thr --reserved-concurrent-executions 0 >/dev/null
ut=$(mapping thr thr-q)
send_batch thr-q t1 t2
throttles() { curl -s "$ENDPOINT/metrics" | sed -n "s/^lambdad_esm_throttles_total{uuid=\"$ut\",function=\"thr\"} //p"; }
positive() { [ "$(throttles)" -gt 0 ] 2>/dev/null && echo yes || echo no; }
check "the mapping is throttled" yes "$(until_eq yes positive)"
check "... the messages wait in the queue, none invoked, no failure counted" "2 0 0" \
	"$(qcount thr-q) $(nseen thr) $(curl -s "$ENDPOINT/metrics" | sed -n "s/^lambdad_esm_failures_total{uuid=\"$ut\",function=\"thr\"} //p")"
awsl delete-function-concurrency --function-name thr
check "the limit lifted, both are consumed" "t1:1 t2:1" "$(until_eq "t1:1 t2:1" seen thr)"

# --- A mapping on an alias runs the alias's version, with the alias ARN as invokedFunctionArn.
mkfn vq
awsl publish-version --function-name vq >/dev/null
awsl update-function-configuration --function-name vq --environment "Variables={MODE=partial}" >/dev/null
awsl create-alias --function-name vq --name live --function-version 1 >/dev/null
mkq vq-q
check "a mapping on a missing alias is refused" "FAILED" "$(mapping vq:nope vq-q | cut -d' ' -f1)"
uv=$(mapping vq:live vq-q)
check "a mapping on an alias: its FunctionArn is the alias's" "arn:aws:lambda:us-east-1:000000000000:function:vq:live" \
	"$(b3 lambda get_event_source_mapping "{\"UUID\":\"$uv\"}" | pyx 'd["result"]["FunctionArn"]')"
send_batch vq-q via-alias
check "the alias's version 1 got the message" "1" "$(until_eq 1 nseen vq)"
check "... as version 1, invoked by the alias ARN" "1 arn:aws:lambda:us-east-1:000000000000:function:vq:live" \
	"$(batches vq | head -1 | pyx '"%s %s" % (d["version"], d["invoked"])')"

# --- A restart: the mappings poll again.
stop_server
start_server
send_batch work-q after-restart
check "after a restart the mapping consumes new messages" 26 "$(until_eq 26 nseen work)"
check "... and the queue is empty again" 0 "$(until_eq 0 qcount work-q)"

# --- Deleting the function or the queue stops the mapping with a reason.
awsl delete-function --function-name filt
send_batch filt-q '{\"kind\":\"order\",\"n\":13}'
check "the function deleted: the mapping becomes Disabled" Disabled "$(until_eq Disabled state "$u")"
check "... with a reason" "PROBLEM: Function not found: arn:aws:lambda:us-east-1:000000000000:function:filt" "$(reason "$u")"
uw=$(b3 lambda list_event_source_mappings '{"FunctionName":"work"}' | pyx 'd["result"]["EventSourceMappings"][0]["UUID"]')
b3 sqs delete_queue "{\"QueueUrl\":\"$URL/work-q\"}" >/dev/null
check "the queue deleted: the mapping becomes Disabled" Disabled "$(until_eq Disabled state "$uw")"
check "... with a reason" "PROBLEM: The SQS queue no longer exists." "$(reason "$uw")"
