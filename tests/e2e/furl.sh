#!/usr/bin/env bash
# Function URLs end to end: the control plane through the AWS CLI, and the HTTP endpoint
# through curl and a browser-like client (Node's fetch): events and answers in payload
# format 2.0, CORS, errors, keep-alive, chunked and large bodies, unicode, binary, both
# host-based and path-based routing, and a restart.
source "$(dirname "$0")/lib.sh"
start_server
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
zip=$(fixture_zip furl-py)
mkfn() { # mkfn NAME [extra create-function args]
	local n=$1; shift
	awsl create-function --function-name "$n" --runtime "python$PYV" --handler app.handler \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$zip" "$@" >/dev/null
}
# awserr CMD...: runs an awsl command that must fail; prints its stderr.
awserr() { if awsl "$@" >"$WORK/o" 2>"$WORK/e"; then echo "UNEXPECTED SUCCESS: $(cat "$WORK/o")"; else cat "$WORK/e"; fi; }
# req URL [curl args]: body to $WORK/b, headers to $WORK/h; prints the status.
req() { local u=$1; shift; curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' "$@" "$u"; }
# ctl METHOD FUNCTION [JSON]: the function URL control plane by curl (Debian's AWS CLI
# 2.9 predates InvokeMode); body to $WORK/b, prints the status.
ctl() { req "$ENDPOINT/2021-10-31/functions/$2/url" -X "$1" ${3:+--data-binary "$3"}; }
mkfn web --timeout 5
mkfn slow --timeout 1

# --- Control plane.
awsl create-function-url-config --function-name web --auth-type NONE \
	--cors 'AllowOrigins=https://app.example,AllowMethods=GET,PUT,POST,AllowHeaders=x-token,ExposeHeaders=x-custom,MaxAge=300,AllowCredentials=true' \
	>"$WORK/b"
URL=$(jq_ 'd["FunctionUrl"]')
ID=$(python3 -c 'import sys; print(sys.argv[1].split("//")[1].split(".")[0])' "$URL")
check "FunctionUrl is http://<32 lowercase alphanumerics>.lambda-url.us-east-1.localhost:<port>/" 1 \
	"$(python3 -c 'import re,sys; print(int(bool(re.fullmatch(r"http://[a-z0-9]{32}\.lambda-url\.us-east-1\.localhost:%s/" % sys.argv[2], sys.argv[1]))))' "$URL" "$PORT")"
check "create answers AuthType, FunctionArn, Cors, CreationTime" \
	"NONE arn:aws:lambda:us-east-1:000000000000:function:web 300 ['https://app.example'] True False" \
	"$(jq_ '" ".join(map(str, [d["AuthType"], d["FunctionArn"], d["Cors"]["MaxAge"], d["Cors"]["AllowOrigins"], "CreationTime" in d, "LastModifiedTime" in d]))')"
code=$(ctl GET web)
check "InvokeMode is BUFFERED by default" "200 BUFFERED" "$code $(jq_ 'd["InvokeMode"]')"
check_contains "a second URL for the same function is a conflict" ResourceConflictException \
	"$(awserr create-function-url-config --function-name web --auth-type NONE)"
mkfn iam
check_contains "AuthType AWS_IAM is refused, saying SigV4 is not verified" "InvalidParameterValueException" \
	"$(awserr create-function-url-config --function-name iam --auth-type AWS_IAM)"
check_contains "the refusal names SigV4" "SigV4" "$(cat "$WORK/e")"
check_contains "Cors MaxAge over 86400 is a ValidationException naming the field" "cors.maxAge" \
	"$(awserr create-function-url-config --function-name iam --auth-type NONE --cors MaxAge=90000)"
check_contains "a bad Cors method is refused naming the field" "cors.allowMethods" \
	"$(awserr create-function-url-config --function-name iam --auth-type NONE --cors AllowMethods=FETCH)"
code=$(ctl POST iam '{"AuthType":"NONE","InvokeMode":"SOMETIMES"}')
check_contains "an unknown InvokeMode is refused" "400 1 validation error detected: Value 'SOMETIMES' at 'invokeMode'" \
	"$code $(jq_ 'd["message"]')"
check_contains "Get on a function without a URL: ResourceNotFoundException" ResourceNotFoundException \
	"$(awserr get-function-url-config --function-name iam)"
check_contains "a URL for a missing function: ResourceNotFoundException" "Function not found" \
	"$(awserr create-function-url-config --function-name ghost --auth-type NONE)"
check_contains "a Qualifier that is \$LATEST is refused (function URLs take an alias)" "ValidationException" \
	"$(awserr create-function-url-config --function-name web --qualifier '$LATEST' --auth-type NONE)"
awsl get-function-url-config --function-name web >"$WORK/b"
check "get returns the same URL with LastModifiedTime" "$URL True" "$(jq_ 'd["FunctionUrl"] + " " + str("LastModifiedTime" in d)')"
awsl list-function-url-configs --function-name web >"$WORK/b"
check "list has the one URL" "1 $URL" "$(jq_ 'str(len(d["FunctionUrlConfigs"])) + " " + d["FunctionUrlConfigs"][0]["FunctionUrl"]')"
sleep 0.01
awsl update-function-url-config --function-name web --cors 'AllowOrigins=https://app.example,AllowMethods=GET,PUT,POST,AllowHeaders=x-token,ExposeHeaders=x-custom,MaxAge=600,AllowCredentials=true' >"$WORK/b"
check "update changes Cors, keeps the URL, moves LastModifiedTime" "600 $URL True" \
	"$(jq_ 'str(d["Cors"]["MaxAge"]) + " " + d["FunctionUrl"] + " " + str(d["LastModifiedTime"] > d["CreationTime"])')"

# --- The event, exactly (host-based routing; curl resolves *.localhost to the loopback).
t0=$(python3 -c 'import time; print(int(time.time()*1000))')
code=$(req "${URL}a/b%20c?x=1&x=2&y=%C3%A9&flag" -H 'Cookie: c1=v1; c2=v2' -H 'X-Rep: 1' -H 'X-Rep: 2' \
	-H 'User-Agent: furl-test/1')
check "GET through the host-based URL" 200 "$code"
check "event: fixed fields" "2.0 \$default /a/b%20c x=1&x=2&y=%C3%A9&flag ['c1=v1', 'c2=v2'] False" \
	"$(jq_ '" ".join(map(str, [d["version"], d["routeKey"], d["rawPath"], d["rawQueryString"], d["cookies"], d["isBase64Encoded"]]))')"
check "event: query parameters decoded, repeats joined with commas" "{'x': '1,2', 'y': 'é', 'flag': ''}" \
	"$(jq_ 'd["queryStringParameters"]')"
check "event: headers lower-case, repeats joined, no cookie header, forwarded headers" \
	"1,2 furl-test/1 None 127.0.0.1 http $PORT $ID.lambda-url.us-east-1.localhost:$PORT" \
	"$(jq_ '" ".join(map(str, [d["headers"]["x-rep"], d["headers"]["user-agent"], d["headers"].get("cookie"), d["headers"]["x-forwarded-for"], d["headers"]["x-forwarded-proto"], d["headers"]["x-forwarded-port"], d["headers"]["host"]]))')"
check "event: no body, pathParameters or stageVariables on a GET" "False False False" \
	"$(jq_ '" ".join(str(k in d) for k in ("body", "pathParameters", "stageVariables"))')"
check "event: requestContext" \
	"anonymous $ID $ID.lambda-url.us-east-1.localhost $ID GET /a/b%20c HTTP/1.1 127.0.0.1 furl-test/1 \$default \$default" \
	"$(jq_ '" ".join(map(str, [d["requestContext"][k] for k in ("accountId", "apiId", "domainName", "domainPrefix")] + [d["requestContext"]["http"][k] for k in ("method", "path", "protocol", "sourceIp", "userAgent")] + [d["requestContext"]["routeKey"], d["requestContext"]["stage"]]))')"
check "event: requestId is the invocation's (x-amzn-RequestId)" "$(hdr x-amzn-RequestId)" "$(jq_ 'd["requestContext"]["requestId"]')"
check "event: time in the access-log format, timeEpoch in ms now" "True True" \
	"$(jq_ "str(__import__('re').fullmatch(r'\d\d/[A-Z][a-z][a-z]/\d{4}:\d\d:\d\d:\d\d \+0000', d['requestContext']['time']) is not None) + ' ' + str($t0 - 1000 <= d['requestContext']['timeEpoch'] <= $t0 + 10000)")"
code=$(req "$ENDPOINT/lambda-url/web/x/y?k=v" -X POST -H 'Content-Type: application/json' --data-binary '{"a":"é"}')
check "path-based URL: rawPath is the rest of the path, JSON body as text" '200 /x/y {"a":"é"} False POST' \
	"$code $(jq_ '" ".join(map(str, [d["rawPath"], d["body"], d["isBase64Encoded"], d["requestContext"]["http"]["method"]]))')"
code=$(req "$ENDPOINT/lambda-url/web" )
check "path-based URL without a trailing path: rawPath /" "200 /" "$code $(jq_ 'd["rawPath"]')"
code=$(curl -s -o "$WORK/b" -w '%{http_code}' --request-target '/lambda-url/web/café/✓?q=ü%20✓' "$ENDPOINT")
check "unicode path and query as sent, query decoded" "200 /café/✓ ü ✓" \
	"$code $(jq_ 'd["rawPath"] + " " + d["queryStringParameters"]["q"]')"

# --- Answers.
code=$(req "$ENDPOINT/lambda-url/web/custom")
check "custom answer: status, headers, a header that was a number" "201 text/plain v1 7" \
	"$code $(hdr Content-Type) $(hdr X-Custom) $(hdr X-Num)"
check "custom answer: cookies become Set-Cookie headers" "a=1; Path=/|b=2; Max-Age=60" \
	"$(grep -i '^Set-Cookie:' "$WORK/h" | cut -d' ' -f2- | tr -d '\r' | paste -sd'|')"
check "custom answer: body" created "$(cat "$WORK/b")"
code=$(req "$ENDPOINT/lambda-url/web/string")
check "a bare JSON string is a 200 application/json body, as returned" '200 application/json "just a string"' \
	"$code $(hdr Content-Type) $(cat "$WORK/b")"
code=$(req "$ENDPOINT/lambda-url/web/object")
check "an object without statusCode is the body" "200 {'hello': 'world', 'n': 1}" "$code $(jq_ 'd')"
code=$(req "$ENDPOINT/lambda-url/web/binary")
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)))' >"$WORK/bytes"
check "a base64 answer leaves decoded" "200 application/octet-stream same" \
	"$code $(hdr Content-Type) $(cmp -s "$WORK/b" "$WORK/bytes" && echo same || echo differs)"
code=$(req "$ENDPOINT/lambda-url/web/echo-body" -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/bytes")
check "binary in (base64 in the event) and back" "200 same" "$code $(cmp -s "$WORK/b" "$WORK/bytes" && echo same || echo differs)"
code=$(req "$ENDPOINT/lambda-url/web/size" -X POST -H 'Content-Type: text/plain' --data-binary $'\xff\xfe not utf-8')
check "a text Content-Type with bytes that are not UTF-8 arrives base64" "200 12 True" "$code $(jq_ 'str(d["len"]) + " " + str(d["b64"])')"
code=$(req "$ENDPOINT/lambda-url/web/status?code=204")
check "204 from the function" 204 "$code"
code=$(curl -s -I -o "$WORK/h" -w '%{http_code}' "$ENDPOINT/lambda-url/web/object")
check "HEAD reaches the function (its answer's headers)" "200 application/json" "$code $(hdr Content-Type)"

# --- Bodies: chunked, large, too large.
python3 -c 'import sys; sys.stdout.write("a" * 5000000)' >"$WORK/5mb"
code=$(req "$ENDPOINT/lambda-url/web/size" -X POST -H 'Content-Type: text/plain' --data-binary @"$WORK/5mb")
check "a 5 MB body" "200 5000000 False" "$code $(jq_ 'str(d["len"]) + " " + str(d["b64"])')"
code=$(req "$ENDPOINT/lambda-url/web/size" -X POST -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' \
	--data-binary @"$WORK/5mb")
check "a chunked 5 MB body arrives whole" "200 5000000" "$code $(jq_ 'd["len"]')"
python3 -c 'import sys; sys.stdout.write("a" * 7000000)' >"$WORK/7mb"
code=$(req "$ENDPOINT/lambda-url/web/size" -X POST -H 'Content-Type: text/plain' --data-binary @"$WORK/7mb")
check "a 7 MB body is 413" "413 RequestEntityTooLargeException" "$code $(hdr x-amzn-ErrorType)"
check_contains "413 says the limit" "6291456 bytes" "$(cat "$WORK/b")"

# --- Errors.
code=$(req "$ENDPOINT/lambda-url/web/raise")
check "function error: 502" '502 {"message":"Internal Server Error"}' "$code $(cat "$WORK/b")"
code=$(req "$ENDPOINT/lambda-url/web/malformed")
check "malformed answer (statusCode not a number): 502" 502 "$code"
awsl create-function-url-config --function-name slow --auth-type NONE >"$WORK/b"
SLOW=$(jq_ 'd["FunctionUrl"]')
code=$(req "${SLOW}sleep?s=3")
check "function timeout: 502" 502 "$code"
code=$(req "http://0123456789abcdefghijklmnopqrstuv.lambda-url.us-east-1.localhost:$PORT/")
check "unknown url-id: 403 Forbidden" '403 {"Message":"Forbidden"}' "$code $(cat "$WORK/b")"
code=$(req "http://$ID.lambda-url.eu-west-1.localhost:$PORT/")
check "the right id in another region: 403" 403 "$code"
code=$(req "$ENDPOINT/lambda-url/iam/")
check "path-based URL of a function without one: 403" 403 "$code"
awsl put-function-concurrency --function-name slow --reserved-concurrent-executions 0 >/dev/null
code=$(req "${SLOW}x")
check "reserved concurrency 0 throttles: 429 with Retry-After" "429 1 TooManyRequestsException" \
	"$code $(hdr Retry-After) $(hdr x-amzn-ErrorType)"
awsl delete-function-concurrency --function-name slow >/dev/null
# A client that gives up while the function runs: the server answers into the void and goes on.
curl -s -o /dev/null --max-time 0.5 "$ENDPOINT/lambda-url/web/sleep?s=1.5" || true
wait_for 15 eval '[ "$(envs web busy)" = 0 ]' || true # until the function has answered into the void
code=$(req "$ENDPOINT/lambda-url/web/object")
check "the server keeps serving after errors and a vanished client" 200 "$code"

# --- CORS.
code=$(req "$URL" -X OPTIONS -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: PUT')
check "preflight answered by lambdad" "200 https://app.example GET, PUT, POST x-token 600 true" \
	"$code $(hdr Access-Control-Allow-Origin) $(hdr Access-Control-Allow-Methods) $(hdr Access-Control-Allow-Headers) $(hdr Access-Control-Max-Age) $(hdr Access-Control-Allow-Credentials)"
check "the preflight does not reach the function" "" "$(cat "$WORK/b")"
code=$(req "${URL}cors" -H 'Origin: https://app.example')
check "CORS headers on the answer; the configured origin wins over the function's" "200 https://app.example x-custom true" \
	"$code $(hdr Access-Control-Allow-Origin) $(hdr Access-Control-Expose-Headers) $(hdr Access-Control-Allow-Credentials)"
code=$(req "${URL}object" -H 'Origin: https://evil.example')
check "no CORS headers for an origin not allowed" "200 " "$code $(hdr Access-Control-Allow-Origin)"
code=$(req "${SLOW}x" -X OPTIONS -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: PUT')
check "without Cors, OPTIONS reaches the function (its event echoed)" "200 OPTIONS" \
	"$code $(jq_ 'd["requestContext"]["http"]["method"]')"

# --- Keep-alive: several requests on one connection.
curl -sv -o /dev/null -o /dev/null -o /dev/null "${URL}object" "${URL}string" "${URL}a" 2>"$WORK/v"
check "keep-alive: curl reuses the connection" 2 "$(grep -c 'Re-using existing connection' "$WORK/v")"
check "keep-alive: one connect" 1 "$(grep -c '^\* Connected to' "$WORK/v")"

# --- A browser-like client.
node "$(dirname "$0")/furl_fetch.mjs" "$ENDPOINT/lambda-url/web" "$URL" >"$WORK/b" 2>"$WORK/node.err" || cat "$WORK/node.err"
check "fetch: sequential requests" "[200, 200, 200, 200, 200, 200, 200, 200]" "$(jq_ 'd["sequential"]')"
check "fetch: keep-alive, no new connection after the second request, at most 2" "True" \
	"$(jq_ 'len(set(d["connections"][1:])) == 1 and d["connections"][-1] <= 2')"
check "fetch: preflight" "{'status': 200, 'origin': 'https://app.example', 'methods': 'GET, PUT, POST', 'headers': 'x-token', 'maxAge': '600', 'credentials': 'true'}" \
	"$(jq_ 'd["preflight"]')"
check "fetch: CORS request with cookies and exposed header" \
	"{'status': 201, 'origin': 'https://app.example', 'expose': 'x-custom', 'setCookie': ['a=1; Path=/', 'b=2; Max-Age=60'], 'custom': 'v1', 'body': 'created'}" \
	"$(jq_ 'd["cors"]')"
check "fetch: unicode, repeated headers, cookies" \
	"{'status': 200, 'rawPath': '/caf%C3%A9/%E2%9C%93', 'q': 'ü ✓', 'rep': 'a, b', 'cookies': ['k1=v1', 'k2=v2'], 'cookieHeader': None}" \
	"$(jq_ 'd["unicode"]')"
check "fetch: binary round trip" "{'status': 200, 'same': True, 'len': 1024}" "$(jq_ 'd["binary"]')"
check "fetch: JSON POST is text" "{'len': 10, 'b64': False}" "$(jq_ 'd["json"]')"
check "node:http by host" "{'status': 200, 'rawPath': '/by/host', 'host': '$ID.lambda-url.us-east-1.localhost:$PORT'}" "$(jq_ 'd["host"]')"

# --- RESPONSE_STREAM hands the request to the streaming path (stream.c).
code=$(ctl PUT slow '{"InvokeMode":"RESPONSE_STREAM"}')
check "update to RESPONSE_STREAM" "200 RESPONSE_STREAM" "$code $(jq_ 'd["InvokeMode"]')"
code=$(req "${SLOW}object")
case "$code" in 200 | 501) pass "RESPONSE_STREAM request answered by the streaming path ($code)" ;;
*) fail "RESPONSE_STREAM request: status $code" ;; esac

# --- Durable: the same URL after a restart; gone with its function.
stop_server
start_server
awsl get-function-url-config --function-name web >"$WORK/b"
check "after a restart the URL is the same" "$URL" "$(jq_ 'd["FunctionUrl"]')"
code=$(req "${URL}object")
check "and it serves" 200 "$code"
awsl delete-function-url-config --function-name web
code=$(req "${URL}object")
check "deleted URL: 403" 403 "$code"
check_contains "deleted URL: get is ResourceNotFoundException" ResourceNotFoundException \
	"$(awserr get-function-url-config --function-name web)"
awsl delete-function --function-name slow
mkfn slow
check_contains "a function's URL goes with the function" ResourceNotFoundException \
	"$(awserr get-function-url-config --function-name slow)"
code=$(req "${SLOW}x")
check "the old URL of a deleted function: 403" 403 "$code"
