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
# start_server [extra lambdad serve args...]: starts the server; the first start binds
# port 0 and reads the port the kernel chose from --port-file (no free-port race), and a
# restart asks for that same port again, so $PORT and $ENDPOINT stay valid.
start_server() {
	rm -f "$PORT_FILE"
	# LAMBDAD_WRAP: a command to run the server under (e.g. setpriv to drop root).
	${LAMBDAD_WRAP:-} "$LAMBDAD" serve --listen "127.0.0.1:${PORT:-0}" --port-file "$PORT_FILE" --data "$DATA" "$@" \
		>>"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 400); do
		if [ -s "$PORT_FILE" ]; then
			PORT=$(cat "$PORT_FILE")
			ENDPOINT="http://127.0.0.1:$PORT"
			if curl -s -o /dev/null "$ENDPOINT/2016-08-19/account-settings/"; then return 0; fi
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died at start"; cat "$WORK/server.log"; return 1; }
		sleep 0.05
	done
	echo "server did not start"; return 1
}

# stop_server [signal]: stops it (TERM by default) and waits for it.
stop_server() {
	local sig=${1:-TERM}
	local rc=0
	if [ -n "$SERVER_PID" ]; then
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

awsl() { "$AWS_BIN" --endpoint-url "$ENDPOINT" --region us-east-1 --output json lambda "$@"; }

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
# check DESCRIPTION EXPECTED ACTUAL
check() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected [$2] got [$3]"; fi; }
# check_contains DESCRIPTION NEEDLE HAYSTACK
check_contains() { if [[ "$3" == *"$2"* ]]; then pass "$1"; else fail "$1: [$2] not in [${3:0:600}]"; fi; }


# count_descendants PATTERN: processes of this test's server (children, grandchildren, ...)
# whose command line matches PATTERN (a Python regex). Other tests' servers don't count.
count_descendants() {
	ps -eo pid=,ppid=,args= | python3 -c '
import re, sys
root, pat = int(sys.argv[1]), re.compile(sys.argv[2])
procs = {}
for line in sys.stdin:
    pid, ppid, args = (line.split(None, 2) + [""])[:3]
    procs[int(pid)] = (int(ppid), args.strip())
n = 0
for pid, (ppid, args) in procs.items():
    p, seen = ppid, 0
    while p > 1 and p != root and seen < 64:
        p, seen = procs.get(p, (0, ""))[0], seen + 1
    if p == root and pat.search(args):
        n += 1
print(n)' "${SERVER_PID:-0}" "$1"
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
# hdr NAME: a header of the last inv.
hdr() { grep -i "^$1:" "$WORK/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
# jq_ EXPR: a Python expression on the last body, parsed as d; "missing: ..." if it cannot be.
jq_() {
	python3 -c "
import json, sys
try:
    d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))
except Exception as e:
    print('missing:', repr(e), open(sys.argv[1]).read()[:300])" "$WORK/b" "$1"
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
