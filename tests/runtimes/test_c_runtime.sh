#!/usr/bin/env bash
# Tests runtimes/c: builds and installs the library into a temp dir with its Makefile,
# compiles examples/echo.c through pkg-config (shared and static), and runs each
# bootstrap against a fake Runtime API written in Python.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../../runtimes/c" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for tool in cc make pkg-config python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not found"; exit 77; }
done

make -s -f "$SRC/Makefile" BUILDDIR="$TMP/build" CFLAGS="-O2 -g -Werror"
make -s -f "$SRC/Makefile" BUILDDIR="$TMP/build" install PREFIX="$TMP/prefix"
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"

cd "$SRC/examples"
cc echo.c $(PKG_CONFIG_PATH="$PKG_CONFIG_PATH" pkg-config --cflags --libs lambda-runtime) -o "$TMP/bootstrap"
static_ok=1
if ! cc echo.c $(pkg-config --static --cflags --libs lambda-runtime) -static \
	-o "$TMP/bootstrap-static" 2>"$TMP/static.log"; then
	# A libc without static archives (libc6-dev missing libc.a) cannot link -static.
	if grep -q "cannot find -lc" "$TMP/static.log"; then
		echo "note: no static libc here, static link not tested"; static_ok=0
	else
		cat "$TMP/static.log"; exit 1
	fi
fi

# A streaming handler: writes a first chunk, then waits at a FIFO (STREAM_GATE) that the
# fake Runtime API opens only once it has received that chunk, then writes the rest.
cat >"$TMP/stream_fn.c" <<'C'
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lambda_runtime.h"

static int handler(const struct lambda_event *ev, struct lambda_response *out, void *user)
{
	(void)user;
	if (strstr(ev->payload, "\"plain\""))
		return lambda_response_set(out, "\"buffered\"", 10);
	if (strstr(ev->payload, "\"prelude\"")) {
		if (lambda_stream_http_prelude(out, 201, "{\"x-custom\":\"yes\"}", "[\"a=1\"]") < 0)
			return 1;
		return lambda_stream_write(out, "body", 4) < 0 || lambda_response_set(out, "x", 1) == 0;
	}
	if (strstr(ev->payload, "\"fail\"")) {
		lambda_stream_write(out, "partial", 7);
		lambda_response_error(out, "StreamFailure", "broke \"midway\"");
		return 1;
	}
	if (lambda_stream_set_content_type(out, "text/plain") < 0 || lambda_stream_write(out, "first;", 6) < 0 ||
	    lambda_stream_set_content_type(out, "too/late") == 0)
		return 1;
	char buf[16] = "";
	int fd = open(getenv("STREAM_GATE"), O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 1;
	static char big[1 << 20];
	memset(big, 'z', sizeof(big));
	if (lambda_stream_write(out, "gate:", 5) < 0 || lambda_stream_write(out, buf, (size_t)n) < 0 ||
	    lambda_stream_write(out, big, sizeof(big)) < 0 || lambda_stream_write(out, ";end", 4) < 0)
		return 1;
	return 0;
}

int main(void) { return lambda_runtime_run(handler, NULL); }
C
cc -std=c11 -Wall -Wextra -Werror -I"$SRC" "$TMP/stream_fn.c" $(pkg-config --static --cflags --libs lambda-runtime 2>/dev/null || pkg-config --cflags --libs lambda-runtime) \
	-Wl,-rpath,"$TMP/prefix/lib" -o "$TMP/stream_fn"
mkfifo "$TMP/gate"

cat >"$TMP/fake_rtapi.py" <<'PY'
import base64, http.server, json, os, queue, socketserver, subprocess, sys, threading, time

PREFIX = "/2018-06-01/runtime"
bootstrap = sys.argv[1]
failures = []

def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)

class API:
    def __init__(self, chunked=False, close_each=False):
        self.chunked, self.close_each = chunked, close_each
        self.drop_after_post = False
        self.on_first_chunk = None
        self.inv = queue.Queue()
        self.results = queue.Queue()
        self.ports = set()
        api = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *a): pass
            def reply(self, code, body=b"", headers=(), chunked=False):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                if api.close_each:
                    self.send_header("Connection", "close")
                self.end_headers()
                if chunked:
                    for i in range(0, len(body), 7):
                        part = body[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)
                self.wfile.flush()
                if api.close_each:
                    self.close_connection = True
            def do_GET(self):
                api.ports.add(self.client_address[1])
                if self.path != PREFIX + "/invocation/next":
                    return self.reply(404)
                rid, body, hdrs = api.inv.get()
                if rid is None:          # stop: make the runtime give up
                    self.close_connection = True
                    return self.reply(500, b"{}")
                h = [("Lambda-Runtime-Aws-Request-Id", rid),
                     ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000)),
                     ("Lambda-Runtime-Invoked-Function-Arn",
                      "arn:aws:lambda:us-east-1:000000000000:function:echo"),
                     ("Lambda-Runtime-Trace-Id", "Root=1-abc")] + list(hdrs)
                self.reply(200, body, h, chunked=api.chunked)
            def do_POST(self):
                api.ports.add(self.client_address[1])
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks, trailers = [], {}
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.read(2)
                        if len(chunks) == 1 and api.on_first_chunk:
                            api.on_first_chunk()
                    while True:
                        line = self.rfile.readline().rstrip(b"\r\n")
                        if not line:
                            break
                        k, _, v = line.decode().partition(":")
                        trailers[k.strip()] = v.strip()
                    api.results.put((self.path, dict(self.headers), (chunks, trailers)))
                    self.reply(202, b'{"status":"OK"}')
                    return
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                api.results.put((self.path, dict(self.headers), body))
                self.reply(202, b'{"status":"OK"}')
                if api.drop_after_post:
                    self.close_connection = True

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
        self.srv = S(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.addr = "127.0.0.1:%d" % self.srv.server_address[1]

    def start(self, extra_env=None):
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=self.addr,
                   AWS_LAMBDA_FUNCTION_NAME="echo", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256")
        env.update(extra_env or {})
        return subprocess.Popen([bootstrap], env=env, stderr=subprocess.PIPE)

    def result(self):
        return self.results.get(timeout=10)

def invocations(label, **kw):
    api = API(**kw)
    p = api.start()
    try:
        payload = json.dumps({"hello": "wörld", "n": [1, 2, 3]}).encode()
        api.inv.put(("req-1", payload, ()))
        path, h, body = api.result()
        check(path == PREFIX + "/invocation/req-1/response", label + ": response posted to the request id's URL")
        check(body == payload, label + ": payload echoed byte for byte")

        big = json.dumps({"data": "x" * (1 << 20)}).encode()
        api.inv.put(("req-big", big, ()))
        path, h, body = api.result()
        check(path.endswith("/req-big/response") and body == big, label + ": 1 MiB payload echoed")

        api.inv.put(("req-2", b'{"fail": "boom"}', ()))
        path, h, body = api.result()
        check(path == PREFIX + "/invocation/req-2/error", label + ": error posted to the request id's /error")
        check(h.get("Lambda-Runtime-Function-Error-Type") == "EchoFailure", label + ": error type header")
        doc = json.loads(body)
        check(doc.get("errorType") == "EchoFailure" and doc.get("errorMessage") == 'asked to fail: "fail" in the event',
              label + ": JSON error body, quotes escaped")

        api.inv.put(("req-3", b'{"context": 1}', (("Lambda-Runtime-Client-Context", '{"custom":{}}'),)))
        path, h, body = api.result()
        ctx = json.loads(body)
        check(path.endswith("/req-3/response"), label + ": context invocation answered")
        check(ctx["request_id"] == "req-3" and ctx["function_name"] == "echo" and ctx["memory_mb"] == 256
              and ctx["arn"].endswith(":function:echo") and ctx["has_client_context"],
              label + ": context fields")
        check(0 < ctx["remaining_ms"] <= 30000, label + ": remaining time > 0 (%d ms)" % ctx["remaining_ms"])

        api.inv.put(("id with/slash", b"{}", ()))
        path, h, body = api.result()
        check(path == PREFIX + "/invocation/id%20with%2Fslash/response", label + ": odd request id percent-encoded")

        if not kw.get("close_each"):
            check(len(api.ports) == 1, label + ": one keep-alive connection (%d used)" % len(api.ports))
        else:
            check(len(api.ports) > 1, label + ": reconnects after Connection: close")
    finally:
        for _ in range(6):
            api.inv.put((None, b"", ()))
        try:
            rc = p.wait(timeout=10)
            check(rc != 0, label + ": exits non-zero when the Runtime API refuses it")
        except subprocess.TimeoutExpired:
            p.kill()
            check(False, label + ": exits when the Runtime API refuses it")
        api.srv.shutdown()

def init_error():
    api = API()
    p = api.start({"ECHO_INIT_FAIL": 'bad "config"\n'})
    path, h, body = api.result()
    check(path == PREFIX + "/init/error", "init error posted to /init/error")
    check(h.get("Lambda-Runtime-Function-Error-Type") == "EchoInitError", "init error type header")
    doc = json.loads(body)
    check(doc == {"errorMessage": 'bad "config"\n', "errorType": "EchoInitError", "stackTrace": []},
          "init error JSON body, escaped")
    check(p.wait(timeout=10) == 1, "bootstrap exits 1 after an init error")
    api.srv.shutdown()

def silent_close():
    # The server closes the keep-alive connection after each POST without saying so:
    # the runtime finds it dead on its next /next and must reconnect and go on.
    api = API()
    api.drop_after_post = True
    p = api.start()
    for i in range(3):
        api.inv.put(("r%d" % i, b"%d" % i, ()))
        try:
            path, h, body = api.result()
            check(path.endswith("/r%d/response" % i) and body == b"%d" % i,
                  "silent close: invocation %d answered" % i)
        except queue.Empty:
            check(False, "silent close: invocation %d answered" % i)
    check(len(api.ports) >= 3, "silent close: reconnected (%d connections)" % len(api.ports))
    for _ in range(6):
        api.inv.put((None, b"", ()))
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
    api.srv.shutdown()

def streaming(stream_bootstrap, gate):
    global bootstrap
    saved, bootstrap = bootstrap, stream_bootstrap
    api = API()
    def open_gate():
        api.on_first_chunk = None   # the first stream only
        with open(gate, "w") as f:
            f.write("open")
    api.on_first_chunk = open_gate
    p = api.start({"STREAM_GATE": gate})
    try:
        api.inv.put(("s-1", b'{"op":"stream"}', ()))
        path, h, (chunks, trailers) = api.result()
        body = b"".join(chunks)
        check(path == PREFIX + "/invocation/s-1/response", "stream: posted to /response")
        check(h.get("Lambda-Runtime-Function-Response-Mode") == "streaming" and h.get("Content-Type") == "text/plain",
              "stream: streaming mode header and content type")
        check(chunks[0] == b"first;", "stream: the first chunk came alone, before the gate opened")
        check(body == b"first;gate:open" + b"z" * (1 << 20) + b";end", "stream: whole body, 1 MiB included")
        check(not trailers, "stream: no error trailers")

        api.inv.put(("s-2", b'{"op":"prelude"}', ()))
        path, h, (chunks, trailers) = api.result()
        body = b"".join(chunks)
        check(h.get("Content-Type") == "application/vnd.awslambda.http-integration-response",
              "prelude: http-integration content type")
        pre, _, rest = body.partition(b"\0" * 8)
        check(json.loads(pre) == {"statusCode": 201, "headers": {"x-custom": "yes"}, "cookies": ["a=1"]} and rest == b"body",
              "prelude: JSON prelude, 8 NULs, body; response_set refused once streaming")

        api.inv.put(("s-3", b'{"op":"fail"}', ()))
        path, h, (chunks, trailers) = api.result()
        check(b"".join(chunks) == b"partial", "fail: what was written stays")
        check(trailers.get("Lambda-Runtime-Function-Error-Type") == "StreamFailure", "fail: error type trailer")
        doc = json.loads(base64.b64decode(trailers.get("Lambda-Runtime-Function-Error-Body", "")))
        check(doc.get("errorType") == "StreamFailure" and doc.get("errorMessage") == 'broke "midway"',
              "fail: base64 JSON error body trailer")

        api.inv.put(("s-4", b'{"op":"plain"}', ()))
        path, h, body = api.result()
        check(path.endswith("/s-4/response") and body == b'"buffered"', "plain: the buffered API still works")
        check(len(api.ports) == 1, "stream: one keep-alive connection (%d used)" % len(api.ports))
    except queue.Empty:
        check(False, "stream: an answer came")
    finally:
        for _ in range(6):
            api.inv.put((None, b"", ()))
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
        api.srv.shutdown()
        bootstrap = saved

invocations("content-length")
invocations("chunked", chunked=True)
invocations("connection-close", close_each=True)
init_error()
silent_close()
if len(sys.argv) > 2:
    streaming(sys.argv[2], sys.argv[3])
print("%s: %d failure(s)" % (bootstrap, len(failures)))
sys.exit(1 if failures else 0)
PY

python3 "$TMP/fake_rtapi.py" "$TMP/bootstrap" "$TMP/stream_fn" "$TMP/gate"
if [ "$static_ok" = 1 ]; then
	file "$TMP/bootstrap-static" 2>/dev/null | grep -q "statically linked" || ldd "$TMP/bootstrap-static" 2>&1 | grep -q "not a dynamic"
	python3 "$TMP/fake_rtapi.py" "$TMP/bootstrap-static"
fi
echo "PASS"
