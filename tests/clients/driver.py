"""One long-lived AWS client for an e2e script (tests/e2e/lib.sh starts it as a coprocess).

Starting /usr/bin/aws costs ~0.6 s of CPU, and a script made hundreds of calls; this process
pays the imports once. It reads one JSON request per line on stdin and writes one JSON
answer per line on stdout:

  {"service": "lambda", "op": "get_function", "params": {...}}
      an SDK call (botocore: the operations and parameters of boto3's client). Strings
      "fileb://PATH" in params are read as the bytes of PATH, as the CLI does. Answers
      {"ok": true, "result": {...}, "status": 200, "headers": {...}} or
      {"ok": false, "code": "...", "message": "...", "status": 4xx, "headers": {...},
       "error": {...the error document...}}; a streamed body (Invoke's Payload) is text, or
      {"base64": "..."} when it is not UTF-8. No retries: a test sees each answer as sent.
  {"raw": {"method": "GET", "path": "/...", "headers": {...}, "body": "...",
           "body_file": PATH, "out": PATH, "hout": PATH}}
      one HTTP request on a kept-alive connection; answers {"ok": true, "status": N,
      "headers": {...}, "body": "..."} (with "out", the body is written there instead;
      with "hout", the status line and headers are written there as curl -D does).
  {"cli": ["lambda", "get-function", ...], "cwd": "/dir", "out": PATH, "err": PATH}
      the AWS CLI itself, run in this process (the code /usr/bin/aws runs): its stdout and
      stderr go to the files, and the answer is {"rc": N}.
  {"eval": EXPR, "file": PATH, "out": PATH, "missing": bool}
      what `python3 -c 'print(EXPR)'` would print, with d the JSON in PATH (None if it is
      empty), written to out; with "missing", an error prints "missing: ..." and the start
      of the file (tests/e2e/lib.sh's jq_). The answer is {"rc": 0} or {"rc": 1}.
  {"reset": true}
      forgets connections and clients (the server restarted).

It says {"ready": true, "cli": BOOL} first (BOOL: whether the CLI can run here).

Usage: driver.py ENDPOINT [REGION]. Runs under the interpreter of the AWS CLI (lib.sh reads
it from /usr/bin/aws), whose botocore it uses when no other is installed.
"""
import base64
import contextlib
import datetime
import http.client
import io
import json
import os
import sys
import urllib.parse

try:
    import awscli.clidriver as clidriver
except ImportError:  # no CLI in this interpreter: SDK and raw requests only
    clidriver = None
try:
    from botocore.session import get_session
    from botocore.config import Config
    import botocore.exceptions as bexc
except ImportError:  # the AWS CLI v2 as Debian ships it carries its own botocore
    from awscli.botocore.session import get_session
    from awscli.botocore.config import Config
    import awscli.botocore.exceptions as bexc

ENDPOINT = sys.argv[1]
REGION = sys.argv[2] if len(sys.argv) > 2 else "us-east-1"
try:  # one attempt: botocore counts retries in max_attempts, the CLI's own counts attempts
    CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=600)
except Exception:
    CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=600)


class Driver:
    def __init__(self):
        self.session = get_session()
        self.clients = {}
        self.conn = None
        self.loader = None

    def reset(self):
        for c in self.clients.values():
            c.close() if hasattr(c, "close") else None
        self.clients = {}
        if self.conn:
            self.conn.close()
        self.conn = None
        return {"ok": True}

    def client(self, service):
        c = self.clients.get(service)
        if c is None:
            c = self.session.create_client(service, endpoint_url=ENDPOINT, region_name=REGION,
                                           aws_access_key_id="test", aws_secret_access_key="test",
                                           config=CONFIG)
            self.clients[service] = c
        return c

    def sdk(self, req):
        c = self.client(req["service"])
        params = load_files(req.get("params") or {})
        try:
            r = getattr(c, req["op"])(**params)
        except bexc.ClientError as e:
            md = e.response.get("ResponseMetadata", {})
            err = e.response.get("Error", {})
            return {"ok": False, "code": err.get("Code"), "message": err.get("Message"),
                    "status": md.get("HTTPStatusCode"), "headers": md.get("HTTPHeaders", {}),
                    "error": plain(err)}
        except (bexc.ParamValidationError, bexc.BotoCoreError) as e:
            return {"ok": False, "code": type(e).__name__, "message": str(e), "status": None,
                    "headers": {}, "error": {}}
        md = r.pop("ResponseMetadata", {})
        return {"ok": True, "result": plain(r), "status": md.get("HTTPStatusCode"),
                "headers": md.get("HTTPHeaders", {})}

    def raw(self, req):
        body = req.get("body")
        if req.get("body_file"):
            with open(req["body_file"], "rb") as f:
                body = f.read()
        elif isinstance(body, str):
            body = body.encode()
        for attempt in (0, 1):
            if self.conn is None:
                u = urllib.parse.urlsplit(ENDPOINT)
                self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
            try:
                self.conn.request(req.get("method", "GET"), req["path"], body=body,
                                  headers=req.get("headers") or {})
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        headers = {}
        for k, v in resp.getheaders():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        if resp.getheader("connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        out = {"ok": True, "status": resp.status, "headers": headers}
        if req.get("hout"):
            with open(req["hout"], "w", newline="") as f:
                f.write("HTTP/1.1 %d %s\r\n" % (resp.status, resp.reason))
                for k, v in resp.getheaders():
                    f.write("%s: %s\r\n" % (k, v))
                f.write("\r\n")
        if req.get("out"):
            with open(req["out"], "wb") as f:
                f.write(data)
        else:
            out["body"] = text(data)
        return out

    def run_cli(self, req):
        if clidriver is None:
            return {"rc": 127, "error": "the AWS CLI is not importable by " + sys.executable}
        # A fresh CLI per command, as a new `aws` process would be (options such as
        # --cli-binary-format register handlers on its session); only the loaded service
        # models, which never change, are shared: that is what makes it cheap.
        cli = clidriver.create_clidriver()
        if self.loader is None:
            self.loader = cli.session.get_component("data_loader")
        else:
            cli.session.register_component("data_loader", self.loader)
        os.chdir(req.get("cwd") or ".")
        with open(req["out"], "wb") as ob, open(req["err"], "wb") as eb:
            out = io.TextIOWrapper(ob, encoding="utf-8", write_through=True)
            err = io.TextIOWrapper(eb, encoding="utf-8", write_through=True)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    rc = cli.main(list(req["cli"]))
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 255)
            out.flush()
            err.flush()
            out.detach()
            err.detach()
        return {"rc": rc or 0}


def evaluate(req):
    with open(req["file"], "rb") as f:
        t = f.read().decode("utf-8", "replace")
    out, rc = None, 0
    try:
        d = json.loads(t) if t.strip() else None
        out = str(eval(req["eval"], dict(EVAL_GLOBALS, d=d)))
    except Exception as e:
        rc = 1
        if req.get("missing"):
            out = "missing: %r %s" % (e, t[:300])
        else:
            sys.stderr.write("eval %r: %r\n" % (req["eval"], e))
    with open(req["out"], "w") as f:
        if out is not None:
            f.write(out + "\n")
    return {"rc": rc}


EVAL_GLOBALS = {"json": json, "base64": base64, "re": __import__("re"), "sys": sys}


def load_files(v):
    if isinstance(v, dict):
        return {k: load_files(x) for k, x in v.items()}
    if isinstance(v, list):
        return [load_files(x) for x in v]
    if isinstance(v, str) and v.startswith("fileb://"):
        with open(v[8:], "rb") as f:
            return f.read()
    return v


def text(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}


def plain(v):
    """A response as JSON: streams read, bytes as text, dates in ISO 8601."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return text(bytes(v))
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if hasattr(v, "read"):
        return text(v.read())
    return v


def main():
    d = Driver()
    sys.stdout.write(json.dumps({"ready": True, "cli": clidriver is not None}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if req.get("reset"):
                ans = d.reset()
            elif "eval" in req:
                ans = evaluate(req)
            elif "cli" in req:
                ans = d.run_cli(req)
            elif "raw" in req:
                ans = d.raw(req["raw"])
            else:
                ans = d.sdk(req)
        except Exception as e:  # the script sees it as an answer, not a hang
            ans = {"ok": False, "rc": 255, "code": "DriverError", "message": "%s: %s" % (type(e).__name__, e),
                   "status": None, "headers": {}, "error": {}}
        sys.stdout.write(json.dumps(ans) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
