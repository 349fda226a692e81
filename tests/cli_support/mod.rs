//! Helpers of the `courier` command-line tests: run the real binary, and reach the RabbitMQ on
//! 127.0.0.1:5672 (guest/guest) that the end-to-end tests use.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use courier::{Transport, TransportConfig};

/// The only broker the tests talk to.
pub const BROKER_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

/// Bounds how long a test waits for something that should happen; only a failure waits this
/// long.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A name no other test uses, so tests can share one broker.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Whether the test broker accepts connections; prints why a test is skipped when not.
pub fn broker_available(test: &str) -> bool {
    let address: SocketAddr = "127.0.0.1:5672".parse().expect("a socket address");
    match TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
        Ok(_) => true,
        Err(error) => {
            eprintln!("skipping {test}: RabbitMQ is not reachable on 127.0.0.1:5672 ({error})");
            false
        }
    }
}

/// A transport to the test broker on its own control exchange, so tests never share topology.
pub async fn transport(exchange: &str) -> Arc<dyn Transport> {
    let config = TransportConfig::default().with_control_exchange(exchange);
    courier::connect_with(BROKER_URL, config).await.expect("connect to the test broker")
}

/// Fails the test if `future` does not finish in time.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The Python of the interop peers (`.venv`, made by `scripts/test-env.sh`), if present; prints
/// why a test is skipped when not.
pub fn python(test: &str) -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!("skipping {test}: no {} with oslo.messaging (run scripts/test-env.sh)", python.display());
        None
    }
}

/// A Python oslo.messaging peer from `tests/python` (its stdin kept open: closing it stops it).
pub fn python_peer(python: &std::path::Path, script: &str, args: &[&str]) -> Spawned {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let mut command = Command::new(python);
    command.arg(script).args(args).args(["--url", BROKER_URL]);
    command.env_remove("COURIER_TRANSPORT_URL");
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    Spawned::start(command)
}

/// The `courier` binary with a clean environment: no URL or log settings inherited.
pub fn courier() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.env_remove("COURIER_TRANSPORT_URL").env_remove("RUST_LOG");
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// What a run of the binary printed.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    /// Stderr as exactly one JSON line.
    pub fn error_json(&self) -> serde_json::Value {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "stderr is not one line: {self:?}");
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {self:?}"))
    }

    /// Asserts the exit code, showing everything on failure.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:?}");
        self
    }
}

/// Runs `command` to its end, feeding `stdin` if given, off the async runtime (the binary's own
/// timeouts end it; PATIENCE bounds a hang).
pub async fn exec(mut command: Command, stdin: Option<&str>) -> Run {
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().expect("start the courier binary");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let output =
        within("the courier binary to exit", tokio::task::spawn_blocking(move || child.wait_with_output()))
            .await
            .expect("the waiting thread")
            .expect("the courier binary's output");
    Run::from_output(output)
}

/// Runs `courier` with `args` and no stdin, blocking; for tests that need no broker.
pub fn run_blocking(args: &[&str]) -> Run {
    let output = courier().args(args).output().expect("run the courier binary");
    Run::from_output(output)
}

/// A temporary file removed on drop.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    /// Writes `contents` to a new file named after `name`.
    pub fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(unique(name));
        std::fs::write(&path, contents).expect("write a temporary file");
        Self(path)
    }

    /// The path as a string.
    pub fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A `courier` process left running (e.g. `courier listen`), its output read line by line.
pub struct Spawned {
    child: Option<std::process::Child>,
    stdout: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every stderr line seen so far, for messages.
    pub stderr_seen: Vec<String>,
}

fn forward_lines(pipe: impl std::io::Read + Send + 'static) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use std::io::BufRead;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl Spawned {
    /// Starts `command` (stdout and stderr piped).
    pub fn start(mut command: Command) -> Self {
        let mut child = command.spawn().expect("start the courier binary");
        let stdout = forward_lines(child.stdout.take().expect("a stdout pipe"));
        let stderr = forward_lines(child.stderr.take().expect("a stderr pipe"));
        Self { child: Some(child), stdout, stderr, stderr_seen: Vec::new() }
    }

    /// The next stdout line (panics if none comes in time or the process ended).
    pub async fn next_line(&mut self) -> String {
        within("a line on stdout", self.stdout.recv())
            .await
            .unwrap_or_else(|| panic!("stdout closed; stderr: {:?}", self.stderr_seen))
    }

    /// Waits for a stderr line containing `text` and returns it.
    pub async fn wait_stderr(&mut self, text: &str) -> String {
        loop {
            let line = within("a line on stderr", self.stderr.recv())
                .await
                .unwrap_or_else(|| panic!("stderr closed before {text:?}: {:?}", self.stderr_seen));
            self.stderr_seen.push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Writes one line on the process's stdin (started with `Stdio::piped()` stdin).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.child.as_mut().and_then(|c| c.stdin.as_mut()).expect("a piped stdin");
        writeln!(stdin, "{line}").and_then(|()| stdin.flush()).expect("write to the process's stdin");
    }

    /// Waits for a stdout line that is a JSON object with `key` equal to `value`, skipping others.
    pub async fn wait_json(&mut self, key: &str, value: impl Into<serde_json::Value>) -> serde_json::Value {
        let value = value.into();
        loop {
            let line = self.next_line().await;
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
                && json[key] == value
            {
                return json;
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let child = self.child.as_ref().expect("still running");
        let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits for the process to exit; returns its exit code and the stdout lines not yet read.
    pub async fn exit(mut self) -> (Option<i32>, Vec<String>) {
        let mut child = self.child.take().expect("still running");
        let pid = child.id().to_string();
        let status =
            match tokio::time::timeout(PATIENCE, tokio::task::spawn_blocking(move || child.wait())).await {
                Ok(status) => status.expect("the waiting thread").expect("the exit status"),
                Err(_) => {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                    panic!("courier did not exit; stderr: {:?}", self.stderr_seen);
                }
            };
        let mut rest = Vec::new();
        while let Some(line) = within("stdout to close", self.stdout.recv()).await {
            rest.push(line);
        }
        while let Ok(line) = self.stderr.try_recv() {
            self.stderr_seen.push(line);
        }
        (status.code(), rest)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // A test that failed half-way must not leave its listener running.
        if let Some(child) = &mut self.child
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
