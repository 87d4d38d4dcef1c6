#!/usr/bin/env bash
# The Extensions API and the Telemetry API with extensions written as AWS's samples are,
# shipped in layers' extensions/ folders: a shell one (curl) that registers for INVOKE
# and SHUTDOWN, logs each INVOKE and prints its count at SHUTDOWN; a Node.js one that
# subscribes to the Telemetry API and prints the platform.report and function events its
# listener receives. Layers and the function go through the AWS CLI, invokes through the
# CLI, boto3 and the JS SDK; the extensions' lines are read from the function's log.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || missing_dep "curl (the shell extension uses it)"
command -v node >/dev/null || missing_dep "node (the telemetry extension is written in Node.js)"
start_server --keep-alive 3s

PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
LOG="$DATA/logs/ext.log"

# --- Layer one: the counting extension, in shell.
L1="$WORK/l1"
mkdir -p "$L1/extensions"
cat >"$L1/extensions/counter" <<'EOF'
#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
H=$(mktemp) B=$(mktemp)
curl -sS -D "$H" -o "$B" -X POST "$API/register" \
	-H "Lambda-Extension-Name: $(basename "$0")" -d '{"events":["INVOKE","SHUTDOWN"]}'
ID=$(grep -i '^lambda-extension-identifier:' "$H" | cut -d' ' -f2 | tr -d '\r')
echo "counter: registered $(cat "$B")"
rm -f "$H" "$B"
# An unknown identifier is refused.
echo "counter: unknown id $(curl -sS -o /dev/null -w '%{http_code}' -H 'Lambda-Extension-Identifier: nope' "$API/event/next")"
n=0
while true; do
	EV=$(curl -sS -H "Lambda-Extension-Identifier: $ID" "$API/event/next")
	case "$EV" in
	*'"eventType":"INVOKE"'*)
		n=$((n + 1))
		rid=$(echo "$EV" | sed 's/.*"requestId":"\([^"]*\)".*/\1/')
		echo "counter: invoke $rid"
		;;
	*'"eventType":"SHUTDOWN"'*)
		echo "counter: SHUTDOWN after $n INVOKE events: $EV" >&2
		exit 0
		;;
	*) echo "counter: unexpected event $EV" >&2 ;;
	esac
done
EOF
chmod 755 "$L1/extensions/counter"

# --- Layer two: the Telemetry API subscriber, in Node.js.
L2="$WORK/l2"
mkdir -p "$L2/extensions" "$L2/telemetry-sub"
cat >"$L2/telemetry-sub/index.js" <<'EOF'
const http = require('http');
const base = `http://${process.env.AWS_LAMBDA_RUNTIME_API}`;
const PORT = 4243;
function call(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method, headers }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}
async function main() {
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      for (const ev of JSON.parse(data)) {
        if (ev.type === 'platform.report')
          console.log(`telemetry: platform.report ${ev.record.requestId} ${ev.record.status} ${ev.record.metrics.memorySizeMB}`);
        else if (ev.type === 'platform.start')
          console.log(`telemetry: platform.start ${ev.record.requestId}`);
        else if (ev.type === 'platform.initStart')
          console.log(`telemetry: platform.initStart ${ev.record.functionName}`);
        else if (ev.type === 'function')
          console.log(`telemetry: function ${JSON.stringify(ev.record)}`);
      }
      res.writeHead(200);
      res.end('OK');
    });
  });
  await new Promise((r) => server.listen(PORT, 'sandbox.localdomain', r));
  const reg = await call('POST', '/2020-01-01/extension/register',
    { 'Lambda-Extension-Name': 'telemetry-sub', 'Content-Type': 'application/json' },
    JSON.stringify({ events: ['SHUTDOWN'] }));
  const id = reg.headers['lambda-extension-identifier'];
  const bad = await call('PUT', '/2022-07-01/telemetry', { 'Lambda-Extension-Identifier': id },
    JSON.stringify({ schemaVersion: '2022-12-13', types: ['platform'], buffering: { timeoutMs: 5 },
      destination: { protocol: 'HTTP', URI: `http://sandbox.localdomain:${PORT}` } }));
  console.log(`telemetry: bad subscribe ${bad.status} ${bad.body}`);
  const sub = await call('PUT', '/2022-07-01/telemetry', { 'Lambda-Extension-Identifier': id },
    JSON.stringify({ schemaVersion: '2022-12-13', types: ['platform', 'function'],
      buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
      destination: { protocol: 'HTTP', URI: `http://sandbox.localdomain:${PORT}/telemetry` } }));
  console.log(`telemetry: subscribe ${sub.status} ${sub.body}`);
  for (;;) {
    const ev = JSON.parse((await call('GET', '/2020-01-01/extension/event/next',
      { 'Lambda-Extension-Identifier': id })).body);
    if (ev.eventType === 'SHUTDOWN') {
      console.log(`telemetry: SHUTDOWN ${ev.shutdownReason}`);
      process.exit(0);
    }
  }
}
main().catch((e) => { console.error('telemetry: failed', e); process.exit(1); });
EOF
printf '#!/bin/sh\nexec node /opt/telemetry-sub/index.js\n' >"$L2/extensions/telemetry-sub"
chmod 755 "$L2/extensions/telemetry-sub"

# --- The function: Python, printing a line per invocation.
F="$WORK/fn"
mkdir -p "$F"
cat >"$F/app.py" <<'EOF'
import time


def handler(event, context):
    print("hello from the function", event["n"])
    time.sleep(event.get("sleep", 0))
    return {"n": event["n"], "rid": context.aws_request_id}
EOF

LA1=$(awsl publish-layer-version --layer-name counter --zip-file "fileb://$(make_zip l1 "$L1")" | pyx 'd["LayerVersionArn"]')
LA2=$(awsl publish-layer-version --layer-name telemetry --zip-file "fileb://$(make_zip l2 "$L2")" | pyx 'd["LayerVersionArn"]')
awsl create-function --function-name ext --runtime "python$PYV" --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip fn "$F")" \
	--layers "$LA1" "$LA2" >/dev/null
pass "a function with two extension layers is created"

# --- Three invocations: the CLI twice, boto3 once.
RIDS=()
for n in 1 2; do
	awsl invoke --function-name ext --cli-binary-format raw-in-base64-out --payload "{\"n\":$n}" "$WORK/out$n.json" >/dev/null
	RIDS+=("$(pyx 'd["rid"]' <"$WORK/out$n.json")")
	check "invocation $n answers" "$n" "$(pyx 'd["n"]' <"$WORK/out$n.json")"
done
b3 lambda invoke '{"FunctionName":"ext","Payload":"{\"n\":3}"}' >/dev/null
RIDS+=("$(pyx 'json.loads(d["result"]["Payload"])["rid"]' <<<"$DRV_ANSWER")")
check "boto3's invocation answers with its request id" 36 "${#RIDS[2]}"
js_start
printf '{"n":4}' >"$WORK/p4.json"
RIDS+=("$(jsv lambda Invoke "{\"FunctionName\":\"ext\",\"Payload\":\"fileb://$WORK/p4.json\"}" 'json.loads(d["result"]["Payload"])["rid"]')")
check "the JS SDK's invocation answers with its request id" 36 "${#RIDS[3]}"

has_line() { grep -qF -- "$1" "$LOG" 2>/dev/null; }
for rid in "${RIDS[@]}"; do
	wait_for 20 has_line "counter: invoke $rid" || true
	wait_for 20 has_line "REPORT RequestId: $rid" || true
	check_contains "the counter extension got INVOKE $rid" "counter: invoke $rid" "$(cat "$LOG")"
	# The invocation ended (REPORT) only after the extension asked for its next event.
	order=$(awk -v a="counter: invoke $rid" -v b="REPORT RequestId: $rid" \
		'index($0, a) && !x { x = NR } index($0, b) && !y { y = NR } END { print (x && y && x < y) ? "after" : "before" }' "$LOG")
	check "REPORT of $rid comes after its extension was done" after "$order"
done
check_contains "register answers the function's name, version, handler and account" \
	'counter: registered {"functionName":"ext","functionVersion":"$LATEST","handler":"app.handler","accountId":"000000000000"}' \
	"$(cat "$LOG")"
check_contains "an unknown extension identifier is refused" "counter: unknown id 403" "$(cat "$LOG")"

# --- Telemetry: what the subscriber's listener received.
check_contains "a subscription with a bad buffering is refused naming the field" \
	'telemetry: bad subscribe 400 {"errorMessage":"buffering.timeoutMs must be an integer from 25 to 30000","errorType":"ValidationError"}' \
	"$(cat "$LOG")"
check_contains "the subscription is accepted" "telemetry: subscribe 200 OK" "$(cat "$LOG")"
for i in 0 1 2 3; do
	rid=${RIDS[$i]}
	wait_for 20 has_line "telemetry: platform.report $rid success 128" || true
	check_contains "the listener got platform.report of $rid" "telemetry: platform.report $rid success 128" "$(cat "$LOG")"
	check_contains "... and platform.start" "telemetry: platform.start $rid" "$(cat "$LOG")"
	check_contains "... and the function's line as a function event" \
		"telemetry: function \"hello from the function $((i + 1))" "$(cat "$LOG")"
done
check_contains "init's platform.initStart reached the subscriber of init" "telemetry: platform.initStart ext" "$(cat "$LOG")"
check "its own lines are extension events, never sent back to it as function events" 0 \
	"$(grep -c 'telemetry: function "telemetry:' "$LOG" || true)"

# --- SHUTDOWN when the environment is reaped (keep-alive 3s).
# (An invocation that comes while the last one's extensions still work on it gets an
# environment of its own, as on Lambda: the counts of all of them add up.)
shut_total() { awk '/counter: SHUTDOWN after/ { for (i = 1; i <= NF; i++) if ($i == "after") n += $(i + 1) } END { print n + 0 }' "$LOG"; }
shut_is() { [ "$(shut_total)" = "$1" ]; }
wait_for 30 no_envs ext || true
wait_for 20 shut_is 4 || true
check "the counter extensions printed their counts at SHUTDOWN: 4 in all" 4 "$(shut_total)"
check_contains "... a spindown with its deadline" '"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":' "$(cat "$LOG")"
check_contains "the telemetry extension got SHUTDOWN too" "telemetry: SHUTDOWN spindown" "$(cat "$LOG")"

# --- An extension that crashes at its first INVOKE: the invocation still ends (no wait
# for it until the timeout), the log says so, and the environment is not reused.
L3="$WORK/l3"
mkdir -p "$L3/extensions"
cat >"$L3/extensions/crasher" <<'EOF'
#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
H=$(mktemp)
curl -sS -D "$H" -o /dev/null -X POST "$API/register" -H "Lambda-Extension-Name: crasher" -d '{"events":["INVOKE"]}'
ID=$(grep -i '^lambda-extension-identifier:' "$H" | cut -d' ' -f2 | tr -d '\r')
curl -sS -o /dev/null -H "Lambda-Extension-Identifier: $ID" "$API/event/next"
echo "crasher: exiting at INVOKE"
exit 3
EOF
chmod 755 "$L3/extensions/crasher"
LA3=$(awsl publish-layer-version --layer-name crasher --zip-file "fileb://$(make_zip l3 "$L3")" | pyx 'd["LayerVersionArn"]')
awsl create-function --function-name crashy --runtime "python$PYV" --handler app.handler --timeout 30 \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$WORK/fn.zip" --layers "$LA3" >/dev/null
for n in 1 2; do
	awsl invoke --function-name crashy --cli-binary-format raw-in-base64-out --payload "{\"n\":$n}" "$WORK/crash$n.json" >"$WORK/crash$n.meta"
	check "crashing extension: invocation $n answers, no function error" "$n None" \
		"$(pyx 'd["n"]' <"$WORK/crash$n.json") $(pyx 'd.get("FunctionError")' <"$WORK/crash$n.meta")"
done
CLOG="$DATA/logs/crashy.log"
wait_for 20 grep -q "State: Crashed" "$CLOG" || true
check_contains "the crash is logged" "EXTENSION	Name: crasher	State: Crashed	Error Type: Extension.Crash" "$(cat "$CLOG")"
check "each invocation had an environment of its own" 2 "$(grep -c INIT_START "$CLOG")"

# --- An invocation that runs out of time: SHUTDOWN says "timeout".
awsl create-function --function-name slow --runtime "python$PYV" --handler app.handler --timeout 1 \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$WORK/fn.zip" --layers "$LA1" >/dev/null
awsl invoke --function-name slow --cli-binary-format raw-in-base64-out --payload '{"n":1,"sleep":30}' "$WORK/slow.json" >"$WORK/slow.meta"
check "the slow invocation times out" "Unhandled Sandbox.Timedout" \
	"$(pyx 'd.get("FunctionError")' <"$WORK/slow.meta") $(pyx 'd["errorType"]' <"$WORK/slow.json")"
SLOG="$DATA/logs/slow.log"
wait_for 20 grep -q "counter: SHUTDOWN" "$SLOG" || true
check_contains "its extension heard SHUTDOWN with the reason timeout" \
	'counter: SHUTDOWN after 1 INVOKE events: {"eventType":"SHUTDOWN","shutdownReason":"timeout"' "$(cat "$SLOG")"

# --- SHUTDOWN at server stop: a new environment, then TERM.
awsl invoke --function-name ext --cli-binary-format raw-in-base64-out --payload '{"n":5}' "$WORK/out5.json" >/dev/null
check "a new environment answers" 5 "$(pyx 'd["n"]' <"$WORK/out5.json")"
stop_server TERM
check "the server's stop told the new environment's extension (5 in all now)" 5 "$(shut_total)"

# --- A function without layers is unchanged.
start_server
create_fn plain echo >/dev/null
check "a function without extensions still answers" 200 "$(inv plain '{"x":1}')"

# --- Isolation none: the extension runs on the host, in the runtime's process group.
stop_server TERM
start_server --isolation none
awsl create-function --function-name extnone --runtime "python$PYV" --handler app.handler \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$WORK/fn.zip" --layers "$LA1" >/dev/null
for n in 1 2; do
	awsl invoke --function-name extnone --cli-binary-format raw-in-base64-out --payload "{\"n\":$n}" "$WORK/none$n.json" >/dev/null
	check "isolation none: invocation $n answers" "$n" "$(pyx 'd["n"]' <"$WORK/none$n.json")"
done
stop_server TERM
check_contains "isolation none: the extension counted both at SHUTDOWN" "counter: SHUTDOWN after 2 INVOKE events" \
	"$(cat "$DATA/logs/extnone.log")"
