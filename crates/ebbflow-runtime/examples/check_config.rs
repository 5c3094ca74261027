//! Loads a configuration file and reports whether it is valid.
//!
//! `cargo run -p ebbflow-runtime --example check_config -- config/ebbflow.toml`

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "config/ebbflow.toml".into());
    match ebbflow_runtime::load_config(&path) {
        Ok(cfg) => println!(
            "{path}: valid ({} queues, {} worker groups)",
            cfg.queues.len(),
            cfg.workers.len()
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
