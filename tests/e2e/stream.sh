#!/usr/bin/env bash
# Response streaming end to end: function URLs with InvokeMode RESPONSE_STREAM in front of
# a Node.js function (awslambda.streamifyResponse) and a C one (runtimes/c's
# lambda_stream_*). The functions write a first chunk and then wait for SIGUSR2, which
# the client sends only after it has read that chunk over HTTP: the first bytes arrive
# before the function finishes, with no timing involved.
source "$(dirname "$0")/lib.sh"
start_server
HERE=$(cd "$(dirname "$0")" && pwd)
NODEV=$(node -p 'process.versions.node.split(".")[0]')
NRT=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })

cdir="$WORK/cfn"; mkdir -p "$cdir"
CRT=$(cd "$HERE/../../runtimes/c" && pwd)
cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -I"$CRT" "$FIXTURES/stream-c/stream.c" \
	"$CRT/lambda_runtime.c" -o "$cdir/bootstrap" || { echo "FAIL: the C streaming function does not build"; exit 1; }

deploy() { # deploy NAME RUNTIME HANDLER ZIP
	awsl create-function --function-name "$1" --runtime "$2" --handler "$3" --timeout 5 \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$4" >/dev/null
	# Debian's AWS CLI (2.9) predates InvokeMode; boto3 has it.
	python3 -c '
import boto3, json, sys
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1")
r = c.create_function_url_config(FunctionName=sys.argv[2], AuthType="NONE", InvokeMode="RESPONSE_STREAM",
                                 Cors={"AllowOrigins": ["*"]})
r.pop("ResponseMetadata", None)
print(json.dumps(r))' "$ENDPOINT" "$1" >"$WORK/url.json"
}
deploy s-node "$NRT" index.handler "$(fixture_zip stream-node)"
check "node: the function URL is RESPONSE_STREAM" RESPONSE_STREAM "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["InvokeMode"])' "$WORK/url.json")"
deploy s-c provided.al2023 unused "$(make_zip cfn "$cdir")"

# client FUNCTION OP MODE: the streamed reply as JSON in $WORK/r.json
client() { python3 "$HERE/stream_client.py" "$ENDPOINT" "$SERVER_PID" "$@" >"$WORK/r.json"; }
# r EXPR: a Python expression on the last reply, parsed as d
r() { pyx "$1" "$WORK/r.json" 2>&1; } # a Python expression on d, in the driver
concurrent() { curl -s "$ENDPOINT/metrics" | sed -n "s/^lambdad_concurrent_executions{function=\"$1\"} //p"; }
# settle NAME: waits until no invocation of NAME is in flight (an invocation that goes on
# after its client left ends on its own).
settle() { for _ in $(seq 1 200); do [ "$(concurrent "$1")" = 0 ] && return 0; sleep 0.1; done; return 1; }

for R in node c; do
	F=s-$R
	client "$F" gated gated
	check "$R: the prelude's status" 201 "$(r 'd["status"]')"
	check "$R: the prelude's headers" "text/plain $R" "$(r '" ".join(d["headers"]["content-type"] + d["headers"]["x-fn"])')"
	check "$R: the prelude's cookies" "['a=1; Path=/', 'b=2']" "$(r 'd["headers"]["set-cookie"]')"
	check "$R: the reply is chunked" chunked "$(r 'd["headers"]["transfer-encoding"][0]')"
	check "$R: the first chunk arrived alone" "chunk-1" "$(r 'd["first"].strip()')"
	check "$R: ... while the invocation was still in flight" 1 "$(r 'd["metrics"]')"
	check "$R: the function was released only then" True "$(r 'd["released"] >= 1')"
	check "$R: the rest followed, the reply ended" "chunk-1|chunk-2| True" "$(r '"|".join(d["body"].split("\n")) + " " + str(d["complete"])')"
	check_contains "$R: x-amzn-RequestId" "-" "$(r 'd["headers"]["x-amzn-requestid"][0]')"
	check "$R: the URL's CORS headers come along" "*" "$(r 'd["headers"]["access-control-allow-origin"][0]')"

	client "$F" big whole
	check "$R: a 1.5 MiB streamed body arrives intact" True \
		"$(r 'd["body"] == "".join(chr(97 + i % 26) * 65536 for i in range(24)) and d["complete"]')"

	client "$F" raw whole
	want=$([ $R = node ] && echo application/octet-stream || echo text/plain)
	check "$R: a stream without a prelude passes through" "200 $want raw bytes" \
		"$(r 'str(d["status"]) + " " + d["headers"]["content-type"][0] + " " + d["body"]')"

	client "$F" fail whole
	check "$R: an error mid-stream: the client keeps what was sent, the reply ends" "201 partial" \
		"$(r 'str(d["status"]) + " " + d["body"]')"
	client "$F" raw whole
	check "$R: the environment answers after a mid-stream error" "raw bytes" "$(r 'd["body"]')"

	client "$F" disconnect disconnect
	check "$R: disconnect: the first chunk arrived" "first 1" "$(r 'd["first"].strip() + " " + str(d["metrics"])')"
	settle "$F"; check "$R: the invocation ends on its own after the client left" 0 "$(concurrent "$F")"
	kill -0 "$SERVER_PID" 2>/dev/null && pass "$R: the server survives a client leaving mid-stream" || fail "$R: server died"
	n_before=$(count_descendants 'runtime\.mjs|(^|/)bootstrap( |$)')
	client "$F" raw whole
	check "$R: the environment is reused after the client left" "raw bytes $n_before" \
		"$(r 'd["body"]') $(count_descendants 'runtime\.mjs|(^|/)bootstrap( |$)')"

	# An ordinary Invoke of a streaming function answers as usual, the stream collected.
	code=$(inv "$F" '{"op":"plain"}')
	check "$R: plain Invoke of a streaming function" "200 {'streamed': True, 'op': 'plain'}" "$code $(jq_ 'd')"
	code=$(inv "$F" '{"op":"fail"}')
	check "$R: plain Invoke of a stream that fails" "200 Unhandled mid-stream failure" \
		"$code $(hdr X-Amz-Function-Error) $(jq_ 'd["errorMessage"]')"
	tail_txt=$(hdr X-Amz-Log-Result | base64 -d)
	check_contains "$R: END and REPORT logged for a streamed invocation" "REPORT RequestId: $(hdr x-amzn-RequestId)" "$tail_txt"
	code=$(inv "$F" '{"op":"big"}')
	check "$R: plain Invoke collects a 1.5 MiB stream" "200 1572864" \
		"$code $(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); print(len(b) - b.index(b"\0"*8) - 8)' "$WORK/b")"
done

# Errors before any byte: 502; a stream cut by the function's timeout ends the reply.
for R in node c; do
	client "s-$R" early whole
	check "$R: an error before any byte is 502" '502 {"message":"Internal Server Error"}' "$(r 'str(d["status"]) + " " + d["body"]')"
done
python3 "$HERE/stream_client.py" "$ENDPOINT" 0 s-node gated gated >"$WORK/r.json" # nobody is released
check "a stream cut by the timeout: the client has the first chunk" "chunk-1 chunk-1" "$(r 'd["first"].strip() + " " + d["body"].strip()')"
code=$(inv s-node '{"op":"plain"}')
check "after a timeout mid-stream a new environment answers" 200 "$code"
wait_for 10 grep -rq "Task timed out after 5.00 seconds" "$DATA/logs" || true # the log is flushed every 250 ms
grep -rq "Task timed out after 5.00 seconds" "$DATA/logs" && pass "the timeout is logged" || fail "the timeout is not logged"
