#!/usr/bin/env bash
# AWS's SDKs as clients: boto3 (Invoke without a Content-Type) and the AWS SDK for
# JavaScript v3 (Invoke as application/octet-stream), each deploying, invoking, paging.
source "$(dirname "$0")/lib.sh"
CLIENTS=$(cd "$(dirname "$0")/../clients" && pwd)
python3 -c 'import boto3' 2>/dev/null || missing_dep "python3 has no boto3"
[ -d "$CLIENTS/js/node_modules/@aws-sdk/client-lambda" ] || missing_dep "run scripts/install-deps (AWS SDK for JavaScript)"
start_server

# --- boto3
out=$(python3 "$CLIENTS/boto3_client.py" "$ENDPOINT" "$FIXTURES/tool/bootstrap")
py() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$out" "$1"; }
check "boto3: create_function State" Active "$(py 'd["create_state"]')"
check "boto3: invoke 200" 200 "$(py 'd["status"]')"
check "boto3: the function's variable" boto3 "$(py 'd["env_from"]')"
check "boto3: client context reaches the runtime" '{"custom":{"who":"boto3"}}' "$(py 'd["client_context"]')"
check "boto3: LogResult has REPORT" True "$(py 'd["tail_has_report"]')"
check "boto3: FunctionError" Unhandled "$(py 'd["function_error"]')"
check "boto3: error payload type" MyError "$(py 'd["error_type"]')"
check "boto3: DryRun 204" 204 "$(py 'd["dryrun_status"]')"
check "boto3: modelled ResourceNotFoundException" ResourceNotFoundException "$(py 'd["missing"]')"
check "boto3: Timeout 901 is a ValidationException" ValidationException "$(py 'd["bad_timeout"]')"
check "boto3: paginator sees every function once, in order" \
	"['py-page-0', 'py-page-1', 'py-page-2', 'py-page-3', 'py-page-4', 'py-tool']" "$(py 'd["paged_names"]')"

# --- The AWS CLI binary itself (a real process) sees what boto3 made.
check "aws CLI (a process): get-function-configuration of boto3's function" "provided.al2 5" \
	"$(aws_proc lambda get-function-configuration --function-name py-tool | jq -r '"\(.Runtime) \(.Timeout)"')"

# --- AWS SDK for JavaScript v3
out=$(cd "$CLIENTS/js" && node client.mjs "$ENDPOINT" py-tool)
check "js: invoke 200" 200 "$(py 'd["status"]')"
check "js: payload echoed" js "$(py 'd["payload"]["from"]')"
check "js: LogResult has START" True "$(py 'd["tail_has_start"]')"
check "js: FunctionError" Unhandled "$(py 'd["function_error"]')"
check "js: GetFunction runtime" provided.al2 "$(py 'd["runtime"]')"
check_contains "js: Code.Location points at lambdad" "$ENDPOINT/" "$(py 'd["code_location"]')"
check "js: modelled ResourceNotFoundException" ResourceNotFoundException "$(py 'd["missing"]')"
check "js: paginator sees every function once" 6 "$(py 'len(set(d["names"])) if len(d["names"]) == 6 else -1')"
