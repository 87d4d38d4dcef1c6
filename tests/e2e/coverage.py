#!/usr/bin/env python3
"""Walks the Lambda API model of the machine's boto3 and calls every operation of it on
lambdad with the smallest input the model allows (required members only). An operation is
answered when lambdad gives a parseable answer other than UnknownOperationException: a
success or a service error (ResourceNotFoundException for a made-up function is an answer).

Usage: coverage.py ENDPOINT PENDING_FILE
Prints one line per operation and a summary. Exits 1 when an operation outside the
excluded families and PENDING_FILE is not answered, when an excluded operation answers
(the issue keeps them UnknownOperationException), when an operation of PENDING_FILE
answers (the list must shrink as work lands), or when an answer cannot be parsed."""
import datetime
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

# Lambda Managed Instances and durable executions: out of scope (issue 14).
EXCLUDED = ("CapacityProvider", "DurableExecution")


def excluded(op):
    return any(f in op for f in EXCLUDED)


# Members whose value must look like an ARN for the request to reach a handler's lookup.
ARNS = {
    "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:coverage-missing",
    "Resource": "arn:aws:lambda:us-east-1:000000000000:function:coverage-missing",
    "CodeSigningConfigArn": "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0",
    "Arn": "arn:aws:lambda:us-east-1:000000000000:layer:coverage-missing:1",
}


def sample(shape, name=""):
    """The smallest value of SHAPE that botocore's client-side validation accepts."""
    t = shape.type_name
    if t == "structure":
        return {m: sample(shape.members[m], m) for m in shape.required_members}
    if t == "list":
        n = max(shape.metadata.get("min", 0), 1)
        return [sample(shape.member) for _ in range(n)]
    if t == "map":
        return {}
    if t == "string":
        if shape.enum:
            return shape.enum[0]
        if name in ARNS:
            return ARNS[name]
        lo, hi = shape.metadata.get("min", 1), shape.metadata.get("max", 64)
        return ("coverage" + "x" * lo)[:max(lo, min(hi, 8))]
    if t in ("integer", "long"):
        return max(shape.metadata.get("min", 1), 1)
    if t in ("float", "double"):
        return float(shape.metadata.get("min", 1))
    if t == "boolean":
        return False
    if t == "blob":
        return b"{}"
    if t == "timestamp":
        return datetime.datetime(2026, 1, 1)
    raise ValueError("shape type %s" % t)


def main():
    endpoint, pending_file = sys.argv[1], sys.argv[2]
    pending = {l.split("#")[0].strip() for l in open(pending_file)} - {""}
    client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(retries={"max_attempts": 1}, read_timeout=30,
                                        parameter_validation=True))
    model = client.meta.service_model
    python_name = {v: k for k, v in client.meta.method_to_api_mapping.items()}
    problems, answered, unknown = [], 0, 0
    unknown_pending = set()
    for op in model.operation_names:
        om = model.operation_model(op)
        params = sample(om.input_shape) if om.input_shape else {}
        method = getattr(client, python_name[op])
        try:
            out = method(**params)
            for _ in out.get("EventStream", []):  # a streamed answer is read to its end
                pass
            outcome = "ok"
        except botocore.exceptions.ClientError as e:
            outcome = e.response["Error"]["Code"] or "(no code, HTTP %s)" % e.response["ResponseMetadata"]["HTTPStatusCode"]
        except Exception as e:  # an answer botocore cannot parse
            outcome = "BROKEN %s: %s" % (type(e).__name__, e)
        is_unknown = outcome == "UnknownOperationException"
        if outcome.startswith("BROKEN"):
            problems.append("%s: %s" % (op, outcome))
        elif excluded(op):
            if not is_unknown:
                problems.append("%s is excluded but answered %s" % (op, outcome))
        elif is_unknown:
            unknown += 1
            if op in pending:
                unknown_pending.add(op)
            else:
                problems.append("%s is not answered (UnknownOperationException)" % op)
        else:
            answered += 1
            if op in pending:
                problems.append("%s answers (%s): take it off %s" % (op, outcome, pending_file))
        print("%-40s %s" % (op, outcome))
    stale = pending - set(model.operation_names)
    for op in sorted(stale):
        problems.append("%s of %s is not an operation of the model" % (op, pending_file))
    n_ex = sum(1 for op in model.operation_names if excluded(op))
    print("coverage: %d of %d operations answered, %d excluded (capacity providers, durable executions), "
          "%d not yet (pending)" % (answered, len(model.operation_names) - n_ex, n_ex, len(unknown_pending)))
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
