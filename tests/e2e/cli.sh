#!/usr/bin/env bash
# The lambdad CLI end to end, as a user drives it: deploy (create, update, from a directory
# or a zip), ls (with paging), invoke, logs (and --follow), rm, and its usage errors.
source "$(dirname "$0")/lib.sh"
start_server
export LAMBDAD_ENDPOINT=$ENDPOINT

# cli ARGS...: runs the CLI; stdout to $WORK/out, stderr to $WORK/err, exit status in $RC.
cli() {
	if "$LAMBDAD" "$@" >"$WORK/out" 2>"$WORK/err"; then RC=0; else RC=$?; fi
}
out() { cat "$WORK/out"; }
err() { cat "$WORK/err"; }
b64sha() { openssl dgst -sha256 -binary "$1" | base64 -w0; }
# code_zip NAME: downloads the function's deployment package (GetFunction's Code.Location) to $WORK/NAME.got.zip.
code_zip() {
	local loc
	loc=$(curl -sf "$ENDPOINT/2015-03-31/functions/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Code"]["Location"])')
	curl -sf -o "$WORK/$1.got.zip" "$loc"
}
# zip_listing FILE: "name mode" per entry, sorted.
zip_listing() {
	python3 -c 'import sys,zipfile
for i in sorted(zipfile.ZipFile(sys.argv[1]).infolist(), key=lambda i: i.filename):
    print(i.filename, oct(i.external_attr >> 16))' "$1"
}

# --- Usage: --help on stdout with status 0; bad usage on stderr with status 2.
for verb in deploy invoke logs ls rm; do
	cli "$verb" --help
	check "$verb --help exits 0" 0 "$RC"
	check_contains "$verb --help prints its usage on stdout" "usage: lambdad $verb" "$(out)"
done
cli deploy "$FIXTURES/echo" --name echo --runtime provided.al2023 --handler x --bogus
check "a bad flag exits 2" 2 "$RC"
check_contains "a bad flag names the flag" "bogus" "$(err)"
check_contains "a bad flag prints the usage on stderr" "usage: lambdad deploy" "$(err)"
check "nothing on stdout after a bad flag" "" "$(out)"
cli deploy "$FIXTURES/echo" --name echo --handler x
check "deploy without --runtime exits 2" 2 "$RC"
cli deploy "$FIXTURES/echo" --name echo --runtime provided.al2023 --handler x --memory lots
check "deploy with a non-numeric --memory exits 2" 2 "$RC"
cli deploy "$FIXTURES/echo" --name echo --runtime provided.al2023 --handler x --env NOEQUALS
check "deploy with --env lacking = exits 2" 2 "$RC"
cli invoke
check "invoke without a name exits 2" 2 "$RC"
cli rm a b
check "rm with two names exits 2" 2 "$RC"
cli frobnicate
check "an unknown verb exits 2" 2 "$RC"
cli ls
check "nothing deployed yet: ls exits 0" 0 "$RC"
check "ls of nothing prints only the header" 1 "$(out | wc -l)"

# --- deploy: create from a directory, then the same again takes the update path.
cli deploy "$FIXTURES/echo" --name echo --runtime provided.al2023 --handler x
check "deploy (create) exits 0" 0 "$RC"
check_contains "deploy (create) names the function" "echo" "$(out)"
check_contains "deploy (create) reports the state" "State=Active" "$(out)"
check "deploy (create) prints one line" 1 "$(out | wc -l)"
sha1=$(out | sed -n 's/.*CodeSha256=\([^ ]*\).*/\1/p')
code_zip echo
check "the printed CodeSha256 is the package's" "$(b64sha "$WORK/echo.got.zip")" "$sha1"
check "the zip holds bootstrap alone, executable, at the root" "bootstrap 0o100755" "$(zip_listing "$WORK/echo.got.zip")"
conf=$(curl -s "$ENDPOINT/2015-03-31/functions/echo/configuration")
check "default role on create" "arn:aws:iam::000000000000:role/lambdad" \
	"$(echo "$conf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Role"])')"

cli deploy "$FIXTURES/echo" --name echo --runtime provided.al2023 --handler x --memory 256 --timeout 7 \
	--env GREETING=hello --env OTHER=a=b
check "deploy (update) exits 0" 0 "$RC"
check_contains "deploy (update) says it updated" "updated echo" "$(out)"
check_contains "deploy (update) reports the same code" "CodeSha256=$sha1" "$(out)"
conf=$(curl -s "$ENDPOINT/2015-03-31/functions/echo/configuration")
check "update set MemorySize, Timeout, Environment and kept Role" "256 7 hello a=b arn:aws:iam::000000000000:role/lambdad" \
	"$(echo "$conf" | python3 -c 'import json,sys; d=json.load(sys.stdin); v=d["Environment"]["Variables"]; print(d["MemorySize"], d["Timeout"], v["GREETING"], v["OTHER"], d["Role"])')"

# A richer tree: nested directories, an empty file, a hidden file, an executable helper.
tree="$WORK/tree"
mkdir -p "$tree/lib/deep" "$tree/emptydir"
cp "$FIXTURES/echo/bootstrap" "$tree/bootstrap"
chmod 0755 "$tree/bootstrap"
printf '#!/bin/sh\necho helper\n' >"$tree/lib/helper.sh"
chmod 0755 "$tree/lib/helper.sh"
: >"$tree/lib/deep/empty"
chmod 0644 "$tree/lib/deep/empty"
echo hidden >"$tree/.hidden"
chmod 0600 "$tree/.hidden"
cli deploy "$tree/" --name tree --runtime provided.al2023 --handler x --role arn:aws:iam::000000000000:role/custom
check "deploy of a nested tree exits 0" 0 "$RC"
code_zip tree
check "every file and directory is in the zip, with relative names and its mode" \
	"$(printf '%s\n' '.hidden 0o100600' 'bootstrap 0o100755' 'emptydir/ 0o40755' 'lib/ 0o40755' \
		'lib/deep/ 0o40755' 'lib/deep/empty 0o100644' 'lib/helper.sh 0o100755')" \
	"$(zip_listing "$WORK/tree.got.zip")"
cli invoke tree '{"t":1}'
check "the function deployed from the tree runs" '{"t":1}' "$(out)"

# A .zip is sent as it is.
zip=$(fixture_zip echo)
cli deploy "$zip" --name fromzip --runtime provided.al2023 --handler x
check "deploy of a .zip exits 0" 0 "$RC"
check_contains "a .zip is uploaded byte for byte" "CodeSha256=$(b64sha "$zip")" "$(out)"

# An API error on deploy: the server's type and message, status 1.
cli deploy "$FIXTURES/echo" --name bad --runtime cobol42 --handler x
check "deploy with an unknown runtime exits 1" 1 "$RC"
check_contains "deploy reports the API error type" "lambdad: InvalidParameterValueException: " "$(err)"

# --- ls lists what exists, aligned.
cli ls
check "ls exits 0" 0 "$RC"
check "ls header" "NAME RUNTIME MEMORY TIMEOUT LAST_MODIFIED" "$(out | head -1 | tr -s ' ')"
line=$(out | grep '^echo ' || true)
check_contains "ls lists echo with its runtime, memory and timeout" "echo provided.al2023 256 7 20" "$(echo "$line" | tr -s ' ')"
check_contains "ls lists the tree function" "tree " "$(out)"
check "ls columns line up: LAST_MODIFIED starts at the same column on every line" 1 \
	"$(out | awk '{ print index($0, $5) }' | sort -u | wc -l)"

# --- invoke.
cli invoke echo '{"a":1}'
check "invoke exits 0" 0 "$RC"
check "invoke prints the response and a newline" '{"a":1}' "$(out)"
check "exactly one newline after the response" 8 "$(wc -c <"$WORK/out")"
if printf '{"from":"stdin"}' | "$LAMBDAD" invoke echo - >"$WORK/out" 2>"$WORK/err"; then RC=0; else RC=$?; fi
check "invoke reads the payload from stdin with -" '{"from":"stdin"}' "$(out)"
cli invoke echo
check "invoke without a payload sends {}" '{}' "$(out)"
cli invoke echo '{"tail":true}' --tail
check "invoke --tail exits 0" 0 "$RC"
check "invoke --tail still prints the response" '{"tail":true}' "$(out)"
check_contains "invoke --tail prints the log on stderr" "START RequestId:" "$(err)"
check_contains "invoke --tail prints the function's own output" "echo: invocation" "$(err)"
cli invoke nosuchfunction '{}'
check "invoke of a missing function exits 1" 1 "$RC"
check_contains "invoke of a missing function says so" "lambdad: ResourceNotFoundException: " "$(err)"
check "nothing on stdout when the call failed" "" "$(out)"
create_fn tool tool >/dev/null
cli invoke tool '{"op":"error","message":"boom"}'
check "invoke exits 1 when the function fails" 1 "$RC"
check_contains "the function's error is printed" '"errorType": "MyError"' "$(out | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')"
check_contains "the function's message is printed" "boom" "$(out)"
cli invoke echo '{"a":' --endpoint "http://127.0.0.1:1"
check "an unreachable endpoint exits 1" 1 "$RC"
check_contains "an unreachable endpoint is reported" "lambdad: " "$(err)"
if env -u LAMBDAD_ENDPOINT "$LAMBDAD" invoke echo '[1]' --endpoint "$ENDPOINT/" >"$WORK/out" 2>"$WORK/err"; then RC=0; else RC=$?; fi
check "--endpoint (with a trailing slash) works without LAMBDAD_ENDPOINT" "0 [1]" "$RC $(out)"

# --- logs.
cli logs echo
check "logs exits 0" 0 "$RC"
check_contains "logs has START" "START RequestId: " "$(out)"
check_contains "logs has the function's output" "echo: invocation 1" "$(out)"
check_contains "logs has REPORT" "REPORT RequestId: " "$(out)"
cli logs nosuchfunction
check "logs of a missing function exits 1" 1 "$RC"
check_contains "logs of a missing function says so" "lambdad: ResourceNotFoundException: " "$(err)"

# More than one response's worth (the server sends at most 1 MB per request).
python3 -c 'import json; print(json.dumps({"op":"print","lines":["line-%05d-%s" % (i, "x"*90) for i in range(12000)]}))' >"$WORK/big.json"
if "$LAMBDAD" invoke tool - <"$WORK/big.json" >"$WORK/out" 2>"$WORK/err"; then RC=0; else RC=$?; fi
check "a chatty invocation succeeds" '0 {"printed": 12000}' "$RC $(out)"
cli logs tool
check "logs reads past the server's 1 MB chunks" 12000 "$(grep -c 'line-[0-9]\{5\}-x' "$WORK/out")"
check_contains "logs reaches the very end" "REPORT RequestId: " "$(tail -n 1 "$WORK/out")"

# --follow (with --since, to print the history first: alone it starts at the end, see
# cli_dev.sh) picks up an invocation made after it started, and stops cleanly on a signal.
follow() { # follow SIGNAL: one follower, stopped with SIGNAL
	local sig=$1 fo="$WORK/follow-$1.out" pid id rc
	"$LAMBDAD" logs echo --follow --since 1d >"$fo" 2>"$WORK/follow-$sig.err" &
	pid=$!
	for _ in $(seq 1 100); do grep -q "echo: invocation 1" "$fo" 2>/dev/null && break; sleep 0.05; done
	check_contains "logs --follow ($sig) prints the existing log first" "echo: invocation 1" "$(cat "$fo")"
	"$LAMBDAD" invoke echo "{\"follow\":\"$sig\"}" --tail >/dev/null 2>"$WORK/tail"
	id=$(sed -n 's/.*START RequestId: \([0-9a-f-]*\).*/\1/p' "$WORK/tail")
	for _ in $(seq 1 100); do grep -q "REPORT RequestId: $id" "$fo" 2>/dev/null && break; sleep 0.05; done
	check_contains "logs --follow ($sig) picks up a later invocation" "REPORT RequestId: $id" "$(cat "$fo")"
	kill -s "$sig" "$pid"
	if wait "$pid"; then rc=0; else rc=$?; fi
	check "logs --follow exits 0 on $sig" 0 "$rc"
	check "logs --follow ($sig) printed no error" "" "$(cat "$WORK/follow-$sig.err")"
}
follow TERM
follow INT

# --- ls follows NextMarker past a page of 50.
for i in $(seq -w 1 52); do
	"$LAMBDAD" deploy "$zip" --name "page-$i" --runtime provided.al2023 --handler x >/dev/null
done
cli ls
check "ls exits 0 with more than a page" 0 "$RC"
check "ls lists every function across pages" 56 "$(out | tail -n +2 | wc -l)"
check "ls lists each once" 56 "$(out | tail -n +2 | awk '{print $1}' | sort -u | wc -l)"
check_contains "ls reaches the second page" "page-52 " "$(out)"

# --- rm.
cli rm echo
check "rm exits 0" 0 "$RC"
check "rm is silent" "" "$(out)$(err)"
cli ls
if out | grep -q '^echo '; then fail "ls no longer lists a removed function"; else pass "ls no longer lists a removed function"; fi
cli rm echo
check "rm of a missing function exits 1" 1 "$RC"
check_contains "rm of a missing function says so" "lambdad: ResourceNotFoundException: " "$(err)"
cli invoke echo
check "invoke after rm exits 1" 1 "$RC"
