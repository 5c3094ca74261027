//! The command line, as clap reads it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Operate ebbflow queues from a shell, on any backend the config names.
#[derive(Debug, Parser)]
#[command(name = "ebbflow", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The configuration file (`EBBFLOW__SECTION__KEY` variables override its keys).
    #[arg(
        long,
        short,
        global = true,
        env = "EBBFLOW_CONFIG",
        default_value = "config/ebbflow.toml"
    )]
    pub config: PathBuf,

    /// `table` for people, `json` for scripts.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// JSON on stdout (one document, or one object per line for streams).
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every queue: visible, in flight, delayed, oldest age; dead-letter queues marked
    /// (history queues only with `--prefix ebbflow_history__`).
    Queues {
        /// Only queues whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Refresh in place every interval (for example `2s`) until Ctrl-C.
        #[arg(long, num_args = 0..=1, default_missing_value = "2s", value_name = "INTERVAL")]
        watch: Option<String>,
    },
    /// Create, delete, show or change one queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Send messages: the body from the argument, `--file`, or stdin.
    Send(SendArgs),
    /// Look at messages without receiving them (receive counts do not change).
    Peek {
        /// The queue.
        queue: String,
        /// How many messages at most.
        #[arg(long, short = 'n', default_value_t = 10)]
        limit: u32,
    },
    /// Receive messages for real (they are hidden for the visibility timeout).
    Receive {
        /// The queue.
        queue: String,
        /// How many messages at most (1 to 10).
        #[arg(long, short = 'n', default_value_t = 1)]
        max: u32,
        /// Long-poll up to this long for the first message (0 to 20 s).
        #[arg(long, default_value = "0s")]
        wait: String,
        /// Hide them for this long instead of the queue's visibility timeout.
        #[arg(long)]
        visibility_timeout: Option<String>,
        /// Delete each message once it is printed.
        #[arg(long)]
        delete: bool,
    },
    /// Remove every message of a queue.
    Purge {
        /// The queue.
        queue: String,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Pause a queue's consumers everywhere: every runtime consuming it (in
    /// any process) starts no receive within one autoscaler tick; messages
    /// in hand finish. Producers are not affected.
    Pause {
        /// The queue.
        queue: String,
        /// Why, shown by `ebbflow queues` and the dashboard (at most 160 characters).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused queue's consumers: they receive again within one tick.
    Resume {
        /// The queue.
        queue: String,
    },
    /// Seal every message again with the newest key of `[backend]
    /// encryption_key_file` (Redis, PostgreSQL). With no queue named, every
    /// queue, and then the engine forgets the older keys, which may leave the
    /// file. Run it once every process has the new file; again after Ctrl-C.
    Rekey {
        /// The queues; every queue when none is named.
        queues: Vec<String>,
    },
    /// The messages of a dead-letter queue, with why each was dead-lettered.
    Dlq {
        /// The dead-letter queue.
        queue: String,
        /// How many messages at most.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u32,
    },
    /// Move the messages of a dead-letter queue back to their source (or `--to`).
    Redrive(RedriveArgs),
    /// Write every message of a queue as JSON lines (nothing is received).
    Export {
        /// The queue.
        queue: String,
        /// The file to write; stdout when absent.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Send the messages of an export to a queue; run again after an interruption to resume.
    Import {
        /// The queue.
        queue: String,
        /// The export to read; `-` for stdin (which cannot resume).
        file: PathBuf,
        /// Start from the first line, forgetting the progress of an earlier run.
        #[arg(long)]
        restart: bool,
        /// On a FIFO queue, send a record whose deduplication id an earlier
        /// line has with that id anyway (the queue may drop it as a
        /// duplicate); by default it gets a fresh one.
        #[arg(long)]
        keep_deduplication_ids: bool,
    },
    /// Serve the Amazon SQS API (AWS JSON 1.0) over the configured backend, per `[server]`.
    Serve,
    /// Serve the web dashboard (queues, messages, dead letters and their redrive, workers,
    /// charts) over the configured backend, until SIGINT/SIGTERM. With `[server.keys]`,
    /// visitors sign in with one of them; without, keep it on loopback.
    Dashboard {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:9325")]
        listen: std::net::SocketAddr,
        /// The path the pages live under (for a reverse proxy), for example `/ui`.
        #[arg(long, default_value = "")]
        base_path: String,
    },
    /// Run every `[workers.NAME]` whose `handler` is an HTTP endpoint or a command,
    /// with the runtime's retries, dead letters, autoscaling and metrics, until SIGINT/SIGTERM.
    Work,
    /// Check a configuration file, with the same errors as the runtime.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a completion script for a shell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `ebbflow queue …`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Create a queue; attributes as `Name=Value` with SQS's names and human units.
    ///
    /// For example: `ebbflow queue create orders VisibilityTimeout=45s
    /// RedrivePolicy=orders-dlq:5`. A name ending in `.fifo` makes a FIFO queue.
    Create {
        /// The queue's name.
        name: String,
        /// `VisibilityTimeout=30s`, `MessageRetentionPeriod=4d`, `DelaySeconds=0s`,
        /// `MaximumMessageSize=256KiB`, `ReceiveMessageWaitTimeSeconds=20s`,
        /// `ContentBasedDeduplication=true`, `RedrivePolicy=DLQ:MAX_RECEIVES`.
        attributes: Vec<String>,
    },
    /// Delete a queue and every message in it.
    Delete {
        /// The queue.
        name: String,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
    /// Show a queue's attributes and counts.
    Attributes {
        /// The queue.
        name: String,
    },
    /// Change attributes, as `Name=Value` (see `queue create`); `RedrivePolicy=` removes it.
    Set {
        /// The queue.
        name: String,
        /// The attributes to change.
        #[arg(required = true)]
        attributes: Vec<String>,
    },
}

/// `ebbflow send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The queue.
    pub queue: String,
    /// The body; read from `--file` or stdin when absent.
    pub body: Option<String>,
    /// Read the body from this file.
    #[arg(long, short = 'f', conflicts_with = "body")]
    pub file: Option<PathBuf>,
    /// One message per line of the input, sent in batches of ten.
    #[arg(long)]
    pub lines: bool,
    /// A message attribute: `name=value` (String), `name:Number=42`, `name:Binary=BASE64`.
    #[arg(long = "attribute", short = 'a', value_name = "NAME[:TYPE]=VALUE")]
    pub attributes: Vec<String>,
    /// Deliver after this long (standard queues; for example `30s`).
    #[arg(long)]
    pub delay: Option<String>,
    /// The FIFO message group.
    #[arg(long)]
    pub group: Option<String>,
    /// The FIFO deduplication id (with `--lines`, the line number is appended).
    #[arg(long)]
    pub dedup_id: Option<String>,
}

/// `ebbflow redrive`.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The dead-letter queue.
    pub dlq: String,
    /// Send every message here instead of back to its source.
    #[arg(long)]
    pub to: Option<String>,
    /// At most this many messages per second (for example `100` or `100/s`).
    #[arg(long)]
    pub rate: Option<String>,
    /// Only messages whose attribute has this value: `reason=permanent`
    /// (`ebbflow.` is implied for reason, error and source_queue).
    #[arg(long)]
    pub filter: Vec<String>,
    /// How long a message is hidden in the dead-letter queue while it moves.
    #[arg(long, default_value = "5m")]
    pub visibility_timeout: String,
}

/// `ebbflow config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration file; exit 1 with every problem when it is invalid.
    Check {
        /// Also compare the queues the file declares with the engine's,
        /// changing nothing; exit 1 when they differ.
        #[arg(long)]
        diff: bool,
    },
}

#[cfg(test)]
mod reference {
    //! The book's command-line reference is this help, page for page:
    //! `EBBFLOW_BLESS=1 cargo test -p ebbflow-cli reference` writes it again.

    use super::Cli;
    use clap::CommandFactory;
    use std::path::PathBuf;

    /// Every command's `--help`, as markdown, parents before children.
    fn render() -> String {
        let mut root = Cli::command()
            .term_width(100)
            .max_term_width(100)
            // A reader's environment is not the reference's.
            .mut_arg("config", |a| a.hide_env_values(true));
        root.build();
        let mut out = String::from(
            "# Command line\n\n\
             Every command of the `ebbflow` binary with its `--help`, as the binary prints it.\n\
             This page is generated from the command line's definition (`crates/ebbflow-cli/src/args.rs`)\n\
             and a test fails when they differ; `EBBFLOW_BLESS=1 cargo test -p ebbflow-cli reference`\n\
             writes it again. How the commands are used: [the command-line guide](../guide/cli.md).\n",
        );
        let mut stack = vec![(String::from("ebbflow"), root)];
        while let Some((path, mut cmd)) = stack.pop() {
            let help = cmd.render_long_help().to_string();
            let help: Vec<&str> = help.lines().map(str::trim_end).collect();
            out.push_str(&format!(
                "\n## `{path}`\n\n```text\n{}\n```\n",
                help.join("\n").trim_end()
            ));
            let children: Vec<_> = cmd
                .get_subcommands()
                .filter(|c| c.get_name() != "help")
                .cloned()
                .collect();
            for child in children.into_iter().rev() {
                let name = format!("{path} {}", child.get_name());
                stack.push((name, child));
            }
        }
        out
    }

    #[test]
    fn the_book_has_every_command_as_the_binary_prints_its_help() {
        let page =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/book/src/reference/cli.md");
        let now = render();
        if std::env::var_os("EBBFLOW_BLESS").is_some() {
            std::fs::write(&page, &now).unwrap();
            return;
        }
        let written = std::fs::read_to_string(&page).unwrap_or_default();
        assert!(
            written == now,
            "{} differs from the command line's help: run `EBBFLOW_BLESS=1 cargo test -p ebbflow-cli reference`",
            page.display()
        );
    }
}
