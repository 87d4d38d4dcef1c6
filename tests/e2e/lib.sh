# Shared harness for end-to-end tests: sourced, not run. Starts a private lambdad on a
# loopback port the kernel picks (port 0) with its own data dir, and keeps the server
# log only on failure.
set -euo pipefail

: "${LAMBDAD:?LAMBDAD must name the lambdad binary}"
: "${FIXTURES:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)}"
TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/lambdad-e2e-$TEST_NAME.XXXXXX")
DATA="$WORK/data"
SERVER_PID=""
SANITIZER_SEEN=""
PORT=""
ENDPOINT=""
# Where the server writes its port (a script whose server cannot write $WORK moves it).
PORT_FILE="$WORK/server.port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
unset AWS_PROFILE AWS_ENDPOINT_URL || true
# Debian's AWS CLI v2; the machine's python3 may shadow it with v1 on PATH.
AWS_BIN=${AWS_BIN:-/usr/bin/aws}
[ -x "$AWS_BIN" ] || AWS_BIN=$(command -v aws)

PASSED=0
FAILED=0
# The driver (tests/clients/driver.py): one long-lived client per script, started by
# start_server, for AWS CLI commands (awsl), SDK calls (b3) and Python checks (jq_, pyx).
DRIVER=$(cd "$(dirname "${BASH_SOURCE[0]}")/../clients" && pwd)/driver.py
DRIVER_PID=""
DRIVER_CLI=""

# start_server [extra lambdad serve args...]: starts the server; the first start binds
# port 0 and reads the port the kernel chose from --port-file (no free-port race), and a
# restart asks for that same port again, so $PORT and $ENDPOINT stay valid.
start_server() {
	rm -f "$PORT_FILE"
	# LAMBDAD_WRAP: a command to run the server under (e.g. setpriv to drop root).
	# (without the driver's pipes: the driver must see its end when the script ends)
	${LAMBDAD_WRAP:-} "$LAMBDAD" serve --listen "127.0.0.1:${PORT:-0}" --port-file "$PORT_FILE" --data "$DATA" "$@" \
		>>"$WORK/server.log" 2>&1 18>&- 19<&- &
	SERVER_PID=$!
	for _ in $(seq 1 400); do
		if [ -s "$PORT_FILE" ]; then
			PORT=$(cat "$PORT_FILE")
			ENDPOINT="http://127.0.0.1:$PORT"
			if curl -s -o /dev/null "$ENDPOINT/2016-08-19/account-settings/"; then driver_start; return 0; fi
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died at start"; cat "$WORK/server.log"; return 1; }
		sleep 0.05
	done
	echo "server did not start"; return 1
}

# --- The driver: one process per script, on fds 18 (requests) and 19 (answers), which
# subshells inherit (a coproc's own fds they do not). Calls are made one at a time.

# driver_start: starts it (once; the server's address does not change on a restart).
driver_start() {
	[ -z "$DRIVER_PID" ] || return 0
	[ "${LAMBDAD_DRIVER:-1}" = 1 ] || return 0
	local py hello
	# The AWS CLI's interpreter (its #! line), so that the driver can run the CLI's code.
	read -r py <"$AWS_BIN" 2>/dev/null || py=""
	py=${py#\#!}; py=${py%% *}
	[[ "$py" == */python3* ]] || py=python3
	coproc DRV { exec "$py" "$DRIVER" "$ENDPOINT" 2>>"$WORK/driver.log"; }
	DRIVER_PID=$DRV_PID
	exec 18>&"${DRV[1]}" 19<&"${DRV[0]}"
	if ! IFS= read -r -t 60 hello <&19; then
		echo "the driver did not start: $(cat "$WORK/driver.log")"; DRIVER_PID=""; return 1
	fi
	[[ "$hello" == *'"cli": true'* ]] && DRIVER_CLI=1
	return 0
}
# --- The JavaScript driver (tests/clients/js/driver.mjs: the AWS SDK for JavaScript v3),
# on fds 20 (requests) and 21 (answers), for scripts that check what the JS SDK sees.
JS_DRIVER_PID=""
# js_start: starts it, or skips the script (77) when the SDK is not installed.
js_start() {
	[ -z "$JS_DRIVER_PID" ] || return 0
	local dir hello
	dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../clients/js" && pwd)
	[ -d "$dir/node_modules/@aws-sdk/client-lambda" ] || missing_dep "run scripts/install-deps (AWS SDK for JavaScript)"
	mkfifo "$WORK/js.in" "$WORK/js.out"
	(cd "$dir" && exec node driver.mjs "$ENDPOINT" <"$WORK/js.in" >"$WORK/js.out" 2>>"$WORK/js.log") &
	JS_DRIVER_PID=$!
	exec 20>"$WORK/js.in" 21<"$WORK/js.out"
	IFS= read -r -t 60 hello <&21 || { echo "the JS driver did not start: $(cat "$WORK/js.log")"; exit 1; }
}
js_stop() {
	[ -n "$JS_DRIVER_PID" ] || return 0
	exec 20>&- 21<&-
	wait "$JS_DRIVER_PID" 2>/dev/null || true
	JS_DRIVER_PID=""
}
# js SERVICE OP PARAMS: the JS driver's answer line for the SDK's OP command; true if it succeeded.
js() {
	local line
	echo "{\"service\":\"$1\",\"op\":\"$2\",\"params\":${3:-{\}}}" >&20
	IFS= read -r -t 120 line <&21 || return 2
	echo "$line"
	[[ "$line" == '{"ok":true'* ]]
}
# jsv SERVICE OP PARAMS EXPR: EXPR (python) on the answer d of that call ("code: message"
# of a failed call when EXPR is -).
jsv() {
	local line
	line=$(js "$1" "$2" "$3") || true
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print("%s: %s" % (d.get("code"), d.get("message")) if sys.argv[2] == "-" else eval(sys.argv[2]))' "$line" "$4"
}
driver_stop() {
	[ -n "$DRIVER_PID" ] || return 0
	exec 18>&- 19<&-
	kill "$DRIVER_PID" 2>/dev/null || true
	wait "$DRIVER_PID" 2>/dev/null || true
	DRIVER_PID=""
}
# drv REQUEST-JSON: one request; the answer line in $DRV_ANSWER (and printed with -p).
drv() {
	local print=""
	[ "$1" = -p ] && { print=1; shift; }
	[ -n "$DRIVER_PID" ] || { echo "drv: the driver is not running" >&2; return 1; }
	printf '%s\n' "$1" >&18
	IFS= read -r DRV_ANSWER <&19 || { echo "drv: the driver died: $(tail -5 "$WORK/driver.log")" >&2; return 1; }
	[ -z "$print" ] || printf '%s\n' "$DRV_ANSWER"
}
# json_str STRING: STRING as a JSON string, in $REPLY.
json_str() {
	local s=$1
	s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
	REPLY="\"$s\""
}
# aws_cli ARGS...: `aws --endpoint-url $ENDPOINT --region us-east-1 --output json ARGS...`,
# run by the CLI's own code inside the driver (the same parsing, output and errors, without
# a process start), or as a process if the driver cannot. Same stdout, stderr and status.
aws_cli() {
	if [ -z "$DRIVER_CLI" ]; then
		"$AWS_BIN" --endpoint-url "$ENDPOINT" --region us-east-1 --output json "$@"
		return
	fi
	local req='{"cli":[' sep="" a
	for a in --endpoint-url "$ENDPOINT" --region us-east-1 --output json "$@"; do
		json_str "$a"; req+="$sep$REPLY"; sep=,
	done
	json_str "$PWD"; req+="],\"cwd\":$REPLY,\"out\":\"$WORK/.cli.out\",\"err\":\"$WORK/.cli.err\"}"
	drv "$req" || return 255
	cat "$WORK/.cli.out"
	cat "$WORK/.cli.err" >&2
	[[ "$DRV_ANSWER" =~ \"rc\":\ (-?[0-9]+) ]] || { echo "aws_cli: $DRV_ANSWER" >&2; return 255; }
	return "${BASH_REMATCH[1]}"
}
# aws_proc ARGS...: the same as a real `aws` process, where the CLI binary itself is tested.
aws_proc() { "$AWS_BIN" --endpoint-url "$ENDPOINT" --region us-east-1 --output json "$@"; }
# b3 SERVICE OPERATION [PARAMS-JSON]: an SDK (boto3/botocore) call in the driver; prints
# its answer, {"ok":true,"result":...} or {"ok":false,"code":...} (tests/clients/driver.py);
# false if it is an error. E.g. b3 lambda get_function '{"FunctionName":"x"}' | jq -r .result.Configuration.State
b3() {
	local p=${3:-'{}'}
	drv -p "{\"service\":\"$1\",\"op\":\"$2\",\"params\":$p}" || return 2
	[[ "$DRV_ANSWER" == '{"ok": true'* ]]
}
# b3r ...: as b3, but prints only the result (or the error as the CLI would, on stderr).
b3r() {
	local rc=0
	b3 "$@" >"$WORK/.b3" || rc=$?
	if [ $rc -eq 0 ]; then jq -c .result "$WORK/.b3"; else jq -r '"An error occurred (\(.code)): \(.message)"' "$WORK/.b3" >&2; fi
	return $rc
}
# pyx EXPR [FILE]: prints the Python expression EXPR with d the JSON of FILE (or stdin;
# None if empty), evaluated in the driver, as `python3 -c 'print(EXPR)'` would.
pyx() {
	local f=${2:-}
	if [ -z "$f" ]; then f="$WORK/.pyx.in"; cat >"$f"; fi
	if [ -z "$DRIVER_PID" ]; then
		python3 -c "import json,sys; t=open(sys.argv[1]).read(); d=json.loads(t) if t.strip() else None; print($1)" "$f"
		return
	fi
	json_str "$1"; local e=$REPLY
	json_str "$f"
	drv "{\"eval\":$e,\"file\":$REPLY,\"out\":\"$WORK/.pyx.out\"}" || return 1
	cat "$WORK/.pyx.out"
	[[ "$DRV_ANSWER" == *'"rc": 0'* ]]
}

# stop_server [signal]: stops it (TERM by default) and waits for it.
stop_server() {
	local sig=${1:-TERM}
	local rc=0
	if [ -n "$SERVER_PID" ]; then
		[ -z "$DRIVER_PID" ] || drv '{"reset":true}' || true # its connections were to this server
		kill -s "$sig" "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || rc=$?
		SERVER_PID=""
		# A graceful stop exits 0; sanitizer reports (leaks at exit, UB) make it fail.
		if [ "$sig" = TERM ]; then
			if [ $rc -eq 0 ]; then pass "server stopped cleanly"; else fail "server exit status $rc on TERM"; fi
		fi
	fi
	if [ -z "$SANITIZER_SEEN" ] && grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$WORK/server.log" 2>/dev/null; then
		SANITIZER_SEEN=1
		fail "sanitizer report in the server log"
	fi
}

finish() {
	local rc=$?
	stop_server TERM
	driver_stop
	js_stop
	if [ $rc -ne 0 ] || [ $FAILED -ne 0 ]; then
		echo "---- server log ($WORK/server.log) ----"
		tail -n 200 "$WORK/server.log" 2>/dev/null || true
		[ $rc -ne 0 ] || rc=1
	else
		rm -rf "$WORK"
	fi
	echo "$PASSED passed, $FAILED failed"
	exit $rc
}
trap finish EXIT

awsl() { aws_cli lambda "$@"; }

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
# check DESCRIPTION EXPECTED ACTUAL
check() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected [$2] got [$3]"; fi; }
# check_contains DESCRIPTION NEEDLE HAYSTACK
check_contains() { if [[ "$3" == *"$2"* ]]; then pass "$1"; else fail "$1: [$2] not in [${3:0:600}]"; fi; }


# count_descendants PATTERN [EXCLUDE]: processes of this test's server (children,
# grandchildren, ...) whose command line matches PATTERN and not EXCLUDE (extended regular
# expressions, as awk's). Other tests' servers don't count.
count_descendants() {
	ps -eo pid=,ppid=,args= | CD_PAT="$1" CD_EXCL="${2:-}" awk -v root="${SERVER_PID:-0}" '
		{ pid = $1; ppid[pid] = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); args[pid] = $0 }
		END {
			pat = ENVIRON["CD_PAT"]; excl = ENVIRON["CD_EXCL"]
			for (p in ppid) {
				q = ppid[p]
				for (i = 0; i < 64 && q > 1 && q != root; i++) q = (q in ppid) ? ppid[q] : 0
				if (q == root && args[p] ~ pat && (excl == "" || args[p] !~ excl)) n++
			}
			print n + 0
		}'
}
# tree_snapshot FILE: "pid starttime netns" of the server's descendants and of every task
# in its cgroups, so what outlives the server can be found once it is gone.
tree_snapshot() {
	{ ps -eo pid=,ppid= ; echo "--"; find /sys/fs/cgroup -path "*/lambdad-$SERVER_PID*" -name cgroup.procs -exec cat {} + 2>/dev/null; } |
		python3 -c '
import os, sys
root = int(sys.argv[1])
tree, cg, part = {}, set(), 0
for line in sys.stdin:
    if line.strip() == "--":
        part = 1
    elif part == 0:
        pid, ppid = map(int, line.split()); tree[pid] = ppid
    elif line.strip():
        cg.add(int(line))
def under(p):
    for _ in range(64):
        p = tree.get(p, 0)
        if p == root: return True
        if p <= 1: return False
    return False
for pid in sorted(cg | {p for p in tree if under(p)}):
    try:
        st = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[19]
        print(pid, st, os.readlink("/proc/%d/ns/net" % pid))
    except OSError:
        pass' "$SERVER_PID" >"$1"
}
# snapshot_alive FILE: how many processes of FILE are still alive (same pid, start time).
snapshot_alive() {
	python3 -c '
import sys
n = 0
for line in open(sys.argv[1]):
    pid, st = line.split()[:2]
    try:
        n += open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[19] == st
    except OSError:
        pass
print(n)' "$1"
}
# wait_for SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds; false if it
# never does within SECONDS (a generous bound: the caller asserts the condition after).
wait_for() {
	local n=$(($1 * 20)); shift
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done
	return 1
}
# envs NAME [STATE]: live environments of function NAME (all, or starting/idle/busy), from /metrics.
envs() {
	curl -s "$ENDPOINT/metrics" | awk -v p="lambdad_environments{function=\"$1\",state=\"${2:-}" \
		'index($0, p) == 1 { n += $NF } END { print n + 0 }'
}
# no_envs NAME: true once function NAME has no environment left (reaped).
no_envs() { [ "$(envs "$1")" = 0 ]; }

# missing_dep REASON: an optional dependency of this test is missing: skip it (77), or
# fail when LAMBDAD_REQUIRE_ALL=1 (CI installs everything, so there it is a defect).
missing_dep() {
	if [ "${LAMBDAD_REQUIRE_ALL:-}" = 1 ]; then echo "FAIL: $* (LAMBDAD_REQUIRE_ALL=1)"; exit 1; fi
	echo "SKIP: $*"; exit 77
}

# inv NAME PAYLOAD [curl args]: Invoke with the log tail; headers to $WORK/h, body to
# $WORK/b; prints the HTTP status.
inv() {
	local name=$1 payload=$2; shift 2
	curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X POST --data-binary "$payload" -H 'X-Amz-Log-Type: Tail' \
		"$@" "$ENDPOINT/2015-03-31/functions/$name/invocations"
}
# raw METHOD PATH [BODY]: a request with curl; body to $WORK/b, headers to $WORK/h;
# prints the HTTP status (for what the clients refuse before sending).
raw() {
	local args=(-s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X "$1")
	[ $# -ge 3 ] && args+=(--data-binary "$3")
	curl "${args[@]}" "$ENDPOINT$2"
}
# aws_err ARGS...: runs awsl expecting a failure; prints "failed=yes|no <stderr>".
aws_err() {
	local rc=0
	awsl "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	echo "failed=$([ $rc -ne 0 ] && echo yes || echo no) $(tr '\n' ' ' <"$WORK/err")"
}
# hdr NAME: a header of the last inv.
hdr() { grep -i "^$1:" "$WORK/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
# jq_ EXPR: a Python expression on the last body, parsed as d; "missing: ..." if it cannot be.
jq_() {
	if [ -z "$DRIVER_PID" ]; then
		python3 -c "
import json, sys
try:
    d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))
except Exception as e:
    print('missing:', repr(e), open(sys.argv[1]).read()[:300])" "$WORK/b" "$1"
		return
	fi
	json_str "$1"
	drv "{\"eval\":$REPLY,\"file\":\"$WORK/b\",\"out\":\"$WORK/.jq_.out\",\"missing\":true}" || return 1
	cat "$WORK/.jq_.out"
}

# make_zip NAME DIR: zips the contents of DIR into $WORK/NAME.zip, keeping modes.
make_zip() { (cd "$2" && zip -q -r -X "$WORK/$1.zip" .); echo "$WORK/$1.zip"; }

# fixture_zip NAME: zips tests/fixtures/NAME (a directory) and prints the path.
fixture_zip() { make_zip "$1" "$FIXTURES/$1"; }

# create_fn NAME FIXTURE [extra create-function args]
create_fn() {
	local name=$1 fx=$2; shift 2
	awsl create-function --function-name "$name" --runtime provided.al2023 --handler x \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip "$fx")" "$@"
}
