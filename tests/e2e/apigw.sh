#!/usr/bin/env bash
# HTTP APIs (API Gateway v2) through the AWS CLI's apigatewayv2: quick create, routes
# over two functions with API Gateway's priorities, payload formats 1.0 and 2.0,
# responses, the errors API Gateway gives, host- and path-based addressing, a restart,
# and a browser-like client (Node's fetch).
source "$(dirname "$0")/lib.sh"
start_server
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# The AWS CLI's apigatewayv2, run in the driver (aws_cli: the CLI's code, no process per call).
gw() { aws_cli apigatewayv2 "$@"; }
# gwq QUERY ARGS...: one value of the CLI's answer, as text.
gwq() { local q=$1; shift; aws_cli --output text --query "$q" apigatewayv2 "$@"; }
# gwerr ARGS...: the CLI's error output of a call that must fail (and "SUCCEEDED" if it did not).
gwerr() { if gw "$@" >/dev/null 2>"$WORK/err"; then echo SUCCEEDED; else cat "$WORK/err"; fi; }
# req METHOD URL [curl args]: body to $WORK/b, headers to $WORK/h; prints the status.
req() {
	local m=$1 url=$2; shift 2
	curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X "$m" "$@" "$url"
}
ev() { jq_ "d['event']$1"; }
arn() { echo "arn:aws:lambda:us-east-1:000000000000:function:$1"; }

zip=$(fixture_zip apigw-py)
mkfn() { # mkfn NAME FN_ID [args]
	local name=$1 id=$2; shift 2
	awsl create-function --function-name "$name" --runtime "python$PYV" --handler app.handler \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$zip" \
		--environment "Variables={FN_ID=$id}" "$@" >/dev/null
}
mkfn gw-one one --timeout 2
mkfn gw-two two
mkfn gw-slow slow --timeout 10
mkfn gw-zero zero
awsl put-function-concurrency --function-name gw-zero --reserved-concurrent-executions 0 >/dev/null

# ---- Quick create ----
gw create-api --name quick --protocol-type HTTP --target "$(arn gw-one)" >"$WORK/api.json"
Q=$(jq -r .ApiId "$WORK/api.json")
check "quick create: api id is 10 lower-case alphanumerics" 1 "$([[ $Q =~ ^[a-z0-9]{10}$ ]] && echo 1)"
check "quick create: apiEndpoint" "http://$Q.execute-api.localhost:$PORT" \
	"$(jq -r .ApiEndpoint "$WORK/api.json")"
check "quick create: one \$default route to its integration" "\$default	integrations/$(gwq 'Items[0].IntegrationId' get-integrations --api-id "$Q")" \
	"$(gwq 'Items[].[RouteKey,Target]' get-routes --api-id "$Q")"
check "quick create: the integration is AWS_PROXY, payload 2.0, to the function" \
	"AWS_PROXY	2.0	$(arn gw-one)" \
	"$(gwq 'Items[0].[IntegrationType,PayloadFormatVersion,IntegrationUri]' get-integrations --api-id "$Q")"
check "quick create: the \$default stage, auto-deployed" "\$default	True" \
	"$(gwq 'Items[0].[StageName,AutoDeploy]' get-stages --api-id "$Q")"
QEP="http://$Q.execute-api.localhost:$PORT"
code=$(req GET "$QEP/some/p%C3%A4th?a=1&a=2&b=%E2%9C%93&flag" -H 'Cookie: c1=x; c2=y')
check "quick create: host-based request answers" "200 one" "$code $(jq_ 'd["fn"]')"
check "2.0 event: version, routeKey, rawPath, rawQueryString" \
	"2.0|\$default|/some/p%C3%A4th|a=1&a=2&b=%E2%9C%93&flag" \
	"$(ev '["version"]')|$(ev '["routeKey"]')|$(ev '["rawPath"]')|$(ev '["rawQueryString"]')"
check "2.0 event: queryStringParameters join repeats with commas" "{'a': '1,2', 'b': '✓', 'flag': ''}" \
	"$(ev '["queryStringParameters"]')"
check "2.0 event: cookies" "['c1=x', 'c2=y']" "$(ev '["cookies"]')"
check "2.0 event: requestContext" "$Q \$default GET \$default 000000000000" \
	"$(ev '["requestContext"]["apiId"]') $(ev '["requestContext"]["stage"]') $(ev '["requestContext"]["http"]["method"]') $(ev '["requestContext"]["routeKey"]') $(ev '["requestContext"]["accountId"]')"
check "2.0 event: no pathParameters for \$default" False "$(ev '.__contains__("pathParameters") and d["event"]["pathParameters"] is not None')"
check_contains "an apigw-requestid header" "apigw-requestid:" "$(tr 'A-Z' 'a-z' <"$WORK/h")"
code=$(req GET "$ENDPOINT/apis/$Q/some/path?x=1")
check "path-based /apis/<id>/...: rawPath without the prefix" "200 /some/path {'x': '1'}" \
	"$code $(ev '["rawPath"]') $(ev '["queryStringParameters"]')"
code=$(req GET "$ENDPOINT/apis/$Q")
check "path-based, the API's root" "200 /" "$code $(ev '["rawPath"]')"
code=$(req GET "$ENDPOINT/x" -H "Host: $(echo "$Q" | tr a-z A-Z).Execute-Api.localhost")
check "a Host without port, any case" "200 one" "$code $(jq_ 'd["fn"]')"

# ---- Responses (2.0) ----
code=$(req GET "$QEP/r?op=resp")
check "2.0 response: statusCode and body" "201 created ✓" "$code $(cat "$WORK/b")"
check "2.0 response: headers" "1" "$(hdr x-one)"
check "2.0 response: cookies become Set-Cookie lines" "c1=v1|c2=v2; Path=/" \
	"$(grep -i '^set-cookie:' "$WORK/h" | cut -d' ' -f2- | tr -d '\r' | paste -sd'|')"
code=$(req GET "$QEP/r?op=bare")
check "2.0 response: a bare JSON value is a 200 application/json body" "200 application/json {'bare': True, 'fn': 'one'}" \
	"$code $(hdr content-type) $(jq_ 'd')"
code=$(req GET "$QEP/r?op=b64")
check "2.0 response: isBase64Encoded body comes out as bytes" "200 $(python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(256))).hexdigest())')" \
	"$code $(sha256sum <"$WORK/b" | cut -d' ' -f1)"
code=$(req GET "$QEP/h" -H 'X-Rep: a' -H 'X-Rep: b')
check "2.0 event: repeated headers joined with commas" "a,b" "$(ev '["headers"]["x-rep"]')"
head -c 3000 /dev/urandom >"$WORK/bin"
code=$(req POST "$QEP/bin?op=len" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/bin")
check "2.0 event: a binary body is base64" "200 3000 True" "$code $(jq_ 'd["len"]') $(jq_ 'd["b64"]')"

# ---- Routes over two functions ----
A=$(gwq ApiId create-api --name routes --protocol-type HTTP)
AEP="http://$A.execute-api.localhost:$PORT"
code=$(req GET "$AEP/items/1")
check "no stage yet: 404 Not Found" '404 {"message":"Not Found"}' "$code $(cat "$WORK/b")"
I1=$(gwq IntegrationId create-integration --api-id "$A" --integration-type AWS_PROXY --integration-uri "$(arn gw-one)" --payload-format-version 2.0)
I2=$(gwq IntegrationId create-integration --api-id "$A" --integration-type AWS_PROXY \
	--integration-uri "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/$(arn gw-two)/invocations" --payload-format-version 1.0)
check "integrations have 7-character ids" 1 "$([[ $I1 =~ ^[a-z0-9]{7}$ && $I2 =~ ^[a-z0-9]{7}$ ]] && echo 1)"
R1=$(gwq RouteId create-route --api-id "$A" --route-key 'GET /items/{id}' --target "integrations/$I1")
gw create-route --api-id "$A" --route-key 'POST /items' --target "integrations/$I2" >/dev/null
gw create-route --api-id "$A" --route-key 'ANY /{proxy+}' --target "integrations/$I1" >/dev/null
gw create-route --api-id "$A" --route-key 'GET /items/special' --target "integrations/$I2" >/dev/null
gw create-route --api-id "$A" --route-key 'GET /err' --target "integrations/$I1" >/dev/null
gw create-stage --api-id "$A" --stage-name '$default' --auto-deploy >/dev/null
check "get-routes lists the five routes" 5 "$(gwq 'length(Items)' get-routes --api-id "$A")"
check "get-route by id" 'GET /items/{id}' "$(gwq RouteKey get-route --api-id "$A" --route-id "$R1")"

code=$(req GET "$AEP/items/42")
check "GET /items/42: the route with a variable" "200 one GET /items/{id} {'id': '42'}" \
	"$code $(jq_ 'd["fn"]') $(ev '["routeKey"]') $(ev '["pathParameters"]')"
code=$(req GET "$AEP/items/special")
check "GET /items/special: the exact route beats the variable (other function, 1.0)" "200 two 1.0 /items/special GET" \
	"$code $(jq_ 'd["fn"]') $(ev '["version"]') $(ev '["resource"]') $(ev '["httpMethod"]')"
code=$(req POST "$AEP/items?x=1&x=2" -H 'Content-Type: application/json' -H 'X-Rep: a' -H 'X-Rep: b' --data '{"name":"n"}')
check "POST /items: 1.0 event" "200 two 1.0 /items POST /items {\"name\":\"n\"} False" \
	"$code $(jq_ 'd["fn"]') $(ev '["version"]') $(ev '["resource"]') $(ev '["httpMethod"]') $(ev '["path"]') $(ev '["body"]') $(ev '["isBase64Encoded"]')"
check "1.0 event: query parameters single and multi-valued" "2 ['1', '2']" \
	"$(ev '["queryStringParameters"]["x"]') $(ev '["multiValueQueryStringParameters"]["x"]')"
check "1.0 event: multiValueHeaders" "['a', 'b']" "$(ev '["multiValueHeaders"]["x-rep"]')"
check "1.0 event: requestContext" "POST \$default" "$(ev '["requestContext"]["httpMethod"]') $(ev '["requestContext"]["stage"]')"
code=$(req DELETE "$AEP/items/42")
check "DELETE /items/42: no DELETE route, the greedy ANY" "200 one ANY /{proxy+} {'proxy': 'items/42'}" \
	"$code $(jq_ 'd["fn"]') $(ev '["routeKey"]') $(ev '["pathParameters"]')"
code=$(req GET "$AEP/a/b%20c/d")
check "greedy path parameter: the decoded rest" "200 a/b c/d" "$code $(ev '["pathParameters"]["proxy"]')"
code=$(req GET "$AEP/items/caf%C3%A9")
check "a unicode path parameter" "200 café /items/caf%C3%A9" "$code $(ev '["pathParameters"]["id"]') $(ev '["rawPath"]')"
code=$(req GET "$AEP/")
check "GET / matches nothing without \$default: 404" '404 {"message":"Not Found"} application/json' \
	"$code $(cat "$WORK/b") $(hdr content-type)"
gw create-route --api-id "$A" --route-key '$default' --target "integrations/$I2" >/dev/null
code=$(req GET "$AEP/")
check "\$default takes what no route takes" "200 two 1.0" "$code $(jq_ 'd["fn"]') $(ev '["version"]')"
code=$(req GET "$AEP/items/7" )
check "\$default does not take what a route takes" "200 one" "$code $(jq_ 'd["fn"]')"
code=$(req POST "$AEP/items?op=resp")
check "1.0 response: status, headers, multiValueHeaders, body" "201 1 a|b created ✓" \
	"$code $(hdr x-one) $(grep -i '^x-multi:' "$WORK/h" | cut -d' ' -f2- | tr -d '\r' | paste -sd'|') $(cat "$WORK/b")"
code=$(req GET "$QEP/items/7?op=resp")
check "2.0 response: multiValueHeaders is not part of 2.0" "201 " "$code $(hdr x-multi)"

# Control-plane errors, updates and deletes.
check_contains "a duplicate route key: ConflictException" "ConflictException" \
	"$(gwerr create-route --api-id "$A" --route-key 'GET /items/{id}' --target "integrations/$I1")"
check_contains "a malformed route key: BadRequestException" "BadRequestException" \
	"$(gwerr create-route --api-id "$A" --route-key 'GET items')"
check_contains "a target that is no integration: BadRequestException" "BadRequestException" \
	"$(gwerr create-route --api-id "$A" --route-key 'GET /x' --target integrations/nope123)"
check_contains "an unknown route: NotFoundException" "NotFoundException" "$(gwerr get-route --api-id "$A" --route-id nope123)"
check_contains "an unknown API: NotFoundException" "NotFoundException" "$(gwerr get-api --api-id abcdefghij)"
check_contains "no payload format version: BadRequestException" "BadRequestException" \
	"$(gwerr create-integration --api-id "$A" --integration-type AWS_PROXY --integration-uri "$(arn gw-one)")"
check_contains "an HTTP integration is refused" "BadRequestException" \
	"$(gwerr create-integration --api-id "$A" --integration-type HTTP_PROXY --integration-uri http://example.com --payload-format-version 1.0)"
check_contains "a second \$default stage: ConflictException" "ConflictException" \
	"$(gwerr create-stage --api-id "$A" --stage-name '$default')"
gw update-route --api-id "$A" --route-id "$R1" --target "integrations/$I2" >/dev/null
code=$(req GET "$AEP/items/42")
check "update-route: the route now calls the other function" "200 two {'id': '42'}" "$code $(jq_ 'd["fn"]') $(ev '["pathParameters"]')"
gw delete-route --api-id "$A" --route-id "$R1"
code=$(req GET "$AEP/items/42")
check "delete-route: the greedy route takes it again" "200 one ANY /{proxy+}" "$code $(jq_ 'd["fn"]') $(ev '["routeKey"]')"
# A named stage: the first segment, with its variables.
gw create-stage --api-id "$A" --stage-name prod --stage-variables color=blue >/dev/null
code=$(req GET "$AEP/prod/items/9")
check "a named stage: stage, route and stage variables" "200 prod ANY /{proxy+} items/9 {'color': 'blue'}" \
	"$code $(ev '["requestContext"]["stage"]') $(ev '["routeKey"]') $(ev '["pathParameters"]["proxy"]') $(ev '["stageVariables"]')"
check "update-api renames, keeping the rest" "renamed HTTP" \
	"$(gwq '[Name,ProtocolType]' update-api --api-id "$A" --name renamed | tr '\t' ' ')"
check "get-stage of \$default" "True" "$(gwq AutoDeploy get-stage --api-id "$A" --stage-name '$default')"
check "get-stages lists both" "\$default prod" "$(gwq 'Items[].StageName' get-stages --api-id "$A" | tr '\t' ' ')"
check "update-stage changes the variables" "green" \
	"$(gwq 'StageVariables.color' update-stage --api-id "$A" --stage-name prod --stage-variables color=green)"

# ---- Errors as API Gateway gives them ----
code=$(req GET "$AEP/err?op=raise")
check "a function error: 502" '502 {"message":"Internal Server Error"}' "$code $(cat "$WORK/b")"
t0=$(date +%s%N)
code=$(req GET "$AEP/err?op=sleep&s=5")
t1=$(date +%s%N)
check "a function timeout (2 s) is a function error: 502" '502 {"message":"Internal Server Error"}' "$code $(cat "$WORK/b")"
check "... after the function's timeout" 1 "$(( (t1 - t0) / 1000000 >= 1900 && (t1 - t0) / 1000000 < 4500 ))"
IS=$(gwq IntegrationId create-integration --api-id "$A" --integration-type AWS_PROXY --integration-uri "$(arn gw-slow)" \
	--payload-format-version 2.0 --timeout-in-millis 1000)
check "timeoutInMillis is kept" 1000 "$(gwq TimeoutInMillis get-integration --api-id "$A" --integration-id "$IS")"
gw create-route --api-id "$A" --route-key 'GET /slow' --target "integrations/$IS" >/dev/null
t0=$(date +%s%N)
code=$(req GET "$AEP/slow?op=sleep&s=4")
t1=$(date +%s%N)
check "the integration timeout: 503 Service Unavailable" '503 {"message":"Service Unavailable"}' "$code $(cat "$WORK/b")"
check "... after the integration's 1 s, not the function's 4 s" 1 "$(( (t1 - t0) / 1000000 >= 900 && (t1 - t0) / 1000000 < 3000 ))"
# The cut-short invocation still holds its environment; once it has answered, the next
# request is warm and well inside the 1 s integration timeout even on a loaded machine.
wait_for 15 eval '[ "$(envs gw-slow busy)" = 0 ]' || true
code=$(req GET "$AEP/slow?op=bare")
check "the server keeps serving after a timeout" "200 slow" "$code $(jq_ 'd["fn"]')"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 "$AEP/err?op=sleep&s=1.5" || true)
check "a client that leaves before the answer gets nothing" 000 "$code"
wait_for 15 eval '[ "$(envs gw-one busy)" = 0 ]' || true # until the function has answered into the void
code=$(req GET "$AEP/err?op=bare")
check "... and the server keeps serving" "200 one" "$code $(jq_ 'd["fn"]')"
IZ=$(gwq IntegrationId create-integration --api-id "$A" --integration-type AWS_PROXY --integration-uri "$(arn gw-zero)" --payload-format-version 2.0)
gw create-route --api-id "$A" --route-key 'GET /zero' --target "integrations/$IZ" >/dev/null
code=$(req GET "$AEP/zero")
check "a throttled function (reserved concurrency 0): 429" '429 {"message":"Too Many Requests"}' "$code $(cat "$WORK/b")"
IM=$(gwq IntegrationId create-integration --api-id "$A" --integration-type AWS_PROXY --integration-uri "$(arn gw-missing)" --payload-format-version 2.0)
gw create-route --api-id "$A" --route-key 'GET /missing' --target "integrations/$IM" >/dev/null
code=$(req GET "$AEP/missing")
check "a function that does not exist: 500" '500 {"message":"Internal Server Error"}' "$code $(cat "$WORK/b")"
head -c $((7 * 1024 * 1024)) /dev/zero | tr '\0' a >"$WORK/big"
code=$(req POST "$AEP/items" -H 'Content-Type: text/plain' --data-binary @"$WORK/big")
check "a body over 6 MB: 413" '413 {"message":"Request Entity Too Large"}' "$code $(cat "$WORK/b")"
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' b >"$WORK/big"
code=$(req POST "$AEP/up?op=len" -H 'Content-Type: text/plain' --data-binary @"$WORK/big")
check "a 5 MB body goes through" "200 5242880" "$code $(jq_ 'd["len"]')"
code=$(req GET "http://abcdefghij.execute-api.localhost:$PORT/x")
check "an unknown API: 404 Not Found" '404 {"message":"Not Found"}' "$code $(cat "$WORK/b")"
code=$(req GET "$ENDPOINT/apis/abcdefghij/x")
check "an unknown API, path-based: 404 Not Found" '404 {"message":"Not Found"}' "$code $(cat "$WORK/b")"
code=$(req GET "$ENDPOINT/2016-08-19/account-settings/")
check "the Lambda API is untouched" 200 "$code"

# ---- A browser-like client ----
F=$(gwq ApiId create-api --name fetch --protocol-type HTTP)
IF=$(gwq IntegrationId create-integration --api-id "$F" --integration-type AWS_PROXY --integration-uri "$(arn gw-one)" --payload-format-version 2.0)
gw create-route --api-id "$F" --route-key 'GET /items/{id}' --target "integrations/$IF" >/dev/null
gw create-route --api-id "$F" --route-key 'POST /upload' --target "integrations/$IF" >/dev/null
gw create-stage --api-id "$F" --stage-name '$default' --auto-deploy >/dev/null
# Path-based: Node's resolver, unlike browsers' and curl's, does not send *.localhost to
# the loopback, and fetch sets Host itself.
node "$(dirname "$0")/apigw_fetch.mjs" "$ENDPOINT/apis/$F" >"$WORK/b" 2>"$WORK/node.err" || cat "$WORK/node.err"
check "fetch: sequential requests" "[200, 200, 200, 200, 200, 200, 200, 200, 200, 200]" "$(jq_ 'd["sequential"]')"
# undici opens a second connection for the second request (against any server), then
# reuses it: without keep-alive this would be 10.
check "fetch: keep-alive, 10 requests over at most 2 connections" True "$(jq_ 'd["connections_after_sequential"] <= 2')"
check "fetch: a unicode path parameter and query" "200|ünï ✓/x|é&x=✓" "$(jq_ '"|".join(str(d["unicode"][k]) for k in ("status", "id", "q"))')"
check "fetch: repeated request headers and cookies" "a, b ['k1=v1', 'k2=v2']" \
	"$(jq_ 'd["request_headers"]["rep"]') $(jq_ 'd["request_headers"]["cookies"]')"
check "fetch: response cookies and headers" "201 ['c1=v1', 'c2=v2; Path=/'] 1 created ✓" \
	"$(jq_ 'd["response"]["status"]') $(jq_ 'd["response"]["setCookie"]') $(jq_ 'd["response"]["one"]') $(jq_ 'd["response"]["body"]')"
check "fetch: a 2 MiB text body" "{'len': 2097152, 'b64': False}" "$(jq_ 'd["big_text"]')"
check "fetch: a 3 MiB binary body" "{'len': 3145728, 'b64': True}" "$(jq_ 'd["big_binary"]')"
check "fetch: concurrent requests" "['c0', 'c1', 'c2', 'c3', 'c4']" "$(jq_ 'd["concurrent"]')"
check "fetch: an unknown route" "404 {\"message\":\"Not Found\"}" "$(jq_ 'd["unknown"]["status"]') $(jq_ 'd["unknown"]["body"]')"

# ---- CORS (corsConfiguration) ----
# invocations NAME: lambdad_invocations_total of a function, from GET /metrics.
invocations() {
	curl -s "$ENDPOINT/metrics" | awk -v k="lambdad_invocations_total{function=\"$1\"}" '$1 == k {n = $2} END {print n + 0}'
}
# cors_hdrs: the CORS headers of the last req, in a fixed order.
cors_hdrs() {
	echo "$(hdr Access-Control-Allow-Origin)|$(hdr Access-Control-Allow-Methods)|$(hdr Access-Control-Allow-Headers)|$(hdr Access-Control-Max-Age)|$(hdr Access-Control-Allow-Credentials)|$(hdr Access-Control-Expose-Headers)"
}
mkfn gw-cors cors
C=$(gwq ApiId create-api --name cors --protocol-type HTTP --target "$(arn gw-cors)" \
	--cors-configuration 'AllowOrigins=https://a.example,AllowMethods=GET,POST,AllowHeaders=x-token,content-type,ExposeHeaders=x-one,MaxAge=300')
CEP="http://$C.execute-api.localhost:$PORT"
check "get-api shows the corsConfiguration" "https://a.example GET,POST 300" \
	"$(gwq '[CorsConfiguration.AllowOrigins[0], join(`,`, CorsConfiguration.AllowMethods), CorsConfiguration.MaxAge]' get-api --api-id "$C" | tr '\t' ' ')"
code=$(req GET "$CEP/first" -H 'Origin: https://a.example')
check "the answer to an allowed origin: the function's, with the CORS headers" \
	"200 cors https://a.example|||||x-one Origin" "$code $(jq_ 'd["fn"]') $(cors_hdrs) $(hdr Vary)"
n0=$(invocations gw-cors)
check "/metrics counts the function's invocation" 1 "$n0"
code=$(req OPTIONS "$CEP/items/1" -H 'Origin: https://a.example' -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: x-token')
check "preflight answered by lambdad: 204 with the configured headers" \
	"204 https://a.example|GET, POST|x-token, content-type|300|| ||" "$code $(cors_hdrs) |$(cat "$WORK/b")|"
check_contains "... with an apigw-requestid" "apigw-requestid:" "$(tr 'A-Z' 'a-z' <"$WORK/h")"
code=$(req OPTIONS "$CEP/items/1" -H 'Origin: https://b.example' -H 'Access-Control-Request-Method: POST')
check "a preflight from an origin not allowed: 204 without CORS headers" "204 |||||" "$code $(cors_hdrs)"
check "the preflights did not invoke the function" "$n0" "$(invocations gw-cors)"
code=$(req GET "$CEP/x" -H 'Origin: https://b.example')
check "an origin not allowed: the answer without CORS headers" "200 cors |||||" "$code $(jq_ 'd["fn"]') $(cors_hdrs)"
code=$(req GET "$CEP/x")
check "no Origin: no CORS headers" "200 |||||" "$code $(cors_hdrs)"
code=$(req OPTIONS "$CEP/x" -H 'Origin: https://a.example')
check "an OPTIONS that is no preflight reaches the function" "200 OPTIONS https://a.example" \
	"$code $(ev '["requestContext"]["http"]["method"]') $(hdr Access-Control-Allow-Origin)"
check "... which /metrics counts" "$((n0 + 3))" "$(invocations gw-cors)"
# API Gateway's own errors carry the CORS headers too.
gw update-api --api-id "$A" --cors-configuration 'AllowOrigins=https://a.example,AllowCredentials=true' >/dev/null
code=$(req GET "$AEP/zero" -H 'Origin: https://a.example')
check "a throttle (429) carries the CORS headers" "429 https://a.example||||true|" "$code $(cors_hdrs)"
code=$(req GET "$AEP/missing" -H 'Origin: https://a.example')
check "a missing function (500) carries the CORS headers" "500 https://a.example||||true|" "$code $(cors_hdrs)"
code=$(req GET "$AEP/err?op=raise" -H 'Origin: https://a.example')
check "a function error (502) carries the CORS headers" "502 https://a.example||||true|" "$code $(cors_hdrs)"
code=$(req GET "$AEP/zero" -H 'Origin: https://b.example')
check "... but not to an origin not allowed" "429 |||||" "$code $(cors_hdrs)"
E=$(gwq ApiId create-api --name cors-empty --protocol-type HTTP --cors-configuration 'AllowOrigins=*,AllowMethods=*')
EEP="http://$E.execute-api.localhost:$PORT"
code=$(req GET "$EEP/nothing" -H 'Origin: https://z.example')
check "no stage or route (404) carries the CORS headers; \"*\" answers \"*\"" '404 *||||| {"message":"Not Found"}' \
	"$code $(cors_hdrs) $(cat "$WORK/b")"
code=$(req OPTIONS "$EEP/nothing" -H 'Origin: https://z.example' -H 'Access-Control-Request-Method: DELETE')
check "a preflight is answered whatever the routes" "204 *|*||||" "$code $(cors_hdrs)"
gw update-api --api-id "$E" --cors-configuration 'AllowOrigins=http://*,AllowCredentials=true' >/dev/null
code=$(req GET "$EEP/nothing" -H 'Origin: http://localhost:3000')
check "update-api replaces the configuration; http://* allows any http origin" "404 http://localhost:3000||||true|" \
	"$code $(cors_hdrs)"
code=$(req GET "$EEP/nothing" -H 'Origin: https://localhost:3000')
check "... and no https one" "404 |||||" "$code $(cors_hdrs)"
check_contains "allowCredentials with the * origin is refused as AWS does" \
	"allow-credentials is not supported if 'allow-origin' is *" \
	"$(gwerr create-api --name bad --protocol-type HTTP --cors-configuration 'AllowOrigins=*,AllowCredentials=true')"
check_contains "maxAge over 86400 is refused naming the field" "corsConfiguration.maxAge" \
	"$(gwerr update-api --api-id "$E" --cors-configuration 'MaxAge=86401')"
check_contains "a bad method is refused naming the field" "corsConfiguration.allowMethods" \
	"$(gwerr update-api --api-id "$E" --cors-configuration 'AllowMethods=FETCH')"
check "a refused update changes nothing" "http://*" "$(gwq 'CorsConfiguration.AllowOrigins[0]' get-api --api-id "$E")"
# A function that sets CORS headers of its own: ignored once the API has a configuration.
mkdir -p "$WORK/ownfn"
cat >"$WORK/ownfn/app.py" <<'PY'
def handler(event, context):
    return {"statusCode": 200, "body": "own",
            "headers": {"access-control-allow-origin": "https://evil.example",
                        "access-control-allow-methods": "DELETE", "x-fn": "1"}}
PY
awsl create-function --function-name gw-own --runtime "python$PYV" --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip ownfn "$WORK/ownfn")" >/dev/null
O=$(gwq ApiId create-api --name own --protocol-type HTTP --target "$(arn gw-own)")
OEP="http://$O.execute-api.localhost:$PORT"
code=$(req GET "$OEP/" -H 'Origin: https://a.example')
check "without a configuration the function's own CORS headers pass" "200 https://evil.example|DELETE||||" "$code $(cors_hdrs)"
gw update-api --api-id "$O" --cors-configuration 'AllowOrigins=https://a.example' >/dev/null
code=$(req GET "$OEP/" -H 'Origin: https://a.example')
check "with one they are replaced by the configured ones" "200 https://a.example||||| 1 own" \
	"$code $(cors_hdrs) $(hdr x-fn) $(cat "$WORK/b")"
code=$(req GET "$OEP/" -H 'Origin: https://b.example')
check "... and dropped for an origin not allowed" "200 |||||" "$code $(cors_hdrs)"
gw delete-cors-configuration --api-id "$O"
check "delete-cors-configuration" "None" "$(gwq CorsConfiguration get-api --api-id "$O")"
code=$(req OPTIONS "$OEP/" -H 'Origin: https://a.example' -H 'Access-Control-Request-Method: GET')
check "without a configuration a preflight reaches the function" "200 own https://evil.example" \
	"$code $(cat "$WORK/b") $(hdr Access-Control-Allow-Origin)"

# ---- Durable: a restart keeps APIs, routes and stages ----
stop_server
start_server
check "after a restart: the APIs" "cors cors-empty fetch own quick renamed" "$(gwq 'Items[].Name' get-apis | tr '\t' '\n' | sort | paste -sd' ')"
code=$(req GET "$CEP/again" -H 'Origin: https://a.example')
n1=$(invocations gw-cors)
check "after a restart: the function answers, /metrics counts it" "200 https://a.example 1" \
	"$code $(hdr Access-Control-Allow-Origin) $n1"
code=$(req OPTIONS "$CEP/items/1" -H 'Origin: https://a.example' -H 'Access-Control-Request-Method: GET')
check "after a restart: the preflight is still answered by lambdad" "204 https://a.example|GET, POST|x-token, content-type|300||" \
	"$code $(cors_hdrs)"
check "... without invoking" "$n1" "$(invocations gw-cors)"
code=$(req GET "$AEP/prod/items/5")
check "after a restart: a named stage's route still answers" "200 one prod" "$code $(jq_ 'd["fn"]') $(ev '["requestContext"]["stage"]')"
gw delete-api --api-id "$F"
check_contains "delete-api: gone" "NotFoundException" "$(gwerr get-api --api-id "$F")"
code=$(req GET "http://$F.execute-api.localhost:$PORT/items/1")
check "delete-api: its endpoint answers 404" 404 "$code"
check_contains "delete-stage of an unknown stage: NotFoundException" "NotFoundException" \
	"$(gwerr delete-stage --api-id "$A" --stage-name nope)"
gw delete-stage --api-id "$A" --stage-name prod
code=$(req GET "$AEP/prod/items/5")
check "a deleted stage's prefix is only a path to \$default" "200 \$default prod/items/5" \
	"$code $(ev '["requestContext"]["stage"]') $(ev '["pathParameters"]["proxy"]')"
