"""tests/e2e/stream.sh's HTTP client: reads a function URL's streamed reply piece by piece.

usage: stream_client.py ENDPOINT SERVER_PID FUNCTION OP MODE
MODE  gated       read up to the first chunk, record the function's concurrency in
                  /metrics, then send SIGUSR2 to the function's processes (which only
                  then write the rest) and read the rest
      disconnect  read the first chunk, close the connection, then release the function
      whole       read the whole reply
Prints a JSON object: status, headers (lower-case name -> list), first, metrics, body
(latin-1), complete (the chunked reply ended properly)."""
import http.client, json, os, re, signal, sys, urllib.request

endpoint, server_pid, fn, op, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
host = endpoint.split("//", 1)[1]


def descendants(root):
    """Pids under root, with their command lines."""
    parent, cmd = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd[int(p)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            pass
    out = []
    for pid in parent:
        q, hops = parent.get(pid, 0), 0
        while q > 1 and q != root and hops < 64:
            q, hops = parent.get(q, 0), hops + 1
        if q == root:
            out.append((pid, cmd.get(pid, "")))
    return out


def release():
    """SIGUSR2 to the function's runtime processes (the Node.js runtime or the C bootstrap)."""
    n = 0
    for pid, cmd in descendants(server_pid):
        if re.search(r"runtime\.mjs|(^|/)bootstrap( |$)", cmd):
            try:
                os.kill(pid, signal.SIGUSR2)
                n += 1
            except OSError:
                pass
    return n


def concurrency():
    text = urllib.request.urlopen(endpoint + "/metrics", timeout=10).read().decode()
    m = re.search(r'^lambdad_concurrent_executions\{function="%s"\} (\d+)' % re.escape(fn), text, re.M)
    return int(m.group(1)) if m else None


conn = http.client.HTTPConnection(host, timeout=60)
conn.request("GET", "/lambda-url/%s/?op=%s" % (fn, op), headers={"Origin": "https://example.com"})
r = conn.getresponse()
res = {"status": r.status, "headers": {}, "first": "", "metrics": None, "released": 0}
for k, v in r.getheaders():
    res["headers"].setdefault(k.lower(), []).append(v)
body = b""
if mode in ("gated", "disconnect"):
    while b"\n" not in body:
        piece = r.read1(65536)
        if not piece:
            break
        body += piece
    res["first"] = body.decode("latin-1")
    res["metrics"] = concurrency()
    if mode == "disconnect":
        conn.sock.close()
        conn.close()
        res["released"] = release()
        print(json.dumps(res))
        sys.exit(0)
    res["released"] = release()
complete = True
try:
    while True:
        piece = r.read1(65536)
        if not piece:
            break
        body += piece
except http.client.IncompleteRead as e:
    body += e.partial
    complete = False
res["body"] = body.decode("latin-1")
res["complete"] = complete
print(json.dumps(res))
