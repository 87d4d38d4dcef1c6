"""boto3 against a lambdad in --auth sigv4 mode, with the credentials and clock a test asks
for (tests/e2e/sigv4.sh). Prints one line: "ok <count>" for a call that succeeded, else
"<HTTP status> <error code>: <message>".

  sigv4_client.py ENDPOINT AKID SECRET call [SKEW_SECONDS]
      ListFunctions signed by boto3, its clock moved by SKEW_SECONDS (botocore's own
      get_current_datetime patched: the request is what boto3 sends at that time).
  sigv4_client.py ENDPOINT AKID SECRET presign EXPIRES [AGE_SECONDS]
      a presigned GET of ListFunctions (botocore's SigV4QueryAuth), signed AGE_SECONDS ago
      with X-Amz-Expires EXPIRES, fetched with urllib.
  sigv4_client.py ENDPOINT AKID SECRET invoke NAME SIZE
      Invoke NAME by boto3 with {"op":"echo","value":"x"*SIZE}; prints "ok <len of echo>".
  sigv4_client.py ENDPOINT AKID SECRET tamper NAME SIZE
      an Invoke signed by botocore's SigV4Auth for one body of SIZE bytes and sent with
      another of the same size: once with X-Amz-Content-SHA256 signed, once without;
      prints both answers, joined by " | ".
"""
import hashlib
import http.client
import urllib.parse
import datetime
import json
import sys
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

endpoint, akid, secret, what = sys.argv[1:5]
args = sys.argv[5:]


def shift_clock(seconds):
    real = botocore.auth.get_current_datetime

    def moved(*a, **k):
        return real(*a, **k) + datetime.timedelta(seconds=seconds)

    botocore.auth.get_current_datetime = moved


if what == "call":
    shift_clock(int(args[0]) if args else 0)
    c = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=akid,
                     aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    try:
        print("ok %d" % len(c.list_functions()["Functions"]))
    except c.exceptions.ClientError as e:
        err = e.response["Error"]
        print("%d %s: %s" % (e.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Code"),
                             err.get("Message")))
elif what == "presign":
    expires = int(args[0])
    shift_clock(-int(args[1]) if len(args) > 1 else 0)
    url = endpoint + "/2015-03-31/functions/"
    req = botocore.awsrequest.AWSRequest(method="GET", url=url)
    creds = botocore.credentials.Credentials(akid, secret)
    botocore.auth.SigV4QueryAuth(creds, "lambda", "us-east-1", expires=expires).add_auth(req)
    try:
        with urllib.request.urlopen(req.url) as r:
            print("ok %d" % len(json.load(r)["Functions"]))
    except urllib.error.HTTPError as e:
        body = json.loads(e.read() or b"{}")
        print("%d %s: %s" % (e.code, e.headers.get("x-amzn-ErrorType"), body.get("message")))
elif what == "invoke":
    c = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=akid,
                     aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    payload = json.dumps({"op": "echo", "value": "x" * int(args[1])})
    try:
        r = c.invoke(FunctionName=args[0], Payload=payload)
        print("ok %d" % len(json.loads(r["Payload"].read())["echo"]))
    except c.exceptions.ClientError as e:
        err = e.response["Error"]
        print("%d %s: %s" % (e.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Code"),
                             err.get("Message")))
elif what == "tamper":
    size = int(args[1])
    signed = json.dumps({"op": "echo", "value": "a" * size}).encode()
    sent = json.dumps({"op": "echo", "value": "b" * size}).encode()
    url = endpoint + "/2015-03-31/functions/%s/invocations" % args[0]
    out = []
    for with_hash in (True, False):
        headers = {"Content-Type": "application/json"}
        if with_hash:
            headers["X-Amz-Content-SHA256"] = hashlib.sha256(signed).hexdigest()
        req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=signed, headers=headers)
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(akid, secret), "lambda",
                                "us-east-1").add_auth(req)
        u = urllib.parse.urlsplit(endpoint)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request("POST", urllib.parse.urlsplit(url).path, body=sent, headers=dict(req.headers))
        r = conn.getresponse()
        body = json.loads(r.read() or b"{}")
        out.append("%d %s: %s" % (r.status, r.getheader("x-amzn-ErrorType"), body.get("message")))
        conn.close()
    print(" | ".join(out))
