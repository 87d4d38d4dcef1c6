#!/usr/bin/env bash
# CPU that does not punish small functions (--cpu-limit): in weight mode (the default) a
# 128 MB function's CPU-bound init finishes about as fast as a 1769 MB one's, and its
# cgroup has a weight in proportion to its MemorySize (one vCPU's during init) and no
# quota; in quota mode the init is not throttled either, and the cgroup's quota file
# holds Lambda's quota (MemorySize/1769 of a CPU) once init is over, not before. Ratios
# within one run, never absolute times.
source "$(dirname "$0")/lib.sh"
PYV=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

mkdir -p "$WORK/spin" "$WORK/gate"
# Init is CPU-bound: a loop at import, a few hundred ms of one CPU.
cat >"$WORK/spin/app.py" <<'EOF'
x = 0
for i in range(4_000_000):
    x += i
def handler(event, context):
    return {"x": x}
EOF
# Init waits for SIGUSR1 from the test (at most 8 s, within the init timeout), so that
# the test reads the cgroup while init is under way.
cat >"$WORK/gate/app.py" <<'EOF'
import signal
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
RELEASED = signal.sigtimedwait([signal.SIGUSR1], 8) is not None
def handler(event, context):
    return {"released": RELEASED}
EOF
SPIN_ZIP=$(make_zip spin "$WORK/spin")
GATE_ZIP=$(make_zip gate "$WORK/gate")
mkfn() { # mkfn NAME ZIP MEMORY
	awsl create-function --function-name "$1" --runtime "python$PYV" --handler app.handler --memory-size "$3" \
		--timeout 30 --role arn:aws:iam::000000000000:role/r --zip-file "fileb://$2" >/dev/null
}
# init_ms NAME: invokes NAME (a cold start) and prints the Init Duration of its REPORT line.
init_ms() {
	local code
	code=$(inv "$1" '{}')
	[ "$code" = 200 ] && [ -z "$(hdr X-Amz-Function-Error)" ] || { echo "invoke $1: $code $(cat "$WORK/b")" >&2; echo 0; return; }
	hdr X-Amz-Log-Result | base64 -d | grep -o 'Init Duration: [0-9.]*' | grep -o '[0-9.]*$' || echo 0
}
# runtime_pid NAME: the pid (host's view) of function NAME's runtime process, a
# descendant of the server, or nothing.
runtime_pid() {
	python3 - "$SERVER_PID" "$1" <<'EOF'
import os, sys
root, name = int(sys.argv[1]), ("AWS_LAMBDA_FUNCTION_NAME=" + sys.argv[2]).encode()
parent = {}
for d in os.listdir("/proc"):
    try:
        st = open(f"/proc/{d}/stat").read()
        parent[int(d)] = int(st.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        pass
def under(p):
    for _ in range(64):
        p = parent.get(p, 0)
        if p == root:
            return True
        if p <= 1:
            return False
    return False
for pid in sorted(parent):
    try:
        if under(pid) and name in open(f"/proc/{pid}/environ", "rb").read().split(b"\0") \
                and b"bootstrap" in open(f"/proc/{pid}/cmdline", "rb").read():
            print(pid)
            break
    except OSError:
        pass
EOF
}
# cpu_dir PID: the directory of PID's cgroup that holds the CPU controller's files.
cpu_dir() {
	local line ctl path d
	while IFS= read -r line; do
		ctl=${line#*:}; ctl=${ctl%%:*}; path=${line#*:*:}
		if [ -z "$ctl" ]; then
			d=/sys/fs/cgroup$path
			[ -f "$d/cpu.max" ] && { echo "$d"; return; }
		elif [[ ",$ctl," == *,cpu,* ]]; then
			for d in "/sys/fs/cgroup/$ctl$path" "/sys/fs/cgroup/cpu$path"; do
				[ -f "$d/cpu.cfs_quota_us" ] && { echo "$d"; return; }
			done
		fi
	done <"/proc/$1/cgroup"
}
# quota DIR, weight DIR: the CPU quota ("none" if unlimited) and weight files' values.
quota() {
	if [ -f "$1/cpu.max" ]; then
		read -r q _ <"$1/cpu.max"; [ "$q" = max ] && echo none || echo "$q"
	else
		q=$(cat "$1/cpu.cfs_quota_us"); [ "$q" = -1 ] && echo none || echo "$q"
	fi
}
weight() { if [ -f "$1/cpu.weight" ]; then cat "$1/cpu.weight"; else cat "$1/cpu.shares"; fi; }
# The weight lambdad writes for a MemorySize: v2 cpu.weight, v1 cpu.shares (src/sandbox/cgroup.c).
want_weight() { if [ -f "$2/cpu.weight" ]; then echo $(($1 * 10000 / 10240)); else echo $(($1 * 262144 / 10240)); fi; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
# ratio A B: A/B to two decimals, and whether it is below 3 (generous: a throttled
# 128 MB init takes about 14 times as long).
ratio_ok() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); r = a / b if b > 0 else 99; print('%.2f %s' % (r, 'ok' if 0 < r < 3 else 'too-slow'))" "$1" "$2"; }

# cold_ratio MODE: three cold starts each at 128 and 1769 MB, interleaved; checks the ratio of the medians.
cold_ratio() {
	local mode=$1 i small=() big=()
	for i in 1 2 3; do
		mkfn "spin-$mode-128-$i" "$SPIN_ZIP" 128
		mkfn "spin-$mode-1769-$i" "$SPIN_ZIP" 1769
		small+=("$(init_ms "spin-$mode-128-$i")")
		big+=("$(init_ms "spin-$mode-1769-$i")")
	done
	local s b r
	s=$(median3 "${small[@]}"); b=$(median3 "${big[@]}")
	r=$(ratio_ok "$s" "$b")
	echo "# $mode: Init Duration at 128 MB ${small[*]} ms, at 1769 MB ${big[*]} ms: median ratio ${r% *}"
	check "$mode: a CPU-bound init at 128 MB takes about as long as at 1769 MB (ratio < 3)" ok "${r#* }"
}

# gate_check MODE QUOTA_AFTER: a 128 MB function whose init waits for the test: its
# cgroup's CPU files during init and after it.
gate_check() {
	local mode=$1 after=$2 gate
	mkfn "gate-$mode" "$GATE_ZIP" 128
	(inv "gate-$mode" '{}' >"$WORK/gate.code"; cp "$WORK/b" "$WORK/gate.json") &
	gate=$!
	gate_pid() { pid=$(runtime_pid "gate-$mode"); [ -n "$pid" ]; }
	pid=""
	wait_for 20 gate_pid || true
	check "$mode: the gated function's runtime runs its init" yes "$([ -n "$pid" ] && echo yes || echo no)"
	local dir
	dir=$([ -n "$pid" ] && cpu_dir "$pid")
	if [ -n "$dir" ]; then
		check "$mode: no quota while init runs" none "$(quota "$dir")"
		check "$mode: one vCPU's weight (1769 MB's) while init runs" "$(want_weight 1769 "$dir")" "$(weight "$dir")"
		kill -USR1 "$pid"
	fi
	wait $gate
	check "$mode: the gated init was released by the test" '200 True' "$(cat "$WORK/gate.code") $(pyx 'd["released"]' "$WORK/gate.json")"
	if [ -n "$dir" ]; then
		check "$mode: after init, the quota is $after" "$after" "$(quota "$dir")"
		check "$mode: after init, a weight in proportion to 128 MB" "$(want_weight 128 "$dir")" "$(weight "$dir")"
	fi
}

# --- weight (the default)
start_server
grep -q "environments run in namespaces" "$WORK/server.log" || { echo "SKIP: no namespaces here: $(grep 'environments run' "$WORK/server.log")"; exit 77; }
if grep -q "no cgroups" "$WORK/server.log"; then
	echo "SKIP: cgroups are unavailable: $(grep 'no cgroups' "$WORK/server.log" | head -1)"
	exit 77
fi
check_contains "the default is the weight" "(CPU weight)" "$(grep 'environments run' "$WORK/server.log")"
cold_ratio weight
dir=$(cpu_dir "$(runtime_pid spin-weight-1769-1)")
check "weight: a weight in proportion to 1769 MB, no quota" "$(want_weight 1769 "$dir") none" "$(weight "$dir") $(quota "$dir")"
gate_check weight none
stop_server

# --- quota
rm -rf "$DATA"
start_server --cpu-limit quota
check_contains "the quota mode is said" "(CPU quota after init)" "$(grep 'environments run' "$WORK/server.log" | tail -1)"
cold_ratio quota
# Lambda's quota: 128/1769 of a CPU is 7.2 ms per 100 ms.
gate_check quota 7200
dir=$(cpu_dir "$(runtime_pid spin-quota-1769-1)")
check "quota: 1769 MB gets one full CPU after init" 100000 "$(quota "$dir")"
