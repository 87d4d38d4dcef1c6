#!/usr/bin/env bash
# The CLI's deploy loop as a developer drives it: deploy on an existing function updates
# its code alone, .lambdadignore and the default exclusions, deploy --watch, upload
# progress, --version, invoke --event and --qualifier, logs --since / -n / --follow from
# the end, events failed --payload, and an unreachable server named as such by every verb.
source "$(dirname "$0")/lib.sh"
start_server
export LAMBDAD_ENDPOINT=$ENDPOINT

cli() { if "$LAMBDAD" "$@" >"$WORK/out" 2>"$WORK/err"; then RC=0; else RC=$?; fi; }
out() { cat "$WORK/out"; }
err() { cat "$WORK/err"; }
conf() { curl -s "$ENDPOINT/2015-03-31/functions/$1/configuration"; }
# field NAME EXPR: a Python expression on NAME's configuration, as d.
field() { conf "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }
code_zip() {
	local loc
	loc=$(curl -sf "$ENDPOINT/2015-03-31/functions/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Code"]["Location"])')
	curl -sf -o "$WORK/$1.got.zip" "$loc"
}
zip_names() { python3 -c 'import sys,zipfile; print(" ".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))' "$1"; }

# --- --version: the project's version, and git's description in a checkout.
cli --version
check "--version exits 0" 0 "$RC"
check_contains "--version names lambdad and a version" "lambdad 0." "$(out)"
cmake_version=$(sed -n 's/^project(lambdad VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
check_contains "--version is the CMake project's version" "lambdad $cmake_version" "$(out)"

# --- deploy on an existing function: its code alone.
app="$WORK/app"
mkdir -p "$app"
cp "$FIXTURES/echo/bootstrap" "$app/bootstrap"
cli deploy "$app" --name app --runtime provided.al2023 --handler x --memory 256 --timeout 9 --env GREETING=hi \
	--role arn:aws:iam::000000000000:role/app
check "deploy (create) exits 0" 0 "$RC"
check_contains "deploy (create) says so" "created app: CodeSha256=" "$(out)"
before=$(field app '(d["Runtime"], d["Handler"], d["MemorySize"], d["Timeout"], d["Environment"]["Variables"], d["Role"])')
sha1=$(field app 'd["CodeSha256"]')
echo "# a comment" >>"$app/bootstrap"
cli deploy "$app" --name app
check "deploy of an existing function without options exits 0" 0 "$RC"
check_contains "... says it updated the code" "updated app: CodeSha256=" "$(out)"
check_contains "... only the code" "(code)" "$(out)"
sha2=$(field app 'd["CodeSha256"]')
if [ "$sha1" != "$sha2" ]; then pass "the new code is deployed"; else fail "the new code is deployed: CodeSha256 unchanged"; fi
check_contains "the printed CodeSha256 is the function's" "CodeSha256=$sha2 " "$(out)"
check "runtime, handler, memory, timeout, environment and role unchanged" "$before" \
	"$(field app '(d["Runtime"], d["Handler"], d["MemorySize"], d["Timeout"], d["Environment"]["Variables"], d["Role"])')"
cli deploy "$app" --name app --timeout 12
check "deploy with one option exits 0" 0 "$RC"
check_contains "... updates code and configuration" "(code and configuration)" "$(out)"
check "... changes that option alone" "12 256 {'GREETING': 'hi'} x" \
	"$(field app '" ".join(map(str, (d["Timeout"], d["MemorySize"], d["Environment"]["Variables"], d["Handler"])))')"
cli invoke app '{"still":"works"}'
check "the updated function runs" '{"still":"works"}' "$(out)"
cli deploy "$app" --name newfn
check "creating without --runtime and --handler exits 2" 2 "$RC"
check_contains "... and says what creating takes" "newfn does not exist: creating it takes --runtime and --handler" "$(err)"

# Against a stand-in whose updates stay InProgress for a few polls, as AWS's do: the
# configuration is sent only once the code update is done, never refused.
python3 "$(dirname "$0")/cli_fake_lambda.py" "$WORK/fake.port" "$WORK/fake.log" &
fake=$!
wait_for 30 test -s "$WORK/fake.port" || true
cli deploy "$app" --name fake --timeout 5 --endpoint "http://127.0.0.1:$(cat "$WORK/fake.port")"
check "deploy against a server that reports InProgress exits 0" 0 "$RC"
check_contains "... and prints the final configuration" "updated fake: CodeSha256=new " "$(out)"
check "PUT configuration came after the code update was Successful, with only --timeout" \
	"PUT /2015-03-31/functions/fake/configuration Successful Timeout" "$(grep '/configuration' "$WORK/fake.log" | grep '^PUT')"
check "no update was refused (409): every PUT found the function Successful" 0 "$(grep '^PUT' "$WORK/fake.log" | grep -c InProgress || true)"
check "the CLI polled through the InProgress answers" 6 "$(grep -c '^GET .*InProgress' "$WORK/fake.log" || true)"
check "and waited for the last update too before printing" "GET /2015-03-31/functions/fake/configuration Successful" "$(tail -n 1 "$WORK/fake.log")"
kill "$fake"
wait "$fake" 2>/dev/null || true

# --- .lambdadignore and the defaults.
tree="$WORK/tree"
mkdir -p "$tree/.git/objects" "$tree/.venv/lib" "$tree/__pycache__" "$tree/pkg/__pycache__" \
	"$tree/node_modules/m" "$tree/logs" "$tree/src/deep" "$tree/vendor/.git"
cp "$FIXTURES/echo/bootstrap" "$tree/bootstrap"
for f in .git/HEAD .git/objects/x .venv/lib/site.py __pycache__/app.cpython-311.pyc \
	pkg/__init__.py pkg/__pycache__/__init__.cpython-311.pyc node_modules/m/index.js logs/a.log \
	src/a.log src/keep.log src/deep/x.tmp src/deep/y.c vendor/.git/config notes.md; do
	echo "$f" >"$tree/$f"
done
cat >"$tree/.lambdadignore" <<'IGN'
# dependencies come from a layer
node_modules/
*.log
!keep.log
/logs/
src/**/*.tmp
*.md
IGN
cli deploy "$tree" --name tree --runtime provided.al2023 --handler x
check "deploy of a tree with a .lambdadignore exits 0" 0 "$RC"
code_zip tree
check "the zip leaves out what .lambdadignore and the defaults exclude" \
	"bootstrap pkg/ pkg/__init__.py pkg/__pycache__/ pkg/__pycache__/__init__.cpython-311.pyc src/ src/deep/ src/deep/y.c src/keep.log vendor/ vendor/.git/ vendor/.git/config" \
	"$(zip_names "$WORK/tree.got.zip")"
echo '!/__pycache__/' >>"$tree/.lambdadignore"
cli deploy "$tree" --name tree
code_zip tree
check_contains "a negation takes back a default" "__pycache__/app.cpython-311.pyc" "$(zip_names "$WORK/tree.got.zip")"

# --- Progress of a large upload: one final line when stderr is not a terminal.
big="$WORK/big"
mkdir -p "$big"
cp "$FIXTURES/echo/bootstrap" "$big/bootstrap"
head -c $((6 << 20)) /dev/urandom >"$big/blob"
cli deploy "$big" --name big --runtime provided.al2023 --handler x
check "deploy of 6 MB exits 0" 0 "$RC"
check_contains "... and prints how much it sent" "lambdad: code upload: sent 8." "$(err)"
check "... in one line without redrawing" 1 "$(grep -c 'code upload' "$WORK/err")"
if grep -q $'\r' "$WORK/err"; then fail "no carriage returns off a terminal"; else pass "no carriage returns off a terminal"; fi
cli deploy "$app" --name app
check "a small deploy prints nothing on stderr" "" "$(err)"
if command -v script >/dev/null; then
	script -qefc "$LAMBDAD deploy $big --name big" /dev/null >"$WORK/tty" 2>&1 || true
	check_contains "on a terminal the progress is redrawn in place" $'\r\033[Klambdad: code upload: sent ' "$(cat "$WORK/tty")"
	check_contains "... and ends with the total" "sent 8." "$(tr '\r' '\n' <"$WORK/tty" | grep ' in ' | tail -1)"
fi

# --- deploy --watch: a change is deployed again, debounced; Ctrl-C ends it.
wd="$WORK/watched"
mkdir -p "$wd/lib" "$wd/.git"
cp "$FIXTURES/echo/bootstrap" "$wd/bootstrap"
echo one >"$wd/lib/data.txt"
"$LAMBDAD" deploy "$wd" --name watched --runtime provided.al2023 --handler x --watch >"$WORK/watch.out" 2>"$WORK/watch.err" &
wpid=$!
sha_of() { field watched 'd["CodeSha256"]' 2>/dev/null; }
created() { grep -q "created watched" "$WORK/watch.out"; }
wait_for 60 created || true
# wwait COND...: runs COND until it succeeds, for 30 s of wall time at most, 1 s once a
# wait failed (so a broken watcher fails in seconds, not minutes).
W=30
wwait() {
	local end=$((SECONDS + W))
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then W=1; return 0; fi
		sleep 0.05
	done
}
check_contains "--watch deploys first" "created watched: CodeSha256=" "$(cat "$WORK/watch.out")"
s0=$(sha_of)
sha_changed() { local s; s=$(sha_of); [ -n "$s" ] && [ "$s" != "$1" ]; }
echo two >"$wd/lib/data.txt"
wwait sha_changed "$s0" || true
s1=$(sha_of)
if [ "$s1" != "$s0" ]; then pass "--watch redeploys a changed file"; else fail "--watch redeploys a changed file"; fi
printed() { grep -q "updated watched: CodeSha256=$1 " "$WORK/watch.out"; }
wwait printed "$s1" || true
check_contains "... and prints the redeploy with its time, CodeSha256 and size" "] updated watched: CodeSha256=$s1 CodeSize=" "$(cat "$WORK/watch.out")"
mkdir -p "$wd/newdir/sub"
echo three >"$wd/newdir/sub/f.txt"
wwait sha_changed "$s1" || true
s2=$(sha_of)
if [ "$s2" != "$s1" ]; then pass "--watch sees a new directory"; else fail "--watch sees a new directory"; fi
code_zip watched
check_contains "... and deploys what is in it" "newdir/sub/f.txt" "$(zip_names "$WORK/watched.got.zip")"
wwait printed "$s2"
touch -d '2001-01-01 00:00:00' "$wd/lib/data.txt"
wwait sha_changed "$s2" || true
s3=$(sha_of)
if [ "$s3" != "$s2" ]; then pass "--watch redeploys a touched file (mtimes are in the zip)"; else fail "--watch redeploys a touched file"; fi
wwait printed "$s3" || true
echo junk >"$wd/.git/index" # excluded: not a change (tests/unit/cli/test_cli_watch.c)
echo four >"$wd/lib/data.txt"
wwait sha_changed "$s3" || true
s4=$(sha_of)
wwait printed "$s4" || true
if [ "$s4" != "$s3" ] && printed "$s4"; then pass "--watch goes on after a change in .git (excluded)"; else fail "--watch goes on after a change in .git (excluded)"; fi
kill -INT "$wpid"
if wait "$wpid"; then rc=0; else rc=$?; fi
check "--watch exits 0 on Ctrl-C (SIGINT)" 0 "$rc"
check_contains "... saying it stopped" "stopped watching" "$(cat "$WORK/watch.out")"
check "... with nothing on stderr" "" "$(cat "$WORK/watch.err")"
cli deploy "$WORK/tree.got.zip" --name tree --watch
check "--watch on a zip file is a usage error" 2 "$RC"

# --- invoke --event and --qualifier.
cli invoke app '{"async":1}' --event
check "invoke --event exits 0" 0 "$RC"
check_contains "invoke --event prints the 202" "202 Accepted RequestId=" "$(out)"
rid=$(out | sed -n 's/.*RequestId=\([0-9a-f-]*\).*/\1/p')
delivered() { "$LAMBDAD" logs app | grep -q "END RequestId: $rid"; }
wait_for 30 delivered || true
if delivered; then pass "the event was delivered with the printed request id"; else fail "the event was delivered with the printed request id $rid"; fi
cli invoke app '{"q":1}' --qualifier '$LATEST'
check "invoke --qualifier \$LATEST runs it" '0 {"q":1}' "$RC $(out)"
cli invoke app '{"q":1}' --qualifier 7
check "invoke --qualifier of a version that does not exist exits 1" 1 "$RC"
check_contains "... with the server's error" "lambdad: ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:app:7" "$(err)"
cli invoke app --event --tail
check "--event with --tail is a usage error" 2 "$RC"

# --- logs: -n, --since, and --follow from the end.
create_fn lg echo >/dev/null
for i in 1 2 3 4 5; do "$LAMBDAD" invoke lg "{\"i\":$i}" >/dev/null; done
cli logs lg
full=$(out)
check "the log has 5 invocations" 5 "$(grep -c 'END RequestId' <<<"$full")"
cli logs lg -n 4
check "logs -n 4 exits 0" 0 "$RC"
check "logs -n 4 prints the last 4 records" "$(tail -n 4 <<<"$full")" "$(out)"
cli logs lg -n 0
check "logs -n 0 prints nothing" "0 " "$RC $(out)"
cli logs lg --lines 1000
check "logs -n more than there are prints them all" "$full" "$(out)"
t=$(sed -n 7p <<<"$full" | cut -d' ' -f1)
cli logs lg --since "$t"
check "logs --since an ISO time prints the records from then on" "$(awk -v t="$t" '$1 >= t' <<<"$full")" "$(out)"
cli logs lg --since "${t%.*}+00:00"
check "logs --since a time with an offset" "$(awk -v t="${t%.*}" '$1 >= t' <<<"$full")" "$(out)"
cli logs lg --since 1h
check "logs --since 1h prints it all" "$full" "$(out)"
cli logs lg --since 2099-01-01
check "logs --since a future date prints nothing" "0 " "$RC $(out)"
cli logs lg --since "$t" -n 2
check "--since with -n: the last 2 of those" "$(tail -n 2 <<<"$full")" "$(out)"
cli logs lg --since yesterday
check "a bad --since exits 2" 2 "$RC"
check_contains "... naming the option" "--since takes a duration" "$(err)"
cli logs lg -n -3
check "a bad -n exits 2" 2 "$RC"

old_ids=$(sed -n 's/.*END RequestId: \([0-9a-f-]*\).*/\1/p' <<<"$full")
"$LAMBDAD" logs lg --follow >"$WORK/follow.out" 2>"$WORK/follow.err" &
fpid=$!
# The follower starts at the end: invoke until one invocation shows up in it.
seen_new() {
	"$LAMBDAD" invoke lg '{"new":1}' >/dev/null
	grep -q "END RequestId" "$WORK/follow.out"
}
wait_for 60 seen_new || true
check_contains "logs --follow prints an invocation made after it started" "END RequestId" "$(cat "$WORK/follow.out")"
replayed=0
for id in $old_ids; do grep -q "$id" "$WORK/follow.out" && replayed=$((replayed + 1)); done
check "logs --follow does not replay the history" 0 "$replayed"
kill -TERM "$fpid"
if wait "$fpid"; then rc=0; else rc=$?; fi
check "logs --follow exits 0 on SIGTERM" "0 " "$rc $(cat "$WORK/follow.err")"
"$LAMBDAD" logs lg --follow --since 1h >"$WORK/follow2.out" 2>&1 &
fpid=$!
first_id=$(head -n 1 <<<"$old_ids")
has_first() { grep -q "END RequestId: $first_id" "$WORK/follow2.out"; }
wait_for 30 has_first || true
check_contains "logs --follow --since replays from then" "END RequestId: $first_id" "$(cat "$WORK/follow2.out")"
kill -INT "$fpid"
if wait "$fpid"; then rc=0; else rc=$?; fi
check "... and exits 0 on SIGINT" 0 "$rc"

# --- events failed --payload.
create_fn failing tool >/dev/null
curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' --data '{"MaximumRetryAttempts":0}' \
	"$ENDPOINT/2019-09-25/functions/failing/event-invoke-config"
payload='{"op":"error","message":"nope","order":{"id":42,"note":"keep me"}}'
cli invoke failing "$payload" --event
frid=$(out | sed -n 's/.*RequestId=\([0-9a-f-]*\).*/\1/p')
kept() { "$LAMBDAD" events failed failing | grep -q "$frid"; }
wait_for 60 kept || true
cli events failed failing
check_contains "events failed lists the kept event" "$frid" "$(out)"
if grep -q 'keep me' "$WORK/out"; then fail "events failed alone does not print payloads"; else pass "events failed alone does not print payloads"; fi
cli events failed failing --payload
check "events failed --payload exits 0" 0 "$RC"
check_contains "events failed --payload prints the payload as it was sent" "payload: $payload" "$(out)"
cli events failed failing --json --payload
check "--json --payload carries it in Payload" "$payload" \
	"$(out | python3 -c 'import json,sys; print(json.load(sys.stdin)["Events"][0]["Payload"])')"
cli events stats failing --payload
check "--payload with stats is a usage error" 2 "$RC"

# --- An unreachable server, for every verb.
dead="http://127.0.0.1:1"
for argv in "deploy $app --name app" "invoke app" "logs app" "ls" "rm app" "warm app" "events failed app"; do
	# shellcheck disable=SC2086
	cli $argv --endpoint "$dead"
	check "$(cut -d' ' -f1 <<<"$argv"): an unreachable server exits 1" 1 "$RC"
	check_contains "$(cut -d' ' -f1 <<<"$argv"): ... says lambdad is not reachable there" \
		"lambdad: cannot reach lambdad at $dead: is \`lambdad serve\` running? (" "$(err)"
done
if env LAMBDAD_ENDPOINT="$dead" "$LAMBDAD" ls >"$WORK/out" 2>"$WORK/err"; then RC=0; else RC=$?; fi
check_contains "\$LAMBDAD_ENDPOINT is the URL named" "cannot reach lambdad at $dead:" "$(err)"
