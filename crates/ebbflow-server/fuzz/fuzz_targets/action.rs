//! Each action's JSON request: the first byte picks the action, the rest is the body.
#![no_main]
const ACTIONS: [&str; 8] = [
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "CreateQueue",
    "SetQueueAttributes",
    "StartMessageMoveTask",
    "GetQueueUrl",
    "ListQueues",
];
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((pick, body)) = data.split_first() {
        let action = ACTIONS[usize::from(*pick) % ACTIONS.len()];
        let _ = ebbflow_server::fuzzing::parse_action(action, body);
    }
});
