//! `ebbflow`: operate queues from a shell, on any backend the config names.
//!
//! ```text
//! ebbflow queues                         every queue with its counts
//! ebbflow send orders '{"id":1}'         send a message
//! ebbflow peek orders                    look without receiving
//! ebbflow dlq orders-dlq                 dead letters and why
//! ebbflow redrive orders-dlq             back to where they failed
//! ebbflow export orders > orders.jsonl   move a queue between backends
//! ```

mod args;
mod attributes;
mod commands;
mod error;
mod interrupt;
mod open;
mod output;
mod record;

use clap::Parser;

/// jemalloc rather than the system's: with glibc's, memory one thread
/// allocates and another frees (a message received on one worker thread and
/// settled on the other) contends on its arena locks, and `ebbflow work`
/// drained at about half the speed.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    // Do not wait for blocking reads of stdin that will never finish.
    runtime.shutdown_background();
    std::process::exit(code);
}
