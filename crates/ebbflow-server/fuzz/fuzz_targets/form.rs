//! The query protocol's form reader, on any bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ebbflow_server::fuzzing::read_form(data);
});
