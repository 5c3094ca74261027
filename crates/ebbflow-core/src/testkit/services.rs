//! Tests against a server named by an environment variable.

/// The URL in environment variable `var`, or `None` after printing that the
/// test is skipped. With `EBBFLOW_REQUIRE_SERVICES=1` a missing URL panics
/// instead, so that CI cannot pass by skipping.
pub fn service_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("EBBFLOW_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "EBBFLOW_REQUIRE_SERVICES=1 but {var} is not set (see .ci/run)"
        );
        println!("skipped: {var} is not set (see .ci/run)");
    }
    url
}

/// Server calls on a real-clock runtime of their own, shared by the test
/// process, for backends tested under tokio's paused clock (see
/// [`Offload`](crate::local::Offload)).
#[cfg(feature = "engine")]
pub fn io_offload() -> crate::local::Offload {
    static IO: std::sync::LazyLock<Option<tokio::runtime::Runtime>> =
        std::sync::LazyLock::new(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .ok()
        });
    match IO.as_ref() {
        Some(rt) => crate::local::Offload::Runtime(rt.handle().clone()),
        None => panic!("cannot start an I/O runtime for the tests"),
    }
}
