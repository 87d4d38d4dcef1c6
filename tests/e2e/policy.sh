#!/usr/bin/env bash
# Resource-based policies: AddPermission, GetPolicy and RemovePermission with the AWS CLI
# (in the driver), boto3 and curl (for what the clients refuse before sending): every
# field and the Principal and Condition shapes AWS writes, the validation errors,
# duplicate statement ids, RevisionId preconditions, qualifiers, the policy surviving a
# restart and going with DeleteFunction.
source "$(dirname "$0")/lib.sh"
start_server

py() { pyx "$1"; }
# policy NAME: GetPolicy's document as compact JSON (sorted keys), via the CLI.
policy() { awsl get-policy --function-name "$1" | py 'json.dumps(json.loads(d["Policy"]), sort_keys=True)'; }
policy_rev() { awsl get-policy --function-name "$1" | py 'd["RevisionId"]'; }
ARN=arn:aws:lambda:us-east-1:000000000000:function

create_fn alpha echo >/dev/null
create_fn beta echo >/dev/null

# --- No policy yet.
out=$(aws_err get-policy --function-name alpha)
check_contains "GetPolicy without a policy is ResourceNotFoundException" \
	"An error occurred (ResourceNotFoundException) when calling the GetPolicy operation: The resource you requested does not exist." "$out"
check "GetPolicy without a policy is 404 on the wire" 404 "$(raw GET /2015-03-31/functions/alpha/policy)"

# --- A service principal with SourceArn and SourceAccount.
st=$(awsl add-permission --function-name alpha --statement-id sns --action lambda:InvokeFunction \
	--principal sns.amazonaws.com --source-arn arn:aws:sns:us-east-1:000000000000:topic \
	--source-account 000000000000 | py 'json.dumps(json.loads(d["Statement"]), sort_keys=True)')
check "AddPermission answers the statement AWS builds" \
	"{\"Action\": \"lambda:InvokeFunction\", \"Condition\": {\"ArnLike\": {\"AWS:SourceArn\": \"arn:aws:sns:us-east-1:000000000000:topic\"}, \"StringEquals\": {\"AWS:SourceAccount\": \"000000000000\"}}, \"Effect\": \"Allow\", \"Principal\": {\"Service\": \"sns.amazonaws.com\"}, \"Resource\": \"$ARN:alpha\", \"Sid\": \"sns\"}" \
	"$st"
check "GetPolicy holds the document around it" \
	"{\"Id\": \"default\", \"Statement\": [$st], \"Version\": \"2012-10-17\"}" "$(policy alpha)"
check "AddPermission is 201 on the wire" 201 \
	"$(raw POST /2015-03-31/functions/alpha/policy '{"StatementId":"wire","Action":"lambda:GetFunction","Principal":"*"}')"
check "the wire's Statement is a JSON string" "True" "$(jq_ 'isinstance(d["Statement"], str)')"

# --- Every other principal shape and condition, through boto3.
b3 lambda add_permission '{"FunctionName":"alpha","StatementId":"acct","Action":"lambda:*","Principal":"123456789012"}' >/dev/null
b3 lambda add_permission '{"FunctionName":"alpha","StatementId":"role","Action":"lambda:GetFunction","Principal":"arn:aws:iam::123456789012:role/r"}' >/dev/null
b3 lambda add_permission '{"FunctionName":"alpha","StatementId":"org","Action":"lambda:InvokeFunction","Principal":"*","PrincipalOrgID":"o-abcdefghij"}' >/dev/null
b3 lambda add_permission '{"FunctionName":"alpha","StatementId":"alexa","Action":"lambda:InvokeFunction","Principal":"alexa-connectedhome.amazon.com","EventSourceToken":"amzn1.ask.skill-1"}' >/dev/null
b3 lambda add_permission '{"FunctionName":"alpha","StatementId":"url","Action":"lambda:InvokeFunctionUrl","Principal":"*","FunctionUrlAuthType":"NONE"}' >/dev/null
# (InvokedViaFunctionUrl is newer than the CLI's and the driver's botocore models: curl)
check "InvokedViaFunctionUrl is taken" 201 \
	"$(raw POST /2015-03-31/functions/alpha/policy '{"StatementId":"urlinv","Action":"lambda:InvokeFunction","Principal":"*","InvokedViaFunctionUrl":true}')"
shapes=$(b3 lambda get_policy '{"FunctionName":"alpha"}' | py '";".join("%s %s %s" % (s["Sid"], json.dumps(s["Principal"]), json.dumps(s.get("Condition"), sort_keys=True)) for s in json.loads(d["result"]["Policy"])["Statement"])')
check "principals and conditions as AWS writes them, in order" \
	"sns {\"Service\": \"sns.amazonaws.com\"} {\"ArnLike\": {\"AWS:SourceArn\": \"arn:aws:sns:us-east-1:000000000000:topic\"}, \"StringEquals\": {\"AWS:SourceAccount\": \"000000000000\"}};wire \"*\" null;acct {\"AWS\": \"arn:aws:iam::123456789012:root\"} null;role {\"AWS\": \"arn:aws:iam::123456789012:role/r\"} null;org \"*\" {\"StringEquals\": {\"aws:PrincipalOrgID\": \"o-abcdefghij\"}};alexa {\"Service\": \"alexa-connectedhome.amazon.com\"} {\"StringEquals\": {\"lambda:EventSourceToken\": \"amzn1.ask.skill-1\"}};url \"*\" {\"StringEquals\": {\"lambda:FunctionUrlAuthType\": \"NONE\"}};urlinv \"*\" {\"Bool\": {\"lambda:InvokedViaFunctionUrl\": \"true\"}}" \
	"$shapes"

# --- Qualifiers: $LATEST and none are the same policy; a version does not exist yet.
check "GetPolicy with Qualifier \$LATEST reads the same policy" "$(policy alpha)" \
	"$(awsl get-policy --function-name alpha --qualifier '$LATEST' | py 'json.dumps(json.loads(d["Policy"]), sort_keys=True)')"
out=$(aws_err add-permission --function-name alpha --qualifier '$LATEST' --statement-id l1 --action lambda:InvokeFunction --principal '*')
check_contains "AddPermission on \$LATEST is refused as AWS refuses it" \
	"(InvalidParameterValueException) when calling the AddPermission operation: We currently do not support adding policies for \$LATEST." "$out"
out=$(aws_err add-permission --function-name alpha --qualifier 1 --statement-id v1 --action lambda:InvokeFunction --principal '*')
check_contains "AddPermission on a version is ResourceNotFoundException" "(ResourceNotFoundException)" "$out"
out=$(aws_err get-policy --function-name alpha --qualifier 1)
check_contains "GetPolicy on a version is ResourceNotFoundException" "Function not found: $ARN:alpha:1" "$out"

# --- Refusals, each changing nothing.
before=$(policy alpha)
rev=$(policy_rev alpha)
out=$(aws_err add-permission --function-name alpha --statement-id sns --action lambda:InvokeFunction --principal '*')
check_contains "a duplicate statement id is ResourceConflictException" \
	"(ResourceConflictException) when calling the AddPermission operation: The statement id (sns) provided already exists" "$out"
out=$(aws_err add-permission --function-name alpha --statement-id 'bad id' --action lambda:InvokeFunction --principal '*')
check_contains "a StatementId outside the pattern is refused, naming it" \
	"(ValidationException) when calling the AddPermission operation: 1 validation error detected: Value 'bad id' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+" "$out"
out=$(aws_err add-permission --function-name alpha --statement-id ok1 --action 'iam:PassRole' --principal '*')
check_contains "an Action outside lambda: is refused, naming it" "Value 'iam:PassRole' at 'action' failed to satisfy constraint" "$out"
out=$(aws_err add-permission --function-name alpha --statement-id ok1 --action lambda:InvokeFunction --principal 'not a principal')
check_contains "a Principal with spaces is refused" "at 'principal' failed to satisfy constraint" "$out"
out=$(aws_err add-permission --function-name alpha --statement-id ok1 --action lambda:InvokeFunction --principal 'nodots')
check_contains "a Principal of no known shape is InvalidParameterValueException" \
	"(InvalidParameterValueException) when calling the AddPermission operation: The provided principal was invalid" "$out"
out=$(aws_err add-permission --function-name alpha --statement-id ok1 --action lambda:InvokeFunction --principal '*' --source-account 12)
check_contains "a SourceAccount that is not 12 digits is refused" "at 'sourceAccount' failed to satisfy constraint" "$out"
out=$(aws_err add-permission --function-name alpha --statement-id ok1 --action lambda:InvokeFunction --principal '*' --source-arn nope)
check_contains "a SourceArn that is not an ARN is refused" "at 'sourceArn' failed to satisfy constraint" "$out"
check "InvokedViaFunctionUrl with another action is refused" \
	"400 InvokedViaFunctionUrl is only supported for the lambda:InvokeFunction action." \
	"$(raw POST /2015-03-31/functions/alpha/policy '{"StatementId":"ok1","Action":"lambda:GetFunction","Principal":"*","InvokedViaFunctionUrl":true}') $(jq_ 'd["message"]')"
check "a missing Principal (which the clients refuse before sending) is 400 ValidationException" \
	"400 ValidationException 1 validation error detected: Value null at 'principal' failed to satisfy constraint: Member must not be null" \
	"$(raw POST /2015-03-31/functions/alpha/policy '{"StatementId":"x","Action":"lambda:InvokeFunction"}') $(hdr x-amzn-errortype | cut -d: -f1) $(jq_ 'd["message"]')"
check "a FunctionUrlAuthType outside the enum is 400" 400 \
	"$(raw POST /2015-03-31/functions/alpha/policy '{"StatementId":"x","Action":"lambda:InvokeFunction","Principal":"*","FunctionUrlAuthType":"OPEN"}')"
out=$(aws_err add-permission --function-name alpha --statement-id ok1 --action lambda:InvokeFunction --principal '*' --revision-id wrong)
check_contains "AddPermission with a stale RevisionId is PreconditionFailedException" "(PreconditionFailedException)" "$out"
out=$(aws_err add-permission --function-name nosuch --statement-id ok1 --action lambda:InvokeFunction --principal '*')
check_contains "AddPermission on an unknown function is ResourceNotFoundException" \
	"(ResourceNotFoundException) when calling the AddPermission operation: Function not found: $ARN:nosuch" "$out"
out=$(aws_err remove-permission --function-name alpha --statement-id nosuch)
check_contains "removing an unknown statement is ResourceNotFoundException" \
	"(ResourceNotFoundException) when calling the RemovePermission operation: Statement nosuch is not found in resource policy." "$out"
out=$(aws_err remove-permission --function-name beta --statement-id sns)
check_contains "removing from a function without a policy is ResourceNotFoundException" "(ResourceNotFoundException)" "$out"
out=$(aws_err remove-permission --function-name alpha --statement-id sns --revision-id wrong)
check_contains "RemovePermission with a stale RevisionId is PreconditionFailedException" "(PreconditionFailedException)" "$out"
check "the refusals changed nothing" "$before $rev" "$(policy alpha) $(policy_rev alpha)"

# --- RevisionId: a matching one is taken, and every change makes a new one.
awsl add-permission --function-name alpha --statement-id withrev --action lambda:InvokeFunction \
	--principal s3.amazonaws.com --revision-id "$rev" >/dev/null
rev2=$(policy_rev alpha)
check "AddPermission with the current RevisionId succeeds and changes it" "yes" "$([ -n "$rev2" ] && [ "$rev2" != "$rev" ] && echo yes)"
awsl remove-permission --function-name alpha --statement-id withrev --revision-id "$rev2"
check "RemovePermission with the current RevisionId succeeds" "False" \
	"$(awsl get-policy --function-name alpha | py '"withrev" in d["Policy"]')"
check "RemovePermission is 204 on the wire" 204 "$(raw DELETE /2015-03-31/functions/alpha/policy/wire)"
b3 lambda remove_permission '{"FunctionName":"alpha","StatementId":"role"}' >/dev/null
check "RemovePermission through boto3 takes that statement only" "sns acct org alexa url urlinv" \
	"$(b3 lambda get_policy '{"FunctionName":"alpha"}' | py '" ".join(s["Sid"] for s in json.loads(d["result"]["Policy"])["Statement"])')"

# --- A second function's policy is its own; removing the last statement removes it.
awsl add-permission --function-name beta --statement-id only --action lambda:InvokeFunction --principal events.amazonaws.com >/dev/null
check "beta's policy has its own statement, with beta's ARN" "only $ARN:beta" \
	"$(awsl get-policy --function-name beta | py '" ".join((json.loads(d["Policy"])["Statement"][0]["Sid"], json.loads(d["Policy"])["Statement"][0]["Resource"]))')"
awsl remove-permission --function-name beta --statement-id only
out=$(aws_err get-policy --function-name beta)
check_contains "removing the last statement leaves no policy" "(ResourceNotFoundException)" "$out"
awsl add-permission --function-name beta --statement-id again --action lambda:InvokeFunction --principal '*' >/dev/null

# --- Survives a restart.
before=$(policy alpha)
rev=$(policy_rev alpha)
stop_server
start_server
check "the policy and its RevisionId are the same after a restart" "$before $rev" "$(policy alpha) $(policy_rev alpha)"

# --- DeleteFunction takes the policy with it, also across a restart.
awsl delete-function --function-name beta
create_fn beta echo >/dev/null
out=$(aws_err get-policy --function-name beta)
check_contains "a function re-created after DeleteFunction has no policy" "(ResourceNotFoundException)" "$out"
awsl delete-function --function-name alpha
stop_server
start_server
create_fn alpha echo >/dev/null
out=$(aws_err get-policy --function-name alpha)
check_contains "nothing of a deleted function's policy comes back after a restart" "(ResourceNotFoundException)" "$out"
