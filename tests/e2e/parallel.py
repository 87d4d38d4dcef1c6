"""Fires N invokes of one function at once and prints a JSON summary: how many of each
HTTP status, the throttle Reasons and Retry-After headers, and the distinct
environments (the scaling-py fixture's "env") that answered, and how many answers
were cold starts (an Init Duration in their log tail). Used by scaling.sh."""
import base64
import collections
import json
import sys
import threading
import urllib.error
import urllib.request

endpoint, name, n, body = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
results = [None] * n
start = threading.Barrier(n)


def one(i):
    req = urllib.request.Request(f"{endpoint}/2015-03-31/functions/{name}/invocations", data=body.encode(),
                                 method="POST", headers={"X-Amz-Log-Type": "Tail"})
    start.wait()
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            tail = base64.b64decode(r.headers.get("X-Amz-Log-Result", "")).decode(errors="replace")
            results[i] = (r.status, r.headers.get("X-Amz-Function-Error"), json.loads(r.read()), None,
                          "Init Duration" in tail)
    except urllib.error.HTTPError as e:
        results[i] = (e.code, e.headers.get("Retry-After"), json.loads(e.read()), None, False)
    except Exception as e:  # noqa: BLE001 - reported, counted as a failure
        results[i] = (0, None, None, repr(e), False)


threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
status = collections.Counter(str(r[0]) for r in results)
ok = [r for r in results if r[0] == 200 and not r[1]]
throttled = [r for r in results if r[0] == 429]
print(json.dumps({
    "status": status,
    "ok": len(ok),
    "function_errors": sum(1 for r in results if r[0] == 200 and r[1]),
    "throttled": len(throttled),
    "reasons": sorted(set(r[2].get("Reason", "") for r in throttled)),
    "retry_after": sorted(set(str(r[1]) for r in throttled)),
    "envs": len(set(r[2]["env"] for r in ok)),
    "cold": sum(1 for r in ok if r[4]),
    "init_types": sorted(set(str(r[2].get("init_type")) for r in ok)),
    "errors": [r[3] for r in results if r[3]][:3],
}))
