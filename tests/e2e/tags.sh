#!/usr/bin/env bash
# Tags and code signing configs with the AWS CLI (in the driver), boto3 and curl:
# TagResource / UntagResource / ListTags on a function and on a code signing config,
# Tags at CreateFunction and in GetFunction, AWS's validation of tags; the code signing
# configs' Create/Get/Update/Delete/List (Marker paging), a function's binding
# (Put/Get/DeleteFunctionCodeSigningConfig, CodeSigningConfigArn at CreateFunction),
# ListFunctionsByCodeSigningConfig, a config in use refused deletion; everything
# survives a restart and goes with DeleteFunction.
source "$(dirname "$0")/lib.sh"
start_server

py() { pyx "$1"; }
ACCT=000000000000
ARN_PREFIX="arn:aws:lambda:us-east-1:$ACCT"
tags_of() { awsl list-tags --resource "$1" | py 'sorted(d["Tags"].items())'; }

# --- Tags at CreateFunction, in GetFunction, ListTags.
create_fn alpha echo --tags team=core,env=dev >/dev/null
create_fn beta echo >/dev/null
FA=$(awsl get-function --function-name alpha | py 'd["Configuration"]["FunctionArn"]')
FB="$ARN_PREFIX:function:beta"
check "the function ARN is the one tags take" "$ARN_PREFIX:function:alpha" "$FA"
check "CreateFunction's Tags are in GetFunction" "[('env', 'dev'), ('team', 'core')]" \
	"$(awsl get-function --function-name alpha | py 'sorted(d["Tags"].items())')"
check "ListTags shows them" "[('env', 'dev'), ('team', 'core')]" "$(tags_of "$FA")"
check "a function without tags lists {}" "[]" "$(tags_of "$FB")"

# --- TagResource / UntagResource with the CLI and boto3.
awsl tag-resource --resource "$FB" --tags a=1,b=2,c= >/dev/null
check "TagResource adds tags (an empty value allowed)" "[('a', '1'), ('b', '2'), ('c', '')]" "$(tags_of "$FB")"
b3 lambda tag_resource "{\"Resource\":\"$FB\",\"Tags\":{\"a\":\"one\",\"d\":\"x y:z/=+-@._\"}}" >/dev/null
check "boto3 tag_resource overwrites a key and adds one" \
	"[('a', 'one'), ('b', '2'), ('c', ''), ('d', 'x y:z/=+-@._')]" "$(tags_of "$FB")"
awsl untag-resource --resource "$FB" --tag-keys b c nosuchkey >/dev/null
check "UntagResource removes several keys (an absent one ignored)" "[('a', 'one'), ('d', 'x y:z/=+-@._')]" \
	"$(tags_of "$FB")"
check "boto3 list_tags agrees" '{"a":"one","d":"x y:z/=+-@._"}' \
	"$(b3r lambda list_tags "{\"Resource\":\"$FB\"}" | jq -c '.Tags')"
check "TagResource is 204 on the wire" 204 "$(raw POST "/2017-03-31/tags/$FB" '{"Tags":{"w":"1"}}')"
check "UntagResource is 204 on the wire" 204 "$(raw DELETE "/2017-03-31/tags/$FB?tagKeys=w")"
check "GetFunction shows the current tags" "[('a', 'one'), ('d', 'x y:z/=+-@._')]" \
	"$(awsl get-function --function-name beta | py 'sorted(d["Tags"].items())')"

# --- Validation, as AWS answers it; a refusal changes nothing.
before=$(tags_of "$FB")
long_key=$(printf 'k%.0s' $(seq 129))
long_val=$(printf 'v%.0s' $(seq 257))
out=$(aws_err tag-resource --resource "$FB" --tags "$long_key=1")
check_contains "a 129-character key is refused" "ValidationException" "$out"
check_contains "... naming the constraint" "Member must have length less than or equal to 128" "$out"
out=$(aws_err tag-resource --resource "$FB" --tags "k=$long_val")
check_contains "a 257-character value is refused" "ValidationException" "$out"
check_contains "... naming the constraint" "Member must have length less than or equal to 256" "$out"
check "a 128-character key and a 256-character value are accepted" 204 \
	"$(raw POST "/2017-03-31/tags/$FB" "{\"Tags\":{\"${long_key:1}\":\"${long_val:1}\"}}")"
awsl untag-resource --resource "$FB" --tag-keys "${long_key:1}" >/dev/null
check "a key with a character outside AWS's set is refused" "400 ValidationException" \
	"$(raw POST "/2017-03-31/tags/$FB" '{"Tags":{"bad!key":"1"}}') $(hdr X-Amzn-ErrorType)"
check_contains "... naming the pattern" "regular expression pattern" "$(cat "$WORK/b")"
out=$(aws_err tag-resource --resource "$FB" --tags 'AWS:thing=1')
check_contains "the aws: prefix (any case) is reserved" "InvalidParameterValueException" "$out"
check_contains "... the message says so" "aws:" "$out"
many=$(python3 -c 'import json; print(json.dumps({"Tags": {"k%d" % i: "v" for i in range(49)}}))')
check "49 more tags (51 in all) are refused" "400 InvalidParameterValueException" \
	"$(raw POST "/2017-03-31/tags/$FB" "$many") $(hdr X-Amzn-ErrorType)"
check_contains "... with AWS's message" "Number of tags exceeds resource tag limit" "$(cat "$WORK/b")"
check "the refusals changed nothing" "$before" "$(tags_of "$FB")"
out=$(aws_err tag-resource --resource "$ARN_PREFIX:function:nosuch" --tags a=1)
check_contains "tags on a missing function: ResourceNotFoundException" "ResourceNotFoundException" "$out"
out=$(aws_err list-tags --resource "$FA:\$LATEST")
check_contains "a qualified ARN is refused" "InvalidParameterValueException" "$out"
out=$(aws_err list-tags --resource "not-an-arn")
check_contains "something else than an ARN: ValidationException" "ValidationException" "$out"
check "UntagResource without tagKeys" "400 ValidationException" \
	"$(raw DELETE "/2017-03-31/tags/$FB") $(hdr X-Amzn-ErrorType)"
out=$(aws_err create-function --function-name gamma --runtime provided.al2023 --handler x \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip echo)" --tags aws:x=1)
check_contains "CreateFunction with a reserved tag key is refused" "InvalidParameterValueException" "$out"
check_contains "... and creates nothing" "ResourceNotFoundException" "$(aws_err get-function --function-name gamma)"

# --- Code signing configs.
SP1="arn:aws:signer:us-east-1:$ACCT:/signing-profiles/p1/abcdefghij"
SP2="arn:aws:signer:us-east-1:$ACCT:/signing-profiles/p2/klmnopqrst"
# The machine's CLI and boto3 predate Tags at CreateCodeSigningConfig: curl sends them.
raw POST /2020-04-22/code-signing-configs "{\"Description\":\"first\",\"AllowedPublishers\":{\"SigningProfileVersionArns\":[\"$SP1\"]},\"Tags\":{\"owner\":\"me\"}}" >/dev/null
c1=$(cat "$WORK/b")
C1=$(echo "$c1" | py 'd["CodeSigningConfig"]["CodeSigningConfigArn"]')
I1=$(echo "$c1" | py 'd["CodeSigningConfig"]["CodeSigningConfigId"]')
check "boto3 creates one too" Warn \
	"$(b3r lambda create_code_signing_config "{\"AllowedPublishers\":{\"SigningProfileVersionArns\":[\"$SP1\"]}}" | jq -r .CodeSigningConfig.CodeSigningPolicies.UntrustedArtifactOnDeployment)"
check "the CLI creates one too" Warn \
	"$(awsl create-code-signing-config --allowed-publishers "SigningProfileVersionArns=$SP1" | py 'd["CodeSigningConfig"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]')"
check "the config's id is csc- and 17 hex" yes "$([[ "$I1" =~ ^csc-[0-9a-f]{17}$ ]] && echo yes || echo "no: $I1")"
check "its ARN is AWS's" "$ARN_PREFIX:code-signing-config:$I1" "$C1"
check "the policy defaults to Warn" Warn \
	"$(echo "$c1" | py 'd["CodeSigningConfig"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]')"
check "it has a LastModified" yes \
	"$(echo "$c1" | py '"yes" if d["CodeSigningConfig"]["LastModified"].endswith("+0000") else d')"
check "CreateCodeSigningConfig is 201 on the wire" 201 \
	"$(raw POST /2020-04-22/code-signing-configs "{\"AllowedPublishers\":{\"SigningProfileVersionArns\":[\"$SP2\"]},\"CodeSigningPolicies\":{\"UntrustedArtifactOnDeployment\":\"Enforce\"}}")"
C2=$(jq_ 'd["CodeSigningConfig"]["CodeSigningConfigArn"]')
check "Enforce is kept" Enforce "$(jq_ 'd["CodeSigningConfig"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]')"
check "the config's tags" "[('owner', 'me')]" "$(tags_of "$C1")"
awsl tag-resource --resource "$C2" --tags k=v >/dev/null
check "TagResource on a config" "[('k', 'v')]" "$(tags_of "$C2")"
check "GetCodeSigningConfig" "first $SP1" \
	"$(awsl get-code-signing-config --code-signing-config-arn "$C1" | py 'd["CodeSigningConfig"]["Description"] + " " + d["CodeSigningConfig"]["AllowedPublishers"]["SigningProfileVersionArns"][0]')"
u=$(b3r lambda update_code_signing_config "{\"CodeSigningConfigArn\":\"$C1\",\"Description\":\"second\",\"CodeSigningPolicies\":{\"UntrustedArtifactOnDeployment\":\"Enforce\"}}")
check "UpdateCodeSigningConfig changes what it is given and keeps the rest" "second Enforce $SP1" \
	"$(echo "$u" | jq -r '.CodeSigningConfig | "\(.Description) \(.CodeSigningPolicies.UntrustedArtifactOnDeployment) \(.AllowedPublishers.SigningProfileVersionArns[0])"')"
out=$(aws_err create-code-signing-config --allowed-publishers "SigningProfileVersionArns=$SP1" \
	--code-signing-policies UntrustedArtifactOnDeployment=Maybe)
check_contains "a policy other than Warn/Enforce is refused" "Member must satisfy enum value set: [Warn, Enforce]" "$out"
check "AllowedPublishers is required" "400 ValidationException" \
	"$(raw POST /2020-04-22/code-signing-configs '{}') $(hdr X-Amzn-ErrorType)"
check_contains "... naming it" "allowedPublishers" "$(cat "$WORK/b")"
check "an empty SigningProfileVersionArns is refused" "400 ValidationException" \
	"$(raw POST /2020-04-22/code-signing-configs '{"AllowedPublishers":{"SigningProfileVersionArns":[]}}') $(hdr X-Amzn-ErrorType)"
out=$(aws_err get-code-signing-config --code-signing-config-arn "$ARN_PREFIX:code-signing-config:csc-0123456789abcdef0")
check_contains "an unknown config: ResourceNotFoundException" "ResourceNotFoundException" "$out"
check "a malformed config ARN: ValidationException" "400 ValidationException" \
	"$(raw GET /2020-04-22/code-signing-configs/nope) $(hdr X-Amzn-ErrorType)"

# Paging: 4 configs, MaxItems 3.
b1=$(b3r lambda list_code_signing_configs '{"MaxItems":3}')
check "ListCodeSigningConfigs MaxItems 3: 3 and a NextMarker" "3 yes" \
	"$(echo "$b1" | jq -r '"\(.CodeSigningConfigs | length) \(if .NextMarker then "yes" else "no" end)"')"
m=$(echo "$b1" | jq -r .NextMarker)
b2=$(b3r lambda list_code_signing_configs "{\"MaxItems\":3,\"Marker\":\"$m\"}")
check "the next page has the last one and no marker" "1 no" \
	"$(echo "$b2" | jq -r '"\(.CodeSigningConfigs | length) \(if .NextMarker then "yes" else "no" end)"')"
check "the pages hold the 4 configs once each" 4 \
	"$( (echo "$b1"; echo "$b2") | jq -r '.CodeSigningConfigs[].CodeSigningConfigId' | sort -u | wc -l)"
check "the CLI's paginator sees 4" 4 "$(awsl list-code-signing-configs --page-size 1 | py 'len(d["CodeSigningConfigs"])')"
check "MaxItems 0 is refused" "400 ValidationException" \
	"$(raw GET '/2020-04-22/code-signing-configs?MaxItems=0') $(hdr X-Amzn-ErrorType)"

# --- A function's config.
check "GetFunctionCodeSigningConfig without one: 200, an empty ARN" "200 {'CodeSigningConfigArn': '', 'FunctionName': 'alpha'}" \
	"$(raw GET /2020-06-30/functions/alpha/code-signing-config) $(jq_ d)"
check "PutFunctionCodeSigningConfig" "$C1 alpha" \
	"$(awsl put-function-code-signing-config --function-name alpha --code-signing-config-arn "$C1" | py 'd["CodeSigningConfigArn"] + " " + d["FunctionName"]')"
check "GetFunctionCodeSigningConfig reads it" "$C1" \
	"$(awsl get-function-code-signing-config --function-name alpha | py 'd["CodeSigningConfigArn"]')"
out=$(aws_err put-function-code-signing-config --function-name beta \
	--code-signing-config-arn "$ARN_PREFIX:code-signing-config:csc-0123456789abcdef0")
check_contains "binding an unknown config: CodeSigningConfigNotFoundException" "CodeSigningConfigNotFoundException" "$out"
out=$(aws_err put-function-code-signing-config --function-name nosuch --code-signing-config-arn "$C1")
check_contains "binding to a missing function: ResourceNotFoundException" "ResourceNotFoundException" "$out"
create_fn delta echo --code-signing-config-arn "$C1" >/dev/null
check "CodeSigningConfigArn at CreateFunction binds it" "$C1" \
	"$(b3r lambda get_function_code_signing_config '{"FunctionName":"delta"}' | jq -r .CodeSigningConfigArn)"
out=$(aws_err create-function --function-name eps --runtime provided.al2023 --handler x \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip echo)" \
	--code-signing-config-arn "$ARN_PREFIX:code-signing-config:csc-0123456789abcdef0")
check_contains "CreateFunction with an unknown config is refused" "CodeSigningConfigNotFoundException" "$out"
check "ListFunctionsByCodeSigningConfig" "$ARN_PREFIX:function:alpha $ARN_PREFIX:function:delta" \
	"$(awsl list-functions-by-code-signing-config --code-signing-config-arn "$C1" | py '" ".join(d["FunctionArns"])')"
pg=$(b3r lambda list_functions_by_code_signing_config "{\"CodeSigningConfigArn\":\"$C1\",\"MaxItems\":1}")
check "... paged by MaxItems 1" "1 alpha" "$(echo "$pg" | jq -r '"\(.FunctionArns | length) \(.NextMarker)"')"
check "... the next page" "$ARN_PREFIX:function:delta" \
	"$(b3r lambda list_functions_by_code_signing_config "{\"CodeSigningConfigArn\":\"$C1\",\"Marker\":\"alpha\"}" | jq -r '.FunctionArns | join(" ")')"
out=$(aws_err delete-code-signing-config --code-signing-config-arn "$C1")
check_contains "a config in use cannot be deleted" "ResourceConflictException" "$out"
check "... and is still there" "second" \
	"$(awsl get-code-signing-config --code-signing-config-arn "$C1" | py 'd["CodeSigningConfig"]["Description"]')"

# --- Everything survives a restart.
snapshot() {
	tags_of "$FA"; tags_of "$FB"; tags_of "$C1"; tags_of "$C2"
	awsl get-code-signing-config --code-signing-config-arn "$C1" | py 'sorted(d["CodeSigningConfig"].items())'
	awsl list-code-signing-configs | py 'sorted(c["CodeSigningConfigId"] for c in d["CodeSigningConfigs"])'
	awsl get-function-code-signing-config --function-name alpha | py 'd["CodeSigningConfigArn"]'
	awsl list-functions-by-code-signing-config --code-signing-config-arn "$C1" | py 'd["FunctionArns"]'
}
before=$(snapshot)
check_contains "the snapshot holds the tags" "('team', 'core')" "$before"
stop_server
start_server
check "tags, configs and bindings are the same after a restart" "$before" "$(snapshot)"

# --- Deleting a function takes its tags and binding with it; then the config may go.
awsl delete-function-code-signing-config --function-name delta >/dev/null
check "DeleteFunctionCodeSigningConfig unbinds" "" \
	"$(awsl get-function-code-signing-config --function-name delta | py 'd["CodeSigningConfigArn"]')"
awsl delete-function --function-name alpha >/dev/null
check "after DeleteFunction no function uses the config" "[]" \
	"$(awsl list-functions-by-code-signing-config --code-signing-config-arn "$C1" | py 'd["FunctionArns"]')"
create_fn alpha echo >/dev/null
check "a new function of the same name has no tags" "[]" "$(tags_of "$FA")"
check "... and no code signing config" "" \
	"$(awsl get-function-code-signing-config --function-name alpha | py 'd["CodeSigningConfigArn"]')"
check "DeleteCodeSigningConfig once unused is 204" 204 "$(raw DELETE "/2020-04-22/code-signing-configs/$C1")"
check_contains "... and it is gone" "ResourceNotFoundException" \
	"$(aws_err get-code-signing-config --code-signing-config-arn "$C1")"
check_contains "... its tags with it" "ResourceNotFoundException" "$(aws_err list-tags --resource "$C1")"
stop_server
start_server
check "nothing deleted comes back after a restart" "[] 3 []" \
	"$(tags_of "$FA") $(awsl list-code-signing-configs | py 'len(d["CodeSigningConfigs"])') $(awsl list-functions-by-code-signing-config --code-signing-config-arn "$C2" | py 'd["FunctionArns"]')"
finish
