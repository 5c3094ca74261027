#!/usr/bin/env python3
"""boto3 against `ebbflow serve` over HTTPS, trusting the test CA.
Usage: boto3_https.py ENDPOINT CA_PEM. Exits non-zero, naming the check, when one fails."""
import sys
import uuid

import boto3

endpoint, ca = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", verify=ca,
                   aws_access_key_id="test", aws_secret_access_key="test")
name = f"tls-{uuid.uuid4().hex[:8]}"
url = sqs.create_queue(QueueName=name)["QueueUrl"]
if not url.startswith("https://"):
    sys.exit(f"FAILED: a queue URL over HTTPS is https://, not {url}")
sqs.send_message(QueueUrl=url, MessageBody="over TLS")
got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
if got[0]["Body"] != "over TLS":
    sys.exit(f"FAILED: received {got}")
sqs.delete_queue(QueueUrl=url)
untrusting = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
try:
    untrusting.list_queues()
    sys.exit("FAILED: a client that does not trust the test CA was served")
except Exception as e:  # botocore's SSLError
    if "SSL" not in type(e).__name__ and "certificate" not in str(e).lower():
        raise
print("ok: boto3 over HTTPS (signed, certificate verified; an untrusting client refuses)")
