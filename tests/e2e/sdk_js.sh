#!/usr/bin/env bash
# The AWS SDK for JavaScript v3 on the Lambda API's configuration surface: resource
# policies, tags, code signing configs, recursion / runtime management / scaling configs,
# as a Node.js deployment tool calls them (tests/clients/js/driver.mjs, one command a line).
# The CLI and boto3 cover the same operations in policy.sh, tags.sh and fncfg.sh.
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
finish
