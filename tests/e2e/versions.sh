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
n = 0
def handler(event, context):
    global n
    n += 1
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

# --- Versions survive a restart: their configurations, code and the last number given.
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
