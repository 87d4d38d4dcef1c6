"""boto3 as a user drives lambdad's SQS; run by tests/e2e/sqs.sh with two interpreters:
Debian's boto3 1.26 (it speaks the query protocol) and the newer boto3 on PATH (AWS JSON
1.0), so both protocols go through every operation. Prints "ok - ..." / "not ok - ..."
lines and, last, "protocol <query|json>".

usage: sqs_client.py ENDPOINT PREFIX
"""
import hashlib
import json
import struct
import sys
import threading
import time
import urllib.request

import boto3
import botocore
import botocore.config

ENDPOINT, PREFIX = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
PROTO = sqs.meta.service_model.protocol  # "query" or "json"
ACCOUNT = "000000000000"


def out(ok, desc, detail=""):
    print(("ok - " if ok else "not ok - ") + "[%s] %s%s" % (PROTO, desc, "" if ok else ": " + detail), flush=True)


def check(desc, want, got):
    out(want == got, desc, "expected %r got %r" % (want, got))


def err(fn, **kw):
    """The error code of a call expected to fail (as botocore reports it), or 'no error'."""
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "no error"


def err_msg(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"].get("Message", "")
    return "no error"


def poll(cond, seconds=30):
    """cond() until it is true (returns its value) or the generous bound passes (None)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return None


def md5_attrs(attrs):
    """MD5OfMessageAttributes as AWS documents it, written independently of lambdad's C."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        t = a["DataType"]
        buf += struct.pack(">I", len(name.encode())) + name.encode()
        buf += struct.pack(">I", len(t.encode())) + t.encode()
        if t.startswith("Binary"):
            v = a["BinaryValue"]
            buf += b"\x02" + struct.pack(">I", len(v)) + v
        else:
            v = a["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(v)) + v
    return hashlib.md5(buf).hexdigest()


def metric(name, queue):
    text = urllib.request.urlopen(ENDPOINT + "/metrics").read().decode()
    want = '%s{queue="%s"} ' % (name, queue)
    for line in text.splitlines():
        if line.startswith(want):
            return int(float(line.split()[-1]))
    return None


def _give_up(c, url):
    try:
        c.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    except botocore.exceptions.ReadTimeoutError:
        return "gave up"
    return "answered"


def url_of(name):
    return "%s/%s/%s" % (ENDPOINT, ACCOUNT, name)


def qattrs(url, *names):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"]).get("Attributes", {})


P = PREFIX
# ---- CreateQueue, GetQueueUrl, ListQueues
u = sqs.create_queue(QueueName=P + "main", Attributes={"VisibilityTimeout": "40", "DelaySeconds": "0"},
                     tags={"team": "core"})["QueueUrl"]
check("CreateQueue answers a URL on lambdad's own host and port", url_of(P + "main"), u)
check("CreateQueue again with the same attributes answers the same URL", u,
      sqs.create_queue(QueueName=P + "main", Attributes={"VisibilityTimeout": "40"})["QueueUrl"])
check("CreateQueue with other attributes is QueueAlreadyExists",
      "QueueAlreadyExists", err(sqs.create_queue, QueueName=P + "main", Attributes={"VisibilityTimeout": "41"}))
check("a bad queue name is InvalidParameterValue", "InvalidParameterValue", err(sqs.create_queue, QueueName="bad name!"))
check("a .fifo name without FifoQueue is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.create_queue, QueueName=P + "x.fifo"))
check("an unknown attribute is InvalidAttributeName", "InvalidAttributeName",
      err(sqs.create_queue, QueueName=P + "y", Attributes={"Colour": "blue"}))
check("VisibilityTimeout out of range is InvalidAttributeValue", "InvalidAttributeValue",
      err(sqs.create_queue, QueueName=P + "y", Attributes={"VisibilityTimeout": "43201"}))
check("the message names the attribute", True,
      "VisibilityTimeout" in err_msg(sqs.create_queue, QueueName=P + "y", Attributes={"VisibilityTimeout": "-1"}))
check("CreateQueue's tags are the queue's", {"team": "core"}, sqs.list_queue_tags(QueueUrl=u)["Tags"])
check("GetQueueUrl finds it", u, sqs.get_queue_url(QueueName=P + "main")["QueueUrl"])
check("GetQueueUrl of a missing queue is AWS.SimpleQueueService.NonExistentQueue",
      "AWS.SimpleQueueService.NonExistentQueue", err(sqs.get_queue_url, QueueName=P + "missing"))
for n in ("la", "lb", "lc"):
    sqs.create_queue(QueueName=P + "list-" + n)
got = sqs.list_queues(QueueNamePrefix=P + "list-")["QueueUrls"]
check("ListQueues by prefix", [url_of(P + "list-" + n) for n in ("la", "lb", "lc")], got)
p1 = sqs.list_queues(QueueNamePrefix=P + "list-", MaxResults=2)
p2 = sqs.list_queues(QueueNamePrefix=P + "list-", MaxResults=2, NextToken=p1["NextToken"])
check("ListQueues pages with MaxResults and NextToken", got, p1["QueueUrls"] + p2["QueueUrls"])
check("the last page has no NextToken", False, "NextToken" in p2)
check("ListQueues of a prefix nothing has lists nothing", [],
      sqs.list_queues(QueueNamePrefix=P + "zzz").get("QueueUrls", []))

# ---- Get/SetQueueAttributes
a = qattrs(u)
check("GetQueueAttributes All: the defaults and the given ones",
      ("40", "0", "345600", "1048576", "0"),
      (a["VisibilityTimeout"], a["DelaySeconds"], a["MessageRetentionPeriod"], a["MaximumMessageSize"],
       a["ReceiveMessageWaitTimeSeconds"]))
check("QueueArn", "arn:aws:sqs:us-east-1:%s:%smain" % (ACCOUNT, P), a["QueueArn"])
check("CreatedTimestamp is epoch seconds", True, abs(int(a["CreatedTimestamp"]) - time.time()) < 3600)
check("GetQueueAttributes with no names returns none", {},
      sqs.get_queue_attributes(QueueUrl=u).get("Attributes", {}))
check("GetQueueAttributes of one name", {"VisibilityTimeout": "40"}, qattrs(u, "VisibilityTimeout"))
sqs.set_queue_attributes(QueueUrl=u, Attributes={"VisibilityTimeout": "20", "MessageRetentionPeriod": "600"})
check("SetQueueAttributes changes them", {"VisibilityTimeout": "20", "MessageRetentionPeriod": "600"},
      qattrs(u, "VisibilityTimeout", "MessageRetentionPeriod"))
check("SetQueueAttributes of a read-only attribute is InvalidAttributeName", "InvalidAttributeName",
      err(sqs.set_queue_attributes, QueueUrl=u, Attributes={"QueueArn": "x"}))
check("SetQueueAttributes FifoQueue is refused", True,
      err(sqs.set_queue_attributes, QueueUrl=u, Attributes={"FifoQueue": "true"}) != "no error")

# ---- SendMessage, ReceiveMessage, the MD5s
mattrs = {"s": {"DataType": "String", "StringValue": "v1"},
          "n": {"DataType": "Number.float", "StringValue": "3.25"},
          "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01bin"}}
r = sqs.send_message(QueueUrl=u, MessageBody="hello \u00e9\u4e16 <&>\r\n", MessageAttributes=mattrs,
                     MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-a"}})
check("MD5OfMessageSystemAttributes", md5_attrs({"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-a"}}),
      r.get("MD5OfMessageSystemAttributes"))
check("MD5OfMessageBody", hashlib.md5("hello \u00e9\u4e16 <&>\r\n".encode()).hexdigest(), r["MD5OfMessageBody"])
check("MD5OfMessageAttributes as AWS computes it", md5_attrs(mattrs), r["MD5OfMessageAttributes"])
mid = r["MessageId"]
m = sqs.receive_message(QueueUrl=u, AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"][0]
check("the message comes back whole (XML-special characters and CR included)",
      (mid, "hello \u00e9\u4e16 <&>\r\n"), (m["MessageId"], m["Body"]))
check("its attributes come back", mattrs, m["MessageAttributes"])
check("AWSTraceHeader comes back as a system attribute", "Root=1-a", m["Attributes"].get("AWSTraceHeader"))
check("MD5OfBody and MD5OfMessageAttributes on receive", (r["MD5OfMessageBody"], md5_attrs(mattrs)),
      (m["MD5OfBody"], m["MD5OfMessageAttributes"]))
check("system attributes", ("1", True, True), (m["Attributes"]["ApproximateReceiveCount"],
                                              abs(int(m["Attributes"]["SentTimestamp"]) / 1000 - time.time()) < 600,
                                              "ApproximateFirstReceiveTimestamp" in m["Attributes"]))
check("in flight, not visible", ("0", "1"),
      tuple(qattrs(u, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible").values()))
check("a received message is not received again while in flight", [],
      sqs.receive_message(QueueUrl=u).get("Messages", []))
check("metrics agree: 1 in flight", 1, metric("lambdad_sqs_messages_in_flight", P + "main"))
sqs.delete_message(QueueUrl=u, ReceiptHandle=m["ReceiptHandle"])
check("DeleteMessage removes it", ("0", "0"),
      tuple(qattrs(u, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible").values()))
check("DeleteMessage of a deleted message's handle succeeds", "no error",
      err(sqs.delete_message, QueueUrl=u, ReceiptHandle=m["ReceiptHandle"]))
check("a malformed receipt handle is ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
      err(sqs.delete_message, QueueUrl=u, ReceiptHandle="garbage"))
check("an empty body is MissingParameter", "MissingParameter", err(sqs.send_message, QueueUrl=u, MessageBody=""))
check("a body with a forbidden character is InvalidMessageContents", "InvalidMessageContents",
      err(sqs.send_message, QueueUrl=u, MessageBody="a\x01b"))
check("a body over MaximumMessageSize is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.send_message, QueueUrl=u, MessageBody="x" * 1048577))
check("DelaySeconds 901 is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.send_message, QueueUrl=u, MessageBody="x", DelaySeconds=901))
check("an attribute named AWS.x is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.send_message, QueueUrl=u, MessageBody="x",
          MessageAttributes={"AWS.x": {"DataType": "String", "StringValue": "v"}}))
check("an attribute without a value is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.send_message, QueueUrl=u, MessageBody="x", MessageAttributes={"a": {"DataType": "String",
                                                                                   "BinaryValue": b"x"}}))
check("SendMessage to a missing queue", "AWS.SimpleQueueService.NonExistentQueue",
      err(sqs.send_message, QueueUrl=url_of(P + "missing"), MessageBody="x"))
check("MaxNumberOfMessages 11 is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.receive_message, QueueUrl=u, MaxNumberOfMessages=11))

# ---- Batches
b = sqs.send_message_batch(QueueUrl=u, Entries=[
    {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "DelaySeconds": 0},
    {"Id": "c", "MessageBody": "bad\x02"}])
check("SendMessageBatch: good entries succeed", ["a", "b"], sorted(e["Id"] for e in b["Successful"]))
check("a bad entry fails in the result, not the call", [("c", "InvalidMessageContents", True)],
      [(e["Id"], e["Code"], e["SenderFault"]) for e in b.get("Failed", [])])
check("its MD5", hashlib.md5(b"one").hexdigest(), [e for e in b["Successful"] if e["Id"] == "a"][0]["MD5OfMessageBody"])
check("duplicate batch ids are BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
      err(sqs.send_message_batch, QueueUrl=u, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]))
check("11 entries are TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
      err(sqs.send_message_batch, QueueUrl=u, Entries=[{"Id": "e%d" % i, "MessageBody": "x"} for i in range(11)]))
check("no entries is EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
      err(sqs.send_message_batch, QueueUrl=u, Entries=[]))
check("a bad entry id is InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
      err(sqs.send_message_batch, QueueUrl=u, Entries=[{"Id": "a b", "MessageBody": "x"}]))
ms = sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10).get("Messages", [])
check("one receive takes both", ["one", "two"], sorted(x["Body"] for x in ms))
cv = sqs.change_message_visibility_batch(QueueUrl=u, Entries=[
    {"Id": "x%d" % i, "ReceiptHandle": x["ReceiptHandle"], "VisibilityTimeout": 0} for i, x in enumerate(ms)] +
    [{"Id": "bad", "ReceiptHandle": "nope", "VisibilityTimeout": 5}])
check("ChangeMessageVisibilityBatch: successes and a failure", (2, ["bad"]),
      (len(cv["Successful"]), [e["Id"] for e in cv.get("Failed", [])]))
ms = poll(lambda: sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])
          .get("Messages"))
check("visible again at once after VisibilityTimeout 0, received a second time", ["2", "2"],
      [x["Attributes"]["ApproximateReceiveCount"] for x in ms or []])
db = sqs.delete_message_batch(QueueUrl=u, Entries=[{"Id": "d%d" % i, "ReceiptHandle": x["ReceiptHandle"]}
                                                   for i, x in enumerate(ms or [])] + [{"Id": "z", "ReceiptHandle": "zz"}])
check("DeleteMessageBatch: successes and a failure", (2, [("z", "ReceiptHandleIsInvalid")]),
      (len(db["Successful"]), [(e["Id"], e["Code"]) for e in db.get("Failed", [])]))

# ---- Visibility timeout: a message not deleted reappears.
sqs.send_message(QueueUrl=u, MessageBody="reappear")
m1 = sqs.receive_message(QueueUrl=u, VisibilityTimeout=1)["Messages"][0]
m2 = poll(lambda: sqs.receive_message(QueueUrl=u, AttributeNames=["All"]).get("Messages"))
check("a message reappears after its visibility timeout", ("reappear", "2"),
      (m2[0]["Body"], m2[0]["Attributes"]["ApproximateReceiveCount"]) if m2 else None)
check("the old receipt handle cannot change its visibility", True,
      err(sqs.change_message_visibility, QueueUrl=u, ReceiptHandle=m1["ReceiptHandle"], VisibilityTimeout=5) != "no error")
sqs.change_message_visibility(QueueUrl=u, ReceiptHandle=m2[0]["ReceiptHandle"], VisibilityTimeout=0)
m3 = poll(lambda: sqs.receive_message(QueueUrl=u).get("Messages"))
check("ChangeMessageVisibility 0 makes it visible", "reappear", m3[0]["Body"] if m3 else None)
sqs.delete_message(QueueUrl=u, ReceiptHandle=m3[0]["ReceiptHandle"])
check("ChangeMessageVisibility of a visible message is MessageNotInflight",
      "AWS.SimpleQueueService.MessageNotInflight",
      err(sqs.change_message_visibility, QueueUrl=u, ReceiptHandle=(lambda h: h)(
          (sqs.send_message(QueueUrl=u, MessageBody="v"), sqs.receive_message(QueueUrl=u, VisibilityTimeout=0)
           ["Messages"][0]["ReceiptHandle"])[1]), VisibilityTimeout=5))

# ---- Delay
sqs.purge_queue(QueueUrl=u)
check("PurgeQueue again within 60 s is PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress",
      err(sqs.purge_queue, QueueUrl=u))
check("PurgeQueue emptied it", "0", qattrs(u, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"])
sqs.send_message(QueueUrl=u, MessageBody="later", DelaySeconds=1)
check("a delayed message counts as delayed", "1",
      qattrs(u, "ApproximateNumberOfMessagesDelayed")["ApproximateNumberOfMessagesDelayed"])
d = poll(lambda: sqs.receive_message(QueueUrl=u).get("Messages"))
check("it is delivered once its delay has passed", "later", d[0]["Body"] if d else None)

# ---- Long polling: a receive that waits gets a message sent while it waits.
lp = sqs.create_queue(QueueName=P + "lp")["QueueUrl"]
res = {}
t = threading.Thread(target=lambda: res.update(
    r=boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test",
                   aws_secret_access_key="test").receive_message(QueueUrl=lp, WaitTimeSeconds=20)))
t.start()
check("the receive waits on the server", 1, poll(lambda: metric("lambdad_sqs_waiting_receives", P + "lp") == 1 and 1))
sqs.send_message(QueueUrl=lp, MessageBody="woken")
t.join(60)
check("it gets the message sent while it waited", "woken", res.get("r", {}).get("Messages", [{}])[0].get("Body"))
check("no receive waits any more", 0, metric("lambdad_sqs_waiting_receives", P + "lp"))
sqs.set_queue_attributes(QueueUrl=lp, Attributes={"ReceiveMessageWaitTimeSeconds": "20"})
t = threading.Thread(target=lambda: res.update(
    r2=boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test",
                    aws_secret_access_key="test").receive_message(QueueUrl=lp)))
t.start()
check("the queue's ReceiveMessageWaitTimeSeconds makes a receive wait", 1,
      poll(lambda: metric("lambdad_sqs_waiting_receives", P + "lp") == 1 and 1))
sqs.send_message(QueueUrl=lp, MessageBody="woken2")
t.join(60)
check("and it gets the message", "woken2", res.get("r2", {}).get("Messages", [{}])[0].get("Body"))
for k in ("r", "r2"):
    for x in res.get(k, {}).get("Messages", []):
        sqs.delete_message(QueueUrl=lp, ReceiptHandle=x["ReceiptHandle"])

lp2 = boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test",
                   aws_secret_access_key="test",
                   config=botocore.config.Config(read_timeout=1, retries={"total_max_attempts": 1}))
t = threading.Thread(target=lambda: res.update(g=_give_up(lp2, lp)))
t.start()
check("a long poll whose client will give up waits on the server", True,
      bool(poll(lambda: metric("lambdad_sqs_waiting_receives", P + "lp") == 1)))
t.join(60)
check("the client gave up (its read timeout)", "gave up", res.get("g"))
check("the server saw it go", True,
      bool(poll(lambda: (metric("lambdad_sqs_receives_abandoned_total", P + "lp") or 0) >= 1)))
check("and freed its wait", True, bool(poll(lambda: metric("lambdad_sqs_waiting_receives", P + "lp") == 0)))
sqs.send_message(QueueUrl=lp, MessageBody="after the gone client")
got = poll(lambda: sqs.receive_message(QueueUrl=lp).get("Messages"))
check("a message sent after it is not lost to the gone client", "after the gone client", got[0]["Body"] if got else None)

# ---- Dead-letter queue after maxReceiveCount
dlq = sqs.create_queue(QueueName=P + "dlq")["QueueUrl"]
dlq_arn = qattrs(dlq, "QueueArn")["QueueArn"]
src = sqs.create_queue(QueueName=P + "src", Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
check("a RedrivePolicy to a missing queue is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.set_queue_attributes, QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
          {"deadLetterTargetArn": dlq_arn + "nope", "maxReceiveCount": 2})}))
sqs.send_message(QueueUrl=src, MessageBody="poison")
counts = []
for _ in range(2):
    x = poll(lambda: sqs.receive_message(QueueUrl=src, VisibilityTimeout=0, AttributeNames=["All"]).get("Messages"))
    counts.append(x[0]["Attributes"]["ApproximateReceiveCount"] if x else None)
check("received maxReceiveCount times", ["1", "2"], counts)
check("the next receive moves it to the DLQ instead", [], sqs.receive_message(QueueUrl=src).get("Messages", []))
dm = poll(lambda: sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"]).get("Messages"))
check("the DLQ has it", "poison", dm[0]["Body"] if dm else None)
check("with DeadLetterQueueSourceArn", qattrs(src, "QueueArn")["QueueArn"],
      dm[0]["Attributes"].get("DeadLetterQueueSourceArn") if dm else None)
check("the metrics count the move", 1, metric("lambdad_sqs_moved_to_dlq_total", P + "src"))
check("ListDeadLetterSourceQueues", [src], sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"])

# ---- Tags
sqs.tag_queue(QueueUrl=u, Tags={"env": "dev", "team": "edge"})
check("TagQueue adds and overwrites", {"env": "dev", "team": "edge"}, sqs.list_queue_tags(QueueUrl=u)["Tags"])
sqs.untag_queue(QueueUrl=u, TagKeys=["team", "absent"])
check("UntagQueue removes", {"env": "dev"}, sqs.list_queue_tags(QueueUrl=u)["Tags"])

# ---- FIFO
f = sqs.create_queue(QueueName=P + "f.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
check("FIFO without a group id is MissingParameter", "MissingParameter",
      err(sqs.send_message, QueueUrl=f, MessageBody="x", MessageDeduplicationId="d"))
check("FIFO without dedup id nor ContentBasedDeduplication is InvalidParameterValue", "InvalidParameterValue",
      err(sqs.send_message, QueueUrl=f, MessageBody="x", MessageGroupId="g"))
check("FIFO refuses a per-message DelaySeconds", "InvalidParameterValue",
      err(sqs.send_message, QueueUrl=f, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=1))
s1 = sqs.send_message(QueueUrl=f, MessageBody="g1-a", MessageGroupId="g1", MessageDeduplicationId="1")
s1b = sqs.send_message(QueueUrl=f, MessageBody="g1-a again", MessageGroupId="g1", MessageDeduplicationId="1")
check("a repeated deduplication id is accepted with the first message's id", s1["MessageId"], s1b["MessageId"])
sqs.send_message(QueueUrl=f, MessageBody="g1-b", MessageGroupId="g1", MessageDeduplicationId="2")
sqs.send_message(QueueUrl=f, MessageBody="g2-a", MessageGroupId="g2", MessageDeduplicationId="3")
check("SequenceNumber grows", True, int(s1["SequenceNumber"]) > 0)
r1 = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"]
check("the first message of the first group comes first", ("g1-a", "g1"),
      (r1[0]["Body"], r1[0]["Attributes"]["MessageGroupId"]))
r2 = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10).get("Messages", [])
check("while g1 has a message in flight only g2 delivers", ["g2-a"], [x["Body"] for x in r2])
sqs.delete_message(QueueUrl=f, ReceiptHandle=r1[0]["ReceiptHandle"])
r3 = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10).get("Messages", [])
check("after the delete g1 goes on in order; the duplicate never came", ["g1-b"], [x["Body"] for x in r3])
fc = sqs.create_queue(QueueName=P + "c.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
c1 = sqs.send_message(QueueUrl=fc, MessageBody="same", MessageGroupId="g")
c2 = sqs.send_message(QueueUrl=fc, MessageBody="same", MessageGroupId="g")
check("ContentBasedDeduplication: the same body is one message", (c1["MessageId"], "1"),
      (c2["MessageId"], qattrs(fc, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"]))

# ---- DeleteQueue
sqs.delete_queue(QueueUrl=fc)
check("DeleteQueue: the queue is gone", "AWS.SimpleQueueService.NonExistentQueue",
      err(sqs.get_queue_url, QueueName=P + "c.fifo"))
print("protocol", PROTO, flush=True)
