#!/usr/bin/env bash
# Sandboxes: what a function can see and do inside its environment, its limits, hostile
# functions, and that nothing of lambdad remains after it stops. Needs root (CI is root)
# or user namespaces.
source "$(dirname "$0")/lib.sh"
if ! unshare --mount --pid --net --ipc --uts --fork true 2>/dev/null && ! unshare --user --map-root-user --mount --pid --net --fork true 2>/dev/null; then
	echo "SKIP: this kernel or user cannot create namespaces"
	exit 77
fi
SBX_UID=993
# Everything this test counts is its own server's: other lambdads on the machine (other
# tests, another build, make run) have sandboxes too, so ctest may run this in parallel.
# fn_procs: the function processes of this server (its descendants that are not lambdad:
# sandbox inits are the server's own forks).
fn_procs() { count_descendants . '^[^ ]*lambdad serve '; }
# netns_alive FILE TICKS: how many network namespaces of FILE (not the host's) a process
# that started before TICKS (clock ticks since boot) still has. The kernel hands a freed
# namespace's inode number to the next namespace made, so a sandbox of another test that
# ctest runs in parallel may carry the same net:[N] later: only older processes count.
netns_alive() {
	cut -d' ' -f3 "$1" | sort -u | grep -v -x -F -e '' -e "$(readlink /proc/self/ns/net)" >"$1.ns" || true
	python3 -c '
import os, sys
ns, before = set(open(sys.argv[1]).read().split()), int(sys.argv[2])
held = set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        n = os.readlink("/proc/%s/ns/net" % pid)
        start = int(open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError):
        continue
    if n in ns and start < before:
        held.add(n)
        print("held by", pid, n, file=sys.stderr)
print(len(held))' "$1.ns" "$2"
}
# ticks_now: clock ticks since boot, the unit of a process's start time in /proc/PID/stat.
ticks_now() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", $1 * hz }' /proc/uptime; }
start_server --isolation strict --keep-alive 30s
grep -q "environments run in namespaces" "$WORK/server.log" && pass "server says it runs namespaces" || fail "isolation line: $(grep 'environments run' "$WORK/server.log")"

create_fn box hostile --timeout 3 --memory-size 128 >/dev/null
create_fn other echo >/dev/null

# --- Identity, namespaces and the root it sees.
check "whoami: 200" 200 "$(inv box '{"op":"whoami"}')"
check "runs as uid 993 (sbx_user1051)" "$SBX_UID 990 []" "$(jq_ 'd["uid"], d["gid"], d["groups"]' | tr -d '(),' )"
check "no effective capabilities" 0000000000000000 "$(jq_ 'd["cap_eff"]')"
check "empty bounding set" 0000000000000000 "$(jq_ 'd["cap_bnd"]')"
check "no_new_privs" 1 "$(jq_ 'd["no_new_privs"]')"
check "seccomp filter mode" 2 "$(jq_ 'd["seccomp"]')"
check "own PID namespace: the runtime is pid 2 (pid 1 is the sandbox's init)" 2 "$(jq_ 'd["pid"]')"
check "own PID namespace: sees only its init and itself" "[1, 2]" "$(jq_ 'd["procs"]')"
check "own network namespace: loopback only" "['lo']" "$(jq_ 'd["ifaces"]')"
check "own UTS namespace" lambdad "$(jq_ 'd["hostname"]')"
check "runtime API inside the box" 127.0.0.1:9001 "$(jq_ 'd["env"]["AWS_LAMBDA_RUNTIME_API"]')"
check "task root" "/var/task /var/task" "$(jq_ 'd["env"]["LAMBDA_TASK_ROOT"]') $(jq_ 'd["cwd"]')"
check "a minimal root" "set()" "$(jq_ 'set(d["root"]) - {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "sbin", "tmp", "usr", "var"}')"
check "the root has what runtimes need" "set()" "$(jq_ '{"dev", "etc", "proc", "tmp", "usr", "var"} - set(d["root"])')"
check "a minimal /dev" "['fd', 'full', 'null', 'random', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']" "$(jq_ 'd["dev"]')"
check "code read-only at /var/task" True "$(jq_ '"ro" in d["mounts"]["/var/task"]["opts"]')"
check "root read-only" True "$(jq_ '"ro" in d["mounts"]["/"]["opts"]')"
check "/usr read-only" True "$(jq_ '"ro" in d["mounts"]["/usr"]["opts"]')"
check "/tmp is a 512 MB tmpfs" "tmpfs True" "$(jq_ 'd["mounts"]["/tmp"]["fs"], "size=524288k" in d["mounts"]["/tmp"]["opts"]' | tr -d "(),'")"

# --- Files of the host and of other functions are out of sight.
other_code=$(ls -d "$DATA"/code/*/ | head -1)
other_code="${other_code%/}/bootstrap"
req=$(printf '{"op":"files","read":["/etc/shadow","%s/lambdad.db","%s","/root/.bashrc","/etc/passwd","/var/task/bootstrap"],"write":["/var/task/x","/etc/x","/tmp/ok","/usr/x"]}' "$DATA" "$other_code")
inv box "$req" >/dev/null
check "/etc/shadow is not there" ENOENT "$(jq_ 'd["/etc/shadow"]')"
check "lambdad's data dir is not there" ENOENT "$(jq_ 'd["'"$DATA"'/lambdad.db"]')"
check "another function's code is not there" ENOENT "$(jq_ 'd["'"$other_code"'"]')"
check "/root is not there" ENOENT "$(jq_ 'd["/root/.bashrc"]')"
check "its own code is readable" ok "$(jq_ 'd["/var/task/bootstrap"]')"
check "its code cannot be written" EROFS "$(jq_ 'd["write /var/task/x"]')"
check "/etc cannot be written" EROFS "$(jq_ 'd["write /etc/x"]')"
check "/usr cannot be written" EROFS "$(jq_ 'd["write /usr/x"]')"
check "/tmp can be written" ok "$(jq_ 'd["write /tmp/ok"]')"

# --- The network: nothing but its own loopback.
inv box "{\"op\":\"connect\",\"addrs\":[\"127.0.0.1:$PORT\",\"127.0.0.1:9001\",\"10.0.0.1:80\",\"1.1.1.1:53\"]}" >/dev/null
check "lambdad's API port is unreachable" ECONNREFUSED "$(jq_ 'd["127.0.0.1:'"$PORT"'"]')"
check "its own Runtime API is reachable" ok "$(jq_ 'd["127.0.0.1:9001"]')"
check "no route out" ENETUNREACH "$(jq_ 'd["1.1.1.1:53"]')"
rtapi_ports=$(ss -ltnH 2>/dev/null | grep -c ':9001 ' || true)
check "no Runtime API socket listens in the host's namespace" 0 "$rtapi_ports"

# --- Syscalls a box may not make.
inv box '{"op":"syscalls"}' >/dev/null
for k in mount umount unshare_ns unshare_user unshare_net setns ptrace chroot sethostname setuid0 reboot; do
	v=$(jq_ "d['$k']")
	if [ "$v" = EPERM ] || [ "$v" = ENOSYS ] || [ "$v" = EINVAL ]; then pass "$k refused ($v)"; else fail "$k: $v"; fi
done

# --- Limits: memory, /tmp, processes, time; the server keeps serving others meanwhile.
code=$(inv box '{"op":"memhog","mb":400}')
check "memory hog: function error" "200 Unhandled" "$code $(hdr X-Amz-Function-Error)"
check "memory hog: Runtime.OutOfMemory" Runtime.OutOfMemory "$(jq_ 'd["errorType"]')"
used=$(hdr X-Amz-Log-Result | base64 -d | grep -o 'Max Memory Used: [0-9]*' | grep -o '[0-9]*$' || echo 0)
if [ "${used:-0}" -ge 100 ] && [ "${used:-0}" -le 140 ]; then pass "memory hog: Max Memory Used $used MB, about the 128 MB limit"; else fail "memory hog: Max Memory Used ${used:-?} MB"; fi
# /tmp is a tmpfs: its pages count in the memory cgroup, so this function has memory for it.
create_fn bigbox hostile --timeout 10 --memory-size 1024 >/dev/null
inv bigbox '{"op":"fill_tmp","mb":600}' >/dev/null
check "filling /tmp past its size: ENOSPC" ENOSPC "$(jq_ 'd["error"]')"
written=$(jq_ 'd["written_mb"]')
if [ "$written" -ge 500 ] && [ "$written" -le 512 ]; then pass "/tmp took $written MB of 512"; else fail "/tmp took $written MB"; fi

sbx_procs() { fn_procs; }
curl -s -o /dev/null -X POST --data '{}' "$ENDPOINT/2015-03-31/functions/other/invocations" # warm: counted in before
# Counted once its runtime waits for the next event again (its curl to /next runs).
wait_for 10 test "$(count_descendants 'curl .*invocation/next')" -ge 1 || true
procs_before=$(sbx_procs)
(inv box '{"op":"forkbomb"}' >"$WORK/bomb.code"; cp "$WORK/b" "$WORK/bomb.json") &
bomb=$!
# Until the bomb is going off (or over already).
for _ in $(seq 1 100); do [ "$(sbx_procs)" -gt $((procs_before + 5)) ] && break; [ -s "$WORK/bomb.json" ] && break; sleep 0.05; done
check "another function answers during a fork bomb" '{"during":"bomb"}' "$(curl -s -X POST --data '{"during":"bomb"}' "$ENDPOINT/2015-03-31/functions/other/invocations")"
wait $bomb
bomb_result=$(cat "$WORK/bomb.json")
# Stopped by pids.max, by the memory limit (with the CPU not withheld, 128 MB of forks
# fill it first) or by the timeout.
if [[ "$bomb_result" == *EAGAIN* ]] || [[ "$bomb_result" == *Sandbox.Timedout* ]] || [[ "$bomb_result" == *Runtime.OutOfMemory* ]]; then pass "fork bomb stopped (${bomb_result:0:80})"; else fail "fork bomb: $bomb_result"; fi
for _ in $(seq 1 100); do [ "$(sbx_procs)" -le "$procs_before" ] && break; sleep 0.1; done
if [ "$(sbx_procs)" -le "$procs_before" ]; then pass "fork bomb's processes all gone after its environment ends"; else fail "fork bomb: $(sbx_procs) sandbox processes, $procs_before before: $(ps -u $SBX_UID -o pid=,ppid=,stat=,args= | head -5 | tr '\n' ';')"; fi

code=$(inv box '{"op":"spin"}')
check "infinite loop times out" Sandbox.Timedout "$(jq_ 'd["errorType"]')"

inv box '{"op":"daemon"}' >/dev/null
check "a daemon started" True "$(jq_ 'd["daemon"] > 1')"
check "the daemon runs" 1 "$(count_descendants '^sleep 1017')"
inv box '{"op":"exit","code":2}' >/dev/null
for _ in $(seq 1 100); do [ "$(count_descendants '^sleep 1017')" = 0 ] && break; sleep 0.05; done
check "the daemon dies with its environment" 0 "$(count_descendants '^sleep 1017')"

code=$(inv box '{"op":"flood","mb":32}')
check "32 MB of output: the invocation completes" "200 32" "$code $(jq_ 'd["flooded_mb"]')"
tail_len=$(hdr X-Amz-Log-Result | base64 -d | wc -c)
if [ "$tail_len" -le 4096 ]; then pass "flood: tail capped ($tail_len bytes)"; else fail "flood: tail $tail_len bytes"; fi

# --- Between invocations an environment is frozen: work left running does not run.
# The idle time is what is measured: 2 s idle, of which the last 1 s is counted (the
# freeze may come a little after the answer).
inv box '{"op":"ticker"}' >/dev/null
sleep 2
inv box '{"op":"ticks","window":1.0}' >/dev/null
ticks=$(jq_ 'd["ticks"]')
if [ "$ticks" -le 10 ]; then pass "idle environment frozen: $ticks ticks of a 10 ms ticker in 1 s"; else fail "idle environment ran: $ticks ticks in 1 s"; fi
# Thawed, the ticker runs again: its count of all ticks grows from one event to the next.
inv box '{"op":"ticks","window":1e9}' >/dev/null
t0=$(jq_ 'd["ticks"]'); t1=$t0
for _ in $(seq 1 100); do
	inv box '{"op":"ticks","window":1e9}' >/dev/null
	t1=$(jq_ 'd["ticks"]')
	[ "$t1" -gt "$t0" ] && break
done
if [ "$t1" -gt "$t0" ]; then pass "and thawed for the next event: the ticker ran on ($t0, then $t1 ticks)"; else fail "the ticker never ran again: $t0 then $t1 ticks"; fi

check "server still answers" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/2016-08-19/account-settings/")"
check "echo still runs in its own sandbox" '{"end":1}' "$(curl -s -X POST --data '{"end":1}' "$ENDPOINT/2015-03-31/functions/other/invocations")"

# --- After lambdad stops, nothing of it remains.
spid=$SERVER_PID
tree_snapshot "$WORK/tree"
n_tree=$(wc -l <"$WORK/tree")
if [ "$n_tree" -ge 2 ]; then pass "the server's sandboxes are found ($n_tree processes)"; else fail "the server's sandboxes: $(cat "$WORK/tree")"; fi
t_stop=$(ticks_now)
stop_server
for _ in $(seq 1 100); do [ "$(snapshot_alive "$WORK/tree")" = 0 ] && break; sleep 0.05; done
check "no process of a function remains" 0 "$(snapshot_alive "$WORK/tree")"
check "no cgroup of the server remains" "" "$(find /sys/fs/cgroup -maxdepth 4 -name "lambdad-$spid*" 2>/dev/null)"
check "no sandbox mount remains" "" "$(grep -l sandbox-root /proc/[0-9]*/mountinfo 2>/dev/null || true)"
check "no network namespace of its sandboxes remains" 0 "$(netns_alive "$WORK/tree" "$t_stop")"

# --- Network namespaces are reused after their environment ends, and carry nothing over.
start_server --isolation strict --sandbox-pool 0
create_fn reuse hostile >/dev/null
inv reuse '{"op":"whoami"}' >/dev/null
ns1=$(jq_ 'd["netns"]')
inv reuse '{"op":"listen","port":8080}' >/dev/null
inv reuse '{"op":"exit","code":0}' >/dev/null
inv reuse '{"op":"whoami"}' >/dev/null
check "the next sandbox reuses the ended one's network namespace" "$ns1" "$(jq_ 'd["netns"]')"
inv reuse '{"op":"connect","addrs":["127.0.0.1:8080"]}' >/dev/null
check "nothing the old function left listens there" ECONNREFUSED "$(jq_ 'd["127.0.0.1:8080"]')"
