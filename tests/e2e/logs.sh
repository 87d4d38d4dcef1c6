#!/usr/bin/env bash
# Log lines as AWS writes them: INIT_START opens each cold start, REPORT carries
# "Status: timeout" and "Status: error" with its Error Type, and a record of several lines
# (a Python logging record with its traceback, a console.log of a multi-line string) stays
# one event in the function's log (lambdad logs, the logs endpoint) while plain stdout is
# cut by line; the Invoke tail (boto3's LogResult) carries the record as written.
source "$(dirname "$0")/lib.sh"
start_server
PYV=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NODEV=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo "")

mkdir -p "$WORK/py" "$WORK/nd"
cat >"$WORK/py/app.py" <<'EOF'
import logging, os, time
logger = logging.getLogger()
logger.setLevel(logging.INFO)
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(3)
    print("print one\nprint two")
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed")
    if event.get("raise"):
        raise ValueError("raised\nover two lines")
    return "ok"
EOF
cat >"$WORK/nd/index.mjs" <<'EOF'
export const handler = async () => {
  console.log("console one\nconsole two");
  process.stdout.write("stdout one\nstdout two\n");
  return "ok";
};
EOF
mk() { # mk NAME RUNTIME HANDLER DIR [args]
	local n=$1 r=$2 h=$3 d=$4; shift 4
	awsl create-function --function-name "$n" --runtime "$r" --handler "$h" \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip "$n" "$d")" "$@" >/dev/null
}
# log NAME: the function's log as lambdad logs prints it (the logs endpoint).
log() { "$LAMBDAD" logs "$1" --endpoint "$ENDPOINT"; }
# events NAME: the log's records, one a line, their further lines joined by "|".
events() { log "$1" | awk 'NR > 1 && /^\t/ { printf "|%s", substr($0, 2); next } NR > 1 { print "" } { printf "%s", $0 } END { print "" }'; }

mk py "python$PYV" app.handler "$WORK/py" --timeout 2
check "python: 200" 200 "$(inv py '{}')"
RID=$(hdr x-amzn-RequestId)
ev=$(events py)
check_contains "INIT_START opens the cold start, with the interpreter's version" \
	"INIT_START Runtime Version: python:$PYV." "$(echo "$ev" | grep -m1 -B0 'INIT_START')"
check "INIT_START comes before the first START" "INIT_START START" \
	"$(echo "$ev" | grep -oE 'INIT_START|START RequestId' | head -2 | sed 's/ RequestId//' | tr '\n' ' ' | sed 's/ $//')"
check_contains "INIT_START carries a runtime version ARN" "Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:" "$ev"
check "print of two lines: two events" 2 "$(echo "$ev" | grep -cE ' print (one|two)$')"
check_contains "a logging record with its traceback: one event" \
	"$RID	lookup failed|Traceback (most recent call last):|" "$ev"
check_contains "... the traceback's last line in the same event" "|KeyError: 'missing'" \
	"$(echo "$ev" | grep 'lookup failed')"
check "no traceback line is an event of its own" 0 "$(echo "$ev" | grep -c '^[^ ]* [^ ]* Traceback')"
report=$(echo "$ev" | grep "REPORT RequestId: $RID")
check_contains "a successful REPORT has Init Duration" "Init Duration: " "$report"
if [[ "$report" == *Status:* ]]; then fail "a successful REPORT has no Status: $report"; else pass "a successful REPORT has no Status"; fi
# The tail of the invocation carries the record as it was written, newlines and all.
b3 lambda invoke '{"FunctionName":"py","Payload":"{}","LogType":"Tail"}' >"$WORK/inv.json"
tail_txt=$(jq -r .result.LogResult "$WORK/inv.json" | base64 -d)
check_contains "boto3 LogResult: the record with its traceback, lines as written" \
	"lookup failed
Traceback (most recent call last):" "$tail_txt"
if [[ "$tail_txt" == *INIT_START* ]]; then fail "a warm tail has no INIT_START"; else pass "the tail has no INIT_START"; fi
# An unhandled exception: the runtime's [ERROR] record is one event too; REPORT has no
# Status (the function failed, not the platform), as on AWS.
inv py '{"raise":1}' >/dev/null
RID=$(hdr x-amzn-RequestId)
ev=$(events py)
check_contains "an unhandled exception's [ERROR] record is one event" \
	"[ERROR] ValueError: raised|over two lines|Traceback (most recent call last):" "$ev"
check "a function error's REPORT has no Status" "" \
	"$(echo "$ev" | grep "REPORT RequestId: $RID" | grep -o 'Status: [a-z]*' || true)"

# Timeout and crash: REPORT says so, as AWS's does.
inv py '{"sleep":5}' >/dev/null
RID=$(hdr x-amzn-RequestId)
check "a timeout is Sandbox.Timedout" Sandbox.Timedout "$(jq_ 'd["errorType"]')"
check_contains "a timed-out invocation's REPORT ends with Status: timeout" "Max Memory Used: " \
	"$(log py | grep "REPORT RequestId: $RID")"
check "... exactly" "Status: timeout" "$(log py | grep "REPORT RequestId: $RID" | awk -F'\t' '{print $NF}')"
inv py '{"exit":1}' >/dev/null
RID=$(hdr x-amzn-RequestId)
check "a crash is Runtime.ExitError" Runtime.ExitError "$(jq_ 'd["errorType"]')"
check "a crashed invocation's REPORT has Status: error and its Error Type" \
	"Status: error	Error Type: Runtime.ExitError" \
	"$(log py | grep "REPORT RequestId: $RID" | awk -F'\t' '{print $(NF-1) "\t" $NF}')"
check "each cold start has its INIT_START (2 environments so far)" 2 "$(log py | grep -c 'INIT_START Runtime Version')"

# Node.js: a console.log of two lines is one event; process.stdout.write is cut by line.
if [ -n "$NODEV" ] && [ "$NODEV" -ge 18 ]; then
	mk nd "nodejs$NODEV.x" index.handler "$WORK/nd"
	check "node: 200" 200 "$(inv nd '{}')"
	RID=$(hdr x-amzn-RequestId)
	ev=$(events nd)
	check_contains "node: console.log of two lines is one event" "$RID	INFO	console one|console two" "$ev"
	check "node: stdout written directly is cut by line" 2 "$(echo "$ev" | grep -cE ' stdout (one|two)$')"
	check_contains "node: INIT_START names node's version" "INIT_START Runtime Version: nodejs:$NODEV." "$ev"
fi

# A custom runtime's output stays lines; its INIT_START names provided:al2023.
create_fn echo echo >/dev/null
check "echo: 200" 200 "$(inv echo '{}')"
check_contains "provided.al2023: INIT_START Runtime Version: provided:al2023" \
	"INIT_START Runtime Version: provided:al2023	Runtime Version ARN: " "$(log echo)"
