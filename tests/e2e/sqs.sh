#!/usr/bin/env bash
# SQS on lambdad's port with every real client: boto3 in both of SQS's protocols (Debian's
# 1.26 speaks query, the newer boto3 on PATH AWS JSON 1.0; tests/e2e/sqs_client.py goes
# through every operation, its errors, visibility timeouts, long polling, the DLQ, FIFO),
# the AWS CLI 2.9.19 (query), @aws-sdk/client-sqs (JSON, checking every MD5 itself, and
# sending to the QueueUrl's origin), curl (the query protocol by GET on the queue's URL,
# unknown actions), and kill -9: no acknowledged message lost, no deleted one back.
source "$(dirname "$0")/lib.sh"
CLIENTS=$(cd "$(dirname "$0")/../clients" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
NEW_PY=$(command -v python3)
python3 -c 'import boto3; assert boto3.client("sqs", region_name="us-east-1").meta.service_model.protocol == "json"' \
	2>/dev/null || missing_dep "python3 on PATH has no boto3 that speaks SQS's JSON protocol"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || missing_dep "Debian's python3-boto3 (the query protocol)"
[ -d "$CLIENTS/js/node_modules/@aws-sdk/client-sqs" ] || missing_dep "run scripts/install-deps (@aws-sdk/client-sqs)"
start_server
py() { pyx "$1"; }
sqs_() { aws_cli sqs "$@"; }

# run_client INTERPRETER PREFIX PROTOCOL: sqs_client.py's lines as checks.
run_client() {
	local line proto=""
	while IFS= read -r line; do
		case "$line" in
		"ok - "*) pass "${line#ok - }" ;;
		"not ok - "*) fail "${line#not ok - }" ;;
		"protocol "*) proto=${line#protocol } ;;
		esac
	done < <("$1" "$HERE/sqs_client.py" "$ENDPOINT" "$2" 2>>"$WORK/client.log")
	check "the client ran to its end in the $3 protocol" "$3" "$proto"
}
# A message past MessageRetentionPeriod (60 s at least) goes: sent now, looked at last.
sqs_ create-queue --queue-name keep60 --attributes MessageRetentionPeriod=60 >/dev/null
sqs_ send-message --queue-url "$ENDPOINT/000000000000/keep60" --message-body short-lived >/dev/null
run_client /usr/bin/python3 q- query
run_client "$NEW_PY" j- json

# --- The AWS CLI 2.9.19 (query protocol).
U=$(sqs_ create-queue --queue-name cli-q --attributes VisibilityTimeout=30 | py 'd["QueueUrl"]')
check "CLI create-queue" "$ENDPOINT/000000000000/cli-q" "$U"
check "CLI list-queues with a prefix" "['$U']" "$(sqs_ list-queues --queue-name-prefix cli- | py 'd["QueueUrls"]')"
R=$(sqs_ send-message --queue-url "$U" --message-body 'hi <cli> & co' \
	--message-attributes '{"a":{"DataType":"String","StringValue":"x"}}')
check "CLI send-message: MD5 of the body" "$(printf '%s' 'hi <cli> & co' | md5sum | cut -d' ' -f1)" \
	"$(py 'd["MD5OfMessageBody"]' <<<"$R")"
M=$(sqs_ receive-message --queue-url "$U" --message-attribute-names All --attribute-names All)
check "CLI receive-message gets it back" "hi <cli> & co x 1" \
	"$(py '[" ".join((m["Body"], m["MessageAttributes"]["a"]["StringValue"], m["Attributes"]["ApproximateReceiveCount"])) for m in [d["Messages"][0]]][0]' <<<"$M")"
RH=$(py 'd["Messages"][0]["ReceiptHandle"]' <<<"$M")
check "CLI get-queue-attributes counts it in flight" 1 \
	"$(sqs_ get-queue-attributes --queue-url "$U" --attribute-names All | py 'd["Attributes"]["ApproximateNumberOfMessagesNotVisible"]')"
sqs_ delete-message --queue-url "$U" --receipt-handle "$RH"
check "CLI delete-message" 0 \
	"$(sqs_ get-queue-attributes --queue-url "$U" --attribute-names ApproximateNumberOfMessagesNotVisible | py 'd["Attributes"]["ApproximateNumberOfMessagesNotVisible"]')"
rc=0; sqs_ get-queue-url --queue-name cli-missing >/dev/null 2>"$WORK/err" || rc=$?
check_contains "CLI: a missing queue is AWS.SimpleQueueService.NonExistentQueue" \
	"AWS.SimpleQueueService.NonExistentQueue" "rc=$rc $(cat "$WORK/err")"
rc=0; sqs_ set-queue-attributes --queue-url "$U" --attributes MessageRetentionPeriod=5 2>"$WORK/err" || rc=$?
check_contains "CLI: a bad attribute value names the attribute" "MessageRetentionPeriod" "rc=$rc $(cat "$WORK/err")"
sqs_ tag-queue --queue-url "$U" --tags k=v
check "CLI tag-queue / list-queue-tags" "{'k': 'v'}" "$(sqs_ list-queue-tags --queue-url "$U" | py 'd["Tags"]')"
sqs_ delete-queue --queue-url "$U"
check "CLI delete-queue" "[]" "$(sqs_ list-queues --queue-name-prefix cli- | py 'd.get("QueueUrls", []) if d else []')"

# --- @aws-sdk/client-sqs (JSON).
JS=$(cd "$CLIENTS/js" && node sqs.mjs "$ENDPOINT" 2>>"$WORK/client.log") || true
check "JS: the QueueUrl" "$ENDPOINT/000000000000/js-q" "$(py 'd["url"]' <<<"$JS")"
check "JS: sent through the QueueUrl's origin, MD5s verified by the SDK" "True True" \
	"$(py 'str(len(d["sent_md5_body"]) == 32) + " " + str(len(d["sent_md5_attrs"]) == 32)' <<<"$JS")"
check "JS: the batch" "['a', 'b'] 0" "$(py 'str(d["batch_ok"]) + " " + str(d["batch_failed"])' <<<"$JS")"
check "JS: receive with attributes" "['hello from js', 'one', 'two'] 42 bin 1 3" \
	"$(py '" ".join(map(str, [d["bodies"], d["recv_attr_n"], d["recv_attr_b"], d["recv_count"], d["in_flight"]]))' <<<"$JS")"
check "JS: delete and delete batch" "2 ReceiptHandleIsInvalid 0" \
	"$(py '" ".join(map(str, [d["deleted"], d["delete_failed_code"], d["left"]]))' <<<"$JS")"
check "JS: a long poll gets a message sent while it waits" "while waiting True" \
	"$(py 'd["long_poll_body"] + " " + str(d["long_poll_done"])' <<<"$JS")"
check "JS: error names" "QueueDoesNotExist InvalidParameterValue QueueNameExists QueueDoesNotExist" \
	"$(py '" ".join([d["missing"], d["bad_delay"], d["exists"], d["deleted_queue"]])' <<<"$JS")"
check_contains "JS: the message names the field" "DelaySeconds" "$(py 'd["bad_delay_msg"]' <<<"$JS")"

# --- curl: the query protocol on the queue's URL, and what no operation takes.
sqs_ create-queue --queue-name curl-q >/dev/null
check "GET /ACCOUNT/NAME?Action=SendMessage (the queue URL as the target)" 200 \
	"$(raw GET "/000000000000/curl-q?Action=SendMessage&Version=2012-11-05&MessageBody=via+url")"
check_contains "its XML carries the MD5" "<MD5OfMessageBody>$(printf 'via url' | md5sum | cut -d' ' -f1)</MD5OfMessageBody>" \
	"$(cat "$WORK/b")"
check "POST form to the queue URL: ReceiveMessage" 200 \
	"$(curl -s -o "$WORK/b" -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
		--data 'Action=ReceiveMessage&Version=2012-11-05' "$ENDPOINT/000000000000/curl-q")"
check_contains "it gets the message" "<Body>via url</Body>" "$(cat "$WORK/b")"
check "an unknown Action is 400" 400 "$(raw GET "/?Action=FlyAway&Version=2012-11-05")"
check_contains "InvalidAction in the query error shape" "<Type>Sender</Type><Code>InvalidAction</Code>" "$(cat "$WORK/b")"
check "an operation lambdad lacks is named" 400 \
	"$(curl -s -o "$WORK/b" -w '%{http_code}' -H 'X-Amz-Target: AmazonSQS.AddPermission' \
		-H 'Content-Type: application/x-amz-json-1.0' --data '{}' "$ENDPOINT/")"
check_contains "in the JSON error shape" '"__type":"com.amazonaws.sqs#InvalidAction"' "$(cat "$WORK/b")"
check "JSON: a body that is not JSON is 400" 400 \
	"$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -H 'X-Amz-Target: AmazonSQS.ListQueues' \
		-H 'Content-Type: application/x-amz-json-1.0' --data '{nope' "$ENDPOINT/")"
check "with the query-compatible code header" "InvalidParameterValue;Sender" "$(hdr x-amzn-query-error)"
check "the Lambda API still answers" 200 "$(raw GET /2016-08-19/account-settings/)"

# --- Retention (the message sent at the start).
count60() {
	sqs_ get-queue-attributes --queue-url "$ENDPOINT/000000000000/keep60" --attribute-names ApproximateNumberOfMessages |
		py 'd["Attributes"]["ApproximateNumberOfMessages"]'
}
gone60() { [ "$(count60)" = 0 ]; }
wait_for 150 gone60 || true
check "a message past MessageRetentionPeriod is gone" 0 "$(count60)"

# --- kill -9: every acknowledged message survives, no deleted one comes back.
mkdir -p "$WORK/dur"
"$NEW_PY" "$HERE/sqs_durable.py" "$ENDPOINT" send "$WORK/dur" 2>>"$WORK/client.log" &
SENDERS=$!
acked_enough() { [ -s "$WORK/dur/acked" ] && [ "$(wc -l <"$WORK/dur/acked")" -ge 2000 ] && [ -s "$WORK/dur/deleted" ]; }
wait_for 240 acked_enough || true
kill -9 "$SERVER_PID" # mid-run: sends and deletes in flight
wait "$SERVER_PID" 2>/dev/null || true
wait "$SENDERS" || true
check "the clients had 2000 sends acknowledged and some deletes before the kill" yes \
	"$(acked_enough && echo yes || echo "no: $(wc -l "$WORK/dur/"* | tr '\n' ' ')")"
start_server
check "queue attributes survive the restart" "20 600" \
	"$(sqs_ get-queue-attributes --queue-url "$ENDPOINT/000000000000/q-main" --attribute-names All | py 'd["Attributes"]["VisibilityTimeout"] + " " + d["Attributes"]["MessageRetentionPeriod"]')"
check "tags survive it" "{'env': 'dev'}" "$(sqs_ list-queue-tags --queue-url "$ENDPOINT/000000000000/q-main" | py 'd["Tags"]')"
check "a RedrivePolicy survives it" "2" \
	"$(sqs_ get-queue-attributes --queue-url "$ENDPOINT/000000000000/q-src" --attribute-names RedrivePolicy | py 'json.loads(d["Attributes"]["RedrivePolicy"])["maxReceiveCount"]')"
DRAIN=$("$NEW_PY" "$HERE/sqs_durable.py" "$ENDPOINT" drain "$WORK/dur" 2>>"$WORK/client.log")
check "after kill -9 mid-run and a restart every acknowledged message is back (in-flight ones too), no deleted one" \
	"missing 0 resurrected 0 unknown 0" "$(head -1 <<<"$DRAIN")"
echo "durability: $(tr '\n' ';' <<<"$DRAIN")"

# --- Shutdown with a receive waiting: the server exits 0 (no leak, no hang on the wait);
# the receive ends with the connection (its empty answer is made after the loop stops, so
# it may not be written: no message was taken for it).
sqs_ create-queue --queue-name bye >/dev/null
curl -s -o "$WORK/bye" -w '%{http_code}' "$ENDPOINT/000000000000/bye?Action=ReceiveMessage&WaitTimeSeconds=20" \
	>"$WORK/bye.status" &
BYE=$!
waiting_bye() { curl -s "$ENDPOINT/metrics" | grep -q '^lambdad_sqs_waiting_receives{queue="bye"} 1$'; }
wait_for 30 waiting_bye || true
check "a receive waits on queue bye" 1 "$(curl -s "$ENDPOINT/metrics" | awk '/^lambdad_sqs_waiting_receives\{queue="bye"\}/ { print $NF }')"
stop_server TERM
wait "$BYE" || true
BYE_STATUS=$(cat "$WORK/bye.status")
check "at shutdown the waiting receive ends (closed, or answered with no message)" yes \
	"$([ "$BYE_STATUS" = 000 ] || grep -q '<ReceiveMessageResult></ReceiveMessageResult>' "$WORK/bye" && echo yes || echo "no: $BYE_STATUS")"

# --- With --auth sigv4 (the front checks who signed): SQS in both protocols, a bad
# signature refused.
start_server --auth sigv4 --auth-test-credentials
check "sigv4: CLI (query) create-queue" "$ENDPOINT/000000000000/signed" \
	"$(aws_proc sqs create-queue --queue-name signed | py 'd["QueueUrl"]')"
check "sigv4: boto3 (JSON) sends to it" 32 \
	"$("$NEW_PY" -c 'import boto3, sys; c = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1")
print(len(c.send_message(QueueUrl=sys.argv[1] + "/000000000000/signed", MessageBody="s")["MD5OfMessageBody"]))' "$ENDPOINT" 2>>"$WORK/client.log")"
rc=0; AWS_SECRET_ACCESS_KEY=wrong aws_proc sqs list-queues >/dev/null 2>"$WORK/err" || rc=$?
check_contains "sigv4: a wrong secret is refused" "InvalidSignature" "rc=$rc $(cat "$WORK/err")"
