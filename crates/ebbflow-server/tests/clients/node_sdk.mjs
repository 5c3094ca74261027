// The AWS SDK for JavaScript v3 against a running `ebbflow serve` (it checks
// the MD5s it is sent). Usage: node node_sdk.mjs ENDPOINT, from a folder where
// `npm install @aws-sdk/client-sqs` was run. Exits non-zero on a failed check.
import {
  SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand,
  DeleteMessageCommand, DeleteQueueCommand, GetQueueUrlCommand,
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
try {
  await sqs.send(new GetQueueUrlCommand({ QueueName: `${name}-missing` }));
  check("a missing queue is an error", false);
} catch (e) {
  check(`a missing queue is QueueDoesNotExist (${e.name})`, e.name === "QueueDoesNotExist");
}
await sqs.send(new DeleteQueueCommand({ QueueUrl }));
console.log("all Node SDK checks passed");
