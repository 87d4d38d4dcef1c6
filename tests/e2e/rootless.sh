#!/usr/bin/env bash
# lambdad without root: sandboxes in a user namespace (the function still runs as uid 993
# with no capabilities under seccomp), and a clear warning for what needs root (cgroups).
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -eq 0 ]; then
	command -v setpriv >/dev/null || { echo "SKIP: no setpriv to drop root"; exit 77; }
	LAMBDAD_WRAP="setpriv --reuid 65534 --regid 65534 --clear-groups"
	chmod 755 "$WORK"
	mkdir -p "$DATA" "$WORK/run" && chown 65534:65534 "$DATA" "$WORK/run"
	PORT_FILE="$WORK/run/port"
	if ! $LAMBDAD_WRAP test -x "$LAMBDAD"; then echo "SKIP: the binary is not reachable by an unprivileged user"; exit 77; fi
	if ! $LAMBDAD_WRAP unshare --user --map-root-user --mount --pid --net --fork true 2>/dev/null; then
		echo "SKIP: unprivileged user namespaces are disabled on this kernel"
		exit 77
	fi
fi
if [ "$(id -u)" -eq 0 ]; then
	# Without root there are no cgroups here: strict isolation refuses to start.
	if $LAMBDAD_WRAP "$LAMBDAD" serve --listen 127.0.0.1:0 --data "$DATA" --isolation strict >"$WORK/strict.log" 2>&1; then
		fail "--isolation strict started without cgroups"
	else
		check_contains "--isolation strict refuses to start without cgroups" "--isolation strict: cgroups" "$(cat "$WORK/strict.log")"
	fi
fi
start_server
check_contains "user namespace in use" "uts, user)" "$(cat "$WORK/server.log")"
create_fn box hostile >/dev/null
curl -s -o "$WORK/b" -X POST --data '{"op":"whoami"}' "$ENDPOINT/2015-03-31/functions/box/invocations"
check "uid and gid inside" "993 990" "$(jq_ 'd["uid"], d["gid"]' | tr -d '(),')"
check "no capabilities" "0000000000000000 0000000000000000" "$(jq_ 'd["cap_eff"], d["cap_bnd"]' | tr -d "(),'")"
check "seccomp and no_new_privs" "2 1" "$(jq_ 'd["seccomp"], d["no_new_privs"]' | tr -d "(),'")"
check "own PID and network namespaces" "[1, 2] ['lo']" "$(jq_ 'd["procs"], d["ifaces"]' | tr -d "()" | sed "s/], \[/] [/")"
check "code read-only" True "$(jq_ '"ro" in d["mounts"]["/var/task"]["opts"]')"
curl -s -o "$WORK/b" -X POST --data '{"op":"syscalls"}' "$ENDPOINT/2015-03-31/functions/box/invocations"
check "no namespace escapes" "EPERM EPERM EPERM" "$(jq_ 'd["unshare_user"], d["unshare_net"], d["mount"]' | tr -d "(),'")"
if [ "$(id -u)" -eq 0 ]; then
	check_contains "without root, the missing cgroups are announced" "no cgroups" "$(cat "$WORK/server.log")"
fi
# What the server started (its descendants, its cgroups), found again once it is gone.
tree_snapshot "$WORK/tree"
check "the function's process is the server's" 1 "$(count_descendants /var/task/bootstrap)"
stop_server
for _ in $(seq 1 100); do [ "$(snapshot_alive "$WORK/tree")" = 0 ] && break; sleep 0.05; done
check "nothing of the function runs after the server stops" 0 "$(snapshot_alive "$WORK/tree")"
