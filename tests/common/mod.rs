//! What the interop tests share: the gate on the test environment (RabbitMQ and the Python
//! virtualenv that `scripts/test-env.sh` provides), Python oslo.messaging peers run as
//! subprocesses speaking JSON lines, and the demo endpoints of `examples/server.rs` served
//! in-process.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command};

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

/// The demo server's code, compiled into the tests so they serve exactly what it serves.
#[path = "../../examples/server.rs"]
pub mod server_example;

pub use server_example::demo;

/// The broker the tests use.
pub const AMQP_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";
const AMQP_ADDR: &str = "127.0.0.1:5672";

/// Bounds every wait for something that should happen soon; only a failure waits this long.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How long a Python peer may take to import oslo.messaging and connect (slow on a busy
/// two-core machine, where cargo may be compiling beside the tests).
pub const STARTUP: Duration = Duration::from_secs(90);

/// What the interop tests need from the machine.
#[derive(Clone, Debug)]
pub struct InteropEnv {
    /// The workspace root.
    pub root: PathBuf,
    /// The virtualenv's Python, with oslo.messaging 18.3.1.
    pub python: PathBuf,
}

impl InteropEnv {
    /// A script of `tests/python/`.
    pub fn script(&self, name: &str) -> PathBuf {
        self.root.join("tests/python").join(name)
    }
}

/// The environment, or `None` after printing why the test is skipped: only a missing broker or
/// a missing virtualenv skips (`scripts/test-env.sh` provides both).
pub fn interop_env(test: &str) -> Option<InteropEnv> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let addr: SocketAddr = AMQP_ADDR.parse().expect("a socket address");
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        eprintln!("skipping {test}: nothing listens on {AMQP_ADDR} (run scripts/test-env.sh)");
        return None;
    }
    if !python.exists() {
        eprintln!("skipping {test}: no {} (run scripts/test-env.sh)", python.display());
        return None;
    }
    Some(InteropEnv { root, python })
}

/// A name no other test uses, so tests can share one broker.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A transport to the test broker.
pub async fn amqp() -> Arc<dyn courier::Transport> {
    courier::connect(AMQP_URL).await.expect("connect to the test broker over rabbit://")
}

/// The last lines a process wrote on stderr, for failure messages.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    const LINES: usize = 200;

    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap();
        if lines.len() == Self::LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

/// A subprocess the test talks to through lines: JSON commands on stdin, JSON lines (or log
/// lines) on stdout and stderr. Killed when dropped.
pub struct Peer {
    name: String,
    child: Child,
    /// Lines for the thread that writes the child's stdin; dropping it closes stdin.
    stdin: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    stderr_tail: Tail,
    next_id: u64,
}

impl Peer {
    /// Starts `program args...` with piped stdio.
    pub fn spawn(name: &str, program: &Path, args: &[&str], cwd: &Path) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let stdin = writer(child.stdin.take().expect("piped stdin"));
        let stdout = lines(child.stdout.take().expect("piped stdout"), None);
        let stderr_tail = Tail::default();
        let stderr = lines(child.stderr.take().expect("piped stderr"), Some(stderr_tail.clone()));
        Self { name: name.to_owned(), child, stdin: Some(stdin), stdout, stderr, stderr_tail, next_id: 0 }
    }

    /// Starts `tests/python/<script> args...` with the virtualenv's Python.
    pub fn python(env: &InteropEnv, script: &str, args: &[&str]) -> Self {
        let script_path = env.script(script);
        let mut all = vec![script_path.to_str().expect("a UTF-8 path")];
        all.extend_from_slice(args);
        Self::spawn(script, &env.python, &all, &env.root)
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn context(&self) -> String {
        format!("--- {} stderr (last lines) ---\n{}", self.name, self.stderr_tail.text())
    }

    /// The next line on stdout.
    pub async fn next_line(&mut self, within: Duration) -> String {
        match tokio::time::timeout(within, self.stdout.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{} closed its stdout\n{}", self.name, self.context()),
            Err(_) => panic!("{} printed nothing on stdout for {within:?}\n{}", self.name, self.context()),
        }
    }

    /// The next stdout line, as JSON.
    pub async fn next_json(&mut self, within: Duration) -> Value {
        let line = self.next_line(within).await;
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{} printed a line that is not JSON ({e}): {line}", self.name))
    }

    /// Reads stdout until a JSON line matches; the others are dropped.
    pub async fn wait_json(&mut self, within: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = match tokio::time::timeout(left, self.stdout.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!("{} closed its stdout before {what}\n{}", self.name, self.context()),
                Err(_) => panic!("no {what} from {} within {within:?}\n{}", self.name, self.context()),
            };
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && pred(&value)
            {
                return value;
            }
        }
    }

    /// Waits for `{"event": "ready"}`.
    pub async fn ready(&mut self) {
        self.wait_json(STARTUP, "ready line", |v| v["event"] == "ready").await;
    }

    /// Reads stderr until a line contains `needle`; returns that line.
    pub async fn wait_stderr(&mut self, within: Duration, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stderr.recv()).await {
                Ok(Some(line)) if line.contains(needle) => return line,
                Ok(Some(_)) => {}
                Ok(None) => {
                    panic!("{} closed stderr before printing {needle:?}\n{}", self.name, self.context())
                }
                Err(_) => {
                    panic!("{} did not print {needle:?} within {within:?}\n{}", self.name, self.context())
                }
            }
        }
    }

    /// Writes one JSON command line.
    pub async fn send(&mut self, command: &Value) {
        let stdin = self.stdin.as_ref().expect("stdin is open");
        let mut line = serde_json::to_vec(command).expect("JSON");
        line.push(b'\n');
        if stdin.send(line).is_err() {
            panic!("{} closed its stdin\n{}", self.name, self.context());
        }
    }

    /// Sends `command` with a fresh `id` and returns that id.
    pub async fn submit(&mut self, mut command: Value) -> u64 {
        self.next_id += 1;
        command["id"] = json!(self.next_id);
        self.send(&command).await;
        self.next_id
    }

    /// The answer to command `id`.
    pub async fn answer(&mut self, id: u64, within: Duration) -> Value {
        self.wait_json(within, &format!("answer to command {id}"), |v| v["id"] == id).await
    }

    /// Sends `command` and waits for its answer (bounded by the command's own `timeout`, if
    /// any, plus [`PATIENCE`]).
    pub async fn request(&mut self, command: Value) -> Value {
        let within = PATIENCE + Duration::from_secs_f64(command["timeout"].as_f64().unwrap_or(60.0));
        let id = self.submit(command).await;
        self.answer(id, within).await
    }

    /// Closes stdin (Python peers stop when it closes).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit (it closes its stdout when it does).
    pub async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let drained = async { while self.stdout.recv().await.is_some() {} };
        if tokio::time::timeout(within, drained).await.is_err() {
            panic!("{} did not exit within {within:?}\n{}", self.name, self.context());
        }
        tokio::task::block_in_place(|| self.child.wait()).expect("wait for the peer")
    }

    /// The stderr lines seen so far.
    pub fn stderr_text(&self) -> String {
        self.stderr_tail.text()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards the lines of a pipe into a channel, from a thread of its own (and, for stderr, into
/// a tail kept for failure messages). A full channel drops stderr lines rather than block the
/// peer.
fn lines(pipe: impl Read + Send + 'static, tail: Option<Tail>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(4096);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            match &tail {
                Some(tail) => {
                    tail.push(line.clone());
                    let _ = tx.try_send(line);
                }
                None => {
                    if tx.blocking_send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Writes what it is sent to a pipe, from a thread of its own; closes the pipe when the sender
/// is dropped.
fn writer(mut pipe: impl Write + Send + 'static) -> std::sync::mpsc::SyncSender<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        for chunk in rx {
            if pipe.write_all(&chunk).and_then(|()| pipe.flush()).is_err() {
                break;
            }
        }
    });
    tx
}

/// A Python oslo.messaging RPC client on `topic`, ready for commands.
pub async fn python_client(env: &InteropEnv, topic: &str, extra: &[&str]) -> Peer {
    let mut args = vec!["--url", AMQP_URL, "--topic", topic];
    args.extend_from_slice(extra);
    let mut peer = Peer::python(env, "rpc_client.py", &args);
    peer.ready().await;
    peer
}

/// A Python oslo.messaging RPC server on `topic` as `server`, consuming.
pub async fn python_server(env: &InteropEnv, topic: &str, server: &str) -> Peer {
    let mut peer =
        Peer::python(env, "rpc_server.py", &["--url", AMQP_URL, "--topic", topic, "--server", server]);
    peer.ready().await;
    peer
}

/// The demo endpoints of `examples/server.rs`, served in-process on `topic` as `name`.
pub struct DemoServer {
    /// The server.
    pub server: courier::RpcServer,
    /// The calls its `Demo` endpoint starts.
    pub calls: broadcast::Receiver<demo::Handled>,
}

impl DemoServer {
    /// Starts serving; returns once it consumes.
    pub async fn start(transport: Arc<dyn courier::Transport>, topic: &str, name: &str) -> Self {
        let endpoint = demo::Demo::new(name);
        let calls = endpoint.subscribe();
        let server = courier::RpcServer::builder(transport, courier::Target::new(topic).with_server(name))
            .endpoint(endpoint)
            .endpoint(demo::DemoV2)
            .build()
            .expect("a valid server");
        server.start().await.expect("the demo server starts consuming");
        Self { server, calls }
    }

    /// The next call its endpoint started that matches.
    pub async fn wait_call(&mut self, what: &str, pred: impl Fn(&demo::Handled) -> bool) -> demo::Handled {
        let wait = async {
            loop {
                match self.calls.recv().await {
                    Ok(call) if pred(&call) => return call,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("the demo endpoint is gone"),
                }
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("the demo server never handled {what} within {PATIENCE:?}"))
    }
}

/// Payloads that are awkward to carry through two JSON codecs and oslo's envelope.
pub fn awkward_payloads() -> Vec<(&'static str, Value)> {
    vec![
        ("non-ASCII text", json!("héllo wörld ✓ 日本語 🦀 \u{0}\u{1f} \"quoted\" \\ back")),
        ("nested objects", json!({"a": {"b": {"c": [1, {"d": [[], {}, [null]]}]}}, "list": [1, "two", 3.5]})),
        ("i64 and u64 edges", json!([i64::MIN, i64::MAX, u64::MAX, 0, -1])),
        ("floats", json!([0.1, -2.5, 1e300, -1e-300, 123456.789, f64::MAX, f64::MIN_POSITIVE])),
        ("null", Value::Null),
        ("empty object", json!({})),
        ("empty containers", json!({"list": [], "map": {}, "text": ""})),
        ("1 MB of text", json!("x".repeat(1 << 20))),
    ]
}
