//! [`Peer`]: a subprocess the test talks to in lines (a Python oslo.messaging peer, a
//! `courier listen`): commands on stdin, JSON lines or log lines on stdout and stderr. Every
//! wait is bounded; a failure shows the last lines the process wrote on stderr.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::paths::InteropEnv;
use crate::{PATIENCE, STARTUP};

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

/// A subprocess with piped stdio, read and written line by line from threads of its own.
/// Killed when dropped, so a test that fails half-way leaves nothing running.
pub struct Peer {
    name: String,
    pid: u32,
    child: Option<Child>,
    /// Lines for the thread that writes the child's stdin; dropping it closes stdin.
    stdin: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    stderr_tail: Tail,
    next_id: u64,
    /// For a peer leading its own process group: its entry in the watchdog's registry.
    _group: Option<crate::watchdog::Registration>,
}

impl Peer {
    /// Starts `command` with stdin, stdout and stderr piped; `name` appears in failures.
    pub fn start(name: &str, mut command: Command) -> Self {
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdin = writer(child.stdin.take().expect("piped stdin"));
        let stdout = lines(child.stdout.take().expect("piped stdout"), None);
        let stderr_tail = Tail::default();
        let stderr = lines(child.stderr.take().expect("piped stderr"), Some(stderr_tail.clone()));
        Self {
            name: name.to_owned(),
            pid: child.id(),
            child: Some(child),
            stdin: Some(stdin),
            stdout,
            stderr,
            stderr_tail,
            next_id: 0,
            _group: None,
        }
    }

    /// Starts `program args...` in `cwd`, with Python's output unbuffered.
    pub fn spawn(name: &str, program: &Path, args: &[&str], cwd: &Path) -> Self {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(cwd)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("COURIER_TRANSPORT_URL");
        Self::start(name, command)
    }

    /// Starts `tests/python/<script> args...` with the virtualenv's Python.
    pub fn python(env: &InteropEnv, script: &str, args: &[&str]) -> Self {
        Self::python_with_env(env, script, args, &[])
    }

    /// [`python`](Self::python) with environment variables set for the peer (e.g.
    /// `OSLO_LOCK_PATH`, which oslo's queue manager needs for its lock).
    pub fn python_with_env(env: &InteropEnv, script: &str, args: &[&str], vars: &[(&str, &str)]) -> Self {
        let script_path = env.script(script);
        let mut command = Command::new(&env.python);
        command
            .arg(&script_path)
            .args(args)
            .current_dir(&env.root)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("COURIER_TRANSPORT_URL")
            .envs(vars.iter().copied())
            // Each peer leads a process group of its own: oslo's queue manager reads the start
            // time of its group's leader, which must be alive (the test's own group leader may be
            // a shell that has exited).
            .process_group(0);
        let mut peer = Self::start(script, command);
        peer._group = Some(crate::watchdog::register(peer.pid, script, None, None));
        peer
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.pid
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

    /// Reads stdout (within [`PATIENCE`]) until a JSON object with `key` equal to `value`.
    pub async fn wait_field(&mut self, key: &str, value: impl Into<Value>) -> Value {
        let value = value.into();
        let what = format!("a JSON line with {key} = {value}");
        self.wait_json(PATIENCE, &what, |line| line[key] == value).await
    }

    /// Waits for `{"event": "ready"}` (within [`STARTUP`]).
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

    /// Writes one line on stdin.
    pub fn send_line(&mut self, line: &str) {
        self.write(format!("{line}\n").into_bytes());
    }

    fn write(&mut self, bytes: Vec<u8>) {
        let stdin = self.stdin.as_ref().expect("stdin is open");
        if stdin.send(bytes).is_err() {
            panic!("{} closed its stdin\n{}", self.name, self.context());
        }
    }

    /// Writes one JSON command line.
    pub async fn send(&mut self, command: &Value) {
        let mut line = serde_json::to_vec(command).expect("JSON");
        line.push(b'\n');
        self.write(line);
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

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let status = Command::new("kill").args(["-INT", &self.pid.to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -INT {} failed", self.name);
    }

    /// Waits for the process to exit; a process still running after `within` is killed and
    /// fails the test.
    pub async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the process was not waited for yet");
        let waited = tokio::time::timeout(within, tokio::task::spawn_blocking(move || child.wait())).await;
        match waited {
            Ok(status) => status.expect("the waiting thread").expect("the exit status"),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
                panic!("{} did not exit within {within:?}\n{}", self.name, self.context());
            }
        }
    }

    /// Waits (within [`PATIENCE`]) for the process to exit; returns its exit code (`None` if a
    /// signal ended it) and the stdout lines not read yet.
    pub async fn exit(mut self) -> (Option<i32>, Vec<String>) {
        let status = self.exit_status(PATIENCE).await;
        let mut rest = Vec::new();
        while let Some(line) = crate::within("stdout to close", self.stdout.recv()).await {
            rest.push(line);
        }
        (status.code(), rest)
    }

    /// The stderr lines seen so far (the last 200).
    pub fn stderr_text(&self) -> String {
        self.stderr_tail.text()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Forwards the lines of a pipe into a channel, from a thread of its own (and, for stderr, into
/// a tail kept for failure messages). A full channel drops stderr lines rather than block the
/// process.
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
