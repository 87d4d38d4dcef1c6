#!/usr/bin/env bash
# The AWS SDK for JavaScript v3 on the Lambda API's configuration surface: resource
# policies, tags, code signing configs, recursion / runtime management / scaling configs,
# versions, aliases (weighted) and layers, as a Node.js deployment tool calls them
# (tests/clients/js/driver.mjs, one command a line). The CLI and boto3 cover the same
# operations in policy.sh, tags.sh, fncfg.sh, versions.sh and layers.sh.
source "$(dirname "$0")/lib.sh"
start_server
js_start
ARN=arn:aws:lambda:us-east-1:000000000000:function
ZIP=$(fixture_zip echo)
js lambda CreateFunction "{\"FunctionName\":\"jsf\",\"Runtime\":\"provided.al2023\",\"Handler\":\"x\",\"Role\":\"arn:aws:iam::000000000000:role/r\",\"Code\":{\"ZipFile\":\"fileb://$ZIP\"},\"Tags\":{\"team\":\"js\"}}" >/dev/null
check "CreateFunction with Tags" "Active" "$(jsv lambda GetFunction '{"FunctionName":"jsf"}' 'd["result"]["Configuration"]["State"]')"
check "GetFunction shows the tags" "{'team': 'js'}" "$(jsv lambda GetFunction '{"FunctionName":"jsf"}' 'd["result"]["Tags"]')"

# --- Resource policies.
check "AddPermission: the statement's Sid and Principal" "sns {'Service': 'sns.amazonaws.com'}" \
	"$(jsv lambda AddPermission '{"FunctionName":"jsf","StatementId":"sns","Action":"lambda:InvokeFunction","Principal":"sns.amazonaws.com","SourceArn":"arn:aws:sns:us-east-1:000000000000:t"}' \
		'(lambda s: "%s %s" % (s["Sid"], s["Principal"]))(json.loads(d["result"]["Statement"]))')"
check "AddPermission with the same StatementId: ResourceConflictException" "ResourceConflictException" \
	"$(jsv lambda AddPermission '{"FunctionName":"jsf","StatementId":"sns","Action":"lambda:InvokeFunction","Principal":"*"}' 'd["code"]')"
check "GetPolicy: one statement, its condition" "1 {'ArnLike': {'AWS:SourceArn': 'arn:aws:sns:us-east-1:000000000000:t'}}" \
	"$(jsv lambda GetPolicy '{"FunctionName":"jsf"}' '(lambda p: "%d %s" % (len(p["Statement"]), p["Statement"][0]["Condition"]))(json.loads(d["result"]["Policy"]))')"
check "AddPermission on \$LATEST: InvalidParameterValueException" \
	"InvalidParameterValueException: We currently do not support adding policies for \$LATEST." \
	"$(jsv lambda AddPermission '{"FunctionName":"jsf","Qualifier":"$LATEST","StatementId":"x","Action":"lambda:InvokeFunction","Principal":"*"}' -)"
js lambda RemovePermission '{"FunctionName":"jsf","StatementId":"sns"}' >/dev/null
check "RemovePermission, then GetPolicy: ResourceNotFoundException" ResourceNotFoundException \
	"$(jsv lambda GetPolicy '{"FunctionName":"jsf"}' 'd["code"]')"

# --- Tags.
js lambda TagResource "{\"Resource\":\"$ARN:jsf\",\"Tags\":{\"env\":\"dev\",\"team\":\"core\"}}" >/dev/null
check "TagResource adds and replaces" "{'env': 'dev', 'team': 'core'}" \
	"$(jsv lambda ListTags "{\"Resource\":\"$ARN:jsf\"}" 'dict(sorted(d["result"]["Tags"].items()))')"
js lambda UntagResource "{\"Resource\":\"$ARN:jsf\",\"TagKeys\":[\"env\"]}" >/dev/null
check "UntagResource removes" "{'team': 'core'}" "$(jsv lambda ListTags "{\"Resource\":\"$ARN:jsf\"}" 'd["result"]["Tags"]')"
check "a tag key with the aws: prefix is refused" "InvalidParameterValueException" \
	"$(jsv lambda TagResource "{\"Resource\":\"$ARN:jsf\",\"Tags\":{\"aws:x\":\"1\"}}" 'd["code"]')"

# --- Code signing configs.
csc=$(jsv lambda CreateCodeSigningConfig '{"Description":"js","AllowedPublishers":{"SigningProfileVersionArns":["arn:aws:signer:us-east-1:000000000000:/signing-profiles/p/v1"]}}' \
	'd["result"]["CodeSigningConfig"]["CodeSigningConfigArn"]')
check_contains "CreateCodeSigningConfig answers its ARN" "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-" "$csc"
check "its default policy is Warn" Warn \
	"$(jsv lambda GetCodeSigningConfig "{\"CodeSigningConfigArn\":\"$csc\"}" 'd["result"]["CodeSigningConfig"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]')"
js lambda UpdateCodeSigningConfig "{\"CodeSigningConfigArn\":\"$csc\",\"CodeSigningPolicies\":{\"UntrustedArtifactOnDeployment\":\"Enforce\"}}" >/dev/null
check "UpdateCodeSigningConfig" Enforce \
	"$(jsv lambda GetCodeSigningConfig "{\"CodeSigningConfigArn\":\"$csc\"}" 'd["result"]["CodeSigningConfig"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]')"
js lambda PutFunctionCodeSigningConfig "{\"FunctionName\":\"jsf\",\"CodeSigningConfigArn\":\"$csc\"}" >/dev/null
check "GetFunctionCodeSigningConfig" "$csc" "$(jsv lambda GetFunctionCodeSigningConfig '{"FunctionName":"jsf"}' 'd["result"]["CodeSigningConfigArn"]')"
check "ListFunctionsByCodeSigningConfig" "['$ARN:jsf']" \
	"$(jsv lambda ListFunctionsByCodeSigningConfig "{\"CodeSigningConfigArn\":\"$csc\"}" 'd["result"]["FunctionArns"]')"
check "a config in use cannot be deleted" ResourceConflictException \
	"$(jsv lambda DeleteCodeSigningConfig "{\"CodeSigningConfigArn\":\"$csc\"}" 'd["code"]')"
js lambda DeleteFunctionCodeSigningConfig '{"FunctionName":"jsf"}' >/dev/null
js lambda DeleteCodeSigningConfig "{\"CodeSigningConfigArn\":\"$csc\"}" >/dev/null
check "deleted: ListCodeSigningConfigs is empty" 0 "$(jsv lambda ListCodeSigningConfigs '{}' 'len(d["result"]["CodeSigningConfigs"])')"

# --- Recursion, runtime management and scaling configs.
check "GetFunctionRecursionConfig defaults to Terminate" Terminate \
	"$(jsv lambda GetFunctionRecursionConfig '{"FunctionName":"jsf"}' 'd["result"]["RecursiveLoop"]')"
check "PutFunctionRecursionConfig Allow" Allow \
	"$(jsv lambda PutFunctionRecursionConfig '{"FunctionName":"jsf","RecursiveLoop":"Allow"}' 'd["result"]["RecursiveLoop"]')"
check "GetRuntimeManagementConfig defaults to Auto" Auto \
	"$(jsv lambda GetRuntimeManagementConfig '{"FunctionName":"jsf"}' 'd["result"]["UpdateRuntimeOn"]')"
check "PutRuntimeManagementConfig FunctionUpdate" "FunctionUpdate $ARN:jsf" \
	"$(jsv lambda PutRuntimeManagementConfig '{"FunctionName":"jsf","UpdateRuntimeOn":"FunctionUpdate"}' '"%s %s" % (d["result"]["UpdateRuntimeOn"], d["result"]["FunctionArn"])')"
check_contains "GetFunctionScalingConfig on a function without a capacity provider is refused" "Exception" \
	"$(jsv lambda GetFunctionScalingConfig '{"FunctionName":"jsf","Qualifier":"$LATEST"}' 'd["code"]')"

# --- The SDK's modelled errors.
check "an unknown function: ResourceNotFoundException" ResourceNotFoundException \
	"$(jsv lambda GetFunctionRecursionConfig '{"FunctionName":"nope"}' 'd["code"]')"
# --- Versions and aliases.
check "PublishVersion: version 1" 1 "$(jsv lambda PublishVersion '{"FunctionName":"jsf","Description":"first"}' 'd["result"]["Version"]')"
js lambda UpdateFunctionConfiguration '{"FunctionName":"jsf","Timeout":9}' >/dev/null
wait_for 30 bash -c '[ "$(curl -s "$0/2015-03-31/functions/jsf/configuration" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"LastUpdateStatus\"])")" = Successful ]' "$ENDPOINT" || true
check "PublishVersion after a change: version 2" 2 "$(jsv lambda PublishVersion '{"FunctionName":"jsf"}' 'd["result"]["Version"]')"
check "PublishVersion with nothing changed answers the last version" 2 "$(jsv lambda PublishVersion '{"FunctionName":"jsf"}' 'd["result"]["Version"]')"
check "ListVersionsByFunction: \$LATEST first" "['\$LATEST', '1', '2']" \
	"$(jsv lambda ListVersionsByFunction '{"FunctionName":"jsf"}' '[v["Version"] for v in d["result"]["Versions"]]')"
check "a version keeps its configuration" 3 \
	"$(jsv lambda GetFunctionConfiguration '{"FunctionName":"jsf","Qualifier":"1"}' 'd["result"]["Timeout"]')"
check "CreateAlias with a weighted second version" "$ARN:jsf:live {'2': 0.5}" \
	"$(jsv lambda CreateAlias '{"FunctionName":"jsf","Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.5}}}' \
		'"%s %s" % (d["result"]["AliasArn"], d["result"]["RoutingConfig"]["AdditionalVersionWeights"])')"
seen=""
for _ in $(seq 1 60); do
	seen="$seen $(jsv lambda Invoke '{"FunctionName":"jsf","Qualifier":"live","Payload":"{}"}' 'd["result"]["ExecutedVersion"]')"
done
check "invoking the alias runs both versions, reported in ExecutedVersion" "1 2" "$(tr ' ' '\n' <<<"$seen" | sort -u | xargs)"
check "invoking a version by ARN reports it" 1 \
	"$(jsv lambda Invoke "{\"FunctionName\":\"$ARN:jsf:1\",\"Payload\":\"{}\"}" 'd["result"]["ExecutedVersion"]')"
js lambda UpdateAlias '{"FunctionName":"jsf","Name":"live","FunctionVersion":"2","RoutingConfig":{"AdditionalVersionWeights":{}}}' >/dev/null
check "UpdateAlias moves it" "2 None" \
	"$(jsv lambda GetAlias '{"FunctionName":"jsf","Name":"live"}' '"%s %s" % (d["result"]["FunctionVersion"], d["result"].get("RoutingConfig", {}).get("AdditionalVersionWeights") or None)')"
check "ListAliases" "['live']" "$(jsv lambda ListAliases '{"FunctionName":"jsf"}' '[a["Name"] for a in d["result"]["Aliases"]]')"
check "provisioned concurrency on \$LATEST is refused" InvalidParameterValueException \
	"$(jsv lambda PutProvisionedConcurrencyConfig '{"FunctionName":"jsf","Qualifier":"$LATEST","ProvisionedConcurrentExecutions":1}' 'd["code"]')"
js lambda DeleteAlias '{"FunctionName":"jsf","Name":"live"}' >/dev/null
check "DeleteAlias" ResourceNotFoundException "$(jsv lambda GetAlias '{"FunctionName":"jsf","Name":"live"}' 'd["code"]')"

# --- Layers.
LZ=$(make_zip jslayer "$FIXTURES/echo")
lv=$(jsv lambda PublishLayerVersion "{\"LayerName\":\"jslib\",\"Content\":{\"ZipFile\":\"fileb://$LZ\"},\"CompatibleRuntimes\":[\"python3.11\"]}" 'd["result"]["LayerVersionArn"]')
check "PublishLayerVersion answers its version ARN" "arn:aws:lambda:us-east-1:000000000000:layer:jslib:1" "$lv"
check "ListLayers" "['jslib']" "$(jsv lambda ListLayers '{}' '[l["LayerName"] for l in d["result"]["Layers"]]')"
check "ListLayerVersions filters by runtime" "0" \
	"$(jsv lambda ListLayerVersions '{"LayerName":"jslib","CompatibleRuntime":"nodejs20.x"}' 'len(d["result"]["LayerVersions"])')"
check "GetLayerVersionByArn" 1 "$(jsv lambda GetLayerVersionByArn "{\"Arn\":\"$lv\"}" 'd["result"]["Version"]')"
js lambda AddLayerVersionPermission '{"LayerName":"jslib","VersionNumber":1,"StatementId":"all","Action":"lambda:GetLayerVersion","Principal":"*"}' >/dev/null
check "GetLayerVersionPolicy" "all" \
	"$(jsv lambda GetLayerVersionPolicy '{"LayerName":"jslib","VersionNumber":1}' 'json.loads(d["result"]["Policy"])["Statement"][0]["Sid"]')"
js lambda UpdateFunctionConfiguration "{\"FunctionName\":\"jsf\",\"Layers\":[\"$lv\"]}" >/dev/null
check "a function's Layers" "['$lv']" \
	"$(jsv lambda GetFunctionConfiguration '{"FunctionName":"jsf"}' '[l["Arn"] for l in d["result"]["Layers"]]')"
check "six layers are refused" InvalidParameterValueException \
	"$(jsv lambda UpdateFunctionConfiguration "{\"FunctionName\":\"jsf\",\"Layers\":[\"$lv\",\"$lv\",\"$lv\",\"$lv\",\"$lv\",\"$lv\"]}" 'd["code"]')"
finish
