//! courier's benchmark harness.
//!
//! ```text
//! cargo run --release -p courier-bench -- all            # every scenario, 3 interleaved runs
//! cargo run -p courier-bench -- all --smoke              # tiny counts, one run (CI)
//! ```
//!
//! `all` starts every server and client as a separate process (this binary re-executed with
//! `server` / `client` / `inproc`, or the Python oslo.messaging script), runs the
//! implementations of one scenario one after the other (A B A B ...) in each run, and prints every
//! figure as a ratio to the limit measured in the same run: a bare lapin request/reply loop over
//! the same broker for the RabbitMQ rows, an in-memory JSON loop for the `fake://` rows. The table
//! goes to `target/bench/results.md`, the plot to `target/bench/ratios.png`.

mod inproc;
mod report;
mod roles;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::report::Record;
use crate::roles::{Finished, Outcome, peak_rss_kib};

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// One call at a time.
    Sequential,
    /// This many callers in one client, each with one call outstanding.
    Outstanding(usize),
    /// Casts, timed until the server processed the last one.
    Casts,
    /// Notifications, timed until the listener received the last one.
    Notifications,
    /// Every call of the run sent at once.
    Flood,
    /// Async call p99 alone and beside sleeping sync methods.
    Isolation,
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "seq" => Self::Sequential,
            "casts" => Self::Casts,
            "notifications" => Self::Notifications,
            "flood" => Self::Flood,
            "isolation" => Self::Isolation,
            other => match other.strip_prefix("out").and_then(|n| n.parse().ok()) {
                Some(callers) => Self::Outstanding(callers),
                None => return Err(format!("unknown scenario `{other}`")),
            },
        })
    }
}

impl Scenario {
    /// Whether `implementation` takes part in this scenario: the oslo-shaped loop only calls.
    fn includes(self, implementation: Implementation) -> bool {
        implementation != Implementation::LimitOslo || matches!(self, Self::Sequential | Self::Outstanding(_))
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sequential => f.write_str("seq"),
            Self::Outstanding(callers) => write!(f, "out{callers}"),
            Self::Casts => f.write_str("casts"),
            Self::Notifications => f.write_str("notifications"),
            Self::Flood => f.write_str("flood"),
            Self::Isolation => f.write_str("isolation"),
        }
    }
}

/// Who serves and calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub enum Implementation {
    /// The bare lapin request/reply loop (the limit of the RabbitMQ rows).
    Limit,
    /// The same loop doing what oslo's wire obligations ask of every call (for comparison, not
    /// a limit): see `roles::OsloShaped`.
    LimitOslo,
    /// courier with `async fn` methods.
    CourierAsync,
    /// courier with sync `fn` methods.
    CourierSync,
    /// Python oslo.messaging 18.3.1 (`bench/oslo_bench.py`).
    Python,
    /// The in-memory JSON loop running the method with `tokio::spawn`.
    LoopAsync,
    /// The in-memory JSON loop running the method with `spawn_blocking`.
    LoopSync,
    /// courier on `fake://`, `async fn`.
    FakeAsync,
    /// courier on `fake://`, sync `fn`.
    FakeSync,
}

impl Implementation {
    fn name(self) -> &'static str {
        match self {
            Self::Limit => "lapin loop (limit)",
            Self::LimitOslo => "lapin loop, oslo's obligations",
            Self::CourierAsync => "courier async fn",
            Self::CourierSync => "courier fn",
            Self::Python => "Python oslo.messaging",
            Self::LoopAsync => "memory loop, spawn (limit)",
            Self::LoopSync => "memory loop, spawn_blocking (limit)",
            Self::FakeAsync => "courier fake:// async fn",
            Self::FakeSync => "courier fake:// fn",
        }
    }

    fn arg(self) -> String {
        self.to_possible_value().expect("no skipped variants").get_name().to_owned()
    }
}

#[derive(Parser)]
#[command(about = "courier's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Runs every scenario, prints the table and writes target/bench/.
    All {
        /// Tiny counts and one run: proves the harness works, measures nothing.
        #[arg(long)]
        smoke: bool,
        /// Interleaved runs (median and min-max over them).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The broker (only 127.0.0.1).
        #[arg(long, default_value = "rabbit://guest:guest@127.0.0.1:5672/")]
        url: String,
        /// Only these scenarios (`seq`, `out16`, `out64`, `casts`, `notifications`, `flood`,
        /// `isolation`, `inproc`), comma-separated; every one when absent. For profiling and
        /// quick before/after comparisons; the README's figures come from a run of all.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Only these payload sizes of the RabbitMQ rows (bytes), comma-separated.
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
        /// Leave out the Python oslo.messaging rows.
        #[arg(long)]
        no_python: bool,
    },
    /// (internal) A server process.
    #[command(hide = true)]
    Server {
        #[command(flatten)]
        role: Role,
        #[arg(long, default_value_t = 0)]
        expect: usize,
    },
    /// (internal) A client process: prints its outcome as one JSON line.
    #[command(hide = true)]
    Client {
        #[command(flatten)]
        role: Role,
        #[arg(long)]
        size: usize,
        #[arg(long)]
        count: usize,
    },
    /// (internal) An in-process measurement: prints its outcome as one JSON line.
    #[command(hide = true)]
    Inproc {
        #[arg(long = "impl", value_enum)]
        implementation: Implementation,
        #[arg(long)]
        callers: usize,
        #[arg(long)]
        size: usize,
        #[arg(long)]
        count: usize,
    },
}

/// What a server and a client process of one measurement agree on.
#[derive(clap::Args)]
struct Role {
    #[arg(long = "impl", value_enum)]
    implementation: Implementation,
    #[arg(long)]
    scenario: Scenario,
    #[arg(long)]
    url: String,
    #[arg(long)]
    topic: String,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Set by the harness in every child's environment: the child then ends with the harness.
const CHILD_ENV: &str = "COURIER_BENCH_CHILD";

/// In a child process the harness started: ends the process once stdin reaches end-of-file,
/// which happens when the harness that holds the other end goes away, however it ended. (A
/// role started by hand, e.g. for profiling, keeps running.)
fn exit_with_the_harness() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
}

fn main() -> Result<(), Failure> {
    let command = Cli::parse().command;
    if !matches!(command, Commands::All { .. }) {
        exit_with_the_harness();
    }
    match command {
        Commands::All { smoke, runs, url, only, sizes, no_python } => {
            let selection = Selection { only, sizes, no_python };
            run_all(smoke, if smoke { 1 } else { runs.max(1) }, &url, &selection)
        }
        Commands::Server { role: Role { implementation, scenario, url, topic }, expect } => {
            runtime()?.block_on(roles::serve(implementation, scenario, &url, &topic, expect))
        }
        Commands::Client { role: Role { implementation, scenario, url, topic }, size, count } => {
            let outcome =
                runtime()?.block_on(roles::drive(implementation, scenario, &url, &topic, size, count))?;
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(())
        }
        Commands::Inproc { implementation, callers, size, count } => {
            let outcome = inproc::run(implementation, callers, size, count)?;
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(())
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// How many operations each measurement makes.
struct Counts {
    sequential: usize,
    outstanding: usize,
    published: usize,
    flood: usize,
    isolation: usize,
    inproc_sequential: usize,
    inproc_concurrent: usize,
    /// Python is ~10x slower: its rows use this fraction of the counts.
    python_divisor: usize,
}

impl Counts {
    fn full() -> Self {
        Self {
            sequential: 2_000,
            outstanding: 10_000,
            published: 20_000,
            flood: 10_000,
            isolation: 1_000,
            inproc_sequential: 20_000,
            inproc_concurrent: 50_000,
            python_divisor: 10,
        }
    }

    fn smoke() -> Self {
        Self {
            sequential: 20,
            outstanding: 100,
            published: 200,
            flood: 200,
            isolation: 10,
            inproc_sequential: 100,
            inproc_concurrent: 200,
            python_divisor: 2,
        }
    }

    fn of(&self, scenario: Scenario, implementation: Implementation) -> usize {
        let count = match scenario {
            Scenario::Sequential => self.sequential,
            Scenario::Outstanding(_) => self.outstanding,
            Scenario::Casts | Scenario::Notifications => self.published,
            Scenario::Flood => self.flood,
            Scenario::Isolation => self.isolation,
        };
        if implementation == Implementation::Python { count / self.python_divisor } else { count }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ has a parent").to_path_buf()
}

/// Bounds every wait on a child process, so a hung run fails instead of hanging CI.
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// A child process whose stdout lines arrive on a channel.
///
/// Its stdin is a pipe the harness never writes to: a child ends when it reads end-of-file
/// there (see [`exit_with_the_harness`]), so a harness that is killed (or panics) leaves no
/// server behind, not only one that drops this.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    what: String,
    _stdin: Option<std::process::ChildStdin>,
}

impl Process {
    fn spawn(mut command: Command, what: String) -> Result<Self, Failure> {
        let mut child = command
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines, what, _stdin: stdin })
    }

    /// The next line that is not noise, or an error naming the process.
    fn line(&mut self, wanted: impl Fn(&str) -> bool) -> Result<String, Failure> {
        loop {
            match self.lines.recv_timeout(CHILD_TIMEOUT) {
                Ok(line) if wanted(&line) => return Ok(line),
                Ok(_) => {}
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    return Err(
                        format!("{} ended or hung without its result (exit: {status:?})", self.what).into()
                    );
                }
            }
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn role_command(implementation: Implementation, role: &str) -> Result<Command, Failure> {
    let mut command = if implementation == Implementation::Python {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!("{} is missing: run scripts/test-env.sh first", python.display()).into());
        }
        let mut command = Command::new(python);
        command.arg(root.join("bench/oslo_bench.py"));
        command
    } else {
        Command::new(std::env::current_exe()?)
    };
    command.arg(role);
    if implementation != Implementation::Python {
        command.args(["--impl", &implementation.arg()]);
    }
    Ok(command)
}

/// One RabbitMQ measurement: a server process, a client process, a fresh topic.
fn measure_broker(
    url: &str,
    implementation: Implementation,
    scenario: Scenario,
    size: usize,
    count: usize,
) -> Result<(Outcome, Option<u64>), Failure> {
    let topic = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let counting = matches!(scenario, Scenario::Casts | Scenario::Notifications);
    let expect = if counting { count } else { 0 };
    let mut server = role_command(implementation, "server")?;
    server.args(["--scenario", &scenario.to_string(), "--url", url, "--topic", &topic]);
    server.args(["--expect", &expect.to_string()]);
    let mut server = Process::spawn(server, format!("the {} server", implementation.name()))?;
    server.line(|line| line == "ready")?;

    let mut client = role_command(implementation, "client")?;
    client.args(["--scenario", &scenario.to_string(), "--url", url, "--topic", &topic]);
    client.args(["--size", &size.to_string(), "--count", &count.to_string()]);
    let mut client = Process::spawn(client, format!("the {} client ({scenario})", implementation.name()))?;
    let mut outcome: Outcome = serde_json::from_str(&client.line(|line| line.starts_with('{'))?)?;
    if counting {
        let finished: Finished = serde_json::from_str(&server.line(|line| line.starts_with('{'))?)?;
        // Casts and notifications count until the server processed the last one.
        outcome.secs = finished.last_ns.saturating_sub(outcome.start_ns) as f64 / 1e9;
    }
    let server_rss = peak_rss_kib(&server.pid());
    Ok((outcome, server_rss))
}

fn measure_inproc(
    implementation: Implementation,
    callers: usize,
    size: usize,
    count: usize,
) -> Result<Outcome, Failure> {
    let mut command = role_command(implementation, "inproc")?;
    command.args([
        "--callers",
        &callers.to_string(),
        "--size",
        &size.to_string(),
        "--count",
        &count.to_string(),
    ]);
    let mut process = Process::spawn(command, format!("the in-process {} run", implementation.name()))?;
    Ok(serde_json::from_str(&process.line(|line| line.starts_with('{'))?)?)
}

const SIZES: [usize; 2] = [100, 2500];
const BROKER_SCENARIOS: [Scenario; 5] = [
    Scenario::Sequential,
    Scenario::Outstanding(16),
    Scenario::Outstanding(64),
    Scenario::Casts,
    Scenario::Notifications,
];
const BROKER_IMPLEMENTATIONS: [Implementation; 5] = [
    Implementation::Limit,
    Implementation::LimitOslo,
    Implementation::CourierAsync,
    Implementation::CourierSync,
    Implementation::Python,
];

/// Which rows `all` runs.
struct Selection {
    only: Vec<String>,
    sizes: Vec<usize>,
    no_python: bool,
}

impl Selection {
    fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|wanted| wanted == name)
    }

    fn size(&self, size: usize) -> bool {
        self.sizes.is_empty() || self.sizes.contains(&size)
    }

    fn implementation(&self, implementation: Implementation) -> bool {
        !(self.no_python && implementation == Implementation::Python)
    }
}

fn run_all(smoke: bool, runs: usize, url: &str, selection: &Selection) -> Result<(), Failure> {
    let counts = if smoke { Counts::smoke() } else { Counts::full() };
    let mut records = Vec::new();
    for run in 0..runs {
        eprintln!("run {}/{runs}", run + 1);
        for size in SIZES.into_iter().filter(|&size| selection.size(size)) {
            for scenario in BROKER_SCENARIOS.into_iter().filter(|s| selection.runs(&s.to_string())) {
                for implementation in BROKER_IMPLEMENTATIONS
                    .into_iter()
                    .filter(|&i| selection.implementation(i) && scenario.includes(i))
                {
                    let count = counts.of(scenario, implementation);
                    eprintln!("  {scenario} {size} B: {} x{count}", implementation.name());
                    let (outcome, server_rss) = measure_broker(url, implementation, scenario, size, count)?;
                    records.push(Record { run, scenario, size, implementation, outcome, server_rss });
                }
            }
        }
        for implementation in
            [Implementation::Limit, Implementation::CourierAsync, Implementation::CourierSync]
                .into_iter()
                .filter(|_| selection.runs("flood"))
        {
            let count = counts.of(Scenario::Flood, implementation);
            eprintln!("  flood: {} x{count}", implementation.name());
            let (outcome, server_rss) = measure_broker(url, implementation, Scenario::Flood, 100, count)?;
            records.push(Record {
                run,
                scenario: Scenario::Flood,
                size: 100,
                implementation,
                outcome,
                server_rss,
            });
        }
        if selection.runs("isolation") {
            let count = counts.of(Scenario::Isolation, Implementation::CourierAsync);
            eprintln!("  isolation x{count}");
            let (outcome, server_rss) =
                measure_broker(url, Implementation::CourierAsync, Scenario::Isolation, 100, count)?;
            records.push(Record {
                run,
                scenario: Scenario::Isolation,
                size: 100,
                implementation: Implementation::CourierAsync,
                outcome,
                server_rss,
            });
        }
        let inproc = if selection.runs("inproc") {
            vec![(1, counts.inproc_sequential), (16, counts.inproc_concurrent)]
        } else {
            Vec::new()
        };
        for (callers, count) in inproc {
            let scenario = if callers == 1 { Scenario::Sequential } else { Scenario::Outstanding(callers) };
            for implementation in [
                Implementation::LoopAsync,
                Implementation::FakeAsync,
                Implementation::LoopSync,
                Implementation::FakeSync,
            ] {
                eprintln!("  in-process {scenario}: {} x{count}", implementation.name());
                let outcome = measure_inproc(implementation, callers, 100, count)?;
                records.push(Record { run, scenario, size: 100, implementation, outcome, server_rss: None });
            }
        }
    }
    let table = report::table(&records, runs, smoke);
    println!("{table}");
    let out = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("results.md"), &table)?;
    report::plot(&records, &out.join("ratios.png"))?;
    eprintln!("wrote {} and {}", out.join("results.md").display(), out.join("ratios.png").display());
    Ok(())
}
