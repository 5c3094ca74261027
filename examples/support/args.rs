//! The command line the examples share: `--count N --rate R [--noop] [--config PATH] [--linger SECS]`.

/// Parsed options.
pub struct Args {
    /// Messages to send.
    pub count: u64,
    /// Messages per second; 0 sends one burst.
    pub rate: u64,
    /// Use a handler that does nothing (where the example has one).
    pub noop: bool,
    /// The configuration file.
    pub config: String,
    /// Keep serving `/metrics` this long after the work is done.
    pub linger: std::time::Duration,
}

impl Args {
    /// Parses the process's arguments over these defaults; `--noop` only where `noop_allowed`.
    pub fn parse(count: u64, rate: u64, noop_allowed: bool) -> Result<Self, String> {
        let mut args = Args {
            count,
            rate,
            noop: false,
            config: concat!(env!("CARGO_MANIFEST_DIR"), "/config/ebbflow.toml").to_owned(),
            linger: std::time::Duration::ZERO,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            let number =
                |name: &str, text: String| text.parse().map_err(|e| format!("{name}: {e}"));
            match flag.as_str() {
                "--count" => args.count = number("--count", value("--count")?)?,
                "--rate" => args.rate = number("--rate", value("--rate")?)?,
                "--config" => args.config = value("--config")?,
                "--linger" => {
                    let secs: u64 = number("--linger", value("--linger")?)?;
                    args.linger = std::time::Duration::from_secs(secs);
                }
                "--noop" if noop_allowed => args.noop = true,
                other => {
                    return Err(format!(
                        "unknown option {other}; options: --count N --rate R{} --config PATH --linger SECS",
                        if noop_allowed { " --noop" } else { "" }
                    ))
                }
            }
        }
        Ok(args)
    }
}

impl Args {
    /// Loads the configuration, starts logging as `[log]` says, and keeps
    /// only the worker group `group` (the reference config serves every example).
    pub fn load_config(
        &self,
        group: &str,
    ) -> Result<ebbflow::config::Config, Box<dyn std::error::Error>> {
        let mut config = ebbflow::runtime::load_config(&self.config)?;
        ebbflow::runtime::init_logging(&config.log)?;
        config.workers.retain(|name, _| name == group);
        Ok(config)
    }

    /// Keeps serving `/metrics` for `--linger` after the work is done.
    pub async fn linger(&self) {
        if !self.linger.is_zero() {
            println!("serving metrics for {:?} more", self.linger);
            tokio::time::sleep(self.linger).await;
        }
    }
}
