#!/usr/bin/env bash
# The control plane of per-function concurrency, driven with the AWS CLI v2 (in the
# driver, tests/clients/driver.py: no process per call), the SDK and curl:
# reserved concurrency and the account's unreserved pool, provisioned concurrency
# configs, lambdad's prewarm and keep-alive endpoints and the `warm` verb; values
# round-trip, refusals change nothing, RevisionId stays, settings survive a restart
# and go with the function. Throttling and readiness themselves are scaling.sh's.
source "$(dirname "$0")/lib.sh"
start_server --account-concurrency 150

# raw METHOD PATH [BODY]: a request with curl; body to $WORK/b, headers to $WORK/h
# (read them with jq_ and hdr); prints the HTTP status.
# py EXPR: a Python expression on stdin parsed as JSON d ("" stdin gives d = None),
# evaluated in the driver (pyx), not in a python3 started for it.
py() { pyx "$1"; }
reserved_of() { raw GET "/2019-09-30/functions/$1/concurrency" >/dev/null; cat "$WORK/b"; }
unreserved() { b3 lambda get_account_settings | jq -r '.result.AccountLimit.UnreservedConcurrentExecutions'; }
revision() { b3 lambda get_function_configuration "{\"FunctionName\":\"$1\"}" | jq -r '.result.RevisionId'; }
# concurrency_key NAME: GetFunction's Concurrency, or "absent".
concurrency_key() { awsl get-function --function-name "$1" | py 'd.get("Concurrency", "absent")'; }
LATEST='%24LATEST'

create_fn alpha echo >/dev/null
create_fn beta echo >/dev/null
create_fn gamma echo >/dev/null

# --- Reserved concurrency: none to start with.
check "GetFunctionConcurrency without a reservation is {}" '{}' "$(reserved_of alpha)"
check "GetFunction has no Concurrency without a reservation" absent "$(concurrency_key alpha)"
check "GetAccountSettings: the whole limit is unreserved" "150 150" \
	"$(awsl get-account-settings | py '"%d %d" % (d["AccountLimit"]["ConcurrentExecutions"], d["AccountLimit"]["UnreservedConcurrentExecutions"])')"

rev=$(revision alpha)
lastmod=$(awsl get-function-configuration --function-name alpha | py 'd["LastModified"]')
check "PutFunctionConcurrency 50 answers the value" 50 \
	"$(awsl put-function-concurrency --function-name alpha --reserved-concurrent-executions 50 | py 'd["ReservedConcurrentExecutions"]')"
check "GetFunctionConcurrency reads it back" 50 \
	"$(awsl get-function-concurrency --function-name alpha | py 'd["ReservedConcurrentExecutions"]')"
check "GetFunction shows Concurrency" "{'ReservedConcurrentExecutions': 50}" "$(concurrency_key alpha)"
check "the unreserved pool shrinks by the reservation" 100 "$(unreserved)"
check "PutFunctionConcurrency keeps the RevisionId" "$rev" "$(revision alpha)"
check "PutFunctionConcurrency keeps LastModified" "$lastmod" \
	"$(awsl get-function-configuration --function-name alpha | py 'd["LastModified"]')"
check "PutFunctionConcurrency is 200 on the wire" 200 \
	"$(raw PUT /2017-10-31/functions/alpha/concurrency '{"ReservedConcurrentExecutions":50}')"

# The unreserved pool may not drop below 100: 150 - 50 - 1 = 99.
out=$(aws_err put-function-concurrency --function-name beta --reserved-concurrent-executions 1)
check_contains "a reservation taking the pool below 100 is refused" "failed=yes" "$out"
check_contains "... as InvalidParameterValueException" "InvalidParameterValueException" "$out"
check_contains "... with AWS's message" \
	"Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]." "$out"
check "the refused reservation left beta without one" '{}' "$(reserved_of beta)"
check "... and the pool as it was" 100 "$(unreserved)"
out=$(aws_err put-function-concurrency --function-name alpha --reserved-concurrent-executions 51)
check_contains "raising alpha's own reservation past the pool is refused too" "InvalidParameterValueException" "$out"
check "alpha keeps 50 after the refusal" '{"ReservedConcurrentExecutions":50}' "$(reserved_of alpha)"
check "a refused reservation is 400 on the wire" "400 InvalidParameterValueException" \
	"$(raw PUT /2017-10-31/functions/alpha/concurrency '{"ReservedConcurrentExecutions":51}') $(hdr X-Amzn-ErrorType)"

# Replacing a reservation counts the new value instead of the old one.
check "reserved 0 (the function disabled) is accepted" 0 \
	"$(awsl put-function-concurrency --function-name alpha --reserved-concurrent-executions 0 | py 'd["ReservedConcurrentExecutions"]')"
check "GetFunction shows a reservation of 0" "{'ReservedConcurrentExecutions': 0}" "$(concurrency_key alpha)"
check "a reservation of 0 takes nothing from the pool" 150 "$(unreserved)"
check "beta may now reserve 50" 50 \
	"$(awsl put-function-concurrency --function-name beta --reserved-concurrent-executions 50 | py 'd["ReservedConcurrentExecutions"]')"
check "the pool is the limit less the sum of reservations" 100 "$(unreserved)"
out=$(aws_err put-function-concurrency --function-name alpha --reserved-concurrent-executions 1)
check_contains "alpha from 0 to 1 would leave 99: refused" "minimum value of [100]" "$out"
check "alpha keeps 0" '{"ReservedConcurrentExecutions":0}' "$(reserved_of alpha)"

# Bad input names the field and changes nothing.
code=$(raw PUT /2017-10-31/functions/beta/concurrency '{"ReservedConcurrentExecutions":-1}')
check "a negative reservation is 400 ValidationException" "400 ValidationException" "$code $(hdr X-Amzn-ErrorType)"
check_contains "... naming the field and the bound" "'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0" "$(jq_ 'd["message"]')"
code=$(raw PUT /2017-10-31/functions/beta/concurrency '{"ReservedConcurrentExecutions":"ten"}')
check "a string reservation is 400 InvalidParameterValueException" "400 InvalidParameterValueException" "$code $(hdr X-Amzn-ErrorType)"
check "... naming the field" "ReservedConcurrentExecutions must be an integer" "$(jq_ 'd["message"]')"
code=$(raw PUT /2017-10-31/functions/beta/concurrency '{"ReservedConcurrentExecutions":2.5}')
check "a fractional reservation is 400" "400 InvalidParameterValueException" "$code $(hdr X-Amzn-ErrorType)"
code=$(raw PUT /2017-10-31/functions/beta/concurrency '{}')
check "a missing reservation is 400 ValidationException" "400 ValidationException" "$code $(hdr X-Amzn-ErrorType)"
check_contains "... naming the field" "Value null at 'reservedConcurrentExecutions'" "$(jq_ 'd["message"]')"
code=$(raw PUT /2017-10-31/functions/beta/concurrency '{"ReservedConcurrentExecutions":')
check "a body that is not JSON is 400 InvalidRequestContentException" "400 InvalidRequestContentException" \
	"$code $(hdr X-Amzn-ErrorType)"
check "bad input left beta's reservation as it was" '{"ReservedConcurrentExecutions":50}' "$(reserved_of beta)"
check "... and the pool" 100 "$(unreserved)"

# A store that cannot commit (another writer holds the database longer than the
# server's 5 s busy timeout): 500 ServiceException, and nothing changes in memory.
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN IMMEDIATE")
print("locked", flush=True); time.sleep(60)' "$DATA/lambdad.db" >"$WORK/lock" &
locker=$!
for _ in $(seq 100); do grep -q locked "$WORK/lock" && break; sleep 0.05; done
code=$(raw PUT /2017-10-31/functions/beta/concurrency '{"ReservedConcurrentExecutions":7}')
check "a store failure is 500 ServiceException" "500 ServiceException" "$code $(hdr X-Amzn-ErrorType)"
code=$(raw PUT /lambdad/v1/functions/beta/keep-alive '{"KeepAliveSeconds":7}')
check "... for keep-alive too" "500 ServiceException" "$code $(hdr X-Amzn-ErrorType)"
kill "$locker" 2>/dev/null || true
wait "$locker" 2>/dev/null || true
check "the failed commit left beta's reservation as it was" '{"ReservedConcurrentExecutions":50}' "$(reserved_of beta)"
check "... and its keep-alive" "{'KeepAliveSeconds': None, 'Default': True}" \
	"$(raw GET /lambdad/v1/functions/beta/keep-alive >/dev/null; jq_ d)"

# Unknown functions.
out=$(aws_err put-function-concurrency --function-name nope --reserved-concurrent-executions 1)
check_contains "PutFunctionConcurrency of an unknown function: ResourceNotFoundException" "ResourceNotFoundException" "$out"
check "GetFunctionConcurrency of an unknown function: 404" "404 ResourceNotFoundException" \
	"$(raw GET /2019-09-30/functions/nope/concurrency) $(hdr X-Amzn-ErrorType)"
check "DeleteFunctionConcurrency of an unknown function: 404" "404 ResourceNotFoundException" \
	"$(raw DELETE /2017-10-31/functions/nope/concurrency) $(hdr X-Amzn-ErrorType)"
arn=arn:aws:lambda:us-east-1:000000000000:function:beta
check "a function ARN works as the name" 50 \
	"$(awsl get-function-concurrency --function-name "$arn" | py 'd["ReservedConcurrentExecutions"]')"

# Delete.
rev=$(revision beta)
check "DeleteFunctionConcurrency is 204" 204 "$(raw DELETE /2017-10-31/functions/beta/concurrency)"
check "after the delete GetFunctionConcurrency is {}" '{}' "$(reserved_of beta)"
check "after the delete GetFunction has no Concurrency" absent "$(concurrency_key beta)"
check "after the delete the pool has it back" 150 "$(unreserved)"
check "DeleteFunctionConcurrency keeps the RevisionId" "$rev" "$(revision beta)"
check "the AWS CLI's delete-function-concurrency succeeds (again: idempotent)" 0 \
	"$(awsl delete-function-concurrency --function-name beta >/dev/null 2>&1; echo $?)"

# --- Provisioned concurrency, on a version (AWS refuses it on $LATEST).
awsl publish-version --function-name gamma >/dev/null
out=$(aws_err put-provisioned-concurrency-config --function-name gamma --qualifier '$LATEST' --provisioned-concurrent-executions 1)
check_contains "provisioned concurrency on \$LATEST is refused with AWS's message" \
	"InvalidParameterValueException) when calling the PutProvisionedConcurrencyConfig operation: Provisioned Concurrency Configs cannot be applied to unpublished function versions." "$out"
out=$(aws_err get-provisioned-concurrency-config --function-name gamma --qualifier 1)
check_contains "no provisioned config yet: ProvisionedConcurrencyConfigNotFoundException" \
	"ProvisionedConcurrencyConfigNotFoundException" "$out"
check "... 404 on the wire" "404 ProvisionedConcurrencyConfigNotFoundException" \
	"$(raw GET "/2019-09-30/functions/gamma/provisioned-concurrency?Qualifier=1") $(hdr X-Amzn-ErrorType)"
check "no provisioned config yet: the list is empty" "[]" \
	"$(awsl list-provisioned-concurrency-configs --function-name gamma | py 'd["ProvisionedConcurrencyConfigs"]')"

rev=$(revision gamma)
awsl put-provisioned-concurrency-config --function-name gamma --qualifier 1 \
	--provisioned-concurrent-executions 2 >"$WORK/put.json"
check "PutProvisionedConcurrencyConfig answers the requested count" 2 \
	"$(py 'd["RequestedProvisionedConcurrentExecutions"]' <"$WORK/put.json")"
check "... with a Status" True "$(py 'd["Status"] in ("IN_PROGRESS", "READY")' <"$WORK/put.json")"
check "... Available and Allocated counts within the request" True \
	"$(py '0 <= d["AvailableProvisionedConcurrentExecutions"] <= 2 and 0 <= d["AllocatedProvisionedConcurrentExecutions"] <= 2' <"$WORK/put.json")"
check "... a LastModified like the function's" True \
	"$(py '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", d["LastModified"]) is not None' <"$WORK/put.json")"
check "READY exactly when all requested are available" True \
	"$(py '(d["Status"] == "READY") == (d["AvailableProvisionedConcurrentExecutions"] == d["RequestedProvisionedConcurrentExecutions"])' <"$WORK/put.json")"
awsl get-provisioned-concurrency-config --function-name gamma --qualifier 1 >"$WORK/get.json"
check "GetProvisionedConcurrencyConfig reads it back" "2 $(py 'd["LastModified"]' <"$WORK/put.json")" \
	"$(py '"%d %s" % (d["RequestedProvisionedConcurrentExecutions"], d["LastModified"])' <"$WORK/get.json")"
awsl list-provisioned-concurrency-configs --function-name gamma >"$WORK/list.json"
check "ListProvisionedConcurrencyConfigs has it, with the version ARN" \
	"1 arn:aws:lambda:us-east-1:000000000000:function:gamma:1 2" \
	"$(py '"%d %s %d" % (len(d["ProvisionedConcurrencyConfigs"]), d["ProvisionedConcurrencyConfigs"][0]["FunctionArn"], d["ProvisionedConcurrencyConfigs"][0]["RequestedProvisionedConcurrentExecutions"])' <"$WORK/list.json")"
check "PutProvisionedConcurrencyConfig keeps the RevisionId" "$rev" "$(revision gamma)"
check "PutProvisionedConcurrencyConfig is 202 on the wire" 202 \
	"$(raw PUT "/2019-09-30/functions/gamma/provisioned-concurrency?Qualifier=1" '{"ProvisionedConcurrentExecutions":2}')"
check "the qualifier may also come with the name" 2 \
	"$(awsl get-provisioned-concurrency-config --function-name 'gamma:1' --qualifier 1 | py 'd["RequestedProvisionedConcurrentExecutions"]')"

code=$(raw GET /2019-09-30/functions/gamma/provisioned-concurrency)
check "GET without a Qualifier is 400 InvalidParameterValueException" "400 InvalidParameterValueException" \
	"$code $(hdr X-Amzn-ErrorType)"
check_contains "... naming Qualifier" "Qualifier" "$(jq_ 'd["message"]')"
code=$(raw PUT /2019-09-30/functions/gamma/provisioned-concurrency '{"ProvisionedConcurrentExecutions":1}')
check "PUT without a Qualifier is 400 naming it" "400 InvalidParameterValueException True" \
	"$code $(hdr X-Amzn-ErrorType) $(jq_ '"Qualifier" in d["message"]')"
code=$(raw DELETE /2019-09-30/functions/gamma/provisioned-concurrency)
check "DELETE without a Qualifier is 400" "400 InvalidParameterValueException" "$code $(hdr X-Amzn-ErrorType)"
out=$(aws_err put-provisioned-concurrency-config --function-name gamma --qualifier 9 --provisioned-concurrent-executions 1)
check_contains "a version gamma does not have: ResourceNotFoundException" "ResourceNotFoundException" "$out"
check_contains "... naming the qualified function" "function:gamma:9" "$out"
out=$(aws_err put-provisioned-concurrency-config --function-name nope --qualifier 1 --provisioned-concurrent-executions 1)
check_contains "an unknown function: ResourceNotFoundException" "ResourceNotFoundException" "$out"
code=$(raw PUT "/2019-09-30/functions/gamma/provisioned-concurrency?Qualifier=1" '{"ProvisionedConcurrentExecutions":0}')
check "provisioned 0 is 400 ValidationException" "400 ValidationException" "$code $(hdr X-Amzn-ErrorType)"
check_contains "... naming the field" "'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1" "$(jq_ 'd["message"]')"
code=$(raw PUT "/2019-09-30/functions/gamma/provisioned-concurrency?Qualifier=1" '{"ProvisionedConcurrentExecutions":"2"}')
check "a string count is 400 naming the field" "400 InvalidParameterValueException ProvisionedConcurrentExecutions must be an integer" \
	"$code $(hdr X-Amzn-ErrorType) $(jq_ 'd["message"]')"
code=$(raw PUT "/2019-09-30/functions/gamma/provisioned-concurrency?Qualifier=1" '{}')
check "a missing count is 400 naming the field" "400 ValidationException True" \
	"$code $(hdr X-Amzn-ErrorType) $(jq_ '"provisionedConcurrentExecutions" in d["message"]')"
check "bad input left the provisioned config as it was" 2 \
	"$(awsl get-provisioned-concurrency-config --function-name gamma --qualifier 1 | py 'd["RequestedProvisionedConcurrentExecutions"]')"

# With a reservation, provisioned may not exceed it; nor the reservation fall below it.
out=$(aws_err put-function-concurrency --function-name gamma --reserved-concurrent-executions 1)
check_contains "a reservation below the provisioned count is refused" "InvalidParameterValueException" "$out"
check "... and not made" '{}' "$(reserved_of gamma)"
awsl put-function-concurrency --function-name gamma --reserved-concurrent-executions 3 >/dev/null
out=$(aws_err put-provisioned-concurrency-config --function-name gamma --qualifier 1 --provisioned-concurrent-executions 4)
check_contains "provisioned above the reservation is refused" "InvalidParameterValueException" "$out"
check_contains "... with AWS's message" "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function" "$out"
check "... leaving the config as it was" 2 \
	"$(awsl get-provisioned-concurrency-config --function-name gamma --qualifier 1 | py 'd["RequestedProvisionedConcurrentExecutions"]')"
check "provisioned up to the reservation is accepted" 3 \
	"$(awsl put-provisioned-concurrency-config --function-name gamma --qualifier 1 --provisioned-concurrent-executions 3 | py 'd["RequestedProvisionedConcurrentExecutions"]')"
awsl delete-function-concurrency --function-name gamma
# Without a reservation provisioned comes from the unreserved pool: at most 150 - 100.
out=$(aws_err put-provisioned-concurrency-config --function-name gamma --qualifier 1 --provisioned-concurrent-executions 51)
check_contains "provisioned taking the unreserved pool below 100 is refused" "minimum value of [100]" "$out"

# Delete.
check "DeleteProvisionedConcurrencyConfig is 204" 204 \
	"$(raw DELETE "/2019-09-30/functions/gamma/provisioned-concurrency?Qualifier=1")"
out=$(aws_err get-provisioned-concurrency-config --function-name gamma --qualifier 1)
check_contains "after the delete: ProvisionedConcurrencyConfigNotFoundException" \
	"ProvisionedConcurrencyConfigNotFoundException" "$out"
check "after the delete the list is empty" 0 \
	"$(awsl list-provisioned-concurrency-configs --function-name gamma | py 'len(d["ProvisionedConcurrencyConfigs"])')"
check "the AWS CLI's delete-provisioned-concurrency-config succeeds (again)" 0 \
	"$(awsl delete-provisioned-concurrency-config --function-name gamma --qualifier 1 >/dev/null 2>&1; echo $?)"

# --- lambdad's keep-alive.
check "keep-alive: the server's by default" "200 {'KeepAliveSeconds': None, 'Default': True}" \
	"$(raw GET /lambdad/v1/functions/alpha/keep-alive) $(jq_ d)"
check "keep-alive: PUT 45" "200 {'KeepAliveSeconds': 45}" \
	"$(raw PUT /lambdad/v1/functions/alpha/keep-alive '{"KeepAliveSeconds":45}') $(jq_ d)"
check "keep-alive: GET reads it back" "200 {'KeepAliveSeconds': 45}" \
	"$(raw GET /lambdad/v1/functions/alpha/keep-alive) $(jq_ d)"
check "keep-alive: 0 (never reuse) is accepted" "200 {'KeepAliveSeconds': 0}" \
	"$(raw PUT /lambdad/v1/functions/beta/keep-alive '{"KeepAliveSeconds":0}') $(jq_ d)"
for bad in '{"KeepAliveSeconds":-1}' '{"KeepAliveSeconds":86401}' '{"KeepAliveSeconds":"60"}' '{"KeepAliveSeconds":null}' '{}'; do
	code=$(raw PUT /lambdad/v1/functions/alpha/keep-alive "$bad")
	check "keep-alive: $bad is 400 naming KeepAliveSeconds" "400 InvalidParameterValueException True" \
		"$code $(hdr X-Amzn-ErrorType) $(jq_ '"KeepAliveSeconds" in d["message"]')"
done
check "keep-alive: bad input left it as it was" "{'KeepAliveSeconds': 45}" \
	"$(raw GET /lambdad/v1/functions/alpha/keep-alive >/dev/null; jq_ d)"
check "keep-alive of an unknown function: 404" "404 ResourceNotFoundException" \
	"$(raw PUT /lambdad/v1/functions/nope/keep-alive '{"KeepAliveSeconds":5}') $(hdr X-Amzn-ErrorType)"
rev=$(revision alpha)
check "keep-alive: DELETE is 204" 204 "$(raw DELETE /lambdad/v1/functions/alpha/keep-alive)"
check "keep-alive: back to the server's" "{'KeepAliveSeconds': None, 'Default': True}" \
	"$(raw GET /lambdad/v1/functions/alpha/keep-alive >/dev/null; jq_ d)"
check "keep-alive changes keep the RevisionId" "$rev" "$(revision alpha)"

# --- lambdad's prewarm.
check "prewarm: Count 2 starts 2" "202 {'Started': 2}" \
	"$(raw POST /lambdad/v1/functions/beta/prewarm '{"Count":2}') $(jq_ d)"
check "prewarm: no body starts 1" "202 {'Started': 1}" "$(raw POST /lambdad/v1/functions/beta/prewarm) $(jq_ d)"
for bad in '{"Count":0}' '{"Count":1001}' '{"Count":"3"}' '{"Count":-2}'; do
	code=$(raw POST /lambdad/v1/functions/beta/prewarm "$bad")
	check "prewarm: $bad is 400 naming Count" "400 InvalidParameterValueException True" \
		"$code $(hdr X-Amzn-ErrorType) $(jq_ 'd["message"].startswith("Count ")')"
done
check "prewarm of an unknown function: 404" "404 ResourceNotFoundException" \
	"$(raw POST /lambdad/v1/functions/nope/prewarm '{"Count":1}') $(hdr X-Amzn-ErrorType)"

# --- The warm verb.
RC=0
"$LAMBDAD" warm gamma --count 2 --keep-alive 60 --endpoint "$ENDPOINT" >"$WORK/wout" 2>"$WORK/werr" || RC=$?
check "warm --count 2 --keep-alive 60 exits 0" 0 "$RC"
check "warm prints what it did" "gamma: idle environments live 60 s
gamma: starting 2 of 2 environments" "$(cat "$WORK/wout")"
check "warm set the keep-alive" "{'KeepAliveSeconds': 60}" \
	"$(raw GET /lambdad/v1/functions/gamma/keep-alive >/dev/null; jq_ d)"
RC=0
LAMBDAD_ENDPOINT=$ENDPOINT "$LAMBDAD" warm gamma --keep-alive default >"$WORK/wout" 2>&1 || RC=$?
check "warm --keep-alive default (endpoint from \$LAMBDAD_ENDPOINT)" \
	"0 gamma: idle environments live as long as the server's --keep-alive" "$RC $(cat "$WORK/wout")"
check "... the keep-alive is the server's again" "{'KeepAliveSeconds': None, 'Default': True}" \
	"$(raw GET /lambdad/v1/functions/gamma/keep-alive >/dev/null; jq_ d)"
RC=0
"$LAMBDAD" warm gamma --endpoint "$ENDPOINT" >"$WORK/wout" 2>&1 || RC=$?
check "warm without options starts one" "0 gamma: starting 1 of 1 environment" "$RC $(cat "$WORK/wout")"
RC=0
"$LAMBDAD" warm nope --endpoint "$ENDPOINT" >"$WORK/wout" 2>"$WORK/werr" || RC=$?
check "warm of an unknown function exits 1 with the API error" "1 True" \
	"$RC $(grep -q '^lambdad: ResourceNotFoundException: Function not found' "$WORK/werr" && echo True)"
for args in "gamma --count 0" "gamma --count x" "gamma --keep-alive -5" "gamma --keep-alive 86401" "" "gamma other"; do
	RC=0
	# shellcheck disable=SC2086
	"$LAMBDAD" warm $args --endpoint "$ENDPOINT" >"$WORK/wout" 2>"$WORK/werr" || RC=$?
	check "warm $args: usage error (2), usage on stderr" "2 True" \
		"$RC $(grep -q 'usage: lambdad warm' "$WORK/werr" && echo True)"
done
RC=0
"$LAMBDAD" warm --help >"$WORK/wout" 2>&1 || RC=$?
check_contains "warm --help prints its usage" "0 usage: lambdad warm NAME" "$RC $(cat "$WORK/wout")"
RC=0
"$LAMBDAD" frobnicate >/dev/null 2>"$WORK/werr" || RC=$?
check_contains "the CLI's usage lists warm" "warm" "$(grep -E '^  warm ' "$WORK/werr")"

# --- Settings survive a restart.
awsl put-function-concurrency --function-name alpha --reserved-concurrent-executions 20 >/dev/null
awsl put-provisioned-concurrency-config --function-name gamma --qualifier 1 \
	--provisioned-concurrent-executions 1 >/dev/null
raw PUT /lambdad/v1/functions/beta/keep-alive '{"KeepAliveSeconds":120}' >/dev/null
snapshot() {
	echo "alpha $(reserved_of alpha) $(concurrency_key alpha)"
	echo "beta $(reserved_of beta) $(raw GET /lambdad/v1/functions/beta/keep-alive >/dev/null; jq_ d)"
	echo "gamma $(reserved_of gamma) $(awsl get-provisioned-concurrency-config --function-name gamma --qualifier 1 | py '(d["RequestedProvisionedConcurrentExecutions"], d["LastModified"])')"
	echo "unreserved $(unreserved)"
	for f in alpha beta gamma; do revision $f; done
}
before=$(snapshot)
check_contains "the snapshot holds the settings" "alpha {\"ReservedConcurrentExecutions\":20}" "$before"
stop_server
start_server --account-concurrency 150
check "reserved, provisioned and keep-alive are the same after a restart" "$before" "$(snapshot)"
check "the unreserved pool is computed from the stored reservations" 130 "$(unreserved)"
out=$(aws_err put-function-concurrency --function-name beta --reserved-concurrent-executions 31)
check_contains "after a restart the pool still refuses what it must" "minimum value of [100]" "$out"

# --- Deleting a function takes its settings with it.
awsl delete-function --function-name alpha
awsl delete-function --function-name beta
awsl delete-function --function-name gamma
check "deleting a function frees its reservation" 150 "$(unreserved)"
create_fn alpha echo >/dev/null
create_fn beta echo >/dev/null
create_fn gamma echo >/dev/null
check "a new function of the same name has no reservation" '{}' "$(reserved_of alpha)"
check "... no Concurrency in GetFunction" absent "$(concurrency_key alpha)"
check "... the server's keep-alive" "{'KeepAliveSeconds': None, 'Default': True}" \
	"$(raw GET /lambdad/v1/functions/beta/keep-alive >/dev/null; jq_ d)"
check "... and no provisioned config" "404 ProvisionedConcurrencyConfigNotFoundException" \
	"$(raw GET "/2019-09-30/functions/gamma/provisioned-concurrency?Qualifier=$LATEST") $(hdr X-Amzn-ErrorType)"
stop_server
start_server --account-concurrency 150
check "nothing of the deleted functions' settings comes back after a restart" \
	"{} {} 150 {'KeepAliveSeconds': None, 'Default': True}" \
	"$(reserved_of alpha) $(reserved_of gamma) $(unreserved) $(raw GET /lambdad/v1/functions/beta/keep-alive >/dev/null; jq_ d)"
