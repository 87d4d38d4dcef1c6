#!/usr/bin/env bash
# Deploys off the loop: one server per data directory (a second refuses, naming the
# holder's pid; a kill -9 leaves no stale lock); big CreateFunction/UpdateFunctionCode
# work on the worker pool while other functions keep answering; deploys of one function
# are applied in arrival order (RevisionId against the latest revision, a configuration
# update or a delete made meanwhile respected); shutdown with a deploy on the pool.
source "$(dirname "$0")/lib.sh"

mark_log() { MARK=$(wc -l <"$WORK/server.log"); }
log_since() { tail -n +"$((MARK + 1))" "$WORK/server.log"; }
# wait_log TEXT: true once the server's log since the mark has TEXT (at most 60 s).
wait_log() {
	for _ in $(seq 1 1200); do
		log_since | grep -qF -- "$1" && return 0
		sleep 0.05
	done
	fail "server log never said: $1"
	return 1
}
# wait_exit: waits for the server to end (at most 120 s) and sets EXIT_RC.
wait_exit() {
	for _ in $(seq 1 1200); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		fail "server still running 120 s after the signal"
		kill -KILL "$SERVER_PID"
	fi
	EXIT_RC=0
	wait "$SERVER_PID" 2>/dev/null || EXIT_RC=$?
	SERVER_PID=""
	stop_server # no server left: only the sanitizer check
}
# big_zip NAME MB: the echo bootstrap and MB MiB of random bytes, stored (a zip of that
# size); prints its path.
big_zip() {
	python3 - "$WORK/$1.zip" "$2" "$FIXTURES/echo/bootstrap" <<'EOF'
import os, sys, zipfile
path, mb, boot = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
    i = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 2, 3, 4, 6))
    i.external_attr = 0o100755 << 16
    z.writestr(i, open(boot, "rb").read())
    for k in range(mb):
        z.writestr("blob/%03d.bin" % k, os.urandom(1 << 20))
EOF
	echo "$WORK/$1.zip"
}
# sha_b64 ZIP: CodeSha256 as Lambda gives it (base64 of the SHA-256).
sha_b64() { openssl dgst -sha256 -binary "$1" | base64; }
sha_hex() { sha256sum "$1" | cut -d' ' -f1; }
code_sha() { awsl get-function-configuration --function-name "$1" | pyx 'd["CodeSha256"]'; }
MB=${DEPLOY_TEST_MB:-24}

# --- The data directory's lock.
start_server
FIRST=$SERVER_PID
rc=0
timeout 30 "$LAMBDAD" serve --listen 127.0.0.1:0 --data "$DATA" >"$WORK/second.out" 2>&1 || rc=$?
check "a second server on the same data directory refuses to start (exit 2)" 2 "$rc"
check_contains "and names the process holding it" "in use by another lambdad (pid $FIRST" "$(cat "$WORK/second.out")"
check "the lock file holds the first server's pid" "$FIRST" "$(cat "$DATA/lambdad.lock")"
stop_server KILL
start_server
check "after kill -9 of the holder a new server starts on the same directory" 1 "$(kill -0 "$SERVER_PID" 2>/dev/null && echo 1)"
check "and the lock file holds its pid" "$SERVER_PID" "$(cat "$DATA/lambdad.lock")"

# --- Big deploys while another function answers invokes.
create_fn steady echo >/dev/null
create_fn target echo >/dev/null
ZA=$(big_zip a "$MB")
ZB=$(big_zip b "$MB")
ZS="$WORK/small.zip"
(cd "$FIXTURES/echo" && zip -q -X "$ZS" bootstrap && echo "small" >"$WORK/marker" && cd "$WORK" && zip -q -X "$ZS" marker)

# Invokes of steady, one after another, until $WORK/stop exists: every answer must be
# 200 with the event echoed.
python3 - "$ENDPOINT" "$WORK/stop" "$WORK/invokes.json" <<'EOF' &
import json, os, sys, time, urllib.request
ep, stop, out = sys.argv[1:4]
ok, bad, i = 0, [], 0
while not os.path.exists(stop):
    i += 1
    body = json.dumps({"i": i}).encode()
    try:
        req = urllib.request.Request(ep + "/2015-03-31/functions/steady/invocations", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=120) as r:
            got = r.read()
            if r.status == 200 and json.loads(got) == {"i": i} and not r.headers.get("X-Amz-Function-Error"):
                ok += 1
            else:
                bad.append((i, r.status, got[:200].decode(errors="replace")))
    except Exception as e:
        bad.append((i, repr(e)[:200]))
json.dump({"ok": ok, "bad": bad}, open(out + ".tmp", "w"))
os.rename(out + ".tmp", out)
EOF
INVOKER=$!
steady_up() { [ "$(envs steady)" -ge 1 ]; }
wait_for 60 steady_up || fail "steady never got an environment"

# A CreateFunction of a big package while invokes run.
mark_log
awsl create-function --function-name big --runtime provided.al2023 --handler x \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$ZA" >"$WORK/big.out"
check "a ${MB} MiB CreateFunction succeeds" "$(sha_b64 "$ZA")" "$(pyx 'd["CodeSha256"]' "$WORK/big.out")"
check_contains "its work went to the worker pool" "CreateFunction: " "$(log_since)"
check "the big function answers" 200 "$(inv big '{"big":1}')"
check "with its event" 1 "$(jq_ 'd["big"]')"

# Two UpdateFunctionCode of one function: the second arrives while the first is on the
# pool, waits behind it, and is applied after it (its code wins).
REV0=$(awsl get-function-configuration --function-name target | pyx 'd["RevisionId"]')
mark_log
aws_proc lambda update-function-code --function-name target --zip-file "fileb://$ZA" --revision-id "$REV0" \
	>"$WORK/u1.out" 2>"$WORK/u1.err" &
U1=$!
wait_log "UpdateFunctionCode target: "
rc=0
awsl update-function-code --function-name target --zip-file "fileb://$ZS" --revision-id "$REV0" \
	>/dev/null 2>"$WORK/u2.err" || rc=$?
check "a second update with the revision the first one replaces is refused" 254 "$rc"
check_contains "PreconditionFailedException" "PreconditionFailedException" "$(cat "$WORK/u2.err")"
wait "$U1" || fail "the first update failed: $(cat "$WORK/u1.err")"
check "the first update (RevisionId current when it arrived) succeeded" "$(sha_b64 "$ZA")" "$(pyx 'd["CodeSha256"]' "$WORK/u1.out")"

mark_log
aws_proc lambda update-function-code --function-name target --zip-file "fileb://$ZB" >"$WORK/u3.out" 2>"$WORK/u3.err" &
U3=$!
wait_log "UpdateFunctionCode target: "
awsl update-function-code --function-name target --zip-file "fileb://$ZS" >"$WORK/u4.out"
wait "$U3" || fail "the big update failed: $(cat "$WORK/u3.err")"
check "the big update answered with its code" "$(sha_b64 "$ZB")" "$(pyx 'd["CodeSha256"]' "$WORK/u3.out")"
check "the small one queued behind it answered with its own" "$(sha_b64 "$ZS")" "$(pyx 'd["CodeSha256"]' "$WORK/u4.out")"
check "and was applied last: the function has the small code" "$(sha_b64 "$ZS")" "$(code_sha target)"
check "each got its own revision" 1 "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); print(int(a["RevisionId"] != b["RevisionId"]))' "$WORK/u3.out" "$WORK/u4.out")"
check "the function runs the small code" 200 "$(inv target '{"t":4}')"
check "(its event back)" 4 "$(jq_ 'd["t"]')"
check "the big code no function uses is dropped" 1 "$(wait_for 20 test ! -e "$DATA/code/$(sha_hex "$ZB")" && echo 1)"

# A configuration update made while a code update is on the pool is kept.
mark_log
aws_proc lambda update-function-code --function-name target --zip-file "fileb://$ZA" >"$WORK/u5.out" 2>"$WORK/u5.err" &
U5=$!
wait_log "UpdateFunctionCode target: "
awsl update-function-configuration --function-name target --timeout 7 >/dev/null
wait "$U5" || fail "the update failed: $(cat "$WORK/u5.err")"
awsl get-function-configuration --function-name target >"$WORK/cfg.out"
check "after both: the code update's code" "$(sha_b64 "$ZA")" "$(pyx 'd["CodeSha256"]' "$WORK/cfg.out")"
check "and the configuration update's timeout" 7 "$(pyx 'd["Timeout"]' "$WORK/cfg.out")"

# A function deleted while its code update is on the pool: the update says it is gone,
# and the code it stored does not stay behind.
create_fn doomed echo >/dev/null
mark_log
aws_proc lambda update-function-code --function-name doomed --zip-file "fileb://$ZB" >/dev/null 2>"$WORK/u6.err" &
U6=$!
wait_log "UpdateFunctionCode doomed: "
awsl delete-function --function-name doomed
rc=0
wait "$U6" || rc=$?
check "the update of a function deleted meanwhile fails" 254 "$rc"
check_contains "with ResourceNotFoundException" "ResourceNotFoundException" "$(cat "$WORK/u6.err")"
check "its code is not kept" 1 "$(wait_for 20 test ! -e "$DATA/code/$(sha_hex "$ZB")" && echo 1)"
check "nor its zip" 1 "$(wait_for 20 test ! -e "$DATA/code/$(sha_hex "$ZB").zip" && echo 1)"

# Malformed deploys still answer as before, from the pool's result.
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X PUT --data-binary '{"ZipFile":' \
	"$ENDPOINT/2015-03-31/functions/target/code")
check "a body that is not JSON: 400 InvalidRequestContentException" "400 InvalidRequestContentException" "$code $(hdr X-Amzn-ErrorType)"
code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X PUT --data-binary '{"ZipFile":"bm90IGEgemlw"}' \
	"$ENDPOINT/2015-03-31/functions/target/code")
check "bytes that are not a zip: 400 InvalidParameterValueException" "400 InvalidParameterValueException" "$code $(hdr X-Amzn-ErrorType)"
check_contains "with AWS's message" "Could not unzip uploaded file" "$(cat "$WORK/b")"

touch "$WORK/stop"
wait "$INVOKER"
check "steady answered every invoke during the deploys (none failed)" "[]" "$(pyx 'd["bad"]' "$WORK/invokes.json")"
n=$(pyx 'd["ok"]' "$WORK/invokes.json")
if [ "$n" -gt 0 ]; then pass "steady answered $n invokes during the deploys"; else fail "steady answered no invoke"; fi

# --- Shutdown with a deploy on the pool: SIGTERM lets it finish, answered and
# committed. (Retried with a fresh package if the deploy was done before the signal.)
seen=""
for attempt in 1 2 3; do
	Z=$(big_zip "term$attempt" "$MB")
	mark_log
	aws_proc lambda update-function-code --function-name target --zip-file "fileb://$Z" >"$WORK/t.out" 2>"$WORK/t.err" &
	UT=$!
	wait_log "UpdateFunctionCode target: "
	drv '{"reset":true}'
	kill -TERM "$SERVER_PID"
	rc=0
	wait "$UT" || rc=$?
	check "SIGTERM during a deploy: the deploy is answered" 0 "$rc"
	check "with its code" "$(sha_b64 "$Z")" "$(pyx 'd["CodeSha256"]' "$WORK/t.out")"
	wait_exit
	check "and the server exits 0" 0 "$EXIT_RC"
	start_server
	check "after a restart the function has that code" "$(sha_b64 "$Z")" "$(code_sha target)"
	if log_since | grep -qF "deploys in flight: 1"; then seen=1; break; fi
done
check "the signal came while the deploy was on the pool" 1 "$seen"

# A second signal stops at once: the deploy on the pool is not committed, and what it
# stored does not stay behind once the server is up again.
seen=""
for attempt in 1 2 3; do
	BEFORE=$(code_sha target)
	Z=$(big_zip "kill$attempt" "$MB")
	mark_log
	aws_proc lambda update-function-code --function-name target --zip-file "fileb://$Z" >/dev/null 2>&1 &
	UK=$!
	wait_log "UpdateFunctionCode target: "
	drv '{"reset":true}'
	kill -TERM "$SERVER_PID"
	# The second only once the first was handled (two pending SIGTERMs are one).
	for _ in $(seq 1 400); do log_since | grep -qF "SIGTERM, stopping" && break; sleep 0.05; done
	kill -TERM "$SERVER_PID"
	wait "$UK" || true
	wait_exit
	check "two signals during a deploy: the server exits 0" 0 "$EXIT_RC"
	if log_since | grep -qF "deploys in flight: 1" && log_since | grep -qF "SIGTERM again"; then seen=1; fi
	start_server
	if [ -n "$seen" ]; then
		check "the deploy cut short was not committed" "$BEFORE" "$(code_sha target)"
		check "its code is gone after the restart" 0 "$(ls "$DATA/code" | grep -c "$(sha_hex "$Z")")"
		check "no temporary extraction is left" 0 "$(ls "$DATA/code" | grep -c 'tmp-')"
		break
	fi
done
check "the second signal came while the deploy was on the pool" 1 "$seen"
check "the function still answers" 200 "$(inv target '{"t":9}')"
