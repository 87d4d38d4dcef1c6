// @aws-sdk/client-sqs (AWS JSON 1.0) as a user drives lambdad's SQS: it checks every
// MD5 the service returns itself (a wrong one throws). Prints one JSON object.
import {
  SQSClient, CreateQueueCommand, GetQueueUrlCommand, SendMessageCommand, SendMessageBatchCommand,
  ReceiveMessageCommand, DeleteMessageCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand,
  ChangeMessageVisibilityCommand, ListQueuesCommand, DeleteQueueCommand, PurgeQueueCommand,
} from "@aws-sdk/client-sqs";

const [endpoint] = process.argv.slice(2);
const cfg = { region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } };
const sqs = new SQSClient({ ...cfg, endpoint });
// No endpoint: the SDK sends each queue operation to its QueueUrl's origin (lambdad).
const byUrl = new SQSClient({ ...cfg });
const out = {};
const name = (e) => e.name;

const { QueueUrl: url } = await sqs.send(new CreateQueueCommand({
  QueueName: "js-q", Attributes: { VisibilityTimeout: "30" }, tags: { team: "js" },
}));
out.url = url;
out.url_again = (await sqs.send(new GetQueueUrlCommand({ QueueName: "js-q" }))).QueueUrl;
const sent = await byUrl.send(new SendMessageCommand({
  QueueUrl: url, MessageBody: "hello from js",
  MessageAttributes: {
    s: { DataType: "String", StringValue: "v" },
    n: { DataType: "Number.int", StringValue: "42" },
    b: { DataType: "Binary", BinaryValue: new TextEncoder().encode("bin") },
  },
}));
out.sent_md5_body = sent.MD5OfMessageBody;
out.sent_md5_attrs = sent.MD5OfMessageAttributes;
const batch = await sqs.send(new SendMessageBatchCommand({
  QueueUrl: url,
  Entries: [
    { Id: "a", MessageBody: "one", MessageAttributes: { k: { DataType: "String", StringValue: "1" } } },
    { Id: "b", MessageBody: "two" },
  ],
}));
out.batch_ok = batch.Successful.map((e) => e.Id).sort();
out.batch_failed = (batch.Failed || []).length;
const got = [];
for (let i = 0; i < 20 && got.length < 3; i++) {
  const r = await sqs.send(new ReceiveMessageCommand({
    QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"],
  }));
  for (const m of r.Messages || []) got.push(m);
}
out.bodies = got.map((m) => m.Body).sort();
const hello = got.find((m) => m.Body === "hello from js");
out.recv_attr_n = hello.MessageAttributes.n.StringValue;
out.recv_attr_b = new TextDecoder().decode(hello.MessageAttributes.b.BinaryValue);
out.recv_count = hello.Attributes.ApproximateReceiveCount;
const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }))).Attributes;
out.in_flight = attrs.ApproximateNumberOfMessagesNotVisible;
await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: hello.ReceiptHandle, VisibilityTimeout: 60 }));
await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: hello.ReceiptHandle }));
const del = await sqs.send(new DeleteMessageBatchCommand({
  QueueUrl: url,
  Entries: got.filter((m) => m !== hello).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle }))
    .concat([{ Id: "bad", ReceiptHandle: "not-a-handle" }]),
}));
out.deleted = del.Successful.length;
out.delete_failed_code = del.Failed[0].Code;
const after = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }))).Attributes;
out.left = Number(after.ApproximateNumberOfMessages) + Number(after.ApproximateNumberOfMessagesNotVisible);

// Long polling: a receive that waits, then gets a message sent while it waits.
const waiting = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20 }));
let polled = false;
waiting.then(() => { polled = true; });
await new Promise((r) => setImmediate(r));
await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "while waiting" }));
const w = await waiting;
out.long_poll_body = (w.Messages || [])[0]?.Body;
out.long_poll_done = polled;

try {
  await sqs.send(new GetQueueUrlCommand({ QueueName: "js-missing" }));
} catch (e) { out.missing = name(e); }
try {
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "x", DelaySeconds: 901 }));
} catch (e) { out.bad_delay = name(e); out.bad_delay_msg = e.message; }
try {
  await sqs.send(new CreateQueueCommand({ QueueName: "js-q", Attributes: { VisibilityTimeout: "31" } }));
} catch (e) { out.exists = name(e); }
await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
out.listed = (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: "js-" }))).QueueUrls;
await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
try {
  await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
} catch (e) { out.deleted_queue = name(e); }
console.log(JSON.stringify(out));
