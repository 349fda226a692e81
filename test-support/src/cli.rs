//! The `courier` binary under test, through assert_cmd: commands with a clean environment (no
//! `COURIER_TRANSPORT_URL` or `RUST_LOG` inherited), run to their end off the async runtime,
//! the JSON they print, and long-running ones (`courier listen`) as a [`Peer`].
//!
//! ```ignore
//! use courier_test_support::cli;
//! use predicates::prelude::*;
//!
//! let mut command = cli::command();
//! command.args(["call", "--topic", "t", "ping"]);
//! let run = cli::run(command, None).await;
//! run.code(3).stderr(predicate::str::contains("COURIER_TRANSPORT_URL"));
//! ```

use std::path::PathBuf;
use std::process::Command;

use assert_cmd::assert::Assert;
use predicates::Predicate;
use serde_json::Value;

use crate::process::Peer;
use crate::{PATIENCE, within};

/// The `courier` binary cargo built for the tests.
pub fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("courier")
}

/// `courier` with a clean environment, as a `std` command (for [`run`] or [`spawn`]).
pub fn command() -> Command {
    let mut command = Command::new(binary());
    command.env_remove("COURIER_TRANSPORT_URL").env_remove("RUST_LOG");
    command
}

/// `courier` with a clean environment, as an assert_cmd command bounded by [`PATIENCE`] (for
/// tests that need no runtime: `courier().args(..).assert().code(0)`).
pub fn courier() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::from_std(self::command());
    command.timeout(PATIENCE);
    command
}

/// Runs `command` to its end, feeding `stdin` if given, off the async runtime (the binary's own
/// timeouts end it; [`PATIENCE`] bounds a hang).
pub async fn run(command: Command, stdin: Option<&str>) -> Assert {
    let mut command = assert_cmd::Command::from_std(command);
    command.timeout(PATIENCE);
    if let Some(text) = stdin {
        command.write_stdin(text.to_owned());
    }
    within("the courier binary to exit", tokio::task::spawn_blocking(move || command.assert()))
        .await
        .expect("the waiting thread")
}

/// Starts `command` (`courier listen`, say) as a [`Peer`] to read line by line.
pub fn spawn(command: Command) -> Peer {
    Peer::start("courier", command)
}

/// Stdout as one JSON document.
pub fn stdout_json(run: &Assert) -> Value {
    let stdout = String::from_utf8_lossy(&run.get_output().stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {run}"))
}

/// Stderr as exactly one JSON line.
pub fn stderr_json(run: &Assert) -> Value {
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr is not one line: {run}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {run}"))
}

/// Text of exactly one line (for `.stderr(cli::one_line())`).
pub fn one_line() -> impl Predicate<str> {
    predicates::function::function(|text: &str| text.lines().count() == 1)
}

/// A temporary file holding `contents` (a config file, an `@file` argument), removed on drop.
pub fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::Builder::new().prefix("courier-test-").tempfile().expect("a temporary file");
    file.write_all(contents.as_bytes()).expect("write the temporary file");
    file
}

/// A path as the `&str` an argument list wants.
pub fn path_arg(file: &tempfile::NamedTempFile) -> &str {
    file.path().to_str().expect("a UTF-8 temporary path")
}
