#!/usr/bin/env bash
# Graceful shutdown: SIGTERM or SIGINT stops accepting, lets invocations in flight finish
# for up to --shutdown-grace, a second signal stops at once; the server exits 0 and none
# of its environments keeps running.
source "$(dirname "$0")/lib.sh"

# --- A malformed grace is refused before anything starts.
rc=0
"$LAMBDAD" serve --listen 127.0.0.1:1 --data "$WORK/unused" --shutdown-grace soon >"$WORK/opt.out" 2>&1 || rc=$?
check "--shutdown-grace soon is refused (exit 2)" 2 "$rc"
check_contains "and says why" "--shutdown-grace: not a duration" "$(cat "$WORK/opt.out")"

# procs: "pid starttime" of every process under the server (environments and the blank
# sandboxes kept ready), to look for once the server has gone.
procs() {
	ps -eo pid=,ppid= | python3 -c '
import sys
root = int(sys.argv[1])
parent = {}
for line in sys.stdin:
    pid, ppid = map(int, line.split())
    parent[pid] = ppid
for pid in parent:
    p, seen = parent[pid], 0
    while p > 1 and p != root and seen < 64:
        p, seen = parent.get(p, 0), seen + 1
    if p == root:
        try:
            print(pid, open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[19])
        except OSError:
            pass' "$SERVER_PID"
}
# still_running PROCS: how many of those processes still run (zombies waiting for
# init to reap them do not count; a reused pid has another start time).
still_running() {
	python3 -c '
import sys
n = 0
for line in sys.argv[1].splitlines():
    pid, start = line.split()
    try:
        f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if f[19] == start and f[0] != "Z":
        n += 1
print(n)' "$1"
}

# wait_exit: waits for the server to end (killing it after 60 s) and sets EXIT_RC; then
# looks for sanitizer reports in its log.
wait_exit() {
	for _ in $(seq 1 600); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		fail "server still running 60 s after the signal"
		kill -KILL "$SERVER_PID"
	fi
	EXIT_RC=0
	wait "$SERVER_PID" 2>/dev/null || EXIT_RC=$?
	SERVER_PID=""
	stop_server # no server left: only the sanitizer check
}

# mark_log / log_since: the server's log lines since the mark (the log spans restarts).
mark_log() { MARK=$(wc -l <"$WORK/server.log"); }
log_since() { tail -n +"$((MARK + 1))" "$WORK/server.log"; }
# wait_log TEXT: waits (at most 20 s) until the server's log since the mark has TEXT.
wait_log() {
	for _ in $(seq 1 400); do
		log_since | grep -qF -- "$1" && return 0
		sleep 0.05
	done
	fail "server log never said: $1"
}
# wait_fn_log TEXT: waits (at most 20 s) until the function's log has TEXT.
wait_fn_log() {
	for _ in $(seq 1 400); do
		grep -qF -- "$1" "$DATA/logs/tool.log" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "function log never said: $1"
}

# bg_invoke TAG PAYLOAD: Invoke in the background; status to $WORK/TAG.code, curl's exit
# code to $WORK/TAG.rc, headers and body to $WORK/TAG.h and $WORK/TAG.b.
bg_invoke() {
	(
		rc=0
		curl -s --max-time 60 -o "$WORK/$1.b" -D "$WORK/$1.h" -w '%{http_code}' -X POST --data-binary "$2" \
			"$ENDPOINT/2015-03-31/functions/tool/invocations" >"$WORK/$1.code" || rc=$?
		echo $rc >"$WORK/$1.rc"
	) &
	BG=$!
}
# body_field TAG EXPR: a Python expression on the body of TAG, parsed as d.
body_field() {
	python3 -c "
import json, sys
try:
    d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))
except Exception as e:
    print('missing:', repr(e), open(sys.argv[1]).read()[:300])" "$WORK/$1.b" "$2"
}
header_of() { grep -i "^$2:" "$WORK/$1.h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# connect_rc: curl's exit code for a new connection to the API (7: refused).
connect_rc() {
	local rc=0
	curl -s -o /dev/null --max-time 5 "$ENDPOINT/2016-08-19/account-settings/" || rc=$?
	echo $rc
}
port_free() {
	python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("free")
except OSError as e:
    print("busy:", e)' "$PORT"
}

# keepalive_client: opens one connection, makes a request on it, then waits for
# $WORK/go and makes a second request on the same connection (never a new one);
# prints each answer to $WORK/ka.out.
keepalive_client() {
	rm -f "$WORK/go" "$WORK/ka.out"
	python3 -c '
import http.client, json, os, sys, time
port, work = int(sys.argv[1]), sys.argv[2]
out = open(work + "/ka.out", "w", buffering=1)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("GET", "/2016-08-19/account-settings/")
r = c.getresponse(); r.read()
out.write("first %d\n" % r.status)
c.auto_open = 0  # the second request must go on this connection
while not os.path.exists(work + "/go"):
    time.sleep(0.02)
try:
    c.request("GET", "/2016-08-19/account-settings/")
    r = c.getresponse(); body = json.loads(r.read())
    out.write("second %d %s %s %s\n" % (r.status, r.getheader("X-Amzn-ErrorType"), r.getheader("Connection"),
                                        json.dumps(body.get("message"))))
except Exception as e:
    out.write("second failed: %r\n" % e)' "$PORT" "$WORK" &
	KA=$!
	for _ in $(seq 1 200); do grep -q '^first' "$WORK/ka.out" 2>/dev/null && break; sleep 0.05; done
}

# --- (a) SIGTERM with one invocation in flight: it finishes with its real result, new
# connections are refused, a new request on an open connection gets 503, exit 0.
start_server
create_fn tool tool --timeout 30 >/dev/null
check "warm-up invoke" 200 "$(inv tool '{"op":"count"}')"
keepalive_client
check "keep-alive connection open before the signal" "first 200" "$(grep '^first' "$WORK/ka.out")"
bg_invoke a '{"op":"sleep","seconds":2}'
wait_fn_log "tool: sleeping 2 s"
running=$(procs)
if [ -n "$running" ]; then pass "environments run under the server"; else fail "no process under the server"; fi
mark_log
kill -TERM "$SERVER_PID"
wait_log "new connections are refused"
check "a new connection during the drain is refused (curl exit 7)" 7 "$(connect_rc)"
touch "$WORK/go"
wait "$KA" || true
check "a new request on an open connection during the drain: 503 ServiceException, connection closed" \
	'second 503 ServiceException close "lambdad is shutting down"' "$(grep '^second' "$WORK/ka.out")"
wait "$BG" || true
check "the invocation in flight completes: 200" 200 "$(cat "$WORK/a.code")"
check "with its real result" 2 "$(body_field a 'd["slept"]')"
check "and no function error" "" "$(header_of a X-Amz-Function-Error)"
wait_exit
check "SIGTERM: server exits 0 after the drain" 0 "$EXIT_RC"
check_contains "SIGTERM: log says the drain ended" "every invocation in flight has finished" "$(log_since)"
check "SIGTERM: no environment process remains" 0 "$(still_running "$running")"
check "SIGTERM: the port is free" free "$(port_free)"

# --- (b) The grace period runs out: both invocations in flight are cut short with
# lambdad's 500 ServiceException (the service failed, not the function: SDKs retry it),
# long before they would have finished; exit 0.
start_server --shutdown-grace 1s
bg_invoke b '{"op":"sleep","seconds":10}'
B1=$BG
bg_invoke b2 '{"op":"sleep","seconds":10.5}'
B2=$BG
wait_fn_log "tool: sleeping 10 s"
wait_fn_log "tool: sleeping 10.5 s"
running=$(procs)
mark_log
kill -TERM "$SERVER_PID"
wait "$B1" "$B2" || true
for t in b b2; do
	check "grace over: invocation $t is answered" "0 500" "$(cat "$WORK/$t.rc") $(cat "$WORK/$t.code")"
	check "grace over: $t is not a function error" "" "$(header_of $t X-Amz-Function-Error)"
	check "grace over: $t cut short: ServiceException, lambdad is shutting down" \
		"ServiceException lambdad is shutting down; retry" "$(header_of $t X-Amzn-ErrorType) $(body_field $t 'd["message"]')"
done
wait_exit
check "grace over: server exits 0" 0 "$EXIT_RC"
check_contains "grace over: log says invocations were cut short" "grace period over, stopping now; invocations cut short: 2" "$(log_since)"
check "grace over: no environment process remains" 0 "$(still_running "$running")"
check "grace over: the port is free" free "$(port_free)"

# --- --shutdown-grace 0: no drain, the invocation in flight is cut short at once.
start_server --shutdown-grace 0
bg_invoke z '{"op":"sleep","seconds":12}'
wait_fn_log "tool: sleeping 12 s"
running=$(procs)
mark_log
kill -TERM "$SERVER_PID"
wait "$BG" || true
check "grace 0: cut short with ServiceException" "500 ServiceException lambdad is shutting down; retry" \
	"$(cat "$WORK/z.code") $(header_of z X-Amzn-ErrorType) $(body_field z 'd["message"]')"
wait_exit
check "grace 0: server exits 0" 0 "$EXIT_RC"
check_contains "grace 0: log says so" "stopping now (--shutdown-grace 0); invocations cut short: 1" "$(log_since)"
check "grace 0: no environment process remains" 0 "$(still_running "$running")"

# --- (c) SIGINT behaves as SIGTERM.
start_server
bg_invoke c '{"op":"sleep","seconds":2.5}'
wait_fn_log "tool: sleeping 2.5 s"
running=$(procs)
mark_log
kill -INT "$SERVER_PID"
wait_log "SIGINT, stopping: new connections are refused"
check "SIGINT: a new connection during the drain is refused (curl exit 7)" 7 "$(connect_rc)"
wait "$BG" || true
check "SIGINT: the invocation in flight completes: 200" 200 "$(cat "$WORK/c.code")"
check "SIGINT: with its real result" 2.5 "$(body_field c 'd["slept"]')"
wait_exit
check "SIGINT: server exits 0 after the drain" 0 "$EXIT_RC"
check_contains "SIGINT: log says the drain ended" "every invocation in flight has finished" "$(log_since)"
check "SIGINT: no environment process remains" 0 "$(still_running "$running")"
check "SIGINT: the port is free" free "$(port_free)"

# --- (d) A second signal during a long drain stops at once: the invocation is cut short.
start_server
bg_invoke d '{"op":"sleep","seconds":11}'
wait_fn_log "tool: sleeping 11 s"
running=$(procs)
mark_log
kill -TERM "$SERVER_PID"
wait_log "new connections are refused"
kill -TERM "$SERVER_PID"
wait "$BG" || true
check "second signal: the invocation is answered" "0 500" "$(cat "$WORK/d.rc") $(cat "$WORK/d.code")"
check "second signal: cut short with ServiceException" "ServiceException lambdad is shutting down; retry" \
	"$(header_of d X-Amzn-ErrorType) $(body_field d 'd["message"]')"
wait_exit
check "second signal: server exits 0" 0 "$EXIT_RC"
check_contains "second signal: log says so" "SIGTERM again, stopping now; invocations cut short: 1" "$(log_since)"
check "second signal: no environment process remains" 0 "$(still_running "$running")"
check "second signal: the port is free" free "$(port_free)"

# --- (e) Nothing in flight: SIGTERM stops at once (an idle environment does not hold it).
start_server
check "invoke before an idle stop" 200 "$(inv tool '{"op":"count"}')"
running=$(procs)
mark_log
SECONDS=0
kill -TERM "$SERVER_PID"
wait_exit
took=$SECONDS
check "idle: server exits 0" 0 "$EXIT_RC"
check_contains "idle: log says nothing was in flight" "stopping: no invocation in flight" "$(log_since)"
if [ "$took" -lt 10 ]; then pass "idle: did not wait for the 30 s grace"; else fail "idle: took $took s to stop"; fi
check "idle: no environment process remains" 0 "$(still_running "$running")"
check "idle: the port is free" free "$(port_free)"
