#!/usr/bin/env bash
# Event source mappings' control plane (src/svc/lambda/esm.c, src/esm/esm.c) with the AWS
# CLI, boto3 (in the driver) and the AWS SDK for JavaScript: Create answers Creating and the
# mapping becomes Enabled; Get, List (EventSourceArn and FunctionName filters, Marker and
# MaxItems), Update (Disabling -> Disabled, Enabling -> Enabled, Updating), Delete
# (Deleting, then ResourceNotFoundException); both path spellings; AWS's errors for every
# field; FilterCriteria checked by the pattern parser; mappings surviving a restart.
source "$(dirname "$0")/lib.sh"
start_server
js_start

Q=arn:aws:sqs:us-east-1:000000000000
FN=arn:aws:lambda:us-east-1:000000000000:function
awsl create-function --function-name alpha --runtime provided.al2023 --handler x \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip echo)" >/dev/null
awsl create-function --function-name beta --runtime provided.al2023 --handler x \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip echo)" >/dev/null
for q in q1 q2 q3 q4 q5.fifo; do
	extra=()
	[[ $q == *.fifo ]] && extra=(--attributes FifoQueue=true)
	aws_cli sqs create-queue --queue-name "$q" "${extra[@]}" >/dev/null
done

# state UUID: the mapping's State (or the error code).
state() { b3 lambda get_event_source_mapping "{\"UUID\":\"$1\"}" | pyx 'd["result"]["State"] if d["ok"] else d["code"]'; }
wait_state() { # wait_state UUID STATE: polls Get until the state is STATE (generous bound)
	local s=""
	for _ in $(seq 1 200); do
		s=$(state "$1")
		[ "$s" = "$2" ] && { echo "$s"; return 0; }
		sleep 0.05
	done
	echo "$s"
}
# cli_err ARGS: the error of a CLI call that must fail ("(Code) message" or UNEXPECTED).
cli_err() {
	if awsl "$@" >"$WORK/o" 2>"$WORK/e"; then echo "UNEXPECTED: $(cat "$WORK/o")"; return; fi
	sed -n 's/^An error occurred (\([A-Za-z]*\)) when calling the [A-Za-z]* operation: \(.*\)$/\1: \2/p' "$WORK/e" | head -1
}

# --- Create with the CLI (its POST has the trailing slash).
out=$(awsl create-event-source-mapping --function-name alpha --event-source-arn "$Q:q1" --batch-size 5)
u1=$(echo "$out" | pyx 'd["UUID"]')
check "CreateEventSourceMapping answers State Creating and AWS's fields" \
	"Creating USER_INITIATED 5 0 [] $FN:alpha $Q:q1 36" \
	"$(echo "$out" | pyx '"%s %s %s %s %s %s %s %s" % (d["State"], d["StateTransitionReason"], d["BatchSize"], d["MaximumBatchingWindowInSeconds"], d["FunctionResponseTypes"], d["FunctionArn"], d["EventSourceArn"], len(d["UUID"]))')"
# (The CLI's model predates EventSourceMappingArn: read it raw.)
code=$(raw GET "/2015-03-31/event-source-mappings/$u1")
check "GetEventSourceMapping (curl): 200 and the mapping's ARN" \
	"200 arn:aws:lambda:us-east-1:000000000000:event-source-mapping:$u1" "$code $(jq_ 'd["EventSourceMappingArn"]')"
check "... LastModified is epoch seconds near now" "True" \
	"$(b3 lambda get_event_source_mapping "{\"UUID\":\"$u1\"}" | pyx 'abs(__import__("datetime").datetime.fromisoformat(d["result"]["LastModified"]).timestamp() - __import__("time").time()) < 120')"
check "then it becomes Enabled" Enabled "$(wait_state "$u1" Enabled)"

# --- boto3 (no trailing slash), a full ARN as FunctionName, the default batch size, filters.
pat='{\"body\":{\"kind\":[\"order\"]}}'
u2=$(b3 lambda create_event_source_mapping "{\"FunctionName\":\"$FN:beta\",\"EventSourceArn\":\"$Q:q1\",\"Enabled\":false,\"FunctionResponseTypes\":[\"ReportBatchItemFailures\"],\"ScalingConfig\":{\"MaximumConcurrency\":3},\"FilterCriteria\":{\"Filters\":[{\"Pattern\":\"$pat\"}]}}" | pyx 'd["result"]["UUID"]')
check "boto3 create, Enabled false: Disabled" Disabled "$(wait_state "$u2" Disabled)"
check "... default BatchSize 10, its settings stored" "10 ['ReportBatchItemFailures'] 3 {\"body\":{\"kind\":[\"order\"]}}" \
	"$(b3 lambda get_event_source_mapping "{\"UUID\":\"$u2\"}" | pyx '" ".join(str(x) for x in [d["result"]["BatchSize"], d["result"]["FunctionResponseTypes"], d["result"]["ScalingConfig"]["MaximumConcurrency"], d["result"]["FilterCriteria"]["Filters"][0]["Pattern"]])')"

# --- The JS SDK: a partial ARN with $LATEST; a batching window with a big batch.
u3=$(jsv lambda CreateEventSourceMapping "{\"FunctionName\":\"000000000000:function:alpha:\$LATEST\",\"EventSourceArn\":\"$Q:q2\",\"BatchSize\":100,\"MaximumBatchingWindowInSeconds\":2}" 'd["result"]["UUID"]')
check "JS SDK create: the qualifier stays in FunctionArn" "$FN:alpha:\$LATEST 100 2" \
	"$(jsv lambda GetEventSourceMapping "{\"UUID\":\"$u3\"}" '"%s %s %s" % (d["result"]["FunctionArn"], d["result"]["BatchSize"], d["result"]["MaximumBatchingWindowInSeconds"])')"
check "... and it becomes Enabled" Enabled "$(wait_state "$u3" Enabled)"

# --- Tags at create (the JS SDK's model has them), read with ListTags on the mapping's ARN.
ut=$(jsv lambda CreateEventSourceMapping "{\"FunctionName\":\"beta\",\"EventSourceArn\":\"$Q:q4\",\"Tags\":{\"team\":\"esm\"}}" 'd["result"]["UUID"]')
ESM_ARN=arn:aws:lambda:us-east-1:000000000000:event-source-mapping
check "ListTags on the mapping's ARN" "{'team': 'esm'}" "$(jsv lambda ListTags "{\"Resource\":\"$ESM_ARN:$ut\"}" 'd["result"]["Tags"]')"
js lambda TagResource "{\"Resource\":\"$ESM_ARN:$ut\",\"Tags\":{\"env\":\"dev\"}}" >/dev/null
check "TagResource on it adds" "{'env': 'dev', 'team': 'esm'}" \
	"$(jsv lambda ListTags "{\"Resource\":\"$ESM_ARN:$ut\"}" 'dict(sorted(d["result"]["Tags"].items()))')"
check "ListTags of an unknown mapping: ResourceNotFoundException" ResourceNotFoundException \
	"$(jsv lambda ListTags "{\"Resource\":\"$ESM_ARN:00000000-0000-4000-8000-000000000000\"}" 'd["code"]')"
js lambda DeleteEventSourceMapping "{\"UUID\":\"$ut\"}" >/dev/null
check "... and the tags go with the mapping" ResourceNotFoundException \
	"$(jsv lambda ListTags "{\"Resource\":\"$ESM_ARN:$ut\"}" 'd["code"]')"

# --- Errors, field by field.
check "a second mapping of the same queue and function: ResourceConflictException" \
	"ResourceConflictException: An event source mapping with SQS arn (\" $Q:q1 \") and function (\" alpha \") already exists. Please update or delete the existing mapping with UUID $u1" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q1")"
check "a missing queue: InvalidParameterValueException" \
	"InvalidParameterValueException: Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist or you do not have access to it." \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:nosuch")"
aws_cli sqs create-queue --queue-name short --attributes VisibilityTimeout=2 >/dev/null
check "a function timeout above the queue's visibility timeout" \
	"InvalidParameterValueException: Queue visibility timeout: 2 seconds is less than Function timeout: 3 seconds" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:short")"
check "a missing function: ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $FN:nosuch" \
	"$(cli_err create-event-source-mapping --function-name nosuch --event-source-arn "$Q:q3")"
check "BatchSize over 10 without a window" \
	"InvalidParameterValueException: Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q3" --batch-size 11)"
check "BatchSize over 10000" \
	"ValidationException: 1 validation error detected: Value '10001' at 'batchSize' failed to satisfy constraint: Member must have value less than or equal to 10000" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q3" --batch-size 10001 --maximum-batching-window-in-seconds 1)"
check "MaximumBatchingWindowInSeconds over 300" \
	"ValidationException: 1 validation error detected: Value '301' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have value less than or equal to 300" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q3" --maximum-batching-window-in-seconds 301)"
check "a FIFO queue takes batches of 10 at most" \
	"InvalidParameterValueException: Batch size for FIFO queues must be between 1 and 10, inclusive." \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q5.fifo" --batch-size 20 --maximum-batching-window-in-seconds 1)"
check "MaximumConcurrency over 1000" \
	"ValidationException: 1 validation error detected: Value '1001' at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member must have value less than or equal to 1000" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q3" --scaling-config MaximumConcurrency=1001)"
check "an unknown FunctionResponseTypes value" \
	"ValidationException: 1 validation error detected: Value '[Everything]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q3" --function-response-types Everything)"
check "a stream-only parameter on a queue" \
	"InvalidParameterValueException: Unsupported StartingPosition parameter for given event source mapping type." \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q3" --starting-position LATEST)"
check "a bad filter pattern names what is wrong" \
	"InvalidParameterValueException: FilterCriteria.Filters[0].Pattern: Invalid filter pattern definition: \"body.n\": numeric takes [\"=\", n], [op, n] or [lower-op, n, upper-op, m] with op one of =, <, <=, >, >=" \
	"$(cli_err create-event-source-mapping --function-name alpha --event-source-arn "$Q:q3" --filter-criteria '{"Filters":[{"Pattern":"{\"body\":{\"n\":[{\"numeric\":[\">\"]}]}}"}]}')"
check "a pattern that is not JSON" "InvalidParameterValueException" \
	"$(b3 lambda create_event_source_mapping "{\"FunctionName\":\"alpha\",\"EventSourceArn\":\"$Q:q3\",\"FilterCriteria\":{\"Filters\":[{\"Pattern\":\"{nope\"}]}}" | pyx 'd["code"]')"
check "a Kinesis stream is not accepted yet" "InvalidParameterValueException" \
	"$(b3 lambda create_event_source_mapping '{"FunctionName":"alpha","EventSourceArn":"arn:aws:kinesis:us-east-1:000000000000:stream/s","StartingPosition":"LATEST"}' | pyx 'd["code"]')"
check "an ARN that is not one: ValidationException naming eventSourceArn" "ValidationException True" \
	"$(b3 lambda create_event_source_mapping '{"FunctionName":"alpha","EventSourceArn":"queue-1"}' | pyx 'd["code"] + " " + str("eventSourceArn" in d["message"])')"
check "no EventSourceArn" "InvalidParameterValueException" \
	"$(b3 lambda create_event_source_mapping '{"FunctionName":"alpha"}' | pyx 'd["code"]')"
code=$(raw POST /2015-03-31/event-source-mappings "{\"EventSourceArn\":\"$Q:q3\"}")
check "no FunctionName (curl): 400 ValidationException" "400 ValidationException" "$code $(hdr X-Amzn-ErrorType)"
check "Get of an unknown UUID: ResourceNotFoundException" \
	"ResourceNotFoundException: The resource you requested does not exist." \
	"$(cli_err get-event-source-mapping --uuid 00000000-0000-4000-8000-000000000000)"

# --- Update: Disabling -> Disabled, Enabling -> Enabled, Updating -> the same state.
check "Update Enabled=false answers Disabling" Disabling \
	"$(awsl update-event-source-mapping --uuid "$u1" --no-enabled | pyx 'd["State"]')"
check "... then Disabled" Disabled "$(wait_state "$u1" Disabled)"
check "Update Enabled=true answers Enabling" Enabling \
	"$(b3 lambda update_event_source_mapping "{\"UUID\":\"$u1\",\"Enabled\":true}" | pyx 'd["result"]["State"]')"
check "... then Enabled" Enabled "$(wait_state "$u1" Enabled)"
check "Update BatchSize answers Updating with the new size" "Updating 7" \
	"$(jsv lambda UpdateEventSourceMapping "{\"UUID\":\"$u1\",\"BatchSize\":7}" '"%s %s" % (d["result"]["State"], d["result"]["BatchSize"])')"
check "... then Enabled again" Enabled "$(wait_state "$u1" Enabled)"
check "Update removes the filters with FilterCriteria {} and ScalingConfig {}" "False False" \
	"$(b3 lambda update_event_source_mapping "{\"UUID\":\"$u2\",\"FilterCriteria\":{},\"ScalingConfig\":{}}" | pyx 'str("FilterCriteria" in d["result"]) + " " + str("ScalingConfig" in d["result"])')"
wait_state "$u2" Disabled >/dev/null
check "Update to a function that already has the queue: ResourceConflictException" ResourceConflictException \
	"$(b3 lambda update_event_source_mapping "{\"UUID\":\"$u2\",\"FunctionName\":\"alpha\"}" | pyx 'd["code"]')"
check "Update of an unknown UUID: ResourceNotFoundException" ResourceNotFoundException \
	"$(b3 lambda update_event_source_mapping '{"UUID":"00000000-0000-4000-8000-000000000000","BatchSize":1}' | pyx 'd["code"]')"
check "Update BatchSize 50 without a window is refused" InvalidParameterValueException \
	"$(b3 lambda update_event_source_mapping "{\"UUID\":\"$u1\",\"BatchSize\":50}" | pyx 'd["code"]')"

# --- List: all, by queue, by function (name or ARN), paginated.
check "List: all three" 3 "$(awsl list-event-source-mappings | pyx 'len(d["EventSourceMappings"])')"
check "List by EventSourceArn" 2 \
	"$(awsl list-event-source-mappings --event-source-arn "$Q:q1" | pyx 'len(d["EventSourceMappings"])')"
check "List by FunctionName (a name)" "$(printf '%s\n' "$u1" "$u3" | sort | tr '\n' ' ')" \
	"$(b3 lambda list_event_source_mappings '{"FunctionName":"alpha"}' | pyx '" ".join(sorted(m["UUID"] for m in d["result"]["EventSourceMappings"])) + " "')"
check "List by FunctionName (an ARN) and EventSourceArn" "$u2" \
	"$(b3 lambda list_event_source_mappings "{\"FunctionName\":\"$FN:beta\",\"EventSourceArn\":\"$Q:q1\"}" | pyx '" ".join(m["UUID"] for m in d["result"]["EventSourceMappings"])')"
raw GET "/2015-03-31/event-source-mappings/?MaxItems=2" >/dev/null
m1=$(jq_ 'len(d["EventSourceMappings"])')
marker=$(jq_ 'd["NextMarker"]')
raw GET "/2015-03-31/event-source-mappings/?MaxItems=2&Marker=$marker" >/dev/null
check "List with MaxItems 2, then its NextMarker: 2 + 1, no marker at the end" "2 1 False" \
	"$m1 $(jq_ 'len(d["EventSourceMappings"])') $(jq_ '"NextMarker" in d')"
n=0 mk=""
for _ in 1 2 3 4; do
	p='{"MaxItems":1'; [ -z "$mk" ] || p+=",\"Marker\":\"$mk\""; p+='}'
	n=$((n + $(jsv lambda ListEventSourceMappings "$p" 'len(d["result"]["EventSourceMappings"])')))
	mk=$(jsv lambda ListEventSourceMappings "$p" 'd["result"].get("NextMarker", "")')
	[ -n "$mk" ] || break
done
check "the JS SDK, one page at a time with MaxItems 1, sees all three" 3 "$n"
code=$(raw GET "/2015-03-31/event-source-mappings/?MaxItems=0")
check "List MaxItems 0: 400 ValidationException" "400 ValidationException" "$code $(hdr X-Amzn-ErrorType)"

# --- A restart keeps every mapping, its state and settings.
stop_server
start_server
check "after a restart: the three mappings" 3 "$(awsl list-event-source-mappings | pyx 'len(d["EventSourceMappings"])')"
check "... u1 Enabled with BatchSize 7, u2 Disabled" "Enabled 7 Disabled" \
	"$(state "$u1") $(b3 lambda get_event_source_mapping "{\"UUID\":\"$u1\"}" | pyx 'd["result"]["BatchSize"]') $(state "$u2")"

# --- Delete: Deleting, then gone.
check "Delete answers Deleting" Deleting "$(awsl delete-event-source-mapping --uuid "$u2" | pyx 'd["State"]')"
check "... then Get: ResourceNotFoundException" ResourceNotFoundException "$(state "$u2")"
check "Delete again: ResourceNotFoundException" ResourceNotFoundException \
	"$(jsv lambda DeleteEventSourceMapping "{\"UUID\":\"$u2\"}" 'd["code"]')"
check "the queue and function are free again: a new mapping" Enabled \
	"$(wait_state "$(b3 lambda create_event_source_mapping "{\"FunctionName\":\"beta\",\"EventSourceArn\":\"$Q:q1\"}" | pyx 'd["result"]["UUID"]')" Enabled)"
stop_server
start_server
check "a deleted mapping stays deleted after a restart" ResourceNotFoundException "$(state "$u2")"

