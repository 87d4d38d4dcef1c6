#!/usr/bin/env bash
# --auth sigv4 end to end: the AWS CLI, boto3, the JS SDK and the lambdad CLI sign their
# requests and are served; a wrong secret, an unknown key, a skewed clock, a malformed or
# missing Authorization and an expired presigned URL are refused with Lambda's errors
# before any handler runs; a presigned GET works; a function calls the Lambda API from
# inside its sandbox with boto3 and no endpoint in its code; a function URL with AuthType
# NONE stays open; the root key is made once (0600) and its secret printed once; and a
# non-loopback --listen without auth refuses to start.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PYV=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
/usr/bin/python3 -c 'import boto3' 2>/dev/null || missing_dep "/usr/bin/python3 has no boto3 (scripts/install-deps installs python3-boto3)"
[ -d "$HERE/../clients/js/node_modules/@aws-sdk/client-lambda" ] || missing_dep "run scripts/install-deps (AWS SDK for JavaScript)"

# --- Refusal to start: a non-loopback listener needs auth, or --auth none --i-know.
rc=0
"$LAMBDAD" serve --listen 0.0.0.0:0 --data "$WORK/open" >"$WORK/open.log" 2>&1 || rc=$?
check "a non-loopback --listen without --auth refuses to start (exit 2)" 2 "$rc"
check_contains "and says why and what to pass" "is not a loopback address: anyone who reaches it could call the API unsigned; pass --auth sigv4, or --auth none --i-know" "$(cat "$WORK/open.log")"
rc=0
"$LAMBDAD" serve --listen 0.0.0.0:0 --auth none --data "$WORK/open" >"$WORK/open.log" 2>&1 || rc=$?
check "--auth none alone on a non-loopback address still refuses" 2 "$rc"
"$LAMBDAD" serve --listen 0.0.0.0:0 --auth none --i-know --port-file "$WORK/open.port" --data "$WORK/open" >"$WORK/open.log" 2>&1 &
OPEN_PID=$!
for _ in $(seq 1 400); do [ -s "$WORK/open.port" ] || ! kill -0 $OPEN_PID 2>/dev/null && break; sleep 0.05; done
check "--auth none --i-know starts on 0.0.0.0" 1 "$([ -s "$WORK/open.port" ] && echo 1 || echo 0)"
kill $OPEN_PID 2>/dev/null || true
wait $OPEN_PID 2>/dev/null || true

rc=0
out=$("$LAMBDAD" serve --listen 127.0.0.1:0 --auth bogus --data "$WORK/open" 2>&1) || rc=$?
check "--auth bogus: exit 2, naming the choices" "2 lambdad: --auth: none or sigv4, not bogus" "$rc $out"
rc=0
out=$("$LAMBDAD" serve --listen 127.0.0.1:0 --auth-test-credentials --data "$WORK/open" 2>&1) || rc=$?
check "--auth-test-credentials without --auth sigv4: exit 2" "2 lambdad: --auth-test-credentials needs --auth sigv4" "$rc $out"

# --- sigv4 mode; the driver and the JS driver sign with test/test (--auth-test-credentials).
start_server --auth sigv4 --auth-test-credentials
ROOT_FILE="$DATA/credentials"
check "the root key file is mode 600" 600 "$(stat -c %a "$ROOT_FILE")"
check "the store's database, which holds the key table, is mode 600 with its WAL" "600 600" "$(stat -c %a "$DATA/lambdad.db" "$DATA/lambdad.db-wal" | tr '\n' ' ' | sed 's/ $//')"
AKID=$(sed -n 's/^aws_access_key_id = //p' "$ROOT_FILE")
SECRET=$(sed -n 's/^aws_secret_access_key = //p' "$ROOT_FILE")
check "the root key: a 20-character AKIA id and a 40-character secret" "AKIA 20 40" "${AKID:0:4} ${#AKID} ${#SECRET}"
check "its secret was printed once at first start" 1 "$(grep -cF -- "$SECRET" "$WORK/server.log")"
check_contains "the log names the key id" "root access key $AKID" "$(cat "$WORK/server.log")"

# Unsigned, malformed.
code=$(raw GET /2015-03-31/functions/)
check "unsigned: 403 MissingAuthenticationTokenException" "403 MissingAuthenticationTokenException Missing Authentication Token" \
	"$code $(hdr X-Amzn-ErrorType) $(jq_ 'd["message"]')"
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -H 'Authorization: AWS4-HMAC-SHA256 Credential=x/20150830/us-east-1/lambda/aws4_request' "$ENDPOINT/2015-03-31/functions/")
check "a header without Signature and SignedHeaders: 403 IncompleteSignatureException" "403 IncompleteSignatureException" "$code $(hdr X-Amzn-ErrorType)"
check_contains "with AWS's wording" "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter." "$(jq_ 'd["message"]')"
code=$(raw GET /metrics)
check "lambdad's own endpoints are verified too (/metrics unsigned: 403)" 403 "$code"

# --- The AWS CLI (a real process).
out=$(aws_proc lambda list-functions 2>&1) || true
check_contains "AWS CLI, test/test: list-functions answers" '"Functions": []' "$out"
out=$(AWS_SECRET_ACCESS_KEY=wrong aws_proc lambda list-functions 2>&1) || true
check_contains "AWS CLI, wrong secret: InvalidSignatureException" "An error occurred (InvalidSignatureException) when calling the ListFunctions operation: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method." "$out"
out=$(AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000 aws_proc lambda list-functions 2>&1) || true
check_contains "AWS CLI, unknown key: UnrecognizedClientException" "An error occurred (UnrecognizedClientException) when calling the ListFunctions operation: The security token included in the request is invalid." "$out"
out=$(AWS_SHARED_CREDENTIALS_FILE="$ROOT_FILE" AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= aws_proc --profile lambdad lambda list-functions 2>&1) || true
check_contains "AWS CLI with the root key's profile (DATA/credentials, --profile lambdad)" '"Functions": []' "$out"

# --- boto3: good, wrong, unknown, skewed both ways; presigned GET, expired.
b3c() { python3 "$HERE/sigv4_client.py" "$ENDPOINT" "$@" 2>&1; }
check "boto3, the root key: served" "ok 0" "$(b3c "$AKID" "$SECRET" call)"
check "boto3, wrong secret: 403 InvalidSignatureException" "403 InvalidSignatureException" "$(b3c "$AKID" "x$SECRET" call | cut -d: -f1)"
check "boto3, unknown key: 403 UnrecognizedClientException" "403 UnrecognizedClientException: The security token included in the request is invalid." "$(b3c AKIANOSUCHKEY0000000 "$SECRET" call)"
out=$(b3c "$AKID" "$SECRET" call -1200)
check_contains "boto3, clock 20 minutes slow: Signature expired" "403 InvalidSignatureException: Signature expired: " "$out"
check_contains "with the window in the message" " min.)" "$out"
out=$(b3c "$AKID" "$SECRET" call 1200)
check_contains "boto3, clock 20 minutes fast: Signature not yet current" "403 InvalidSignatureException: Signature not yet current: " "$out"
check "boto3, clock 10 minutes off: inside the 15-minute window" "ok 0" "$(b3c "$AKID" "$SECRET" call 600)"
check "a presigned GET (X-Amz-Expires 60) is served" "ok 0" "$(b3c "$AKID" "$SECRET" presign 60)"
check "a presigned GET signed 120 s ago with X-Amz-Expires 60 has expired" "403 InvalidSignatureException: Request has expired" "$(b3c "$AKID" "$SECRET" presign 60 120)"
check "a presigned GET with a wrong secret is refused" "403 InvalidSignatureException" "$(b3c "$AKID" "y$SECRET" presign 60 | cut -d: -f1)"

# --- The JS SDK v3.
jsc() { node "$HERE/sigv4_js.mjs" "$ENDPOINT" "$@" 2>>"$WORK/js.err"; }
check "JS SDK, the root key: served" "ok 0" "$(jsc "$AKID" "$SECRET")"
check "JS SDK, wrong secret: 403 InvalidSignatureException" "403 InvalidSignatureException" "$(jsc "$AKID" "z$SECRET" | cut -d: -f1)"
check "JS SDK, unknown key: 403 UnrecognizedClientException" "403 UnrecognizedClientException: The security token included in the request is invalid." "$(jsc AKIANOSUCHKEY0000000 "$SECRET")"
js_start
check "JS driver (test/test): ListFunctions" "0" "$(jsv lambda ListFunctions '{}' 'len(d["result"]["Functions"])')"

# --- Functions: created by the driver's boto3 (signed), then a function calling Invoke
# on another from inside its sandbox with boto3 and no endpoint in its code.
mk() { awsl create-function --function-name "$1" --runtime "python$PYV" --handler app.handler --timeout 30 \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip "$2")" >/dev/null; }
mk target sdk-py
mk caller sdk-py
# A name with ':' (an ARN) is %3A in the path, and %253A in the canonical URI of every
# service but S3: each client's double encoding must match the server's.
ARN=arn:aws:lambda:us-east-1:000000000000:function:target
check "boto3 GetFunction by ARN (path double-encoded)" target "$(b3r lambda get_function "{\"FunctionName\":\"$ARN\"}" | jq -r .Configuration.FunctionName)"
check "JS SDK GetFunction by ARN" target "$(jsv lambda GetFunction "{\"FunctionName\":\"$ARN\"}" 'd["result"]["Configuration"]["FunctionName"]')"
check "AWS CLI get-function by ARN" target "$(aws_proc lambda get-function --function-name "$ARN" --query Configuration.FunctionName --output text 2>&1)"
check_contains "lambdad invoke by ARN (libcurl signs the path encoded once)" '"echo"' \
	"$(AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY="$SECRET" "$LAMBDAD" invoke --endpoint "$ENDPOINT" "$ARN" '{"op":"echo","value":"arn"}' 2>&1)"
SIGN=(--aws-sigv4 aws:amz:us-east-1:lambda --user "$AKID:$SECRET")
code=$(inv caller '{"op":"invoke","target":"target","payload":{"op":"echo","value":"inside"}}' "${SIGN[@]}")
check "curl --aws-sigv4 Invoke; boto3 inside the sandbox calls Invoke on another function" "200 200 inside target" \
	"$code $(jq_ 'd.get("status"), d["result"]["echo"], d["result"]["from"]' | tr -d "(),'")"
code=$(inv caller '{"op":"env"}' "${SIGN[@]}")
check "the environment holds the root key id and no session token" "200 $AKID True None" \
	"$code $(jq_ 'd["AWS_ACCESS_KEY_ID"], d["AWS_SECRET_ACCESS_KEY"] == "'"$SECRET"'", d["AWS_SESSION_TOKEN"]' | tr -d "(),'")"
check "boto3 Invoke of a 300 kB payload (its hash taken on the worker pool)" "ok 300000" "$(b3c "$AKID" "$SECRET" invoke target 300000)"
check "boto3 Invoke of a 1 kB payload" "ok 1000" "$(b3c "$AKID" "$SECRET" invoke target 1000)"
for size in 1000 300000; do
	out=$(b3c "$AKID" "$SECRET" tamper target $size)
	check "a $size-byte body other than the one signed, X-Amz-Content-SHA256 signed: refused" \
		"403 InvalidSignatureException: The provided 'x-amz-content-sha256' header does not match what was computed." "${out%% | *}"
	check_contains "a $size-byte body other than the one signed: the signature does not match" \
		"403 InvalidSignatureException: The request signature we calculated does not match" "${out##* | }"
done
code=$(inv caller '{"op":"env"}')
check "an unsigned Invoke is refused before the handler" "403 MissingAuthenticationTokenException" "$code $(hdr X-Amzn-ErrorType)"

# --- A function URL with AuthType NONE is not signed (as AWS's).
mk web furl-py
awsl create-function-url-config --function-name web --auth-type NONE >/dev/null
code=$(curl -s -o "$WORK/b" -w '%{http_code}' "$ENDPOINT/lambda-url/web/string")
check "a function URL with AuthType NONE answers unsigned" 200 "$code"

# --- The lambdad CLI signs (libcurl's SigV4).
out=$(AWS_SHARED_CREDENTIALS_FILE="$ROOT_FILE" "$LAMBDAD" ls --endpoint "$ENDPOINT" --profile lambdad 2>&1) || true
check_contains "lambdad ls --profile lambdad lists the functions" "caller" "$out"
out=$(AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY="$SECRET" "$LAMBDAD" invoke --endpoint "$ENDPOINT" target '{"op":"echo","value":"cli"}' 2>&1) || true
check_contains "lambdad invoke with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" '"echo": "cli"' "$(echo "$out" | sed 's/"echo":"/"echo": "/')"
out=$(AWS_SHARED_CREDENTIALS_FILE="$ROOT_FILE" "$LAMBDAD" logs target --since 10m -n 50 --endpoint "$ENDPOINT" --profile lambdad 2>&1) || true
check_contains "lambdad logs --since (a signed query string) reads the log" "REPORT RequestId:" "$out"
rc=0
out=$(AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY="bad" "$LAMBDAD" ls --endpoint "$ENDPOINT" 2>&1) || rc=$?
check_contains "lambdad ls with a wrong secret fails with Lambda's error" "InvalidSignatureException" "$out"
rc=0
out=$("$LAMBDAD" ls --endpoint "$ENDPOINT" --profile nosuch 2>&1) || rc=$?
check_contains "lambdad --profile of no profile says so" "--profile nosuch: no such profile" "$out"

# --- A restart keeps the root key and does not print its secret again.
stop_server
start_server --auth sigv4 --auth-test-credentials
check "the root key is the same after a restart" "$AKID" "$(sed -n 's/^aws_access_key_id = //p' "$ROOT_FILE")"
check "its secret is still printed only once" 1 "$(grep -cF -- "$SECRET" "$WORK/server.log")"
check "boto3 with the root key after the restart" "ok 3" "$(b3c "$AKID" "$SECRET" call)"
