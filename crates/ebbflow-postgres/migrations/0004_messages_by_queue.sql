-- A queue's messages in id order: a browse (the dashboard, `ebbflow peek`,
-- `ebbflow export`) reads one page of its queue whatever else the table
-- holds, rather than walk every queue's rows or sort all of its own.
CREATE INDEX ebbflow_messages_queue_id ON ebbflow_messages (queue, id);
