#!/usr/bin/env bash
# Crash safety of asynchronous invocation: events are sent in parallel, lambdad is
# killed with SIGKILL while it accepts and delivers them, then restarted. Every event
# that got 202 must be processed at least once, and an event whose success was
# recorded before the kill must not run again.
#
# How processing is observed: the function appends each request id it gets to a file
# and fsyncs it before answering. The file lives outside lambdad, so no buffering of
# lambdad's (its logs are written every ~250 ms and a kill -9 loses the tail) can hide
# or invent an invocation. For the function to reach a host path the server runs with
# --isolation none (no sandbox: the function is a plain child process), which changes
# nothing in the queue under test.
source "$(dirname "$0")/lib.sh"
N=${ASYNC_CRASH_EVENTS:-3000}
CONC=4
SEEN="$WORK/seen.txt"
ACCEPTED="$WORK/accepted.txt"
: >"$SEEN"
: >"$ACCEPTED"
start_server --isolation none --account-concurrency $CONC
create_fn crash async-fn >/dev/null

# Sender: N events from 8 threads; each 202's request id goes to $ACCEPTED at once.
cat >"$WORK/send.py" <<'EOF'
import http.client, json, sys, threading
port, n, seen, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
f = open(out, "a", buffering=1)
nexti = [0]
def worker():
    c = None
    while True:
        with lock:
            i = nexti[0]
            nexti[0] += 1
        if i >= n:
            return
        body = json.dumps({"op": "append", "path": seen, "ms": 5, "i": i})
        try:
            c = c or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/2015-03-31/functions/crash/invocations", body,
                      {"X-Amz-Invocation-Type": "Event"})
            r = c.getresponse()
            r.read()
            if r.status == 202:
                with lock:
                    f.write(r.getheader("x-amzn-RequestId") + "\n")
        except OSError:
            c = None  # the server is gone: this event was not accepted
ts = [threading.Thread(target=worker) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
EOF
python3 "$WORK/send.py" "$PORT" "$N" "$SEEN" "$ACCEPTED" &
SENDER=$!
# Kill while the sender still sends, once some events were accepted and delivered.
for _ in $(seq 1 400); do
	[ "$(wc -l <"$ACCEPTED")" -ge $((N / 6)) ] && [ "$(wc -l <"$SEEN")" -ge 20 ] && break
	sleep 0.05
done
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
wait "$SENDER" || true
sleep 0.5 # functions in flight at the kill finish their append
before_kill=$(sort -u "$SEEN" | wc -l)
echo "--- restart ---" >>"$SEEN"
accepted=$(sort -u "$ACCEPTED" | wc -l)
echo "# $accepted of $N events got 202 before the kill; $before_kill were being or had been processed"
[ "$accepted" -ge $((N / 6)) ] && pass "events were accepted before the kill" || fail "only $accepted accepted"
[ "$accepted" -lt "$N" ] && [ "$before_kill" -lt "$accepted" ] && pass "the kill came in the middle (not all accepted or processed)" \
	|| fail "the kill came too late to prove anything ($accepted accepted, $before_kill processed)"

start_server --isolation none --account-concurrency $CONC
# Wait for every accepted id to show up in the function's file (at most 45 s).
missing=""
for _ in $(seq 1 450); do
	missing=$(comm -23 <(sort -u "$ACCEPTED") <(grep -v restart "$SEEN" | sort -u))
	[ -z "$missing" ] && break
	sleep 0.1
done
check "every event that got 202 was processed at least once" "" "$(echo "$missing" | head -5)"
depth=$("$LAMBDAD" events stats crash --json --endpoint "$ENDPOINT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["QueueDepth"])')
check "the queue drained after the restart" 0 "$depth"

# At least once, no more: an id processed before the kill runs again only if its success
# was not committed yet, i.e. it was in flight at the kill (at most CONC of them, plus
# the ones answered in the same loop pass as the kill: allow 2 x CONC).
dups=$(python3 - "$SEEN" <<'EOF'
import sys
before, after, phase = [], [], 0
for line in open(sys.argv[1]):
    line = line.strip()
    if line == "--- restart ---":
        phase = 1
    elif line:
        (after if phase else before).append(line)
b = set(before)
print(len([x for x in set(after) if x in b]), len(after) - len(set(after)), len(before) - len(b))
EOF
)
read -r again twice_after twice_before <<<"$dups"
echo "# run again after the restart: $again; duplicates within one life: $twice_after after, $twice_before before"
[ "$again" -le $((2 * CONC)) ] && pass "events done before the kill were not invoked again ($again re-run, at most $((2 * CONC)) in flight)" \
	|| fail "$again events processed before the kill ran again (at most $((2 * CONC)) were in flight)"
check "no event ran twice within one server's life" "0 0" "$twice_after $twice_before"
extra=$(comm -13 <(sort -u "$ACCEPTED") <(grep -v restart "$SEEN" | sort -u) | wc -l)
echo "# processed without a 202 seen by the client (accepted as the kill cut the reply): $extra"
[ "$extra" -le 8 ] && pass "events processed without a 202 are only those cut at the kill ($extra)" || fail "$extra events processed without a 202"
