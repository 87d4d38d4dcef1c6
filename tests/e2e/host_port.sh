#!/usr/bin/env bash
# --function-host-port PORT: with --function-network outbound, 127.0.0.1:PORT inside
# each sandbox reaches 127.0.0.1:PORT on the host (the server relays it), and nothing
# else of the host's loopback becomes reachable.
source "$(dirname "$0")/lib.sh"
if ! unshare --mount --pid --net --ipc --uts --fork true 2>/dev/null && ! unshare --user --map-root-user --mount --pid --net --fork true 2>/dev/null; then
	echo "SKIP: this kernel or user cannot create namespaces"
	exit 77
fi
command -v slirp4netns >/dev/null || missing_dep "slirp4netns missing (scripts/install-deps installs it)"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || missing_dep "/usr/bin/python3 has no boto3 (scripts/install-deps installs python3-boto3)"
PYV=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# Two HTTP services on the host's loopback, each on a port it binds itself (0): the one
# the server is told to relay, and one it is not. "RELAYED OTHER" in $WORK/http.ports.
python3 - "$WORK/http.ports" >"$WORK/http.log" 2>&1 <<'PY' &
import http.server, os, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("host service %d: %s" % (self.server.server_port, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), H) for _ in range(2)]
with open(sys.argv[1] + ".tmp", "w") as f:
    print(*(s.server_port for s in servers), file=f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Thread(target=servers[1].serve_forever, daemon=True).start()
servers[0].serve_forever()
PY
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null; finish' EXIT
for _ in $(seq 1 200); do [ -s "$WORK/http.ports" ] && break; sleep 0.05; done
read -r RELAYED OTHER <"$WORK/http.ports" || { fail "the host services did not start"; exit 1; }

# Bad values are refused, naming the option.
for bad in 0 70000 x 9001 4566; do
	if "$LAMBDAD" serve --listen 127.0.0.1:0 --data "$WORK/bad" --function-host-port "$bad" >"$WORK/bad.log" 2>&1; then
		fail "--function-host-port $bad was accepted"
	else
		check_contains "--function-host-port $bad is refused" "--function-host-port" "$(cat "$WORK/bad.log")"
	fi
done

start_server --isolation strict --function-network outbound --function-host-port "$RELAYED"
awsl create-function --function-name hp --runtime "python$PYV" --handler app.handler --timeout 30 \
	--role arn:aws:iam::000000000000:role/r --zip-file "fileb://$(fixture_zip sdk-py)" >/dev/null

code=$(inv hp "{\"op\":\"http\",\"url\":\"http://127.0.0.1:$RELAYED/ping\"}")
check "the chosen host port answers from inside" "200 host service $RELAYED: /ping" "$code $(jq_ 'd.get("body")')"
for i in 1 2 3; do
	inv hp "{\"op\":\"http\",\"url\":\"http://127.0.0.1:$RELAYED/again$i\"}" >/dev/null
	check "again, connection $i" "host service $RELAYED: /again$i" "$(jq_ 'd.get("body")')"
done
inv hp "{\"op\":\"connect\",\"addrs\":[\"127.0.0.1:$OTHER\",\"10.0.2.2:$OTHER\",\"10.0.2.2:$RELAYED\",\"127.0.0.1:$PORT\"]}" >/dev/null
check "another host loopback port is not reachable on 127.0.0.1" ConnectionRefusedError "$(jq_ "d['127.0.0.1:$OTHER']")"
check "nor through the host's loopback" OSError "$(jq_ "d['10.0.2.2:$OTHER']")"
check "the chosen port is not reachable through the host's loopback either" OSError "$(jq_ "d['10.0.2.2:$RELAYED']")"
check "nor is the host's API port" ConnectionRefusedError "$(jq_ "d['127.0.0.1:$PORT']")"
