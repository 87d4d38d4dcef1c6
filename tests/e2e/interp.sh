#!/usr/bin/env bash
# Interpreters per runtime identifier: --runtime-path ID=PATH and --runtime-paths FILE map
# python3.x and nodejsNN.x to interpreters outside /usr (here pyenv's), shown read-only in
# the sandbox; functions report the interpreter they run on. An identifier older than its
# interpreter is accepted with a warning (server log, lambdad deploy); bad mappings stop
# the server with a message naming them.
source "$(dirname "$0")/lib.sh"

HOSTPY=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "")
[ -n "$HOSTPY" ] || { echo "SKIP: no /usr/bin/python3"; exit 77; }
# Other Pythons of the machine (pyenv's), by runtime identifier, newer than the host's first.
PYENV_DIR=${PYENV_ROOT:-$HOME/.pyenv}/versions
declare -A OTHER=()
for exe in "$PYENV_DIR"/*/bin/python3; do
	[ -x "$exe" ] || continue
	v=$("$exe" -E -S -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
	case "$v" in 3.9 | 3.1[0-3]) ;; *) continue ;; esac
	[ "$v" != "$HOSTPY" ] && [ -z "${OTHER[$v]:-}" ] && OTHER[$v]=$exe
done
NEWER=() OLDER=()
for v in $(printf '%s\n' "${!OTHER[@]}" | sort -t. -k2 -n); do
	if [ "${v#3.}" -gt "${HOSTPY#3.}" ]; then NEWER+=("$v"); else OLDER+=("$v"); fi
done
CANDS=("${NEWER[@]}" "${OLDER[@]}")
[ "${#CANDS[@]}" -gt 0 ] || { echo "SKIP: no second Python interpreter (3.9-3.13) in $PYENV_DIR"; exit 77; }
A=${CANDS[0]}           # mapped with --runtime-path
B=${CANDS[1]:-}         # mapped with --runtime-paths, when there is a third Python
# A node outside /usr: a symlink in a tree of its own (/var/tmp: the sandbox has its own /tmp).
NODEDIR=$(mktemp -d /var/tmp/lambdad-e2e-interp-node.XXXXXX)
chmod 0755 "$NODEDIR" # mktemp's 0700 would keep the functions' user out (lambdad says so at start)
mkdir -p "$NODEDIR/bin"
ln -s "$(command -v node)" "$NODEDIR/bin/node"
NODEV=$(node -p 'process.versions.node.split(".")[0]')
NODERT=nodejs${NODEV}.x
printf '# interpreters of this test\n\n%s\n%s\n' \
	"${B:+python$B=${OTHER[$B]}}" "$NODERT=$NODEDIR/bin/node" >"$WORK/paths"
trap 'rc=$?; rm -rf "$NODEDIR"; set +e; (exit $rc); finish' EXIT

start_server --runtime-path "python$A=${OTHER[$A]}" --runtime-paths "$WORK/paths"
check_contains "the server logs what runs python$A" "python$A runs on Python $A" "$(cat "$WORK/server.log")"

mkdir -p "$WORK/py" "$WORK/nd"
cat >"$WORK/py/app.py" <<'EOF'
import sys
def handler(event, context):
    out = {"exe": sys.executable, "version": sys.version.split()[0]}
    if event.get("sdk"):
        import boto3  # the runtime's SDK, on any mapped interpreter
        names = boto3.client("lambda").list_functions()["Functions"]
        out["functions"] = sorted(f["FunctionName"] for f in names)
    return out
EOF
cat >"$WORK/nd/index.mjs" <<'EOF'
export const handler = async () => ({ argv0: process.argv0, version: process.versions.node });
EOF
mk() { # mk NAME RUNTIME HANDLER DIR
	awsl create-function --function-name "$1" --runtime "$2" --handler "$3" \
		--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip "$1" "$4")" >/dev/null
}
for v in "$A" $B; do
	mk "py${v/./}" "python$v" app.handler "$WORK/py"
	check "python$v: 200" 200 "$(inv "py${v/./}" '{}')"
	check "python$v: runs on the mapped interpreter" "${OTHER[$v]}" "$(jq_ 'd["exe"]')"
	check "python$v: reports its version" "$v" "$(jq_ 'd["version"].rsplit(".", 1)[0]')"
	check "python$v: imports the runtime's boto3 and reaches lambdad" 200 "$(inv "py${v/./}" '{"sdk":1}')"
	check_contains "python$v: boto3 lists the functions" "py${v/./}" "$(jq_ 'd["functions"]')"
	# The function's log file is written after the reply: poll for the line.
	wait_for 10 grep -q "INIT_START Runtime Version: python:$v\." "$DATA/logs/py${v/./}.log" || true
	check_contains "python$v: INIT_START names the interpreter's version" \
		"INIT_START Runtime Version: python:$v." "$(cat "$DATA/logs/py${v/./}.log" 2>/dev/null)"
done
mk nd "$NODERT" index.handler "$WORK/nd"
check "$NODERT: 200" 200 "$(inv nd '{}')"
check "$NODERT: runs on the mapped node" "$NODEDIR/bin/node" "$(jq_ 'd["argv0"]')"

# An identifier older than its interpreter: accepted, with a warning in the server's log
# and in lambdad deploy's output; it runs.
OLDID=python3.$((${HOSTPY#3.} - 1))
if [ "${HOSTPY#3.}" -gt 9 ] && [ "$OLDID" != "python$A" ] && [ "$OLDID" != "python${B:-none}" ]; then
	rc=0
	"$LAMBDAD" deploy "$WORK/py" --name old --runtime "$OLDID" --handler app.handler \
		--endpoint "$ENDPOINT" >"$WORK/deploy.out" 2>"$WORK/deploy.err" || rc=$?
	check "deploy of $OLDID succeeds" 0 "$rc"
	check_contains "lambdad deploy prints the warning" \
		"warning: Runtime $OLDID runs on Python $HOSTPY" "$(cat "$WORK/deploy.err")"
	check_contains "the server logs the warning" "function old: Runtime $OLDID runs on Python $HOSTPY" \
		"$(cat "$WORK/server.log")"
	check "$OLDID on Python $HOSTPY: it runs" 200 "$(inv old '{}')"
	check "$OLDID: on the host's interpreter" /usr/bin/python3 "$(jq_ 'd["exe"]')"
	# The API's answer keeps AWS's shape: the warning is a header, and the body is the
	# FunctionConfiguration as always.
	code=$(curl -s -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data "{\"Runtime\":\"$OLDID\",\"Description\":\"again\"}" \
		"$ENDPOINT/2015-03-31/functions/py${A/./}/configuration")
	check "UpdateFunctionConfiguration to $OLDID: 200" 200 "$code"
	check_contains "its X-Lambdad-Warning names the interpreter" "Runtime $OLDID runs on Python $HOSTPY" "$(hdr X-Lambdad-Warning)"
	check "its body is a FunctionConfiguration" "$OLDID" "$(jq_ 'd["Runtime"]')"
fi
stop_server

# Bad mappings: the server does not start, and says which.
bad() { "$LAMBDAD" serve --listen 127.0.0.1:0 --data "$WORK/bad" "$@" 2>&1 >/dev/null; echo "rc=$?"; }
out=$(bad --runtime-path ruby3.3=/usr/bin/ruby)
check_contains "an unknown identifier is refused" "'ruby3.3' is not a managed runtime identifier" "$out"
check_contains "... with status 2" "rc=2" "$out"
check_contains "a missing interpreter is refused" "/no/such/python3 is not an executable file" \
	"$(bad --runtime-path python3.12=/no/such/python3)"
check_contains "an interpreter that is not one is refused at start" \
	"--runtime-path python3.12=/bin/true: it does not run as a Python interpreter" \
	"$(bad --runtime-path python3.12=/bin/true)"
mkdir -p "$NODEDIR/closed/bin" && chmod 0700 "$NODEDIR/closed" && ln -s "$(command -v node)" "$NODEDIR/closed/bin/node"
check_contains "an interpreter the functions' user cannot reach is refused" "$NODEDIR/closed is closed to the functions' user" \
	"$(bad --runtime-path "$NODERT=$NODEDIR/closed/bin/node")"
check_contains "an interpreter under /tmp (the sandbox's own) is refused" "cannot be shown in the sandbox, which has its own /tmp" \
	"$(bad --runtime-path "python3.12=$WORK/../../usr/bin/python3")"
printf 'python3.12=%s\nnonsense\n' "${OTHER[$A]}" >"$WORK/badpaths"
check_contains "a bad line of --runtime-paths is named" "badpaths:2: --runtime-path 'nonsense'" \
	"$(bad --runtime-paths "$WORK/badpaths")"
