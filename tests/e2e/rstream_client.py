"""tests/e2e/rstream.sh's boto3 client of InvokeWithResponseStream (the machine's newest
boto3, python3 on PATH): reads the event stream event by event as botocore decodes it
(both CRCs checked).

usage: rstream_client.py ENDPOINT SERVER_PID FUNCTION PAYLOAD [--tail] [--gate]
                         [--disconnect] [--qualifier Q] [--type T] [--client-context B64]
       rstream_client.py release SERVER_PID
--gate        once the third chunk ("chunk-3\\n") is in, record the chunks so far and the
              function's concurrency in /metrics, then send SIGUSR2 to the function's
              runtime (which only then writes its last chunk), and read the rest
--disconnect  as --gate, but close the stream instead of reading the rest
release       sends SIGUSR2 to the Node.js runtimes under SERVER_PID; prints how many
Prints one JSON object: status, executed_version, content_type, request_id, headers,
events [{type, payload (latin-1) | members}], before_release, metrics, released; or
error {code, message, status} when the call failed before the stream."""
import argparse, json, os, re, signal, sys, urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

GATE_MARK = b"chunk-3\n"


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


def release(server_pid):
    """SIGUSR2 to the Node.js runtime processes of server_pid's functions."""
    n = 0
    for pid, cmd in descendants(server_pid):
        if re.search(r"runtime\.mjs", cmd):
            try:
                os.kill(pid, signal.SIGUSR2)
                n += 1
            except OSError:
                pass
    return n


def concurrency(endpoint, fn):
    text = urllib.request.urlopen(endpoint + "/metrics", timeout=10).read().decode()
    m = re.search(r'^lambdad_concurrent_executions\{function="%s"\} (\d+)' % re.escape(fn), text, re.M)
    return int(m.group(1)) if m else None


def main():
    if sys.argv[1] == "release":
        print(release(int(sys.argv[2])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("server_pid", type=int)
    ap.add_argument("function")
    ap.add_argument("payload")
    ap.add_argument("--tail", action="store_true")
    ap.add_argument("--gate", action="store_true")
    ap.add_argument("--disconnect", action="store_true")
    ap.add_argument("--qualifier")
    ap.add_argument("--type")
    ap.add_argument("--client-context")
    a = ap.parse_args()
    c = boto3.client("lambda", endpoint_url=a.endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test",
                     config=Config(retries={"total_max_attempts": 1}, read_timeout=120))
    kw = {"FunctionName": a.function, "Payload": a.payload.encode()}
    if a.tail:
        kw["LogType"] = "Tail"
    if a.qualifier:
        kw["Qualifier"] = a.qualifier
    if a.type:
        kw["InvocationType"] = a.type
    if a.client_context:
        kw["ClientContext"] = a.client_context
    try:
        r = c.invoke_with_response_stream(**kw)
    except ClientError as e:
        print(json.dumps({"error": {"code": e.response["Error"]["Code"], "message": e.response["Error"].get("Message"),
                                    "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                                    "reason": e.response.get("Reason")}}))
        return
    md = r["ResponseMetadata"]
    res = {"status": r["StatusCode"], "executed_version": r.get("ExecutedVersion"),
           "content_type": r.get("ResponseStreamContentType"), "request_id": md.get("RequestId"),
           "headers": md["HTTPHeaders"], "events": [], "before_release": None, "metrics": None, "released": 0}
    got = b""
    stream = r.get("EventStream")
    for ev in stream or []:
        if "PayloadChunk" in ev:
            p = ev["PayloadChunk"]["Payload"]
            got += p
            res["events"].append({"type": "PayloadChunk", "payload": p.decode("latin-1")})
        else:
            (k, v), = ev.items()
            res["events"].append(dict(v, type=k))
        if (a.gate or a.disconnect) and res["before_release"] is None and got.endswith(GATE_MARK):
            res["before_release"] = [e["payload"] for e in res["events"]]
            res["metrics"] = concurrency(a.endpoint, a.function)
            if a.disconnect:
                stream.close()
                res["released"] = release(a.server_pid)
                break
            res["released"] = release(a.server_pid)
    print(json.dumps(res))


main()
