-- SQS's AWSTraceHeader system attribute, kept as sent.
ALTER TABLE ebbflow_messages ADD COLUMN trace_header text;
