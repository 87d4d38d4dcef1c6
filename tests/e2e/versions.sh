#!/usr/bin/env bash
# Versions and aliases (src/svc/lambda/versions.c, aliases.c): PublishVersion with its
# preconditions, ListVersionsByFunction, qualified names and ARNs on GetFunction,
# Invoke and DeleteFunction, Publish at create and update, two versions running their
# own code at once, aliases with weighted routing (X-Amz-Executed-Version, the
# invokedFunctionArn), AWS's errors, and all of it surviving a restart. AWS CLI v2 and
# boto3 in the driver (tests/clients/driver.py), the machine's newest boto3 for the
# distribution of a 10% weight over a few thousand invokes, and curl for the headers.
source "$(dirname "$0")/lib.sh"
start_server

ARN=arn:aws:lambda:us-east-1:000000000000:function
PY=python3.11
# app CODE: a Python function that answers which code it is, the version it runs as,
# the ARN it was invoked by and how many events its environment has served.
app() {
	mkdir -p "$WORK/app-$1"
	cat >"$WORK/app-$1/app.py" <<PYEOF
import time
n = 0
def handler(event, context):
    global n
    n += 1
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(event["sleep"])
    return {"code": "$1", "version": context.function_version,
            "arn": context.invoked_function_arn, "served": n}
PYEOF
	make_zip "app-$1" "$WORK/app-$1"
}
# b3v OPERATION PARAMS EXPR: EXPR on the result (d) of a boto3 call in the driver.
b3v() { b3 lambda "$1" "$2" | pyx "$3 if d['ok'] else 'FAILED ' + str(d.get('code')) + ': ' + str(d.get('message'))"; }
# b3e OPERATION PARAMS: "code: message" of a boto3 call expected to fail.
b3e() { b3 lambda "$1" "$2" | pyx '"%s: %s" % (d.get("code"), d.get("message"))'; }
# call QUALIFIED-NAME: what the function answered to an Invoke of that name, "code version served".
call() {
	b3v invoke "{\"FunctionName\":\"$1\",\"Payload\":\"{}\"}" \
		'(lambda p: "%s %s %s" % (p["code"], p["version"], p["served"]))(__import__("json").loads(d["result"]["Payload"]))'
}

if ! command -v $PY >/dev/null; then missing_dep "no $PY on this machine for the Python functions"; fi
Z1=$(app one)
Z2=$(app two)
Z3=$(app three)

# --- CreateFunction with Publish: version 1 at once.
out=$(awsl create-function --function-name vf --runtime $PY --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$Z1" --publish)
check "CreateFunction --publish answers version 1" 1 "$(echo "$out" | pyx 'd["Version"]')"
check "... with the version's qualified ARN" "$ARN:vf:1" "$(echo "$out" | pyx 'd["FunctionArn"]')"
sha1=$(echo "$out" | pyx 'd["CodeSha256"]')

# --- PublishVersion with nothing changed returns the last version.
check "PublishVersion with no change returns version 1 again" 1 \
	"$(awsl publish-version --function-name vf | pyx 'd["Version"]')"

# --- New code, then PublishVersion with its preconditions.
awsl update-function-code --function-name vf --zip-file "fileb://$Z2" >"$WORK/upd.json"
sha2=$(pyx 'd["CodeSha256"]' "$WORK/upd.json")
rev2=$(pyx 'd["RevisionId"]' "$WORK/upd.json")
check "UpdateFunctionCode without Publish answers \$LATEST" '$LATEST' "$(pyx 'd["Version"]' "$WORK/upd.json")"
check_contains "PublishVersion with another CodeSha256 is refused" \
	"InvalidParameterValueException: CodeSHA256 ($sha1) is different from current CodeSHA256 in \$LATEST ($sha2)" \
	"$(b3e publish_version "{\"FunctionName\":\"vf\",\"CodeSha256\":\"$sha1\"}")"
check "PublishVersion with a stale RevisionId is refused (412)" \
	"PreconditionFailedException: The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id" \
	"$(b3e publish_version '{"FunctionName":"vf","RevisionId":"00000000-0000-0000-0000-000000000000"}')"
check "PublishVersion with a Description over 256 characters is refused" \
	"ValidationException" \
	"$(b3e publish_version "{\"FunctionName\":\"vf\",\"Description\":\"$(printf 'x%.0s' $(seq 1 257))\"}" | cut -d: -f1)"
out=$(b3v publish_version "{\"FunctionName\":\"vf\",\"CodeSha256\":\"$sha2\",\"RevisionId\":\"$rev2\",\"Description\":\"second\"}" \
	'"%s %s %s %s" % (d["result"]["Version"], d["result"]["Description"], d["result"]["CodeSha256"] == "'"$sha2"'", d["status"])')
check "PublishVersion with matching CodeSha256 and RevisionId publishes version 2 (201)" "2 second True 201" "$out"

# --- Versions are immutable: $LATEST moves on, version 2 keeps its code and configuration.
awsl update-function-configuration --function-name vf --timeout 7 --description latest >/dev/null
check "a configuration change leaves version 2's Timeout" 3 \
	"$(awsl get-function-configuration --function-name vf --qualifier 2 | pyx 'd["Timeout"]')"
check "... and \$LATEST has the new one" 7 "$(awsl get-function-configuration --function-name vf | pyx 'd["Timeout"]')"

# --- GetFunction / GetFunctionConfiguration by qualifier and qualified names.
check "GetFunction --qualifier 1: version 1's code" "1 $sha1" \
	"$(awsl get-function --function-name vf --qualifier 1 | pyx '"%s %s" % (d["Configuration"]["Version"], d["Configuration"]["CodeSha256"])')"
check "GetFunctionConfiguration vf:2 (name:qualifier)" "2 $ARN:vf:2" \
	"$(awsl get-function-configuration --function-name vf:2 | pyx '"%s %s" % (d["Version"], d["FunctionArn"])')"
check "GetFunctionConfiguration by the full qualified ARN" 1 \
	"$(awsl get-function-configuration --function-name "$ARN:vf:1" | pyx 'd["Version"]')"
check "GetFunctionConfiguration by the partial ARN 000000000000:function:vf:2" 2 \
	"$(b3v get_function_configuration '{"FunctionName":"000000000000:function:vf:2"}' 'd["result"]["Version"]')"
check "GetFunctionConfiguration by the partial ARN without a qualifier is \$LATEST" '$LATEST' \
	"$(b3v get_function_configuration '{"FunctionName":"000000000000:function:vf"}' 'd["result"]["Version"]')"
check "an unknown version is ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:vf:9" \
	"$(b3e get_function '{"FunctionName":"vf","Qualifier":"9"}')"
check "a qualifier in the name and another in Qualifier disagree" \
	"InvalidParameterValueException: The derived qualifier from the function name does not match the specified qualifier." \
	"$(b3e get_function '{"FunctionName":"vf:1","Qualifier":"2"}')"

# --- ListVersionsByFunction: $LATEST first, then ascending, with Marker/MaxItems.
check "ListVersionsByFunction lists \$LATEST, 1, 2" '$LATEST 1 2' \
	"$(awsl list-versions-by-function --function-name vf | pyx '" ".join(v["Version"] for v in d["Versions"])')"
p1=$(b3v list_versions_by_function '{"FunctionName":"vf","MaxItems":2}' '"%s|%s" % (" ".join(v["Version"] for v in d["result"]["Versions"]), d["result"].get("NextMarker"))')
check "MaxItems 2: the first page and a NextMarker" '$LATEST 1|1' "$p1"
check "... the next page from the Marker" '2|None' \
	"$(b3v list_versions_by_function '{"FunctionName":"vf","MaxItems":2,"Marker":"1"}' '"%s|%s" % (" ".join(v["Version"] for v in d["result"]["Versions"]), d["result"].get("NextMarker"))')"
check "... each version with its qualified ARN" "$ARN:vf:2" \
	"$(awsl list-versions-by-function --function-name vf | pyx 'd["Versions"][2]["FunctionArn"]')"

# --- Invoke by qualifier: each version runs its own code, in environments of its own.
check "Invoke vf:1 runs version 1's code" "one 1 1" "$(call vf:1)"
check "Invoke vf:2 runs version 2's code" "two 2 1" "$(call vf:2)"
check "Invoke vf (\$LATEST) runs the latest code" 'two $LATEST 1' "$(call vf)"
check "version 1's environment is still warm after the others ran (two versions at once)" "one 1 2" "$(call "$ARN:vf:1")"
check "... and version 2's" "two 2 2" "$(call vf:2)"
check "both versions have live environments at the same time" "1 1" "$(envs vf:1) $(envs vf:2)"
code=$(inv vf:2 '{}')
check "Invoke of vf:2 answers X-Amz-Executed-Version: 2" "200 2" "$code $(hdr X-Amz-Executed-Version)"
check "... the runtime was given the version's ARN" "$ARN:vf:2" "$(jq_ 'd["arn"]')"
code=$(inv vf '{}')
check "an unqualified Invoke answers X-Amz-Executed-Version: \$LATEST" '200 $LATEST' "$code $(hdr X-Amz-Executed-Version)"
check "... and the unqualified ARN" "$ARN:vf" "$(jq_ 'd["arn"]')"
code=$(curl -s -o "$WORK/es" -D "$WORK/h" -w '%{http_code}' -X POST --data-binary '{}' \
	"$ENDPOINT/2021-11-15/functions/vf:2/response-streaming-invocations")
check "InvokeWithResponseStream of vf:2: one X-Amz-Executed-Version, 2" "200 1 2" \
	"$code $(grep -ci '^X-Amz-Executed-Version:' "$WORK/h") $(hdr X-Amz-Executed-Version)"
check_contains "... and version 2's code in its PayloadChunk" '"code": "two"' "$(tr -d '\0' <"$WORK/es")"
code=$(inv vf:1 '{}' -H 'X-Amz-Invocation-Type: DryRun')
check "a DryRun of version 1 answers 204 with X-Amz-Executed-Version: 1" "204 1" "$code $(hdr X-Amz-Executed-Version)"
awsl invoke --function-name vf --qualifier 1 --cli-binary-format raw-in-base64-out --payload '{}' "$WORK/o.json" >"$WORK/meta.json"
check "the CLI's invoke --qualifier 1 reports ExecutedVersion 1" "1 one" \
	"$(pyx 'd["ExecutedVersion"]' "$WORK/meta.json") $(pyx 'd["code"]' "$WORK/o.json")"

# --- UpdateFunctionCode with Publish.
out=$(awsl update-function-code --function-name vf --zip-file "fileb://$Z3" --publish)
check "UpdateFunctionCode --publish answers the new version 3" "3 $ARN:vf:3" \
	"$(echo "$out" | pyx '"%s %s" % (d["Version"], d["FunctionArn"])')"
check "... which runs the new code" "three 3 1" "$(call vf:3)"

# --- DeleteFunction of a version; numbers are not given again.
check "DeleteFunction --qualifier \$LATEST is refused" \
	'InvalidParameterValueException: $LATEST version cannot be deleted without deleting the function.' \
	"$(b3e delete_function '{"FunctionName":"vf","Qualifier":"$LATEST"}')"
check "DeleteFunction of an unknown version is ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:vf:8" \
	"$(b3e delete_function '{"FunctionName":"vf","Qualifier":"8"}')"
awsl delete-function --function-name vf --qualifier 3
check "DeleteFunction --qualifier 3 deletes version 3" "ResourceNotFoundException" \
	"$(b3e get_function '{"FunctionName":"vf:3"}' | cut -d: -f1)"
check "... and its environments" 0 "$(wait_for 30 no_envs vf:3; envs vf:3)"
check "... the others stay" '$LATEST 1 2' \
	"$(awsl list-versions-by-function --function-name vf | pyx '" ".join(v["Version"] for v in d["Versions"])')"
awsl update-function-configuration --function-name vf --memory-size 256 >/dev/null
check "the next version after deleting 3 is 4: numbers are never given again" 4 \
	"$(awsl publish-version --function-name vf | pyx 'd["Version"]')"

# --- Aliases: CreateAlias and its errors.
out=$(b3v create_alias '{"FunctionName":"vf","Name":"live","FunctionVersion":"1","Description":"prod"}' \
	'"%s %s %s %s %s" % (d["status"], d["result"]["AliasArn"], d["result"]["Name"], d["result"]["FunctionVersion"], d["result"]["Description"])')
check "CreateAlias live -> 1 answers 201 with the alias ARN" "201 $ARN:vf:live live 1 prod" "$out"
check "a second alias of the same name is ResourceConflictException" \
	"ResourceConflictException: Alias already exists: $ARN:vf:live" \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"live","FunctionVersion":"2"}')"
check_contains "an all-digit alias name is refused, naming the field" \
	"ValidationException: 1 validation error detected: Value '123' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern" \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"123","FunctionVersion":"1"}')"
check_contains "an alias name with a dot is refused" "Value 'a.b' at 'name'" \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"a.b","FunctionVersion":"1"}')"
check_contains "an alias name of 129 characters is refused" "Member must have length less than or equal to 128" \
	"$(b3e create_alias "{\"FunctionName\":\"vf\",\"Name\":\"$(printf 'a%.0s' $(seq 1 129))\",\"FunctionVersion\":\"1\"}")"
check "an alias of a version that does not exist is ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:vf:9" \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"nine","FunctionVersion":"9"}')"
check "an alias of an alias is refused (FunctionVersion is a version)" "ValidationException" \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"other","FunctionVersion":"live"}' | cut -d: -f1)"
check "routing from \$LATEST is refused" \
	'InvalidParameterValueException: $LATEST is not supported for an alias pointing to more than 1 version' \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"wl","FunctionVersion":"$LATEST","RoutingConfig":{"AdditionalVersionWeights":{"1":0.5}}}')"
check "two additional versions are refused" \
	"InvalidParameterValueException: Number of items in AdditionalVersionWeights cannot be greater than 1" \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"w2","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.1,"4":0.1}}}')"
check "an additional version that does not exist is ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:vf:7" \
	"$(b3e create_alias '{"FunctionName":"vf","Name":"w7","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"7":0.1}}}')"
code=$(raw POST /2015-03-31/functions/vf/aliases '{"Name":"w","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":1.5}}}')
check_contains "a weight above 1.0 is refused (400 ValidationException)" \
	"400 ValidationException 1 validation error detected: Value '1.5' at 'routingConfig.additionalVersionWeights'" \
	"$code $(hdr X-Amzn-ErrorType) $(jq_ 'd["message"]')"
check "an alias of an unknown function is ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:nofn" \
	"$(b3e create_alias '{"FunctionName":"nofn","Name":"a","FunctionVersion":"1"}')"

# --- GetAlias, Invoke through an alias.
check "GetAlias live" "live 1 prod" \
	"$(awsl get-alias --function-name vf --name live | pyx '"%s %s %s" % (d["Name"], d["FunctionVersion"], d["Description"])')"
check "GetAlias of an unknown alias" "ResourceNotFoundException: Cannot find alias arn: $ARN:vf:nope" \
	"$(b3e get_alias '{"FunctionName":"vf","Name":"nope"}')"
code=$(inv vf:live '{}')
check "Invoke vf:live runs version 1 and says so in X-Amz-Executed-Version" "200 1 one" \
	"$code $(hdr X-Amz-Executed-Version) $(jq_ 'd["code"]')"
check "... the runtime's invokedFunctionArn is the alias ARN" "$ARN:vf:live" "$(jq_ 'd["arn"]')"
awsl invoke --function-name "$ARN:vf:live" --cli-binary-format raw-in-base64-out --payload '{}' "$WORK/o.json" >"$WORK/meta.json"
check "the CLI invoking the alias ARN: ExecutedVersion 1" "1 one" \
	"$(pyx 'd["ExecutedVersion"]' "$WORK/meta.json") $(pyx 'd["code"]' "$WORK/o.json")"
check "GetFunctionConfiguration --qualifier live: the alias's version, under the alias ARN" "1 $ARN:vf:live" \
	"$(awsl get-function-configuration --function-name vf --qualifier live | pyx '"%s %s" % (d["Version"], d["FunctionArn"])')"

# --- UpdateAlias with its RevisionId precondition.
arev=$(awsl get-alias --function-name vf --name live | pyx 'd["RevisionId"]')
check "UpdateAlias with a stale RevisionId is PreconditionFailedException" "PreconditionFailedException" \
	"$(b3e update_alias '{"FunctionName":"vf","Name":"live","FunctionVersion":"2","RevisionId":"00000000-0000-0000-0000-000000000000"}' | cut -d: -f1)"
out=$(b3v update_alias "{\"FunctionName\":\"vf\",\"Name\":\"live\",\"FunctionVersion\":\"2\",\"RevisionId\":\"$arev\"}" \
	'"%s %s %s" % (d["result"]["FunctionVersion"], d["result"]["Description"], d["result"]["RevisionId"] != "'"$arev"'")')
check "UpdateAlias live -> 2 keeps the description and gives a new RevisionId" "2 prod True" "$out"
check "Invoke vf:live now runs version 2" "two 2" \
	"$(b3v invoke '{"FunctionName":"vf","Qualifier":"live","Payload":"{}"}' '(lambda p: p["code"] + " " + d["result"]["ExecutedVersion"])(__import__("json").loads(d["result"]["Payload"]))')"
check "UpdateAlias of an unknown alias is ResourceNotFoundException" "ResourceNotFoundException" \
	"$(b3e update_alias '{"FunctionName":"vf","Name":"nope","FunctionVersion":"2"}' | cut -d: -f1)"

# --- ListAliases with the FunctionVersion filter and paging.
awsl create-alias --function-name vf --name beta --function-version 4 >/dev/null
awsl create-alias --function-name vf --name gamma --function-version '$LATEST' >/dev/null
check "ListAliases lists them in name order" "beta gamma live" \
	"$(awsl list-aliases --function-name vf | pyx '" ".join(a["Name"] for a in d["Aliases"])')"
check "ListAliases --function-version 2" "live" \
	"$(awsl list-aliases --function-name vf --function-version 2 | pyx '" ".join(a["Name"] for a in d["Aliases"])')"
check "ListAliases MaxItems 2: a page and a NextMarker" "beta gamma|gamma" \
	"$(b3v list_aliases '{"FunctionName":"vf","MaxItems":2}' '" ".join(a["Name"] for a in d["result"]["Aliases"]) + "|" + str(d["result"].get("NextMarker"))')"
check "... and the rest from the Marker" "live|None" \
	"$(b3v list_aliases '{"FunctionName":"vf","MaxItems":2,"Marker":"gamma"}' '" ".join(a["Name"] for a in d["result"]["Aliases"]) + "|" + str(d["result"].get("NextMarker"))')"
check "a version an alias points at cannot be deleted" \
	'ResourceConflictException: Unable to delete version because the following aliases reference it: ["live"]' \
	"$(b3e delete_function '{"FunctionName":"vf","Qualifier":"2"}')"
check "an alias cannot be deleted through DeleteFunction" "InvalidParameterValueException" \
	"$(b3e delete_function '{"FunctionName":"vf:gamma"}' | cut -d: -f1)"
check "DeleteAlias gamma answers 204" 204 "$(b3v delete_alias '{"FunctionName":"vf","Name":"gamma"}' 'd["status"]')"
check "... and again (AWS's DeleteAlias does not say not found)" 204 \
	"$(b3v delete_alias '{"FunctionName":"vf","Name":"gamma"}' 'd["status"]')"
check "... gamma is gone" "beta live" \
	"$(awsl list-aliases --function-name vf | pyx '" ".join(a["Name"] for a in d["Aliases"])')"

# --- Event invocations of a version and of an alias run that version; event invoke
# configs are kept per qualifier.
evstart() { curl -s "$ENDPOINT/lambdad/v1/functions/vf/logs" | grep -o "START RequestId: $1 Version: [^ ]*" | awk '{print $NF}'; }
code=$(inv vf:2 '{}' -H 'X-Amz-Invocation-Type: Event')
id2=$(hdr x-amzn-RequestId)
check "an Event invoke of vf:2 is accepted (202)" 202 "$code"
started() { [ -n "$(evstart "$1")" ]; }
wait_for 60 started "$id2" || true
check "... and runs version 2" 2 "$(evstart "$id2")"
idl=$(b3v invoke '{"FunctionName":"vf","Qualifier":"live","InvocationType":"Event","Payload":"{}"}' 'd["headers"]["x-amzn-requestid"]')
wait_for 60 started "$idl" || true
check "an Event invoke of the alias live runs its version (2)" 2 "$(evstart "$idl")"
# A destination record says which version ran.
mkdir -p "$WORK/sink"
printf 'import json\ndef handler(event, context):\n    print("DEST " + json.dumps(event.get("responseContext")))\n    return {}\n' >"$WORK/sink/app.py"
awsl create-function --function-name sink --runtime $PY --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip sink "$WORK/sink")" >/dev/null
awsl put-function-event-invoke-config --function-name vf --qualifier 2 \
	--destination-config "OnSuccess={Destination=$ARN:sink}" >/dev/null
inv vf:2 '{}' -H 'X-Amz-Invocation-Type: Event' >/dev/null
dest() { curl -s "$ENDPOINT/lambdad/v1/functions/sink/logs" | grep -o 'DEST {.*}' | head -1; }
has_dest() { [ -n "$(dest)" ]; }
wait_for 60 has_dest || true
check "the on-success record of version 2's event says executedVersion 2" \
	'DEST {"statusCode": 200, "executedVersion": "2"}' "$(dest)"
awsl delete-function-event-invoke-config --function-name vf --qualifier 2
out=$(awsl put-function-event-invoke-config --function-name vf --qualifier 1 --maximum-retry-attempts 1)
check "PutFunctionEventInvokeConfig --qualifier 1 names the version's ARN" "$ARN:vf:1 1" \
	"$(echo "$out" | pyx '"%s %s" % (d["FunctionArn"], d["MaximumRetryAttempts"])')"
awsl put-function-event-invoke-config --function-name vf:live --maximum-event-age-in-seconds 120 >/dev/null
awsl put-function-event-invoke-config --function-name vf --maximum-retry-attempts 0 >/dev/null
check "GetFunctionEventInvokeConfig reads each qualifier's own" "1 120 0" \
	"$(awsl get-function-event-invoke-config --function-name vf --qualifier 1 | pyx 'd["MaximumRetryAttempts"]') $(awsl get-function-event-invoke-config --function-name vf --qualifier live | pyx 'd["MaximumEventAgeInSeconds"]') $(awsl get-function-event-invoke-config --function-name vf | pyx 'd["MaximumRetryAttempts"]')"
check "a version without one says so" \
	"ResourceNotFoundException: The function $ARN:vf:4 doesn't have an EventInvokeConfig" \
	"$(b3e get_function_event_invoke_config '{"FunctionName":"vf","Qualifier":"4"}')"
check "a config of a version that does not exist is ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:vf:9" \
	"$(b3e put_function_event_invoke_config '{"FunctionName":"vf","Qualifier":"9","MaximumRetryAttempts":1}')"
check "ListFunctionEventInvokeConfigs lists \$LATEST's, version 1's and live's" "$ARN:vf:\$LATEST $ARN:vf:1 $ARN:vf:live" \
	"$(awsl list-function-event-invoke-configs --function-name vf | pyx '" ".join(c["FunctionArn"] for c in d["FunctionEventInvokeConfigs"])')"
awsl delete-function-event-invoke-config --function-name vf --qualifier 1
check "DeleteFunctionEventInvokeConfig --qualifier 1 deletes that one only" "$ARN:vf:\$LATEST $ARN:vf:live" \
	"$(awsl list-function-event-invoke-configs --function-name vf | pyx '" ".join(c["FunctionArn"] for c in d["FunctionEventInvokeConfigs"])')"

# --- Function URLs on an alias, with their CORS.
out=$(awsl create-function-url-config --function-name vf --qualifier beta --auth-type NONE \
	--cors 'AllowOrigins=https://a.example,AllowMethods=GET')
check "CreateFunctionUrlConfig --qualifier beta names the alias ARN" "$ARN:vf:beta" "$(echo "$out" | pyx 'd["FunctionArn"]')"
URL=$(echo "$out" | pyx 'd["FunctionUrl"]')
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -H 'Origin: https://a.example' "$URL")
check "the alias's URL runs the alias's version (4) as the alias" "200 three 4 $ARN:vf:beta" \
	"$code $(jq_ 'd["code"]') $(jq_ 'd["version"]') $(jq_ 'd["arn"]')"
check "... with its CORS headers" "https://a.example" "$(hdr Access-Control-Allow-Origin)"
code=$(curl -s -o /dev/null -D "$WORK/h" -w '%{http_code}' -X OPTIONS -H 'Origin: https://a.example' \
	-H 'Access-Control-Request-Method: GET' "$URL")
check "... and answers its preflight" "200 GET" "$code $(hdr Access-Control-Allow-Methods)"
check "GetFunctionUrlConfig --qualifier beta" "$URL" \
	"$(awsl get-function-url-config --function-name vf --qualifier beta | pyx 'd["FunctionUrl"]')"
check "\$LATEST has no URL of its own" "ResourceNotFoundException" \
	"$(b3e get_function_url_config '{"FunctionName":"vf"}' | cut -d: -f1)"
check "ListFunctionUrlConfigs lists the alias's" "$ARN:vf:beta" \
	"$(awsl list-function-url-configs --function-name vf | pyx '" ".join(c["FunctionArn"] for c in d["FunctionUrlConfigs"])')"
check "a URL on an alias that does not exist is ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:vf:nope" \
	"$(b3e create_function_url_config '{"FunctionName":"vf","Qualifier":"nope","AuthType":"NONE"}')"
check_contains "a URL on a version is refused (the qualifier is an alias name)" "ValidationException" \
	"$(b3e create_function_url_config '{"FunctionName":"vf","Qualifier":"2","AuthType":"NONE"}')"

# --- Reserved concurrency is the function's: all its versions count toward it.
inflight() { curl -s "$ENDPOINT/metrics" | awk -v p="lambdad_concurrent_executions{function=\"$1\"}" 'index($0, p) == 1 { print $NF }'; }
awsl put-function-concurrency --function-name vf --reserved-concurrent-executions 1 >/dev/null
curl -s -o "$WORK/slow.json" -X POST --data-binary '{"sleep":2.5}' "$ENDPOINT/2015-03-31/functions/vf:1/invocations" &
SLOW=$!
one_inflight() { [ "$(inflight vf:1)" = 1 ]; }
wait_for 60 one_inflight || true
check "a slow invoke of version 1 is in flight" 1 "$(inflight vf:1)"
code=$(inv vf:2 '{}')
check "with reserved concurrency 1 in use by version 1, version 2 is throttled (429)" \
	"429 TooManyRequestsException ReservedFunctionConcurrentInvocationLimitExceeded" \
	"$code $(hdr X-Amzn-ErrorType) $(jq_ 'd["Reason"]')"
code=$(inv vf '{}')
check "... and so is \$LATEST" "429" "$code"
wait "$SLOW"
check "... the slow one answered" one "$(pyx 'd["code"]' "$WORK/slow.json")"
check "once it is done version 2 runs" "two 2" "$(call vf:2 | cut -d' ' -f1,2)"
awsl delete-function-concurrency --function-name vf

# --- lambdad's per-function keep-alive applies to the versions' environments too.
call vf:2 >/dev/null
check "version 2 has an idle environment" 1 "$(envs vf:2 idle)"
check "PUT keep-alive 0 for vf" 200 "$(raw PUT /lambdad/v1/functions/vf/keep-alive '{"KeepAliveSeconds":0}')"
wait_for 30 no_envs vf:2 || true
check "... and version 2's idle environment is stopped" 0 "$(envs vf:2)"
raw DELETE /lambdad/v1/functions/vf/keep-alive >/dev/null

# --- Provisioned concurrency on a version and on an alias (refused on $LATEST).
check "PutProvisionedConcurrencyConfig on \$LATEST is refused with AWS's message" \
	"InvalidParameterValueException: Provisioned Concurrency Configs cannot be applied to unpublished function versions." \
	"$(b3e put_provisioned_concurrency_config '{"FunctionName":"vf","Qualifier":"$LATEST","ProvisionedConcurrentExecutions":1}')"
check "... and on a version that does not exist" "ResourceNotFoundException: Function not found: $ARN:vf:9" \
	"$(b3e put_provisioned_concurrency_config '{"FunctionName":"vf","Qualifier":"9","ProvisionedConcurrentExecutions":1}')"
check "PutProvisionedConcurrencyConfig on version 4 answers 202" "202 1" \
	"$(b3v put_provisioned_concurrency_config '{"FunctionName":"vf","Qualifier":"4","ProvisionedConcurrentExecutions":1}' '"%s %s" % (d["status"], d["result"]["RequestedProvisionedConcurrentExecutions"])')"
awsl put-provisioned-concurrency-config --function-name vf --qualifier live --provisioned-concurrent-executions 2 >/dev/null
prov_status() { awsl get-provisioned-concurrency-config --function-name vf --qualifier "$1" | pyx 'd["Status"] + " " + str(d["AvailableProvisionedConcurrentExecutions"])'; }
ready4() { [ "$(prov_status 4)" = "READY 1" ]; }
readylive() { [ "$(prov_status live)" = "READY 2" ]; }
wait_for 60 ready4 || true
check "version 4's provisioned environment becomes READY" "READY 1" "$(prov_status 4)"
wait_for 60 readylive || true
check "the alias live's two (on its version 2) become READY" "READY 2" "$(prov_status live)"
check "... they are version 2's environments, kept past the keep-alive" 2 "$(curl -s "$ENDPOINT/metrics" | awk '/^lambdad_provisioned_ready\{function="vf:2"\}/ { print $NF }')"
check "ListProvisionedConcurrencyConfigs lists both under their ARNs" "$ARN:vf:4=1 $ARN:vf:live=2" \
	"$(awsl list-provisioned-concurrency-configs --function-name vf | pyx '" ".join("%s=%d" % (c["FunctionArn"], c["RequestedProvisionedConcurrentExecutions"]) for c in d["ProvisionedConcurrencyConfigs"])')"
code=$(inv vf:live '{}')
check "an invoke of live finds a provisioned environment (no Init Duration)" "200 no" \
	"$code $(hdr X-Amz-Log-Result | base64 -d | grep -q 'Init Duration' && echo yes || echo no)"
awsl delete-provisioned-concurrency-config --function-name vf --qualifier 4
check "DeleteProvisionedConcurrencyConfig --qualifier 4" "ProvisionedConcurrencyConfigNotFoundException" \
	"$(b3e get_provisioned_concurrency_config '{"FunctionName":"vf","Qualifier":"4"}' | cut -d: -f1)"

# --- ListFunctions with FunctionVersion=ALL: every function's $LATEST and versions.
allv() { pyx '" ".join("%s:%s" % (f["FunctionName"], f["Version"]) for f in d["Functions"])'; }
check "list-functions --function-version ALL (the CLI pages through it)" 'sink:$LATEST vf:$LATEST vf:1 vf:2 vf:4' \
	"$(awsl list-functions --function-version ALL --max-items 100 | allv)"
check "... MaxItems 2: the first page" 'sink:$LATEST vf:$LATEST|vf:$LATEST' \
	"$(b3v list_functions '{"FunctionVersion":"ALL","MaxItems":2}' '" ".join("%s:%s" % (f["FunctionName"], f["Version"]) for f in d["result"]["Functions"]) + "|" + str(d["result"].get("NextMarker"))')"
check "... the next from its marker" 'vf:1 vf:2|vf:2' \
	"$(b3v list_functions '{"FunctionVersion":"ALL","MaxItems":2,"Marker":"vf:$LATEST"}' '" ".join("%s:%s" % (f["FunctionName"], f["Version"]) for f in d["result"]["Functions"]) + "|" + str(d["result"].get("NextMarker"))')"
check "... and the last" 'vf:4|None' \
	"$(b3v list_functions '{"FunctionVersion":"ALL","MaxItems":2,"Marker":"vf:2"}' '" ".join("%s:%s" % (f["FunctionName"], f["Version"]) for f in d["result"]["Functions"]) + "|" + str(d["result"].get("NextMarker"))')"
check "without FunctionVersion only \$LATEST is listed" 'sink:$LATEST vf:$LATEST' "$(awsl list-functions | allv)"
code=$(raw GET '/2015-03-31/functions/?FunctionVersion=SOME')
check_contains "FunctionVersion other than ALL is a ValidationException naming it" \
	"400 ValidationException 1 validation error detected: Value 'SOME' at 'functionVersion' failed to satisfy constraint" \
	"$code $(hdr X-Amzn-ErrorType) $(jq_ 'd["message"]')"

# --- Weighted routing: live is version 1, with 10% of invocations to version 2.
out=$(awsl update-alias --function-name vf --name live --function-version 1 \
	--routing-config 'AdditionalVersionWeights={2=0.1}')
check "UpdateAlias with RoutingConfig answers it" '1 {"2": 0.1}' \
	"$(echo "$out" | pyx 'd["FunctionVersion"] + " " + __import__("json").dumps(d["RoutingConfig"]["AdditionalVersionWeights"])')"

# --- Versions and aliases survive a restart: configurations, code, the last number given.
stop_server
start_server
check "after a restart the versions are listed" '$LATEST 1 2 4' \
	"$(awsl list-versions-by-function --function-name vf | pyx '" ".join(v["Version"] for v in d["Versions"])')"
check "... version 2 keeps its code and configuration" "2 $sha2 3" \
	"$(awsl get-function-configuration --function-name vf:2 | pyx '"%s %s %s" % (d["Version"], d["CodeSha256"], d["Timeout"])')"
check "... and runs it" "two 2 1" "$(call vf:2)"
check "... version 1 too" "one 1 1" "$(call vf:1)"
awsl update-function-configuration --function-name vf --memory-size 320 >/dev/null
check "... and the next number is still 5" 5 "$(awsl publish-version --function-name vf | pyx 'd["Version"]')"
check "... the aliases and their routing too" 'beta:4:{} live:1:{"2": 0.1}' \
	"$(awsl list-aliases --function-name vf | pyx '" ".join("%s:%s:%s" % (a["Name"], a["FunctionVersion"], __import__("json").dumps(a.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))) for a in d["Aliases"])')"
check "... the event invoke configs per qualifier too" "$ARN:vf:\$LATEST $ARN:vf:live" \
	"$(awsl list-function-event-invoke-configs --function-name vf | pyx '" ".join(c["FunctionArn"] for c in d["FunctionEventInvokeConfigs"])')"
code=$(curl -s -o "$WORK/b" -w '%{http_code}' "$URL")
check "... the alias's function URL still serves version 4" "200 three 4" "$code $(jq_ 'd["code"]') $(jq_ 'd["version"]')"
wait_for 60 readylive || true
check "... live's provisioned concurrency is READY again (now on version 1)" "READY 2" "$(prov_status live)"
check "... on version 1's environments" 2 "$(curl -s "$ENDPOINT/metrics" | awk '/^lambdad_provisioned_ready\{function="vf:1"\}/ { print $NF }')"
check "... and beta still invokes version 4" "three 4" \
	"$(b3v invoke '{"FunctionName":"vf:beta","Payload":"{}"}' '(lambda p: p["code"] + " " + d["result"]["ExecutedVersion"])(__import__("json").loads(d["result"]["Payload"]))')"

# --- The distribution: N invokes of live (weight 0.1 to version 2) through the newest
# boto3 on 4 threads. Each answer's ExecutedVersion must match the code that ran and the
# invokedFunctionArn be the alias's; version 2's share must be within 6%-14% (the
# binomial standard deviation at N=2400 is 0.6%: the bound is ~6.5 of them).
N=2400
python3 - "$ENDPOINT" "$N" >"$WORK/dist.txt" 2>&1 <<'PYEOF' || true
import json, sys, collections
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="x",
                 config=Config(retries={"total_max_attempts": 1}, max_pool_connections=8))
n = int(sys.argv[2])
def one(_):
    r = c.invoke(FunctionName="vf", Qualifier="live", Payload=b"{}")
    p = json.loads(r["Payload"].read())
    return r["ExecutedVersion"], p["code"], p["arn"]
with ThreadPoolExecutor(4) as ex:
    res = list(ex.map(one, range(n)))
count = collections.Counter(v for v, _, _ in res)
match = all({"1": "one", "2": "two"}.get(v) == code for v, code, _ in res)
arns = set(a for _, _, a in res)
print("v1=%d v2=%d share=%.4f match=%s arns=%s" % (count["1"], count["2"], count["2"] / n, match, ",".join(sorted(arns))))
PYEOF
dist=$(cat "$WORK/dist.txt")
echo "# distribution over $N invokes: $dist"
check "every invoke ran version 1 or 2 with that version's code, under the alias ARN" \
	"match=True arns=$ARN:vf:live" "$(echo "$dist" | grep -o 'match=.*')"
share=$(echo "$dist" | sed -n 's/.*share=\([0-9.]*\).*/\1/p')
check "version 2 took $share of $N invokes: within 0.06-0.14 of a 0.1 weight" yes \
	"$(python3 -c "print('yes' if 0.06 <= float('${share:-0}') <= 0.14 else 'no')")"
check "... all $N invokes answered" "$N" "$(echo "$dist" | python3 -c 'import re,sys; t=sys.stdin.read(); m=re.search(r"v1=(\d+) v2=(\d+)", t); print(int(m[1])+int(m[2]) if m else t)')"

# --- DeleteFunction without a qualifier takes the versions and aliases with it.
awsl delete-function --function-name vf
awsl create-function --function-name vf --runtime $PY --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$Z1" >/dev/null
check "a new function of the same name has no versions" '$LATEST' \
	"$(awsl list-versions-by-function --function-name vf | pyx '" ".join(v["Version"] for v in d["Versions"])')"
check "... and the old alias's function URL is gone (403)" 403 "$(curl -s -o /dev/null -w '%{http_code}' "$URL")"
check "... and no aliases" "" "$(awsl list-aliases --function-name vf | pyx '" ".join(a["Name"] for a in d["Aliases"])')"
check "... its first version is 1 again" 1 "$(awsl publish-version --function-name vf | pyx 'd["Version"]')"
stop_server
start_server
check "... also after a restart (the old rows are gone)" '$LATEST 1' \
	"$(awsl list-versions-by-function --function-name vf | pyx '" ".join(v["Version"] for v in d["Versions"])')"
