//! The autoscaler's scenarios, simulated: the real runtime and autoscaler
//! against the memory backend under tokio's paused clock, with synthetic
//! handlers, deterministic from a seed.
//!
//! ```text
//! cargo run --release -p ebbflow-runtime --example autoscale_scenarios -- --out DIR [--seed N] [--only NAME]
//! ```
//!
//! Prints a table, writes `DIR/report.json` (one object per scenario: `name`
//! and its raw figures, in seconds unless the name says otherwise) and
//! `DIR/NAME.svg` (workers and backlog over time, also as `DIR/NAME.csv`). Exits 1 if a goal is missed.

mod plot;
mod scenarios;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    out: PathBuf,
    seed: u64,
    only: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        out: PathBuf::from("target/autoscale"),
        seed: 7,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => parsed.out = PathBuf::from(value()?),
            "--seed" => parsed.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--only" => parsed.only = Some(value()?),
            other => {
                return Err(format!(
                    "unknown argument {other}; use --out DIR [--seed N] [--only NAME]"
                ))
            }
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("autoscale_scenarios: {e}");
            return ExitCode::from(2);
        }
    };
    let chosen: Vec<_> = scenarios::ALL
        .iter()
        .filter(|(name, _)| args.only.as_deref().is_none_or(|o| o == *name))
        .collect();
    if chosen.is_empty() {
        eprintln!("autoscale_scenarios: no scenario named {:?}", args.only);
        return ExitCode::from(2);
    }
    // RUST_LOG=ebbflow_runtime=debug shows every decision (best with --only).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    // Each scenario runs on its own single-threaded paused runtime, so they
    // can run side by side without changing a figure.
    let seed = args.seed;
    let started = std::time::Instant::now();
    let outcomes: Vec<scenarios::Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|(_, run)| scope.spawn(move || run(seed)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if outcomes.len() != chosen.len() {
        eprintln!("autoscale_scenarios: a scenario panicked");
        return ExitCode::FAILURE;
    }
    if let Err(e) = write(&args.out, &outcomes) {
        eprintln!("autoscale_scenarios: writing {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    print_table(&outcomes);
    println!(
        "\n{} scenarios in {:.1} s of real time; report and plots in {}",
        outcomes.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    if outcomes.iter().all(|o| o.met) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write(dir: &std::path::Path, outcomes: &[scenarios::Outcome]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let report: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let mut object = serde_json::Map::new();
            object.insert("name".into(), o.name.into());
            for (key, value) in &o.figures {
                object.insert((*key).into(), figure_json(*value));
            }
            serde_json::Value::Object(object)
        })
        .collect();
    let text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("report.json"), text + "\n")?;
    for o in outcomes {
        std::fs::write(
            dir.join(format!("{}.svg", o.name)),
            plot::svg(o.name, &o.samples),
        )?;
        let mut csv = String::from("t_s,workers,busy,backlog\n");
        for s in &o.samples {
            csv.push_str(&format!(
                "{:.1},{},{},{}\n",
                s.t, s.workers, s.busy, s.backlog
            ));
        }
        std::fs::write(dir.join(format!("{}.csv", o.name)), csv)?;
    }
    Ok(())
}

/// A figure as JSON: rounded to what matters; a goal never reached is `null`.
fn figure_json(value: f64) -> serde_json::Value {
    if value.is_finite() {
        serde_json::json!((value * 1000.0).round() / 1000.0)
    } else {
        serde_json::Value::Null
    }
}

fn print_table(outcomes: &[scenarios::Outcome]) {
    println!("| scenario | figures | goal | met |");
    println!("|---|---|---|---|");
    for o in outcomes {
        let figures: Vec<String> = o
            .figures
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} = {}",
                    if v.is_finite() {
                        format!("{:.3}", v)
                            .trim_end_matches('0')
                            .trim_end_matches('.')
                            .to_owned()
                    } else {
                        "never".to_owned()
                    }
                )
            })
            .collect();
        println!(
            "| {} | {} | {} | {} |",
            o.name,
            figures.join(", "),
            o.goal,
            if o.met { "yes" } else { "NO" }
        );
    }
}
