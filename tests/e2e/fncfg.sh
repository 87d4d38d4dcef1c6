#!/usr/bin/env bash
# Recursion, runtime management and function scaling configs (src/svc/lambda/fncfg.c),
# driven with boto3 and the AWS CLI v2 in the driver (tests/clients/driver.py) and curl:
# AWS's defaults, put/get round trips, every validation error naming its field, unknown
# functions, the qualifier rules, the RevisionId unchanged, settings surviving a restart
# and going with the function. Function scaling configs exist only for functions with a
# capacity provider, which lambdad has none of: they are validated and refused.
source "$(dirname "$0")/lib.sh"
start_server

# The CLI's botocore (the driver's) predates recursion and scaling configs and drops
# GetRuntimeManagementConfig's FunctionArn: those go through a second driver on the
# machine's newest boto3 (python3 on PATH), on fds 16 and 17 (bash has one coprocess).
python3 -c 'import sys, botocore.session as s
sys.exit("PutFunctionScalingConfig" not in s.get_session().get_service_model("lambda").operation_names)' 2>/dev/null ||
	missing_dep "python3 has no boto3 with PutFunctionScalingConfig (2025-11-30)"
mkfifo "$WORK/nb3.in" "$WORK/nb3.out"
python3 "$DRIVER" "$ENDPOINT" <"$WORK/nb3.in" >"$WORK/nb3.out" 2>>"$WORK/nb3.log" &
NB3_PID=$!
exec 16>"$WORK/nb3.in" 17<"$WORK/nb3.out"
IFS= read -r -t 60 _ <&17 || { echo "the boto3 driver did not start: $(cat "$WORK/nb3.log")"; exit 1; }
# nb3 OPERATION PARAMS: b3's answer line for a call through that driver.
nb3() {
	local line
	echo "{\"service\":\"lambda\",\"op\":\"$1\",\"params\":$2}" >&16
	IFS= read -r -t 120 line <&17 || return 2
	echo "$line"
	[[ "$line" == '{"ok": true'* ]]
}
nb3_reset() { echo '{"reset":true}' >&16; IFS= read -r -t 60 _ <&17; }
# err: "STATUS TYPE" of the last raw, and its message on the next call.
err() { echo "$1 $(hdr X-Amzn-ErrorType)"; }
msg() { jq_ 'd["message"]'; }
# b3e OPERATION PARAMS: "code: message" of a boto3 call expected to fail.
b3e() { nb3 "$1" "$2" | pyx '"%s: %s" % (d["code"], d["message"])'; }
# b3v OPERATION PARAMS EXPR: EXPR on the result of a boto3 call (d).
b3v() { nb3 "$1" "$2" | pyx "$3 if d['ok'] else 'FAILED ' + str(d)"; }
revision() { b3 lambda get_function_configuration "{\"FunctionName\":\"$1\"}" | jq -r '.result.RevisionId'; }
ARN=arn:aws:lambda:us-east-1:000000000000:function
RT_ARN=arn:aws:lambda:us-east-1::runtime:0cdcfbdefbc5e7d3343f73c2e2dd3cba17d61dea0686b404502a0c9ce83931b9
LATEST='%24LATEST'
REC=/2024-08-31/functions
RTM=/2021-07-20/functions
FSC=/2025-11-30/functions

create_fn alpha echo >/dev/null
create_fn beta echo >/dev/null
rev=$(revision alpha)

# --- Recursion config: Terminate by default.
check "GetFunctionRecursionConfig defaults to Terminate" Terminate \
	"$(b3v get_function_recursion_config '{"FunctionName":"alpha"}' 'd["result"]["RecursiveLoop"]')"
check "PutFunctionRecursionConfig Allow answers Allow" Allow \
	"$(b3v put_function_recursion_config '{"FunctionName":"alpha","RecursiveLoop":"Allow"}' 'd["result"]["RecursiveLoop"]')"
check "... and Get reads it back" Allow \
	"$(b3v get_function_recursion_config '{"FunctionName":"alpha"}' 'd["result"]["RecursiveLoop"]')"
check "... on its own function only" Terminate \
	"$(b3v get_function_recursion_config '{"FunctionName":"beta"}' 'd["result"]["RecursiveLoop"]')"
check "the function ARN works as the name" Allow \
	"$(b3v get_function_recursion_config "{\"FunctionName\":\"$ARN:alpha\"}" 'd["result"]["RecursiveLoop"]')"
check "Put and Get are 200 on the wire" "200 200" \
	"$(raw PUT $REC/alpha/recursion-config '{"RecursiveLoop":"Allow"}') $(raw GET $REC/alpha/recursion-config)"
check "PutFunctionRecursionConfig keeps the RevisionId" "$rev" "$(revision alpha)"
check "back to Terminate" Terminate \
	"$(b3v put_function_recursion_config '{"FunctionName":"beta","RecursiveLoop":"Terminate"}' 'd["result"]["RecursiveLoop"]')"

check "an unknown RecursiveLoop is 400 ValidationException" "400 ValidationException" \
	"$(err "$(raw PUT $REC/alpha/recursion-config '{"RecursiveLoop":"Sometimes"}')")"
check "... naming the field and the values" \
	"1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Allow, Terminate]" \
	"$(msg)"
check "a missing RecursiveLoop is 400 ValidationException" "400 ValidationException" \
	"$(err "$(raw PUT $REC/alpha/recursion-config '{}')")"
check_contains "... naming the field" "Value null at 'recursiveLoop'" "$(msg)"
check "a RecursiveLoop that is not a string is 400 naming it" "400 InvalidParameterValueException RecursiveLoop must be a string" \
	"$(err "$(raw PUT $REC/alpha/recursion-config '{"RecursiveLoop":1}')") $(msg)"
check "a body that is not JSON is 400 InvalidRequestContentException" "400 InvalidRequestContentException" \
	"$(err "$(raw PUT $REC/alpha/recursion-config '{"RecursiveLoop":')")"
check "a qualified name is 400 ValidationException" "400 ValidationException" \
	"$(err "$(raw GET "$REC/alpha:$LATEST/recursion-config")")"
check_contains "... naming functionName" "at 'functionName'" "$(msg)"
check "refusals left alpha's setting as it was" Allow \
	"$(b3v get_function_recursion_config '{"FunctionName":"alpha"}' 'd["result"]["RecursiveLoop"]')"
check_contains "Get of an unknown function: ResourceNotFoundException" \
	"ResourceNotFoundException: Function not found: $ARN:nope" \
	"$(b3e get_function_recursion_config '{"FunctionName":"nope"}')"
check_contains "Put of an unknown function: ResourceNotFoundException" "ResourceNotFoundException" \
	"$(b3e put_function_recursion_config '{"FunctionName":"nope","RecursiveLoop":"Allow"}')"

# --- Runtime management config: Auto by default, $LATEST.
check "GetRuntimeManagementConfig defaults to Auto, no RuntimeVersionArn, the function's ARN" \
	"{'FunctionArn': '$ARN:alpha', 'UpdateRuntimeOn': 'Auto'}" \
	"$(b3v get_runtime_management_config '{"FunctionName":"alpha"}' 'dict(sorted(d["result"].items()))')"
check "... the same with the AWS CLI" "Auto" \
	"$(awsl get-runtime-management-config --function-name alpha | pyx 'd["UpdateRuntimeOn"]')"
check "PutRuntimeManagementConfig FunctionUpdate answers it with FunctionArn" "FunctionUpdate $ARN:alpha None" \
	"$(awsl put-runtime-management-config --function-name alpha --update-runtime-on FunctionUpdate | pyx '"%s %s %s" % (d["UpdateRuntimeOn"], d["FunctionArn"], d.get("RuntimeVersionArn"))')"
check "... Get reads it back" FunctionUpdate \
	"$(awsl get-runtime-management-config --function-name alpha | pyx 'd["UpdateRuntimeOn"]')"
check "Manual with a RuntimeVersionArn round-trips (boto3)" "Manual $RT_ARN" \
	"$(b3v put_runtime_management_config "{\"FunctionName\":\"alpha\",\"UpdateRuntimeOn\":\"Manual\",\"RuntimeVersionArn\":\"$RT_ARN\"}" '"%s %s" % (d["result"]["UpdateRuntimeOn"], d["result"]["RuntimeVersionArn"])')"
check "... Get reads both back (AWS CLI)" "Manual $RT_ARN" \
	"$(awsl get-runtime-management-config --function-name alpha | pyx '"%s %s" % (d["UpdateRuntimeOn"], d["RuntimeVersionArn"])')"
check "... and FunctionArn (boto3)" "$ARN:alpha" \
	"$(b3v get_runtime_management_config '{"FunctionName":"alpha"}' 'd["result"]["FunctionArn"]')"
check "Qualifier \$LATEST is the same config" "Manual $RT_ARN" \
	"$(awsl get-runtime-management-config --function-name alpha --qualifier '$LATEST' | pyx '"%s %s" % (d["UpdateRuntimeOn"], d["RuntimeVersionArn"])')"
check "... as is name:\$LATEST" Manual \
	"$(awsl get-runtime-management-config --function-name 'alpha:$LATEST' | pyx 'd["UpdateRuntimeOn"]')"
check "GetFunctionConfiguration shows the pinned RuntimeVersionConfig" "$RT_ARN" \
	"$(awsl get-function-configuration --function-name alpha | pyx 'd["RuntimeVersionConfig"]["RuntimeVersionArn"]')"
check "... and GetFunction" "$RT_ARN" \
	"$(b3v get_function '{"FunctionName":"alpha"}' 'd["result"]["Configuration"]["RuntimeVersionConfig"]["RuntimeVersionArn"]')"
check "an unpinned function has no RuntimeVersionConfig" absent \
	"$(awsl get-function-configuration --function-name beta | pyx 'd.get("RuntimeVersionConfig", "absent")')"
check "PutRuntimeManagementConfig keeps the RevisionId" "$rev" "$(revision alpha)"
check "Put and Get are 200 on the wire" "200 200" \
	"$(raw PUT "$RTM/beta/runtime-management-config" '{"UpdateRuntimeOn":"Auto"}') $(raw GET "$RTM/beta/runtime-management-config?Qualifier=$LATEST")"

out=$(awsl put-runtime-management-config --function-name beta --update-runtime-on Manual 2>&1 || true)
check_contains "Manual without a RuntimeVersionArn is refused" "InvalidParameterValueException" "$out"
check_contains "... naming the field" "RuntimeVersionArn is required when UpdateRuntimeOn is Manual" "$out"
check "a RuntimeVersionArn with Auto is 400 naming both" "400 InvalidParameterValueException" \
	"$(err "$(raw PUT "$RTM/beta/runtime-management-config" "{\"UpdateRuntimeOn\":\"Auto\",\"RuntimeVersionArn\":\"$RT_ARN\"}")")"
check_contains "... message" "RuntimeVersionArn can be specified only when UpdateRuntimeOn is Manual, not Auto" "$(msg)"
check_contains "... and with FunctionUpdate (boto3)" "InvalidParameterValueException: RuntimeVersionArn can be specified only when UpdateRuntimeOn is Manual, not FunctionUpdate" \
	"$(b3e put_runtime_management_config "{\"FunctionName\":\"beta\",\"UpdateRuntimeOn\":\"FunctionUpdate\",\"RuntimeVersionArn\":\"$RT_ARN\"}")"
check "an unknown UpdateRuntimeOn is 400 ValidationException" "400 ValidationException" \
	"$(err "$(raw PUT "$RTM/beta/runtime-management-config" '{"UpdateRuntimeOn":"Weekly"}')")"
check "... naming the field and the values" \
	"1 validation error detected: Value 'Weekly' at 'updateRuntimeOn' failed to satisfy constraint: Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]" \
	"$(msg)"
check "a missing UpdateRuntimeOn is 400 naming it" "400 ValidationException True" \
	"$(err "$(raw PUT "$RTM/beta/runtime-management-config" '{}')") $(jq_ '"Value null at '"'"'updateRuntimeOn'"'"'" in d["message"]')"
check "a RuntimeVersionArn off the pattern is 400 ValidationException" "400 ValidationException" \
	"$(err "$(raw PUT "$RTM/beta/runtime-management-config" '{"UpdateRuntimeOn":"Manual","RuntimeVersionArn":"arn:aws:lambda:us-east-1:000000000000:function:x"}')")"
check_contains "... naming the field and the pattern" "at 'runtimeVersionArn' failed to satisfy constraint: Member must satisfy regular expression pattern" "$(msg)"
check "a RuntimeVersionArn too short is 400 naming the length" "400 ValidationException True" \
	"$(err "$(raw PUT "$RTM/beta/runtime-management-config" '{"UpdateRuntimeOn":"Manual","RuntimeVersionArn":"arn:x"}')") $(jq_ '"at '"'"'runtimeVersionArn'"'"' failed to satisfy constraint: Member must have length greater than or equal to 26" in d["message"]')"
check "a RuntimeVersionArn that is not a string is 400 naming it" "400 InvalidParameterValueException RuntimeVersionArn must be a string" \
	"$(err "$(raw PUT "$RTM/beta/runtime-management-config" '{"UpdateRuntimeOn":"Manual","RuntimeVersionArn":7}')") $(msg)"
check "refusals left beta at Auto" "Auto None" \
	"$(awsl get-runtime-management-config --function-name beta | pyx '"%s %s" % (d["UpdateRuntimeOn"], d.get("RuntimeVersionArn"))')"
check "a published version lambdad does not have: 404 naming it" "404 ResourceNotFoundException True" \
	"$(err "$(raw GET "$RTM/alpha/runtime-management-config?Qualifier=1")") $(jq_ '"function:alpha:1" in d["message"]')"
check "a qualifier in the name and another in the query: 400" "400 InvalidParameterValueException" \
	"$(err "$(raw GET "$RTM/alpha:$LATEST/runtime-management-config?Qualifier=1")")"
check_contains "Get of an unknown function: ResourceNotFoundException" "ResourceNotFoundException" \
	"$(awsl get-runtime-management-config --function-name nope 2>&1 || true)"
check_contains "Put of an unknown function: ResourceNotFoundException" "ResourceNotFoundException" \
	"$(b3e put_runtime_management_config '{"FunctionName":"nope","UpdateRuntimeOn":"Auto"}')"
check "Auto again drops the RuntimeVersionArn" "Auto None" \
	"$(b3v put_runtime_management_config '{"FunctionName":"beta","UpdateRuntimeOn":"Auto"}' '"%s %s" % (d["result"]["UpdateRuntimeOn"], d["result"].get("RuntimeVersionArn"))')"
check "... and the RuntimeVersionConfig" absent \
	"$(awsl get-function-configuration --function-name beta | pyx 'd.get("RuntimeVersionConfig", "absent")')"

# --- Function scaling config: only with a capacity provider, which lambdad has none of.
check_contains "GetFunctionScalingConfig \$LATEST.PUBLISHED of a function without a capacity provider is refused" \
	"InvalidParameterValueException: Function scaling configuration is supported only for functions with a capacity provider" \
	"$(b3e get_function_scaling_config '{"FunctionName":"alpha","Qualifier":"$LATEST.PUBLISHED"}')"
check_contains "PutFunctionScalingConfig likewise" "InvalidParameterValueException" \
	"$(b3e put_function_scaling_config '{"FunctionName":"alpha","Qualifier":"$LATEST.PUBLISHED","FunctionScalingConfig":{"MinExecutionEnvironments":1,"MaxExecutionEnvironments":3}}')"
check "... 400 on the wire" "400 InvalidParameterValueException" \
	"$(err "$(raw PUT "$FSC/alpha/function-scaling-config?Qualifier=%24LATEST.PUBLISHED" '{}')")"
check_contains "a version lambdad does not have: ResourceNotFoundException" "ResourceNotFoundException: Function not found: $ARN:alpha:3" \
	"$(b3e get_function_scaling_config '{"FunctionName":"alpha","Qualifier":"3"}')"
check_contains "an unknown function: ResourceNotFoundException" "ResourceNotFoundException" \
	"$(b3e get_function_scaling_config '{"FunctionName":"nope","Qualifier":"$LATEST.PUBLISHED"}')"
check "no Qualifier is 400 ValidationException naming it" "400 ValidationException True" \
	"$(err "$(raw GET "$FSC/alpha/function-scaling-config")") $(jq_ '"Value null at '"'"'qualifier'"'"'" in d["message"]')"
check "Qualifier \$LATEST is 400 ValidationException" "400 ValidationException" \
	"$(err "$(raw GET "$FSC/alpha/function-scaling-config?Qualifier=$LATEST")")"
check_contains "... naming the field and the pattern" "at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\\$LATEST\\.PUBLISHED|[0-9]+)" "$(msg)"
check "MaxExecutionEnvironments above 15000 is 400 naming it" "400 ValidationException True" \
	"$(err "$(raw PUT "$FSC/alpha/function-scaling-config?Qualifier=1" '{"FunctionScalingConfig":{"MaxExecutionEnvironments":15001}}')") $(jq_ '"at '"'"'functionScalingConfig.maxExecutionEnvironments'"'"' failed to satisfy constraint: Member must have value less than or equal to 15000" in d["message"]')"
check "MinExecutionEnvironments below 0 is 400 naming it" "400 ValidationException True" \
	"$(err "$(raw PUT "$FSC/alpha/function-scaling-config?Qualifier=1" '{"FunctionScalingConfig":{"MinExecutionEnvironments":-1}}')") $(jq_ '"functionScalingConfig.minExecutionEnvironments" in d["message"]')"
check "a count that is not an integer is 400 naming it" "400 InvalidParameterValueException FunctionScalingConfig.MinExecutionEnvironments must be an integer" \
	"$(err "$(raw PUT "$FSC/alpha/function-scaling-config?Qualifier=1" '{"FunctionScalingConfig":{"MinExecutionEnvironments":"1"}}')") $(msg)"
check "FunctionScalingConfig not an object is 400 naming it" "400 InvalidParameterValueException FunctionScalingConfig must be an object" \
	"$(err "$(raw PUT "$FSC/alpha/function-scaling-config?Qualifier=1" '{"FunctionScalingConfig":[]}')") $(msg)"
check "a qualified name is 400 ValidationException" "400 ValidationException" \
	"$(err "$(raw GET "$FSC/alpha:1/function-scaling-config?Qualifier=1")")"

# --- A store that cannot commit (another writer holds the database longer than the
# server's 5 s busy timeout): 500 ServiceException, and the setting stays as it was.
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN IMMEDIATE")
print("locked", flush=True); time.sleep(60)' "$DATA/lambdad.db" >"$WORK/lock" &
locker=$!
for _ in $(seq 200); do grep -q locked "$WORK/lock" && break; sleep 0.05; done
check "a store failure on PutFunctionRecursionConfig is 500 ServiceException" "500 ServiceException" \
	"$(err "$(raw PUT $REC/beta/recursion-config '{"RecursiveLoop":"Allow"}')")"
check "... and on PutRuntimeManagementConfig" "500 ServiceException" \
	"$(err "$(raw PUT "$RTM/beta/runtime-management-config" '{"UpdateRuntimeOn":"FunctionUpdate"}')")"
kill "$locker" 2>/dev/null || true
wait "$locker" 2>/dev/null || true
check "the failed commits left beta's settings as they were" "Terminate Auto" \
	"$(b3v get_function_recursion_config '{"FunctionName":"beta"}' 'd["result"]["RecursiveLoop"]') $(awsl get-runtime-management-config --function-name beta | pyx 'd["UpdateRuntimeOn"]')"

# --- Settings survive a restart, and RevisionIds stay.
snapshot() {
	for f in alpha beta; do
		echo "$f $(b3v get_function_recursion_config "{\"FunctionName\":\"$f\"}" 'd["result"]["RecursiveLoop"]')" \
			"$(awsl get-runtime-management-config --function-name $f | pyx '"%s %s" % (d["UpdateRuntimeOn"], d.get("RuntimeVersionArn"))')" \
			"$(revision $f)"
	done
}
before=$(snapshot)
check "the snapshot holds the settings" "alpha Allow Manual $RT_ARN $rev" "$(echo "$before" | head -1)"
stop_server
start_server
nb3_reset
check "recursion and runtime management configs are the same after a restart" "$before" "$(snapshot)"

# --- Deleting a function takes its settings with it.
awsl delete-function --function-name alpha
create_fn alpha echo >/dev/null
check "a new function of the same name has the defaults" "Terminate Auto None" \
	"$(b3v get_function_recursion_config '{"FunctionName":"alpha"}' 'd["result"]["RecursiveLoop"]') $(awsl get-runtime-management-config --function-name alpha | pyx '"%s %s" % (d["UpdateRuntimeOn"], d.get("RuntimeVersionArn"))')"
nb3 put_function_recursion_config '{"FunctionName":"beta","RecursiveLoop":"Allow"}' >/dev/null
awsl delete-function --function-name beta
stop_server
start_server
nb3_reset
create_fn beta echo >/dev/null
check "nothing of a deleted function's settings comes back after a restart" "Terminate Auto" \
	"$(b3v get_function_recursion_config '{"FunctionName":"beta"}' 'd["result"]["RecursiveLoop"]') $(awsl get-runtime-management-config --function-name beta | pyx 'd["UpdateRuntimeOn"]')"
# The boto3 driver: its input is also held by the servers started since (they inherit
# fd 16), so it is ended by its id rather than by the end of its input.
exec 16>&- 17<&-
kill "$NB3_PID" 2>/dev/null || true
wait "$NB3_PID" 2>/dev/null || true
