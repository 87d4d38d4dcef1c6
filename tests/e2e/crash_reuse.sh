#!/usr/bin/env bash
# A crashed environment is never reused: a Node.js function that throws from a timer
# reports its own error and its runtime exits (129); invoked back to back, the next
# request must get a fresh environment, never the dying one (Runtime.ExitError).
# CRASH_REUSE_MIXED=1 (crash_reuse_mixed.sh): odd requests crash late, even ones must succeed.
source "$(dirname "$0")/lib.sh"
NODEV=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo "")
[ -n "$NODEV" ] && [ "$NODEV" -ge 18 ] || missing_dep "node 18 or later is not installed"
nrt=$([ "$NODEV" -ge 22 ] && echo nodejs22.x || { [ "$NODEV" -ge 20 ] && echo nodejs20.x || echo nodejs18.x; })
MIXED=${CRASH_REUSE_MIXED:-0}
N=${CRASH_REUSE_COUNT:-200}
start_server

mkdir -p "$WORK/fn" "$WORK/r"
if [ "$MIXED" = 1 ]; then
	cat >"$WORK/fn/index.js" <<'EOF'
exports.handler = async (event) => {
	if (!event.crash)
		return "fine";
	setTimeout(() => { throw new Error("late") }, 0);
	await new Promise(r => setTimeout(r, 50));
	return 1;
};
EOF
else
	# The snippet of issue 13, as a user wrote it.
	cat >"$WORK/fn/index.js" <<'EOF'
exports.handler = async () => { setTimeout(() => { throw new Error("late") }, 0); await new Promise(r => setTimeout(r, 50)); return 1; }
EOF
fi
awsl create-function --function-name late --runtime "$nrt" --handler index.handler --memory-size 512 \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(make_zip late "$WORK/fn")" >/dev/null
check "created" Active "$(awsl get-function --function-name late | pyx 'd["Configuration"]["State"]')"

# Back to back: each request starts once the previous one has been answered.
for i in $(seq 1 "$N"); do
	payload='{}'
	if [ "$MIXED" = 1 ]; then
		if [ $((i % 2)) = 1 ]; then payload='{"crash":true}'; else payload='{"crash":false}'; fi
	fi
	code=$(curl -s -o "$WORK/r/$i.json" -D "$WORK/r/$i.h" -w '%{http_code}' -X POST --data-binary "$payload" \
		"$ENDPOINT/2015-03-31/functions/late/invocations")
	echo "$code" >"$WORK/r/$i.code"
done

# One summary of every answer: how many got what, and which requests got the wrong thing.
summary=$(python3 - "$WORK/r" "$N" "$MIXED" <<'EOF'
import json, sys
d, n, mixed = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
kinds, wrong = {"late": 0, "fine": 0, "exit": 0, "other": 0}, []
for i in range(1, n + 1):
    code = open(f"{d}/{i}.code").read().strip()
    h = open(f"{d}/{i}.h").read().lower()
    try:
        body = json.loads(open(f"{d}/{i}.json").read())
    except ValueError:
        body = None
    err = "x-amz-function-error: unhandled" in h
    if code == "200" and err and isinstance(body, dict) and body.get("errorType") == "Error" \
            and body.get("errorMessage") == "late":
        k = "late"
    elif code == "200" and not err and body == "fine":
        k = "fine"
    elif isinstance(body, dict) and body.get("errorType") == "Runtime.ExitError":
        k = "exit"
    else:
        k = "other"
    kinds[k] += 1
    if k != ("fine" if mixed and i % 2 == 0 else "late"):
        wrong.append(f"{i}:{k}")
print(" ".join(f"{k}={v}" for k, v in kinds.items()) + " wrong=" + ",".join(wrong[:20]))
EOF
)
echo "# $summary"
if [ "$MIXED" = 1 ]; then
	check "every crashing request gets its own error, every other one succeeds" \
		"late=$((N / 2 + N % 2)) fine=$((N / 2)) exit=0 other=0 wrong=" "$summary"
else
	check "every request gets the function's own error, never Runtime.ExitError" \
		"late=$N fine=0 exit=0 other=0 wrong=" "$summary"
fi
# Each crash ended its environment: what is left is the last one that succeeded, if any.
left=0
[ "$MIXED" = 1 ] && [ $((N % 2)) = 0 ] && left=1
envs_are() { [ "$(envs late)" = "$1" ]; }
wait_for 30 envs_are "$left" || true
check "no environment of a crashed runtime is left" "$left" "$(envs late)"
check "server alive" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/2016-08-19/account-settings/")"
