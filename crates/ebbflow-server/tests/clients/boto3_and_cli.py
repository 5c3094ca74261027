#!/usr/bin/env python3
"""Real SQS clients against a running `ebbflow serve`: boto3 and the aws CLI.
The MD5s are checked here, against AWS's algorithm written out again in
Python (the SDKs of today check none of them). Usage: boto3_and_cli.py ENDPOINT
Exits non-zero, naming the check, when one fails."""
import json
import os
import subprocess
import sys
import uuid

import hashlib
import struct
import time

import boto3


def md5_of_attributes(attributes):
    """AWS's MD5OfMessageAttributes: per attribute, by name, length-prefixed
    name, type, a transport byte (1 text, 2 binary) and the value."""
    data = b""
    for name in sorted(attributes):
        a = attributes[name]
        for part in (name.encode(), a["DataType"].encode()):
            data += struct.pack(">I", len(part)) + part
        if "BinaryValue" in a:
            value, transport = a["BinaryValue"], 2
        else:
            value, transport = a["StringValue"].encode(), 1
        data += bytes([transport]) + struct.pack(">I", len(value)) + value
    return hashlib.md5(data).hexdigest()

endpoint = sys.argv[1]
env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
run = uuid.uuid4().hex[:8]


def check(what, ok):
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


# Standard queue: create, send with attributes (boto3 verifies both MD5s), receive, batch, delete.
url = sqs.create_queue(QueueName=f"py-{run}", Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
check("CreateQueue gives a URL ending in the name", url.endswith(f"/py-{run}"))
attrs = {"tenant": {"DataType": "String", "StringValue": "acmé"},
         "n": {"DataType": "Number", "StringValue": "42"},
         "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}
sent = sqs.send_message(QueueUrl=url, MessageBody="hello ☃", MessageAttributes=attrs)
check("SendMessage's MD5OfMessageBody is the body's", sent["MD5OfMessageBody"] == hashlib.md5("hello ☃".encode()).hexdigest())
check("SendMessage's MD5OfMessageAttributes is AWS's", sent["MD5OfMessageAttributes"] == md5_of_attributes(attrs))
got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
check("ReceiveMessage returns the message with its attributes", len(got) == 1 and got[0]["Body"] == "hello ☃"
      and got[0]["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\xff")
check("the received MD5OfMessageAttributes is AWS's", got[0]["MD5OfMessageAttributes"] == md5_of_attributes(got[0]["MessageAttributes"]))
check("system attributes are strings", got[0]["Attributes"]["ApproximateReceiveCount"] == "1")
sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["ApproximateReceiveCount"])["Messages"]
check("ChangeMessageVisibility 0 makes it visible again", again[0]["Attributes"]["ApproximateReceiveCount"] == "2")
sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"}, {"Id": "b", "MessageBody": "b"}])
check("SendMessageBatch reports each entry", sorted(e["Id"] for e in batch["Successful"]) == ["a", "b"])
msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
check("DeleteMessageBatch deletes them", len(deleted["Successful"]) == len(msgs) == 2)
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
check("GetQueueAttributes counts and settings", a["ApproximateNumberOfMessages"] == "0" and a["VisibilityTimeout"] == "45")

# MessageAttributeNames: a prefix.* selects every name starting with the prefix, as SQS.
text = lambda v: {"DataType": "String", "StringValue": v}
sqs.send_message(QueueUrl=url, MessageBody="attrs",
                 MessageAttributes={"Help.Me": text("Me"), "Hello": text("There"), "General": text("Kenobi")})
got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["Hel.*"], WaitTimeSeconds=1)["Messages"]
check("MessageAttributeNames Hel.* selects Hello and Help.Me", sorted(got[0]["MessageAttributes"]) == ["Hello", "Help.Me"])
sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

# FIFO with a dead-letter queue.
dlq = sqs.create_queue(QueueName=f"dlq-{run}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
fifo = sqs.create_queue(QueueName=f"f-{run}.fifo", Attributes={
    "FifoQueue": "true", "ContentBasedDeduplication": "true",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
for body in ["1", "2", "3"]:
    sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId="g")
order = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
check("a FIFO group comes in order, with sequence numbers", [m["Body"] for m in order] == ["1", "2", "3"]
      and all("SequenceNumber" in m["Attributes"] for m in order))
sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
check("ListDeadLetterSourceQueues names the source", sources == [fifo])

# Errors come back as the SDK's own exceptions.
try:
    sqs.get_queue_url(QueueName=f"missing-{run}")
    check("a missing queue is an error", False)
except sqs.exceptions.QueueDoesNotExist:
    check("a missing queue is QueueDoesNotExist", True)

# Signatures are verified: a wrong secret and an unsigned request are refused.
wrong = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="not-the-secret")
try:
    wrong.list_queues()
    check("a wrong secret is refused", False)
except wrong.exceptions.ClientError as e:
    check(f"a wrong secret is refused ({e.response['Error']['Code']})",
          e.response["Error"]["Code"] == "SignatureDoesNotMatch")
import urllib.request
unsigned = urllib.request.Request(endpoint + "/", data=b'{"QueueName": "unsigned"}', method="POST",
                                  headers={"X-Amz-Target": "AmazonSQS.CreateQueue",
                                           "Content-Type": "application/x-amz-json-1.0"})
try:
    urllib.request.urlopen(unsigned)
    check("an unsigned request is refused", False)
except urllib.error.HTTPError as e:
    check(f"an unsigned request is refused ({e.code})",
          e.code == 403 and "MissingAuthenticationToken" in e.read().decode())

# A trace header: checked and digested as SQS does.
traced_q = sqs.create_queue(QueueName=f"tr-{run}")["QueueUrl"]
trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
traced = sqs.send_message(QueueUrl=traced_q, MessageBody="traced", MessageSystemAttributes=trace)
check("SendMessage's MD5OfMessageSystemAttributes is AWS's", traced["MD5OfMessageSystemAttributes"] == md5_of_attributes(trace))
sqs.send_message_batch(QueueUrl=traced_q, Entries=[{"Id": "t", "MessageBody": "batched", "MessageSystemAttributes": trace}])
got = []
for _ in range(5):
    got += sqs.receive_message(QueueUrl=traced_q, MaxNumberOfMessages=10, VisibilityTimeout=30,
                               MessageSystemAttributeNames=["AWSTraceHeader"]).get("Messages", [])
    if len(got) == 2:
        break
check("AWSTraceHeader is kept and returned when asked for (SendMessage and SendMessageBatch)",
      sorted(m["Body"] for m in got) == ["batched", "traced"]
      and all(m["Attributes"]["AWSTraceHeader"] == trace["AWSTraceHeader"]["StringValue"] for m in got))
sqs.delete_queue(QueueUrl=traced_q)

# Queue timestamps, in whole seconds as SQS writes them.
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
now = int(time.time())
check("CreatedTimestamp and LastModifiedTimestamp are whole seconds of today",
      all(abs(int(a[k]) - now) < 300 for k in ["CreatedTimestamp", "LastModifiedTimestamp"]))
check("SqsManagedSseEnabled is true by default", a["SqsManagedSseEnabled"] == "true")
sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "alias/orders"})
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
check("KmsMasterKeyId is kept with SQS's default data key period",
      (a["SqsManagedSseEnabled"], a["KmsMasterKeyId"], a["KmsDataKeyReusePeriodSeconds"]) == ("false", "alias/orders", "300"))
try:
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "alias/x", "SqsManagedSseEnabled": "true"})
    check("both kinds of SSE at once are refused", False)
except sqs.exceptions.ClientError as e:
    check("both kinds of SSE at once are refused with SQS's text",
          e.response["Error"]["Message"].startswith("You can use one type of server-side encryption (SSE) at one time."))
sqs.set_queue_attributes(QueueUrl=url, Attributes={"SqsManagedSseEnabled": "true"})

# Tags, a message-move task and a permission, through boto3.
sqs.tag_queue(QueueUrl=url, Tags={"team": "orders", "env": "ci"})
sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
check("TagQueue, UntagQueue and ListQueueTags", sqs.list_queue_tags(QueueUrl=url).get("Tags") == {"team": "orders"})
plain_dlq = sqs.create_queue(QueueName=f"pdlq-{run}")["QueueUrl"]
plain_dlq_arn = sqs.get_queue_attributes(QueueUrl=plain_dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sqs.set_queue_attributes(QueueUrl=url, Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": plain_dlq_arn, "maxReceiveCount": "5"})})
sqs.send_message(QueueUrl=plain_dlq, MessageBody="back home")
handle = sqs.start_message_move_task(SourceArn=plain_dlq_arn, DestinationArn=a["QueueArn"])["TaskHandle"]
for _ in range(50):
    task = sqs.list_message_move_tasks(SourceArn=plain_dlq_arn)["Results"][0]
    if task["Status"] == "COMPLETED":
        break
    time.sleep(0.1)
check("a message-move task completes and counts what it moved",
      task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 1)
moved = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
check("the moved message is in its destination", moved[0]["Body"] == "back home")
sqs.delete_message(QueueUrl=url, ReceiptHandle=moved[0]["ReceiptHandle"])
sqs.add_permission(QueueUrl=url, Label="reader", AWSAccountIds=["AKIDREADER"], Actions=["ReceiveMessage"])
policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
check("AddPermission writes the queue's Policy", "AKIDREADER" in policy and "SQS:ReceiveMessage" in policy)
sqs.remove_permission(QueueUrl=url, Label="reader")
check("RemovePermission takes it out", "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])

# The query protocol (form posts, XML answers), signed by botocore's own SigV4 signer.
import urllib.parse
import xml.etree.ElementTree as ET
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"

def query(params, secret="test"):
    body = urllib.parse.urlencode(dict(params, Version="2012-11-05"))
    request = AWSRequest(method="POST", url=endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("test", secret), "sqs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=body.encode(), method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http) as r:
            return r.status, ET.fromstring(r.read())
    except urllib.error.HTTPError as e:
        return e.code, ET.fromstring(e.read())

status, xml = query({"Action": "SendMessage", "QueueUrl": url, "MessageBody": "by form <&>",
                     "MessageAttribute.1.Name": "tenant", "MessageAttribute.1.Value.DataType": "String",
                     "MessageAttribute.1.Value.StringValue": "acmé"})
check("query SendMessage answers SendMessageResponse", status == 200 and xml.tag == NS + "SendMessageResponse")
check("query SendMessage's MD5s are AWS's",
      xml.find(f"{NS}SendMessageResult/{NS}MD5OfMessageBody").text == hashlib.md5("by form <&>".encode()).hexdigest()
      and xml.find(f"{NS}SendMessageResult/{NS}MD5OfMessageAttributes").text
      == md5_of_attributes({"tenant": {"DataType": "String", "StringValue": "acmé"}}))
status, xml = query({"Action": "ReceiveMessage", "QueueUrl": url, "WaitTimeSeconds": "1",
                     "AttributeName.1": "All", "MessageAttributeName.1": "All"})
message = xml.find(f"{NS}ReceiveMessageResult/{NS}Message")
check("query ReceiveMessage returns the body, escaped and read back", message.find(f"{NS}Body").text == "by form <&>")
check("query ReceiveMessage lists attributes as Name/Value members",
      any(a.find(f"{NS}Name").text == "ApproximateReceiveCount" for a in message.findall(f"{NS}Attribute")))
status, xml = query({"Action": "DeleteMessageBatch", "QueueUrl": url,
                     "DeleteMessageBatchRequestEntry.1.Id": "only",
                     "DeleteMessageBatchRequestEntry.1.ReceiptHandle": message.find(f"{NS}ReceiptHandle").text})
check("query DeleteMessageBatch reports its entry",
      xml.find(f"{NS}DeleteMessageBatchResult/{NS}DeleteMessageBatchResultEntry/{NS}Id").text == "only")
status, xml = query({"Action": "SendMessage", "QueueUrl": url, "MessageBody": "traced by form",
                     "MessageSystemAttribute.1.Name": "AWSTraceHeader",
                     "MessageSystemAttribute.1.Value.DataType": "String",
                     "MessageSystemAttribute.1.Value.StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"})
check("query SendMessage takes a trace header", status == 200)
status, xml = query({"Action": "ReceiveMessage", "QueueUrl": url, "WaitTimeSeconds": "1",
                     "MessageSystemAttributeName.1": "AWSTraceHeader"})
traced = {a.find(f"{NS}Name").text: a.find(f"{NS}Value").text
          for a in xml.findall(f"{NS}ReceiveMessageResult/{NS}Message/{NS}Attribute")}
check("query ReceiveMessage returns the trace header asked for",
      traced == {"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793"})
check("query answers carry their RequestId", xml.find(f"{NS}ResponseMetadata/{NS}RequestId").text)
status, xml = query({"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "CreatedTimestamp"})
check("query GetQueueAttributes describes CreatedTimestamp",
      xml.find(f"{NS}GetQueueAttributesResult/{NS}Attribute/{NS}Name").text == "CreatedTimestamp")
status, xml = query({"Action": "GetQueueUrl", "QueueName": f"missing-{run}"})
check("a query error is SQS's ErrorResponse",
      status == 400 and xml.find(f"{NS}Error/{NS}Code").text == "AWS.SimpleQueueService.NonExistentQueue")
status, xml = query({"Action": "ListQueues"}, secret="wrong")
check("a wrongly signed form is refused", status == 403 and xml.find(f"{NS}Error/{NS}Code").text == "SignatureDoesNotMatch")

# The aws CLI.
def aws(*args):
    out = subprocess.run(["aws", "--endpoint-url", endpoint, "sqs", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAILED: aws sqs {' '.join(args)}: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip() else {}

aws("send-message", "--queue-url", url, "--message-body", "from the cli")
got = aws("receive-message", "--queue-url", url, "--wait-time-seconds", "1")
check("the aws CLI sends and receives", got["Messages"][0]["Body"] == "from the cli")
check("the aws CLI lists queues", url in aws("list-queues", "--queue-name-prefix", "py-")["QueueUrls"])

for q in [fifo, dlq, url, plain_dlq]:
    sqs.delete_queue(QueueUrl=q)
print("all client checks passed")
