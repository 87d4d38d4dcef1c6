"""The kill -9 half of tests/e2e/sqs.sh, with boto3 (JSON protocol).

sqs_durable.py ENDPOINT send DIR: several clients send messages at once and record each
  acknowledged MessageId in DIR/acked; some are received and deleted (DIR/deleted), some
  left in flight with a 2 s visibility timeout; prints "sent N deleted M inflight K".
sqs_durable.py ENDPOINT drain DIR: receives until every acknowledged, undeleted message
  is back (in-flight ones once their timeout passed), deleting them; prints what it
  found: "missing X resurrected Y extra Z".
"""
import os
import sys
import threading
import time

import boto3

ENDPOINT, MODE, DIR = sys.argv[1:4]


def client():
    return boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


if MODE == "send":
    url = client().create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    acked, lock = [], threading.Lock()

    def sender(k):
        c = client()
        for i in range(100):
            if i % 5 == 0:
                r = c.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": "e%d" % j, "MessageBody": "c%d-b%d-%d" % (k, i, j)} for j in range(5)])
                ids = [e["MessageId"] for e in r["Successful"]]
            else:
                ids = [c.send_message(QueueUrl=url, MessageBody="c%d-%d" % (k, i))["MessageId"]]
            with lock:
                acked.extend(ids)

    ts = [threading.Thread(target=sender, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(os.path.join(DIR, "acked"), "w") as f:
        f.write("\n".join(acked) + "\n")
    c = client()
    deleted, inflight = [], 0
    while len(deleted) < 100:
        ms = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in ms:
            c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            deleted.append(m["MessageId"])
    with open(os.path.join(DIR, "deleted"), "w") as f:
        f.write("\n".join(deleted) + "\n")
    inflight = len(c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2).get("Messages", []))
    print("sent %d deleted %d inflight %d" % (len(acked), len(deleted), inflight), flush=True)
else:
    acked = set(open(os.path.join(DIR, "acked")).read().split())
    deleted = set(open(os.path.join(DIR, "deleted")).read().split())
    want = acked - deleted
    c = client()
    url = c.get_queue_url(QueueName="durable")["QueueUrl"]
    seen, resurrected, extra = set(), 0, 0
    end = time.monotonic() + 60
    while seen != want and time.monotonic() < end:
        ms = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in ms:
            i = m["MessageId"]
            if i in deleted:
                resurrected += 1
            elif i not in acked:
                extra += 1
            seen.add(i)
            c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    print("missing %d resurrected %d extra %d" % (len(want - seen), resurrected, extra), flush=True)
