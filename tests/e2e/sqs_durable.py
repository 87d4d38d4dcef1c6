"""The kill -9 half of tests/e2e/sqs.sh, with boto3 (JSON protocol).

sqs_durable.py ENDPOINT send DIR: 8 clients send messages (single and batched) and one
  receives and deletes, until the server goes away (kill -9 mid-run). Each body is
  unique; DIR/attempted gets it before its send, DIR/acked once the send is answered,
  DIR/deleting before its DeleteMessage, DIR/deleted once that is answered (each line
  flushed at once).
sqs_durable.py ENDPOINT drain DIR: receives until every acknowledged, undeleted message
  is back (in-flight ones once their visibility timeout passed), deleting them, and
  prints "missing X resurrected Y unknown Z": acknowledged messages not found (but for
  one whose delete was sent: the kill may come after the server did it and before its
  answer), messages found whose delete was acknowledged, and messages never sent (all
  must be 0; a message whose send was cut short may be there or not).
"""
import os
import sys
import threading
import time

import boto3
import botocore.config

ENDPOINT, MODE, DIR = sys.argv[1:4]


def client():
    return boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=30))


class Log:
    def __init__(self, name):
        self.f = open(os.path.join(DIR, name), "a")
        self.lock = threading.Lock()

    def add(self, lines):
        with self.lock:
            self.f.write("".join(x + "\n" for x in lines))
            self.f.flush()


if MODE == "send":
    url = client().create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    attempted, acked, deleting, deleted = Log("attempted"), Log("acked"), Log("deleting"), Log("deleted")
    stop = threading.Event()

    def sender(k):
        c = client()
        i = 0
        while not stop.is_set():
            try:
                if i % 5 == 0:
                    bodies = ["c%d-%d-%d" % (k, i, j) for j in range(5)]
                    attempted.add(bodies)
                    r = c.send_message_batch(QueueUrl=url, Entries=[
                        {"Id": "e%d" % j, "MessageBody": b} for j, b in enumerate(bodies)])
                    acked.add([bodies[int(e["Id"][1:])] for e in r["Successful"]])
                else:
                    b = "c%d-%d" % (k, i)
                    attempted.add([b])
                    c.send_message(QueueUrl=url, MessageBody=b)
                    acked.add([b])
            except Exception:
                stop.set()
            i += 1

    def deleter():
        c = client()
        while not stop.is_set():
            try:
                for m in c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                    deleting.add([m["Body"]])
                    c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    deleted.add([m["Body"]])
            except Exception:
                stop.set()

    ts = [threading.Thread(target=sender, args=(k,)) for k in range(8)] + [threading.Thread(target=deleter)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
else:
    def lines(name):
        return set(open(os.path.join(DIR, name)).read().split())
    attempted, acked, deleted = lines("attempted"), lines("acked"), lines("deleted")
    deleting = lines("deleting") if os.path.exists(os.path.join(DIR, "deleting")) else set()
    want = acked - deleted - deleting
    c = client()
    url = c.get_queue_url(QueueName="durable")["QueueUrl"]
    seen, resurrected, unknown = set(), 0, 0
    end = time.monotonic() + 90
    while not want <= seen and time.monotonic() < end:
        for m in c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            b = m["Body"]
            if b in deleted:
                resurrected += 1
            elif b not in attempted:
                unknown += 1
            seen.add(b)
            c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    print("missing %d resurrected %d unknown %d" % (len(want - seen), resurrected, unknown), flush=True)
    print("acked %d deleted %d attempted %d" % (len(acked), len(deleted), len(attempted)), flush=True)
