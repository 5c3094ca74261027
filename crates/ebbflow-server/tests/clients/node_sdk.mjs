// The AWS SDK for JavaScript v3 against a running `ebbflow serve` (it checks
// the MD5s it is sent). Usage: node node_sdk.mjs ENDPOINT, from a folder where
// `npm install @aws-sdk/client-sqs` was run. Exits non-zero on a failed check.
import {
  SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand,
  DeleteMessageCommand, DeleteQueueCommand, GetQueueUrlCommand, GetQueueAttributesCommand,
  SendMessageBatchCommand,
} from "@aws-sdk/client-sqs";

const endpoint = process.argv[2];
const sqs = new SQSClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
const check = (what, ok) => { if (!ok) { console.error(`FAILED: ${what}`); process.exit(1); } console.log(`ok: ${what}`); };

const name = `node-${Date.now()}`;
const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
check("CreateQueue gives a URL", QueueUrl.endsWith(`/${name}`));
const sent = await sqs.send(new SendMessageCommand({
  QueueUrl, MessageBody: "héllo", MessageAttributes: { tenant: { DataType: "String", StringValue: "acme" } },
}));
check("SendMessage answers the attributes' MD5", typeof sent.MD5OfMessageAttributes === "string");
const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ["All"], WaitTimeSeconds: 1 }));
check("ReceiveMessage returns it", Messages.length === 1 && Messages[0].Body === "héllo"
  && Messages[0].MessageAttributes.tenant.StringValue === "acme");
await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: Messages[0].ReceiptHandle }));

// SQS's answers to the letter: the queue's timestamps, the trace header, its errors.
const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }));
const now = Math.floor(Date.now() / 1000);
check("CreatedTimestamp and LastModifiedTimestamp are whole seconds of today",
  ["CreatedTimestamp", "LastModifiedTimestamp"].every((k) => /^\d+$/.test(Attributes[k]) && Math.abs(Number(Attributes[k]) - now) < 300));
const trace = { AWSTraceHeader: { DataType: "String", StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793" } };
await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "traced", MessageSystemAttributes: trace }));
await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: [{ Id: "b", MessageBody: "batched", MessageSystemAttributes: trace }] }));
let traced = [];
for (let i = 0; i < 5 && traced.length < 2; i++) {
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ["AWSTraceHeader"] }));
  traced = traced.concat(got.Messages ?? []);
}
check("AWSTraceHeader comes back when asked for",
  traced.length === 2 && traced.every((m) => m.Attributes.AWSTraceHeader === trace.AWSTraceHeader.StringValue));
try {
  await sqs.send(new GetQueueAttributesCommand({ QueueUrl: `${QueueUrl}-gone`, AttributeNames: ["All"] }));
  check("a missing queue is an error", false);
} catch (e) {
  check(`a missing queue answers SQS's text (${e.message})`,
    e.name === "QueueDoesNotExist" && e.message === "The specified queue does not exist.");
}
try {
  await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: "not-a-handle" }));
  check("a bad receipt handle is an error", false);
} catch (e) {
  check(`a bad receipt handle answers SQS's code and text (${e.name})`,
    e.name === "ReceiptHandleIsInvalid" && e.message === "The input receipt handle is invalid.");
}
const answered = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
check("answers carry the x-amzn-RequestId the SDK reads", /^[0-9a-f-]{36}$/.test(answered.$metadata.requestId ?? ""));
try {
  await sqs.send(new GetQueueUrlCommand({ QueueName: `${name}-missing` }));
  check("a missing queue is an error", false);
} catch (e) {
  check(`a missing queue is QueueDoesNotExist (${e.name})`, e.name === "QueueDoesNotExist");
}
await sqs.send(new DeleteQueueCommand({ QueueUrl }));
console.log("all Node SDK checks passed");
