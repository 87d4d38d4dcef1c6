#!/usr/bin/env python3
"""A Lambda API stand-in for tests/e2e/cli_dev.sh: the one function it knows reports
LastUpdateStatus InProgress for a few polls after each update (as AWS does), and refuses
an update made meanwhile with 409 ResourceConflictException. Every request is logged,
one line each, to LOG, with what the function's status was then.
usage: cli_fake_lambda.py PORT_FILE LOG"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POLLS_IN_PROGRESS = 3
state = {"busy": 0, "conf": {"FunctionName": "fake", "Runtime": "provided.al2023", "Handler": "x",
                             "MemorySize": 128, "Timeout": 3, "CodeSha256": "c0de", "CodeSize": 1,
                             "State": "Active", "LastUpdateStatus": "Successful"}}
log = open(sys.argv[2], "a", buffering=1)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, obj, etype=None):
        b = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if etype:
            self.send_header("X-Amzn-ErrorType", etype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def conf(self):
        c = dict(state["conf"])
        if state["busy"]:
            c["LastUpdateStatus"] = "InProgress"
        return c

    def do_GET(self):
        log.write("GET %s %s\n" % (self.path, "InProgress" if state["busy"] else "Successful"))
        if self.path != "/2015-03-31/functions/fake/configuration":
            return self.reply(404, {"message": "Function not found"}, "ResourceNotFoundException")
        c = self.conf()
        if state["busy"]:
            state["busy"] -= 1
        self.reply(200, c)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(n) or b"{}")
        log.write("PUT %s %s %s\n" % (self.path, "InProgress" if state["busy"] else "Successful",
                                      ",".join(sorted(body))))
        if state["busy"]:
            return self.reply(409, {"message": "An update is in progress for resource: fake"},
                              "ResourceConflictException")
        if self.path.endswith("/code"):
            state["conf"]["CodeSha256"] = "new"
        else:
            state["conf"].update({k: v for k, v in body.items() if k in ("Timeout", "MemorySize")})
        state["busy"] = POLLS_IN_PROGRESS
        self.reply(200, self.conf())

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
