//! `courier`: call, cast, notify and listen on an oslo.messaging deployment from a shell.
//!
//! Run `courier --help` for usage and exit codes.

mod args;
mod config;
mod input;
mod listen;
mod notify;
mod outcome;
mod rpc;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::outcome::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return outcome::clap_outcome(&error),
    };
    init_logging(cli.global.verbose);
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().thread_name("courier").enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => return Failure::Other(format!("cannot start the tokio runtime: {error}")).report(),
        };
    let result = runtime.block_on(run(&cli));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    };
    // The transport was cleaned up; do not let a straggling task hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

async fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Call(args) => rpc::call(&cli.global, args).await,
        Command::Cast(args) => rpc::cast(&cli.global, args).await,
        Command::Notify(args) => notify::notify(&cli.global, args).await,
        Command::Listen(args) => listen::listen(&cli.global, args).await,
    }
}

/// Logs go to stderr: warnings by default, more with each `-v`; `RUST_LOG` overrides.
///
/// By default stderr carries only the command's own one-line report, so some warnings that
/// repeat it or do not matter to a one-shot command show from `-v` on: the AMQP library's logs,
/// each failed connection attempt (the final error lists them), and options of a service's
/// config file that courier accepts but ignores.
fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let directives = match verbose {
        0 => "warn,lapin=off,courier_amqp::connection=error,courier_amqp::options=error",
        1 => "info,lapin=warn",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
