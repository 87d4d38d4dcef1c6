"""boto3 as a user drives lambdad: deploy, invoke (no Content-Type, as boto3 sends it), errors.
Prints one JSON object of observations; the shell test checks them."""
import base64, io, json, sys, zipfile

import boto3
import botocore.exceptions

endpoint, fixture = sys.argv[1], sys.argv[2]
lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    z.writestr(info, open(fixture, "rb").read())
out = {}
c = lam.create_function(FunctionName="py-tool", Runtime="provided.al2", Handler="h", Role="arn:aws:iam::000000000000:role/r",
                        Code={"ZipFile": buf.getvalue()}, Timeout=5, Environment={"Variables": {"FROM": "boto3"}})
out["create_state"] = c["State"]
r = lam.invoke(FunctionName="py-tool", Payload=json.dumps({"op": "env"}), LogType="Tail",
               ClientContext=base64.b64encode(b'{"custom":{"who":"boto3"}}').decode())
body = json.loads(r["Payload"].read())
out["status"] = r["StatusCode"]
out["env_from"] = body["env"]["FROM"]
out["client_context"] = body["headers"]["lambda-runtime-client-context"]
out["tail_has_report"] = "REPORT RequestId:" in base64.b64decode(r["LogResult"]).decode()
r = lam.invoke(FunctionName="py-tool", Payload=b'{"op":"error","message":"from boto3"}')
out["function_error"] = r.get("FunctionError")
out["error_type"] = json.loads(r["Payload"].read())["errorType"]
r = lam.invoke(FunctionName="py-tool", InvocationType="DryRun")
out["dryrun_status"] = r["StatusCode"]
try:
    lam.get_function(FunctionName="nope")
except lam.exceptions.ResourceNotFoundException as e:
    out["missing"] = e.response["Error"]["Code"]
try:
    lam.update_function_configuration(FunctionName="py-tool", Timeout=901)
except botocore.exceptions.ClientError as e:
    out["bad_timeout"] = e.response["Error"]["Code"]
for i in range(5):
    lam.create_function(FunctionName=f"py-page-{i}", Runtime="provided.al2023", Handler="h",
                        Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": buf.getvalue()})
names = []
for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}):
    names += [f["FunctionName"] for f in page["Functions"]]
out["paged_names"] = names
print(json.dumps(out))
