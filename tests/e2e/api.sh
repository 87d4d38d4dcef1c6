#!/usr/bin/env bash
# The control plane as a user drives it with the AWS CLI and curl: create, get, list (paged),
# update configuration and code, delete, account settings, every refusal (with nothing left
# behind in the code store), and malformed HTTP that must not take the server down.
source "$(dirname "$0")/lib.sh"
start_server --keep-alive 2s

ROLE=arn:aws:iam::000000000000:role/r
ARN_PREFIX=arn:aws:lambda:us-east-1:000000000000:function:

b64sha() { openssl dgst -sha256 -binary "$1" | base64 -w0; }
# js FILE FILTER: a jq filter over the JSON in FILE; strings raw, the rest compact with sorted keys.
js() { jq -rcS "$2" "$1"; }
# The CLI runs in the driver (awsl: the CLI's own code without a process per call);
# AWSL=awsp runs a real `aws` process, for the calls where the binary itself is tested.
awsp() { aws_proc lambda "$@"; }
# aws_ok FILE ARGS...: runs a CLI call that must succeed, its output to FILE.
aws_ok() {
	local f=$1; shift
	if ! "${AWSL:-awsl}" "$@" >"$f" 2>"$WORK/err"; then fail "aws lambda $1 failed: $(cat "$WORK/err")"; echo '{}' >"$f"; fi
}
# aws_fail ARGS...: runs a CLI call that must fail; its message in $WORK/err, status in $RC.
aws_fail() { if "${AWSL:-awsl}" "$@" >"$WORK/out" 2>"$WORK/err"; then RC=0; else RC=$?; fi; }
cli_err() { cat "$WORK/err"; }
# raw METHOD PATH [curl args]: the body goes to $WORK/b, the headers to $WORK/h; prints the status.
raw() {
	local m=$1 p=$2; shift 2
	curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X "$m" "$@" "$ENDPOINT$p"
}
etype() { grep -i '^x-amzn-errortype:' "$WORK/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
msg() { jq -r '.message // .Message // empty' "$WORK/b" 2>/dev/null || cat "$WORK/b"; }
# body_create FILE NAME ZIP [JSON]: a CreateFunction request body with ZIP inline; JSON overrides fields.
body_create() {
	local out=$1 name=$2 zip=$3 over=${4:-'{}'} head
	head=$(jq -nc --arg n "$name" --arg r "$ROLE" --argjson o "$over" \
		'{FunctionName: $n, Runtime: "provided.al2023", Handler: "x", Role: $r} + $o')
	if [[ "$over" == *'"Code"'* ]]; then printf '%s' "$head" >"$out"; return; fi
	{ printf '%s,"Code":{"ZipFile":"' "${head%\}}"; base64 -w0 "$zip"; printf '"}}'; } >"$out"
}
# create_raw NAME ZIP [JSON]: CreateFunction through curl; prints the status.
create_raw() {
	body_create "$WORK/req.json" "$@"
	raw POST /2015-03-31/functions --data-binary @"$WORK/req.json" -H 'Content-Type: application/json'
}
# expect_error DESC STATUS TYPE NEEDLE ACTUAL_STATUS: an AWS error reply in $WORK/{h,b}.
expect_error() {
	check "$1: HTTP status" "$2" "$5"
	check "$1: X-Amzn-ErrorType" "$3" "$(etype)"
	check_contains "$1: message" "$4" "$(msg)"
}
code_listing() { ls -A "$DATA/code" | sort | tr '\n' ' '; }
# not_created DESC NAME: the function does not exist and the code store holds what it held before.
not_created() {
	check "$1: the function does not exist" 404 "$(raw GET "/2015-03-31/functions/$2")"
	# (a blob stored before the refusal is removed on the code pool, just after the answer)
	wait_for 30 code_unchanged || true
	check "$1: nothing new in the code store" "$CODE_BEFORE" "$(code_listing)"
}
code_unchanged() { [ "$CODE_BEFORE" = "$(code_listing)" ]; }
invoke_body() {
	curl -s -X POST --data-binary "$2" "$ENDPOINT/2015-03-31/functions/$1/invocations"
}

ECHO_ZIP=$(fixture_zip echo)
ECHO_SHA=$(b64sha "$ECHO_ZIP")
ECHO_HEX=$(sha256sum "$ECHO_ZIP" | cut -c1-64)

# --- CreateFunction from a zip, one function per custom runtime.
for rt in provided.al2023 provided.al2 provided; do
	fn=rt-${rt//./-}
	# (the first through a real aws process)
	AWSL=$([ "$rt" = provided.al2023 ] && echo awsp || echo awsl) aws_ok "$WORK/c-$fn.json" create-function --function-name "$fn" --runtime "$rt" --handler bootstrap.handler \
		--role "$ROLE" --zip-file "fileb://$ECHO_ZIP"
	check "create ($rt): Runtime" "$rt" "$(js "$WORK/c-$fn.json" '.Runtime')"
	check "create ($rt): invoke works" '{"rt":"'"$rt"'"}' "$(invoke_body "$fn" '{"rt":"'"$rt"'"}')"
done
C="$WORK/c-rt-provided-al2023.json"
check "create: FunctionName" rt-provided-al2023 "$(js "$C" '.FunctionName')"
check "create: FunctionArn" "${ARN_PREFIX}rt-provided-al2023" "$(js "$C" '.FunctionArn')"
check "create: Handler" bootstrap.handler "$(js "$C" '.Handler')"
check "create: Role" "$ROLE" "$(js "$C" '.Role')"
check "create: CodeSize is the zip's size" "$(stat -c %s "$ECHO_ZIP")" "$(js "$C" '.CodeSize')"
check "create: CodeSha256 is the base64 SHA-256 of the zip" "$ECHO_SHA" "$(js "$C" '.CodeSha256')"
check "create: Timeout defaults to 3" 3 "$(js "$C" '.Timeout')"
check "create: MemorySize defaults to 128" 128 "$(js "$C" '.MemorySize')"
check "create: Description defaults to empty" "" "$(js "$C" '.Description')"
check "create: LastModified format" true \
	"$(js "$C" '.LastModified | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}\\+0000$")')"
now_s=$(date +%s)
lm_s=$(js "$C" '.LastModified | sub("\\.[0-9]{3}\\+0000$"; "Z") | fromdateiso8601')
if [ $((now_s - lm_s)) -ge 0 ] && [ $((now_s - lm_s)) -lt 60 ]; then pass "create: LastModified is now (UTC)"; else fail "create: LastModified $lm_s vs now $now_s"; fi
check "create: Version" '$LATEST' "$(js "$C" '.Version')"
check "create: State" Active "$(js "$C" '.State')"
check "create: LastUpdateStatus" Successful "$(js "$C" '.LastUpdateStatus')"
check "create: RevisionId is a UUID" true \
	"$(js "$C" '.RevisionId | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")')"
check "create: PackageType" Zip "$(js "$C" '.PackageType')"
check "create: EphemeralStorage" '{"Size":512}' "$(js "$C" '.EphemeralStorage')"
check "create: Architectures" '["x86_64"]' "$(js "$C" '.Architectures')"
check "create: TracingConfig" '{"Mode":"PassThrough"}' "$(js "$C" '.TracingConfig')"
check "create: no Environment when none was given" false "$(js "$C" 'has("Environment")')"
check "create: raw status is 201" 201 "$(create_raw raw-created "$ECHO_ZIP" '{"Timeout":7,"MemorySize":1024,"Description":"d"}')"
check "create: raw Content-Type" application/json "$(grep -i '^content-type:' "$WORK/h" | cut -d' ' -f2 | tr -d '\r')"
check_contains "create: x-amzn-RequestId" "x-amzn-requestid:" "$(tr 'A-Z' 'a-z' <"$WORK/h")"
check "create: given Timeout/MemorySize/Description kept" "7 1024 d" "$(js "$WORK/b" '"\(.Timeout) \(.MemorySize) \(.Description)"')"

# --- GetFunction: Configuration and Code.Location, whose bytes are the uploaded zip.
aws_ok "$WORK/g.json" get-function --function-name rt-provided-al2023
check "get-function: Configuration is what create returned" "$(js "$C" '.')" "$(js "$WORK/g.json" '.Configuration')"
check "get-function: Code.RepositoryType" S3 "$(js "$WORK/g.json" '.Code.RepositoryType')"
loc=$(js "$WORK/g.json" '.Code.Location')
check "download Code.Location" 200 "$(curl -s -o "$WORK/dl.zip" -w '%{http_code}' "$loc")"
if cmp -s "$ECHO_ZIP" "$WORK/dl.zip"; then pass "Code.Location serves the uploaded zip byte for byte"; else fail "Code.Location bytes differ from the upload"; fi
check "downloaded zip's sha256 is CodeSha256" "$ECHO_SHA" "$(b64sha "$WORK/dl.zip")"
aws_ok "$WORK/gc.json" get-function-configuration --function-name rt-provided-al2023
check "get-function-configuration: same configuration" "$(js "$C" '.')" "$(js "$WORK/gc.json" '.')"
check "GetFunctionConfiguration raw status" 200 "$(raw GET /2015-03-31/functions/rt-provided-al2023/configuration)"
check "GetFunction with Qualifier=\$LATEST" 200 "$(raw GET '/2015-03-31/functions/rt-provided-al2023?Qualifier=$LATEST')"

# --- ListFunctions: seven more functions, paged through the CLI and through raw Marker/MaxItems.
for i in 1 2 3 4 5 6 7; do
	check "create pg-$i" 201 "$(create_raw "pg-$i" "$ECHO_ZIP")"
done
expected=$(printf '%s\n' raw-created rt-provided rt-provided-al2 rt-provided-al2023 pg-1 pg-2 pg-3 pg-4 pg-5 pg-6 pg-7 | LC_ALL=C sort | tr '\n' ' ')
names=() token="" pages=0
while :; do
	# (the first page through a real aws process)
	if [ -n "$token" ]; then aws_ok "$WORK/l.json" list-functions --max-items 3 --starting-token "$token"
	else AWSL=awsp aws_ok "$WORK/l.json" list-functions --max-items 3; fi
	pages=$((pages + 1))
	n=$(js "$WORK/l.json" '.Functions | length')
	[ "$n" -le 3 ] || fail "list-functions --max-items 3 returned $n"
	names+=($(js "$WORK/l.json" '[.Functions[].FunctionName] | join(" ")'))
	token=$(js "$WORK/l.json" '.NextToken // ""')
	[ -n "$token" ] && [ $pages -lt 10 ] || break
done
check "CLI --max-items 3: every function once, in order" "$expected" "$(printf '%s\n' "${names[@]}" | tr '\n' ' ')"
check "CLI --max-items 3: 4 pages for 11 functions" 4 "$pages"
aws_ok "$WORK/l.json" list-functions --page-size 2
check "CLI --page-size 2 walks every NextMarker" "$expected" "$(js "$WORK/l.json" '[.Functions[].FunctionName] | join(" ") + " "')"
names=() marker="" pages=0
while :; do
	check "raw ListFunctions page $((pages + 1))" 200 "$(raw GET "/2015-03-31/functions/?MaxItems=3&Marker=$marker")"
	pages=$((pages + 1))
	names+=($(js "$WORK/b" '[.Functions[].FunctionName] | join(" ")'))
	marker=$(js "$WORK/b" '.NextMarker // ""')
	[ -n "$marker" ] && [ $pages -lt 10 ] || break
done
check "raw MaxItems=3&Marker=: every function once, in order" "$expected" "$(printf '%s\n' "${names[@]}" | tr '\n' ' ')"
check "raw MaxItems=3: 4 pages" 4 "$pages"
raw GET "/2015-03-31/functions/?MaxItems=11" >/dev/null
check "MaxItems equal to the count: no NextMarker" "11 false" "$(js "$WORK/b" '"\(.Functions | length) \(has("NextMarker"))"')"
expect_error "MaxItems=0" 400 ValidationException maxItems "$(raw GET '/2015-03-31/functions/?MaxItems=0')"
expect_error "MaxItems=abc" 400 ValidationException maxItems "$(raw GET '/2015-03-31/functions/?MaxItems=abc')"

# --- UpdateFunctionConfiguration, field by field; every update is a new revision.
create_fn cfg tool >"$WORK/u.json"
rev=$(js "$WORK/u.json" '.RevisionId')
lm=$(js "$WORK/u.json" '.LastModified')
upd() { # upd DESC JQ-FILTER EXPECTED CLI-ARGS...
	local desc=$1 expr=$2 want=$3; shift 3
	aws_ok "$WORK/u.json" update-function-configuration --function-name cfg "$@"
	check "update $desc" "$want" "$(js "$WORK/u.json" "$expr")"
	local nrev
	nrev=$(js "$WORK/u.json" '.RevisionId // ""')
	if [ -n "$nrev" ] && [ "$nrev" != "$rev" ]; then pass "update $desc: new RevisionId"; else fail "update $desc: RevisionId $rev -> $nrev"; fi
	rev=$nrev
}
upd Timeout '.Timeout' 10 --timeout 10
upd MemorySize '.MemorySize' 256 --memory-size 256
upd Environment '.Environment.Variables' '{"GREETING":"hi","NUM":"2"}' --environment 'Variables={GREETING=hi,NUM=2}'
upd Handler '.Handler' new.handler --handler new.handler
upd Runtime '.Runtime' provided.al2 --runtime provided.al2
upd Description '.Description' "a tool" --description "a tool"
upd EphemeralStorage '.EphemeralStorage.Size' 1024 --ephemeral-storage Size=1024
check "updates leave the code alone" "$(b64sha "$(fixture_zip tool)")" "$(js "$WORK/u.json" '.CodeSha256')"
if [[ "$(js "$WORK/u.json" '.LastModified')" > "$lm" ]]; then pass "update: LastModified moves"; else fail "update: LastModified stayed $lm"; fi
aws_ok "$WORK/gc.json" get-function-configuration --function-name cfg
check "get-function-configuration shows every update" "10 256 hi new.handler provided.al2 a tool 1024 $rev" \
	"$(js "$WORK/gc.json" '"\(.Timeout) \(.MemorySize) \(.Environment.Variables.GREETING) \(.Handler) \(.Runtime) \(.Description) \(.EphemeralStorage.Size) \(.RevisionId)"')"
invoke_body cfg '{"op":"env"}' >"$WORK/env.json"
check "the next invoke sees the new configuration" "hi 256 new.handler" \
	"$(js "$WORK/env.json" '"\(.env.GREETING) \(.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE) \(.env._HANDLER)"')"
aws_fail update-function-configuration --function-name cfg --timeout 20 --revision-id 00000000-0000-0000-0000-000000000000
check "update with a stale --revision-id fails" 254 "$RC"
check_contains "CLI names PreconditionFailedException" "(PreconditionFailedException)" "$(cli_err)"
expect_error "raw update with a stale RevisionId" 412 PreconditionFailedException "Revision Id" \
	"$(raw PUT /2015-03-31/functions/cfg/configuration --data '{"Timeout":20,"RevisionId":"nope"}')"
raw GET /2015-03-31/functions/cfg/configuration >/dev/null && cp "$WORK/b" "$WORK/gc.json"
check "a refused update changes nothing" "10 $rev" "$(js "$WORK/gc.json" '"\(.Timeout) \(.RevisionId)"')"
upd "with the current --revision-id" '.Timeout' 20 --timeout 20 --revision-id "$rev"
expect_error "update MemorySize 64" 400 ValidationException "memorySize" \
	"$(raw PUT /2015-03-31/functions/cfg/configuration --data '{"MemorySize":64}')"
expect_error "update reserved env key" 400 InvalidParameterValueException "AWS_LAMBDA_FUNCTION_NAME" \
	"$(raw PUT /2015-03-31/functions/cfg/configuration --data '{"Environment":{"Variables":{"AWS_LAMBDA_FUNCTION_NAME":"x"}}}')"
expect_error "update to an unsupported runtime" 400 InvalidParameterValueException "provided.al2023" \
	"$(raw PUT /2015-03-31/functions/cfg/configuration --data '{"Runtime":"cobol"}')"
check "refused updates change nothing" "20 256 $rev" \
	"$(curl -s "$ENDPOINT/2015-03-31/functions/cfg/configuration" >"$WORK/b"; js "$WORK/b" '"\(.Timeout) \(.MemorySize) \(.RevisionId)"')"
upd "clearing Environment" 'has("Environment")' false --environment 'Variables={}'

# --- UpdateFunctionCode: the new zip runs; DryRun and a stale RevisionId change nothing.
mkdir -p "$WORK/v2" "$WORK/v3"
cat >"$WORK/v2/bootstrap" <<'EOF'
#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
	id=$(curl -sS -D - -o /dev/null "$api/invocation/next" | grep -i '^lambda-runtime-aws-request-id:' | cut -d' ' -f2 | tr -d '\r')
	curl -sS -o /dev/null -X POST --data-binary '{"version":VERSION}' "$api/invocation/$id/response"
done
EOF
sed 's/VERSION/3/' "$WORK/v2/bootstrap" >"$WORK/v3/bootstrap"
sed -i 's/VERSION/2/' "$WORK/v2/bootstrap"
chmod +x "$WORK/v2/bootstrap" "$WORK/v3/bootstrap"
V2_ZIP=$(make_zip v2 "$WORK/v2")
V3_ZIP=$(make_zip v3 "$WORK/v3")
V3_HEX=$(sha256sum "$V3_ZIP" | cut -c1-64)
create_fn code echo >"$WORK/u.json"
rev=$(js "$WORK/u.json" '.RevisionId')
check "code v1 answers (warm environment)" '{"v":1}' "$(invoke_body code '{"v":1}')"
aws_ok "$WORK/u.json" update-function-code --function-name code --zip-file "fileb://$V2_ZIP"
check "update-function-code: CodeSha256 of the new zip" "$(b64sha "$V2_ZIP")" "$(js "$WORK/u.json" '.CodeSha256')"
check "update-function-code: CodeSize of the new zip" "$(stat -c %s "$V2_ZIP")" "$(js "$WORK/u.json" '.CodeSize')"
if [ "$(js "$WORK/u.json" '.RevisionId')" != "$rev" ]; then pass "update-function-code: new RevisionId"; else fail "update-function-code kept RevisionId"; fi
rev=$(js "$WORK/u.json" '.RevisionId')
check "invoke after update-function-code runs the new code" '{"version":2}' "$(invoke_body code '{"v":1}')"
curl -s -o "$WORK/dl.zip" "$(curl -s "$ENDPOINT/2015-03-31/functions/code" >"$WORK/b"; js "$WORK/b" '.Code.Location')"
if cmp -s "$V2_ZIP" "$WORK/dl.zip"; then pass "Code.Location serves the new zip"; else fail "Code.Location after update is not the new zip"; fi
if [ -e "$DATA/code/$ECHO_HEX.zip" ]; then pass "code still used by other functions is kept"; else fail "echo's blob went with one function's update"; fi
CODE_BEFORE=$(code_listing)
aws_ok "$WORK/u.json" update-function-code --function-name code --zip-file "fileb://$V3_ZIP" --dry-run
curl -s -o "$WORK/g.json" "$ENDPOINT/2015-03-31/functions/code/configuration"
check "--dry-run leaves CodeSha256 and RevisionId" "$(b64sha "$V2_ZIP") $rev" "$(js "$WORK/g.json" '"\(.CodeSha256) \(.RevisionId)"')"
check "--dry-run: still the old code runs" '{"version":2}' "$(invoke_body code '{}')"
check "--dry-run: no blob kept" "$CODE_BEFORE" "$(code_listing)"
aws_fail update-function-code --function-name code --zip-file "fileb://$V3_ZIP" --revision-id 00000000-0000-0000-0000-000000000000
check_contains "update-function-code with a stale --revision-id" "(PreconditionFailedException)" "$(cli_err)"
curl -s -o "$WORK/g.json" "$ENDPOINT/2015-03-31/functions/code/configuration"
check "stale --revision-id: code unchanged" "$(b64sha "$V2_ZIP") $rev" "$(js "$WORK/g.json" '"\(.CodeSha256) \(.RevisionId)"')"
check "stale --revision-id: no blob kept" "$CODE_BEFORE" "$(code_listing)"
# The CLI itself refuses a file without a zip's end record, so corrupt a real zip's entries instead.
cp "$ECHO_ZIP" "$WORK/corrupt.zip"
head -c 200 /dev/urandom | dd of="$WORK/corrupt.zip" conv=notrunc status=none
aws_fail update-function-code --function-name code --zip-file "fileb://$WORK/corrupt.zip"
check_contains "update-function-code with a corrupt zip" "(InvalidParameterValueException)" "$(cli_err)"
check_contains "update-function-code with a corrupt zip: AWS's message" "Could not unzip uploaded file" "$(cli_err)"
NOBOOT_ZIP=$(fixture_zip nobootstrap)
aws_fail update-function-code --function-name code --zip-file "fileb://$NOBOOT_ZIP"
check_contains "update-function-code without bootstrap" "bootstrap" "$(cli_err)"
curl -s -o "$WORK/g.json" "$ENDPOINT/2015-03-31/functions/code/configuration"
check "refused code updates: code unchanged" "$(b64sha "$V2_ZIP") $rev" "$(js "$WORK/g.json" '"\(.CodeSha256) \(.RevisionId)"')"
check "refused code updates: no blob kept" "$CODE_BEFORE" "$(code_listing)"
if [[ "$CODE_BEFORE" != *"$V3_HEX"* ]]; then pass "the dry-run zip is not in the store"; else fail "the dry-run zip is in the store"; fi
aws_ok "$WORK/u.json" update-function-code --function-name code --zip-file "fileb://$V3_ZIP" --revision-id "$rev"
check "update-function-code with the current --revision-id" '{"version":3}' "$(invoke_body code '{}')"

# --- DeleteFunction, then it is gone (and its code with it).
V3_BLOB_BEFORE=$([ -e "$DATA/code/$V3_HEX.zip" ] && echo present || echo absent)
if awsl delete-function --function-name code >"$WORK/out" 2>"$WORK/err"; then pass "delete-function"; else fail "delete-function: $(cli_err)"; fi
check "delete-function prints nothing" "" "$(cat "$WORK/out")"
aws_fail get-function --function-name code
check_contains "get-function after delete: ResourceNotFoundException" "(ResourceNotFoundException)" "$(cli_err)"
check_contains "get-function after delete names the ARN" "Function not found: ${ARN_PREFIX}code" "$(cli_err)"
aws_fail delete-function --function-name code
check_contains "delete again: ResourceNotFoundException" "(ResourceNotFoundException)" "$(cli_err)"
expect_error "raw delete of a deleted function" 404 ResourceNotFoundException "Function not found" "$(raw DELETE /2015-03-31/functions/code)"
check "delete removes the function's unshared code" "present absent" "$V3_BLOB_BEFORE $([ -e "$DATA/code/$V3_HEX.zip" ] || [ -e "$DATA/code/$V3_HEX" ] && echo present || echo absent)"
check "raw DeleteFunction status 204" 204 "$(raw DELETE /2015-03-31/functions/raw-created)"
check "raw DeleteFunction: empty body" 0 "$(stat -c %s "$WORK/b")"
check "invoke of a deleted function: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "$ENDPOINT/2015-03-31/functions/raw-created/invocations")"
expect_error "DeleteFunction of \$LATEST" 400 InvalidParameterValueException '$LATEST' "$(raw DELETE '/2015-03-31/functions/pg-1?Qualifier=$LATEST')"

# --- GetAccountSettings.
aws_ok "$WORK/a.json" get-account-settings
aws_ok "$WORK/l.json" list-functions
check "account: CodeSizeZipped 50 MB" 52428800 "$(js "$WORK/a.json" '.AccountLimit.CodeSizeZipped')"
check "account: CodeSizeUnzipped 250 MB" 262144000 "$(js "$WORK/a.json" '.AccountLimit.CodeSizeUnzipped')"
check "account: TotalCodeSize 75 GB" 80530636800 "$(js "$WORK/a.json" '.AccountLimit.TotalCodeSize')"
check "account: ConcurrentExecutions" 1000 "$(js "$WORK/a.json" '.AccountLimit.ConcurrentExecutions')"
check "account: UnreservedConcurrentExecutions" 1000 "$(js "$WORK/a.json" '.AccountLimit.UnreservedConcurrentExecutions')"
check "account: FunctionCount matches list-functions" "$(js "$WORK/l.json" '.Functions | length')" "$(js "$WORK/a.json" '.AccountUsage.FunctionCount')"
check "account: TotalCodeSize is the sum of CodeSize" "$(js "$WORK/l.json" '[.Functions[].CodeSize] | add')" "$(js "$WORK/a.json" '.AccountUsage.TotalCodeSize')"

# --- Refusals: the right error, and nothing half-made.
CODE_BEFORE=$(code_listing)
expect_error "unknown function (GetFunction)" 404 ResourceNotFoundException "Function not found: ${ARN_PREFIX}nosuch" "$(raw GET /2015-03-31/functions/nosuch)"
expect_error "unknown function (GetFunctionConfiguration)" 404 ResourceNotFoundException "nosuch" "$(raw GET /2015-03-31/functions/nosuch/configuration)"
expect_error "unknown function (UpdateFunctionConfiguration)" 404 ResourceNotFoundException "nosuch" "$(raw PUT /2015-03-31/functions/nosuch/configuration --data '{"Timeout":5}')"
expect_error "unknown function (UpdateFunctionCode)" 404 ResourceNotFoundException "nosuch" "$(raw PUT /2015-03-31/functions/nosuch/code --data '{}')"
expect_error "unknown qualifier" 404 ResourceNotFoundException "pg-1:7" "$(raw GET '/2015-03-31/functions/pg-1?Qualifier=7')"

check "GetFunction by partial ARN" 200 "$(raw GET "/2015-03-31/functions/000000000000:function:pg-1")"
check "GetFunction by full ARN with :\$LATEST" 200 "$(raw GET "/2015-03-31/functions/${ARN_PREFIX}pg-1:\$LATEST")"
for ref in ':pg-1' 'pg-1:' 'pg-1::1' '000000000000::function:pg-1' 'pg-1:bad.qualifier' "arn:aws:lambda:us-east-1:000000000000:pg-1"; do
	expect_error "malformed function reference '$ref'" 400 ValidationException "functionName" "$(raw GET "/2015-03-31/functions/$ref")"
done
desc=$(python3 -c 'print("\u00e9" * 256)')
check "a Description of 256 characters (512 bytes) is accepted" 200 \
	"$(raw PUT /2015-03-31/functions/pg-2/configuration --data "{\"Description\":\"$desc\"}")"
expect_error "a Description of 257 characters" 400 ValidationException "description" \
	"$(raw PUT /2015-03-31/functions/pg-2/configuration --data "{\"Description\":\"${desc}e\"}")"
# 100 variables: 3,800 bytes of keys and values, 4,601 bytes as the JSON AWS measures.
vars=$(python3 -c 'import json; print(json.dumps({"Variables": {"K%03d" % i: "%036d" % i for i in range(100)}}))')
expect_error "environment over 4 KB as JSON" 400 InvalidParameterValueException "4KB" \
	"$(raw PUT /2015-03-31/functions/pg-2/configuration --data "{\"Environment\":$vars}")"
expect_error "MemorySize 64" 400 ValidationException "Value '64' at 'memorySize'" "$(create_raw bad-mem "$ECHO_ZIP" '{"MemorySize":64}')"
not_created "MemorySize 64" bad-mem
expect_error "MemorySize 10241" 400 ValidationException "memorySize" "$(create_raw bad-mem "$ECHO_ZIP" '{"MemorySize":10241}')"
expect_error "Timeout 0" 400 ValidationException "Value '0' at 'timeout'" "$(create_raw bad-to "$ECHO_ZIP" '{"Timeout":0}')"
expect_error "Timeout 901" 400 ValidationException "Value '901' at 'timeout'" "$(create_raw bad-to "$ECHO_ZIP" '{"Timeout":901}')"
not_created "Timeout out of range" bad-to
expect_error "EphemeralStorage 511" 400 ValidationException "ephemeralStorage" "$(create_raw bad-eph "$ECHO_ZIP" '{"EphemeralStorage":{"Size":511}}')"
not_created "EphemeralStorage 511" bad-eph
aws_fail create-function --function-name bad-env --runtime provided.al2023 --handler x --role "$ROLE" \
	--zip-file "fileb://$ECHO_ZIP" --environment 'Variables={AWS_REGION=eu-west-1,OK=1}'
check_contains "reserved env key: InvalidParameterValueException" "(InvalidParameterValueException)" "$(cli_err)"
check_contains "reserved env key: named" "AWS_REGION" "$(cli_err)"
expect_error "reserved env key (raw)" 400 InvalidParameterValueException "reserved keys" \
	"$(create_raw bad-env "$ECHO_ZIP" '{"Environment":{"Variables":{"AWS_REGION":"x"}}}')"
not_created "reserved env key" bad-env
expect_error "env over 4 KB" 400 InvalidParameterValueException "4KB" \
	"$(create_raw bad-env "$ECHO_ZIP" "{\"Environment\":{\"Variables\":{\"BIG\":\"$(head -c 5000 /dev/zero | tr '\0' x)\"}}}")"
not_created "env over 4 KB" bad-env
aws_fail create-function --function-name bad-rt --runtime cobol --handler x --role "$ROLE" --zip-file "fileb://$ECHO_ZIP"
check_contains "runtime cobol: InvalidParameterValueException" "(InvalidParameterValueException)" "$(cli_err)"
check_contains "runtime cobol: lists the supported runtimes" "provided.al2023, provided.al2, provided" "$(cli_err)"
not_created "runtime cobol" bad-rt
expect_error "missing Runtime" 400 InvalidParameterValueException "Runtime" "$(create_raw bad-rt "$ECHO_ZIP" '{"Runtime":null}')"
expect_error "missing Role" 400 ValidationException "'role'" "$(create_raw bad-role "$ECHO_ZIP" '{"Role":null}')"
expect_error "malformed Role" 400 ValidationException "'role'" "$(create_raw bad-role "$ECHO_ZIP" '{"Role":"not-an-arn"}')"
not_created "bad Role" bad-role
expect_error "missing Code" 400 InvalidParameterValueException "ZipFile" "$(create_raw bad-code "$ECHO_ZIP" '{"Code":{}}')"
expect_error "ZipFile not base64" 400 InvalidParameterValueException "base64" "$(create_raw bad-code "$ECHO_ZIP" '{"Code":{"ZipFile":"!!!"}}')"
expect_error "wrong type (Timeout as a string)" 400 InvalidParameterValueException "Timeout" "$(create_raw bad-code "$ECHO_ZIP" '{"Timeout":"10"}')"
not_created "bad Code" bad-code
aws_fail create-function --function-name pg-1 --runtime provided.al2023 --handler x --role "$ROLE" --zip-file "fileb://$V2_ZIP"
check_contains "duplicate create: ResourceConflictException" "(ResourceConflictException)" "$(cli_err)"
expect_error "duplicate create (raw)" 409 ResourceConflictException "Function already exist: pg-1" "$(create_raw pg-1 "$V2_ZIP")"
check "duplicate create: the existing function keeps its code" "$ECHO_SHA" "$(curl -s "$ENDPOINT/2015-03-31/functions/pg-1/configuration" >"$WORK/b"; js "$WORK/b" '.CodeSha256')"
check "duplicate create: nothing new in the code store" "$CODE_BEFORE" "$(code_listing)"
aws_fail create-function --function-name 'bad name!' --runtime provided.al2023 --handler x --role "$ROLE" --zip-file "fileb://$ECHO_ZIP"
check_contains "invalid function name: ValidationException" "(ValidationException)" "$(cli_err)"
check_contains "invalid function name: names the field" "functionName" "$(cli_err)"
long=$(printf 'a%.0s' $(seq 1 65))
expect_error "65-character function name" 400 ValidationException "functionName" "$(create_raw "$long" "$ECHO_ZIP")"
expect_error "function name with a slash" 400 ValidationException "functionName" "$(create_raw 'a/b' "$ECHO_ZIP")"
expect_error "missing FunctionName" 400 ValidationException "functionName" "$(create_raw x "$ECHO_ZIP" '{"FunctionName":null}')"
check "invalid names: nothing new in the code store" "$CODE_BEFORE" "$(code_listing)"
expect_error "body that is not JSON" 400 InvalidRequestContentException "Could not parse request body into json" \
	"$(raw POST /2015-03-31/functions --data-binary 'this is {not json' -H 'Content-Type: application/json')"
expect_error "body that is a JSON array" 400 InvalidRequestContentException "Could not parse request body into json" \
	"$(raw POST /2015-03-31/functions --data-binary '[1,2]')"
expect_error "update body that is not JSON" 400 InvalidRequestContentException "json" \
	"$(raw PUT /2015-03-31/functions/pg-1/configuration --data-binary '{"Timeout":')"

# Deployment packages that must be refused.
head -c 4096 /dev/urandom >"$WORK/random.zip"
expect_error "random bytes as a zip" 400 InvalidParameterValueException \
	"Could not unzip uploaded file. Please check your file, then try to upload again." "$(create_raw bad-zip "$WORK/random.zip")"
not_created "random bytes" bad-zip
aws_fail create-function --function-name bad-zip --runtime provided.al2023 --handler x --role "$ROLE" --zip-file "fileb://$WORK/corrupt.zip"
check_contains "corrupt zip through the CLI: InvalidParameterValueException" "(InvalidParameterValueException)" "$(cli_err)"
check_contains "corrupt zip through the CLI: AWS's message" "Could not unzip uploaded file." "$(cli_err)"
not_created "corrupt zip" bad-zip
: >"$WORK/empty.zip"
expect_error "empty ZipFile" 400 InvalidParameterValueException "Could not unzip" "$(create_raw bad-zip "$WORK/empty.zip")"
not_created "empty ZipFile" bad-zip
python3 - "$WORK" <<'EOF'
import sys, zipfile
w = sys.argv[1]
def exe(name):
    zi = zipfile.ZipInfo(name); zi.create_system = 3; zi.external_attr = 0o100755 << 16
    zi.compress_type = zipfile.ZIP_DEFLATED; return zi
boot = "#!/bin/sh\nexit 0\n"
with zipfile.ZipFile(w + "/slip.zip", "w") as z:
    z.writestr(exe("bootstrap"), boot)
    z.writestr(zipfile.ZipInfo("../evil"), "escaped\n")
with zipfile.ZipFile(w + "/slip2.zip", "w") as z:
    z.writestr(exe("bootstrap"), boot)
    z.writestr(zipfile.ZipInfo("lib/../../../evil"), "escaped\n")
with zipfile.ZipFile(w + "/abs.zip", "w") as z:
    z.writestr(exe("bootstrap"), boot)
    z.writestr(zipfile.ZipInfo("/tmp/evil-abs-" + w.rsplit(".", 1)[-1]), "escaped\n")
for name, target in (("symlink", "../../../../../../etc/passwd"), ("symlink-abs", "/etc/passwd")):
    with zipfile.ZipFile(w + "/" + name + ".zip", "w") as z:
        z.writestr(exe("bootstrap"), boot)
        zi = zipfile.ZipInfo("passwd"); zi.create_system = 3; zi.external_attr = 0o120777 << 16
        z.writestr(zi, target)
# A link that writes through itself: "dir" -> "..", then "dir/evil".
with zipfile.ZipFile(w + "/linkdir.zip", "w") as z:
    z.writestr(exe("bootstrap"), boot)
    zi = zipfile.ZipInfo("up"); zi.create_system = 3; zi.external_attr = 0o120777 << 16
    z.writestr(zi, "sub/../..")
    z.writestr(zipfile.ZipInfo("up/evil"), "escaped\n")
# A bomb: one member of 260 MB of zeros, deflated to a few hundred KB.
with zipfile.ZipFile(w + "/bomb.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    with z.open(exe("bootstrap"), "w", force_zip64=True) as f:
        block = bytes(1 << 20)
        for _ in range(260):
            f.write(block)
EOF
for z in slip slip2 abs; do
	expect_error "zip-slip ($z)" 400 InvalidParameterValueException "Could not unzip uploaded file" "$(create_raw "bad-$z" "$WORK/$z.zip")"
	not_created "zip-slip ($z)" "bad-$z"
done
check_contains "zip-slip: the entry is named" '../evil' "$(create_raw bad-slip "$WORK/slip.zip" >/dev/null; msg)"
for z in symlink symlink-abs linkdir; do
	expect_error "symlink out of the package ($z)" 400 InvalidParameterValueException "symbolic link" "$(create_raw "bad-$z" "$WORK/$z.zip")"
	not_created "symlink out of the package ($z)" "bad-$z"
done
evil=$(find "$WORK" "$DATA" /tmp -maxdepth 2 \( -name evil -o -name "evil-abs-${WORK##*.}" \) 2>/dev/null | head -3)
check "no zip entry was written outside its directory" "" "$evil"
aws_fail create-function --function-name bad-noboot --runtime provided.al2023 --handler x --role "$ROLE" --zip-file "fileb://$NOBOOT_ZIP"
check_contains "provided runtime without bootstrap: InvalidParameterValueException" "(InvalidParameterValueException)" "$(cli_err)"
check_contains "provided runtime without bootstrap: says so" "bootstrap" "$(cli_err)"
not_created "no bootstrap" bad-noboot
for rt in provided.al2 provided; do
	expect_error "no bootstrap ($rt)" 400 InvalidParameterValueException bootstrap "$(create_raw bad-noboot "$NOBOOT_ZIP" "{\"Runtime\":\"$rt\"}")"
done
not_created "no bootstrap (other runtimes)" bad-noboot
check "zip bomb is small" 1 "$([ "$(stat -c %s "$WORK/bomb.zip")" -lt 1000000 ] && echo 1 || echo 0)"
aws_fail create-function --function-name bad-bomb --runtime provided.al2023 --handler x --role "$ROLE" --zip-file "fileb://$WORK/bomb.zip"
check_contains "zip bomb: InvalidParameterValueException" "(InvalidParameterValueException)" "$(cli_err)"
check_contains "zip bomb: the unzipped-size limit" "Unzipped size must be smaller than 262144000 bytes" "$(cli_err)"
not_created "zip bomb" bad-bomb
expect_error "zip bomb as new code of an existing function" 400 InvalidParameterValueException "Unzipped size" \
	"$({ printf '{"ZipFile":"'; base64 -w0 "$WORK/bomb.zip"; printf '"}'; } >"$WORK/req.json"
	   raw PUT /2015-03-31/functions/pg-1/code --data-binary @"$WORK/req.json")"
check "zip bomb update: code unchanged" "$ECHO_SHA" "$(curl -s "$ENDPOINT/2015-03-31/functions/pg-1/configuration" >"$WORK/b"; js "$WORK/b" '.CodeSha256')"
check "zip bomb update: nothing new in the code store" "$CODE_BEFORE" "$(code_listing)"
# The size is checked before anything else, as AWS does: the bytes need not be a zip.
head -c 52428801 /dev/zero >"$WORK/huge.zip"
expect_error "zip over 50 MB" 413 RequestEntityTooLargeException "smaller than" "$(create_raw bad-huge "$WORK/huge.zip")"
not_created "zip over 50 MB" bad-huge
rm -f "$WORK/huge.zip" "$WORK/req.json"

# --- Malformed HTTP must not take the server down.
python3 - "$PORT" >"$WORK/malformed.txt" 2>&1 <<'EOF'
import socket, sys
port = int(sys.argv[1])
def send(name, data, close_early=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=1.5)
    try:
        s.sendall(data)
        if close_early:
            s.close(); print(name, "closed"); return
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            got += c
        print(name, got.split(b"\r\n", 1)[0].decode("latin-1") or "(closed without a reply)")
    except OSError as e:
        print(name, "(%s)" % e.strerror)
    finally:
        s.close()
send("garbage", bytes(range(256)) * 4 + b"\r\n\r\n")
send("binary-zeros", b"\0" * 10000)
send("no-version", b"GET /2016-08-19/account-settings/\r\n\r\n")
send("bad-version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n")
send("huge-header", b"GET /2016-08-19/account-settings/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
send("many-headers", b"GET /2016-08-19/account-settings/ HTTP/1.1\r\nHost: x\r\n" + b"X-H: v\r\n" * 20000 + b"\r\n")
send("huge-uri", b"GET /" + b"a" * 300000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
send("unknown-path", b"GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
send("wrong-method", b"PATCH /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
send("bogus-method", b"FROB /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
send("negative-length", b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}")
send("huge-length", b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n{}")
send("bad-chunked", b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\nxx\r\n")
send("short-body", b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"Fun", close_early=True)
send("half-request", b"GET /2015-03-31/functions HTTP/1.1\r\nHo", close_early=True)
send("bad-percent", b"GET /2015-03-31/functions/%zz%00%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
send("nul-in-path", b"GET /2015-03-31/functions/a%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
send("deep-path", b"GET /" + b"a/" * 5000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
send("bad-query", b"GET /2015-03-31/functions/?MaxItems=%%%&&==& HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
EOF
for want in "garbage HTTP/1.1 400" "no-version HTTP/1.1 400" "negative-length HTTP/1.1 400" \
	"huge-length HTTP/1.1 413" "unknown-path HTTP/1.1 404" "wrong-method HTTP/1.1 404"; do
	check_contains "raw socket: ${want% HTTP*} answered ${want##* }" "$want" "$(cat "$WORK/malformed.txt")"
done
expect_error "unknown path" 404 UnknownOperationException "" "$(raw GET /no/such/path)"
expect_error "wrong method on a known path" 404 UnknownOperationException "" "$(raw PATCH /2015-03-31/functions/pg-1)"
# Operations of Lambda's model that lambdad lacks say so, by name. Only the capacity-provider
# and durable-execution families are left, which the CLI 2.9.19 does not know: curl.
expect_error "ListCapacityProviders" 404 UnknownOperationException \
	"lambdad does not support the Lambda operation ListCapacityProviders yet" "$(raw GET /2025-11-30/capacity-providers)"
check "a method the server does not implement: 501" 501 "$(raw TRACE /2015-03-31/functions)"
expect_error "OPTIONS on the Lambda API (CORS preflight is for function URLs)" 404 UnknownOperationException "" \
	"$(raw OPTIONS /2015-03-31/functions)"
check "a path with an encoded NUL" 404 "$(raw GET '/2015-03-31/functions/a%00b')"
code=$(raw GET '/2015-03-31/functions/%ff%fe%c3')
check "a name that is not UTF-8: a JSON error body" "true" "$(jq -e 'has("message")' "$WORK/b" 2>/dev/null || echo "no JSON body: $(head -c 200 "$WORK/b")")"
if kill -0 "$SERVER_PID" 2>/dev/null; then pass "server process alive after malformed HTTP"; else fail "server died on malformed HTTP: $(cat "$WORK/malformed.txt")"; fi
check "server still answers after malformed HTTP" 200 "$(raw GET /2016-08-19/account-settings/)"
check "CLI still works after malformed HTTP" pg-1 "$(awsl get-function --function-name pg-1 --query Configuration.FunctionName --output text)"
check "functions still invoke after malformed HTTP" '{"after":"all"}' "$(invoke_body pg-1 '{"after":"all"}')"

# --account-id: every ARN the API hands out carries it, across a restart; a malformed one is refused.
stop_server
check "--account-id that is not 12 digits is refused" 2 \
	"$("$LAMBDAD" serve --listen 127.0.0.1:0 --data "$WORK/bad-account" --account-id 12345 >/dev/null 2>&1; echo $?)"
start_server --account-id 123456789012
check "--account-id: FunctionArn names the account" "arn:aws:lambda:us-east-1:123456789012:function:pg-1" \
	"$(awsl get-function --function-name pg-1 --query Configuration.FunctionArn --output text)"
expect_error "--account-id: a missing function's message names the account" 404 ResourceNotFoundException \
	"123456789012:function:no-such" "$(raw GET /2015-03-31/functions/no-such)"
