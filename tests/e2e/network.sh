#!/usr/bin/env bash
# --function-network outbound: functions reach the host's network over TCP and UDP
# (slirp4netns), but neither lambdad's API nor anything on the host's loopback.
source "$(dirname "$0")/lib.sh"
if ! unshare --mount --pid --net --ipc --uts --fork true 2>/dev/null && ! unshare --user --map-root-user --mount --pid --net --fork true 2>/dev/null; then
	echo "SKIP: this kernel or user cannot create namespaces"
	exit 77
fi
command -v slirp4netns >/dev/null || missing_dep "slirp4netns missing (scripts/install-deps installs it)"
HOST_IP=$(hostname -I | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -1)
[ -n "$HOST_IP" ] || { echo "SKIP: the host has no non-loopback IPv4 address to reach"; exit 77; }

# A TCP and a UDP echo on the host's address, and a TCP one on its loopback only, each
# on a port it binds itself (0) and reports: "TCP UDP LO" in $WORK/echo.ports.
python3 - "$HOST_IP" "$WORK/echo.ports" >"$WORK/echo.log" 2>&1 <<'PY' &
import os, socket, sys, threading
ip, ports = sys.argv[1], sys.argv[2]
def listener(addr):
    s = socket.socket(); s.bind(addr); s.listen()
    return s
def serve_tcp(s):
    while True:
        c, _ = s.accept(); c.close()
tcp, lo = listener((ip, 0)), listener(("127.0.0.1", 0))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((ip, 0))
with open(ports + ".tmp", "w") as f:
    print(tcp.getsockname()[1], u.getsockname()[1], lo.getsockname()[1], file=f)
os.rename(ports + ".tmp", ports)
for s in (tcp, lo):
    threading.Thread(target=serve_tcp, args=(s,), daemon=True).start()
while True:
    data, peer = u.recvfrom(100); u.sendto(b"pong:" + data, peer)
PY
ECHO_PID=$!
trap 'kill $ECHO_PID 2>/dev/null; finish' EXIT
for _ in $(seq 1 200); do [ -s "$WORK/echo.ports" ] && break; sleep 0.05; done
read -r TCP_PORT UDP_PORT LO_PORT <"$WORK/echo.ports" || { fail "the echo servers did not start"; exit 1; }

# The API on a reachable address with outbound functions is refused unless allowed.
if "$LAMBDAD" serve --listen 0.0.0.0:0 --data "$WORK/d2" --function-network outbound >"$WORK/refused.log" 2>&1; then
	fail "outbound with the API on 0.0.0.0 started"
else
	check_contains "outbound with the API on 0.0.0.0 is refused" "outbound-with-api" "$(cat "$WORK/refused.log")"
fi

start_server --isolation strict --function-network outbound
check_contains "server says which network" "network outbound (slirp4netns)" "$(cat "$WORK/server.log")"
create_fn net hostile --timeout 10 >/dev/null

inv net '{"op":"whoami"}' >/dev/null
check "the box has loopback and a tap device" "['lo', 'tap0']" "$(jq_ 'd["ifaces"]')"
inv net "{\"op\":\"connect\",\"addrs\":[\"$HOST_IP:$TCP_PORT\",\"10.0.2.2:$PORT\",\"10.0.2.2:$LO_PORT\",\"127.0.0.1:$PORT\",\"$HOST_IP:$PORT\"]}" >/dev/null
check "TCP out to the host's network" ok "$(jq_ "d['$HOST_IP:$TCP_PORT']")"
check "not to lambdad's API through the host's loopback" ENETUNREACH "$(jq_ "d['10.0.2.2:$PORT']")"
check "not to anything else on the host's loopback" ENETUNREACH "$(jq_ "d['10.0.2.2:$LO_PORT']")"
check "not to lambdad's API on its own loopback" ECONNREFUSED "$(jq_ "d['127.0.0.1:$PORT']")"
check "not to the API on the host's address (it listens on loopback)" ECONNREFUSED "$(jq_ "d['$HOST_IP:$PORT']")"
inv net "{\"op\":\"udp\",\"addr\":\"$HOST_IP:$UDP_PORT\"}" >/dev/null
check "UDP out and back" pong:ping "$(jq_ 'd["reply"]')"
inv net '{"op":"files","read":["/etc/resolv.conf"]}' >/dev/null
check "a resolver it can reach" ok "$(jq_ 'd["/etc/resolv.conf"]')"
helpers=$(count_descendants '^/usr/bin/slirp4netns')
if [ "$helpers" -ge 1 ]; then pass "slirp4netns runs for the sandboxes ($helpers)"; else fail "no slirp4netns"; fi
spid=$SERVER_PID
tree_snapshot "$WORK/tree" # this server's slirp4netns, not another test's
stop_server
for _ in $(seq 1 100); do [ "$(snapshot_alive "$WORK/tree")" = 0 ] && break; sleep 0.05; done
check "no slirp4netns left after the server stops" 0 "$(snapshot_alive "$WORK/tree")"
