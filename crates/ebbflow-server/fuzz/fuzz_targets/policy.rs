//! Queue policies, checked and evaluated.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ebbflow_server::fuzzing::policy(text);
    }
});
