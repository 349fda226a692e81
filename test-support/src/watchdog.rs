//! [`Watchdog`]: ends a long test that stops making progress instead of letting it hang, and
//! the registry of the process groups tests start ([`PrivateBroker`](crate::node::PrivateBroker)
//! nodes, Python peers), which it kills on the way out.
//!
//! Each wait of a test is bounded, but a hang can still hide where no test looks (a broker CLI
//! command, a library future that is never woken). Without a watchdog such a hang runs until
//! CI's own time limit and says nothing; with one, the test process prints the test's last step
//! and the end of each running node's log, kills what it started, and exits with a failure
//! within the limit.
//!
//! ```no_run
//! use std::time::Duration;
//! use courier_test_support::watchdog::Watchdog;
//!
//! let watchdog = Watchdog::start("amqp_broker_faults", Duration::from_secs(600));
//! watchdog.step("booting the private node");
//! // ... the test ...
//! watchdog.step("draining the server");
//! // Dropping it at the end of the test stands it down; dropped while a failure unwinds, it
//! // stays on duty until the process exits.
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A process group a test started, killed if the watchdog fires.
struct Group {
    id: u64,
    leader: u32,
    name: String,
    /// A log worth printing when the watchdog fires.
    log: Option<PathBuf>,
    /// A directory of the group's own, removed once the group is killed.
    dir: Option<PathBuf>,
}

static GROUPS: Mutex<Vec<Group>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A registered process group; unregisters on drop.
pub(crate) struct Registration(u64);

/// Registers the process group led by `leader` (`name` appears in the watchdog's report,
/// with the end of `log` if given; `dir` is removed after the kill).
pub(crate) fn register(leader: u32, name: &str, log: Option<PathBuf>, dir: Option<PathBuf>) -> Registration {
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let group = Group { id, leader, name: name.to_owned(), log, dir };
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(group);
    Registration(id)
}

impl Drop for Registration {
    fn drop(&mut self) {
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|group| group.id != self.0);
    }
}

/// SIGKILL to the process group `leader` leads.
pub(crate) fn kill_group(leader: u32) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{leader}")]).status();
}

/// The last `lines` lines of a text file (empty if it cannot be read).
pub(crate) fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

struct Shared {
    test: String,
    started: Instant,
    step: Mutex<String>,
    done: Mutex<bool>,
    wake: Condvar,
}

/// Ends the test process if the test it guards runs past its limit (see the module docs).
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Guards `test` for `limit`, counted from now.
    pub fn start(test: &str, limit: Duration) -> Self {
        let shared = Arc::new(Shared {
            test: test.to_owned(),
            started: Instant::now(),
            step: Mutex::new("starting".to_owned()),
            done: Mutex::new(false),
            wake: Condvar::new(),
        });
        let watching = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("watchdog {test}"))
            .spawn(move || watch(&watching, limit))
            .expect("start the watchdog thread");
        Self { shared, thread: Some(thread) }
    }

    /// Records what the test does now, for the report if the watchdog fires.
    pub fn step(&self, what: impl Into<String>) {
        *self.shared.step.lock().unwrap_or_else(|e| e.into_inner()) = what.into();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // While a failure unwinds, stay on duty: what runs after it can hang too (a tokio
        // runtime's shutdown waits for its blocking tasks), and a process that only failed
        // exits long before the limit.
        if std::thread::panicking() {
            return;
        }
        *self.shared.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(shared: &Shared, limit: Duration) {
    let deadline = shared.started + limit;
    let mut done = shared.done.lock().unwrap_or_else(|e| e.into_inner());
    while !*done {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            drop(done);
            fire(shared, limit);
        }
        done = shared.wake.wait_timeout(done, left).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// Reports, kills every registered process group, and exits the test process with a failure.
fn fire(shared: &Shared, limit: Duration) -> ! {
    let step = shared.step.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Straight to the process's stderr: the test harness captures `eprintln!` of a test's
    // threads and would drop it with the process.
    let mut report = format!(
        "watchdog: {} still runs after {limit:?}; its last step: {step}. Ending the test process.\n",
        shared.test
    );
    let groups = std::mem::take(&mut *GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for group in &groups {
        if let Some(log) = &group.log {
            report.push_str(&format!(
                "--- the end of {}'s log ({}) ---\n{}\n",
                group.name,
                log.display(),
                tail(log, 60)
            ));
        }
        report.push_str(&format!("watchdog: killing {} (process group {})\n", group.name, group.leader));
        kill_group(group.leader);
        if let Some(dir) = &group.dir {
            // The killed processes may still hold files for a moment; what is left is in /tmp.
            std::thread::sleep(Duration::from_millis(200));
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let _ = std::io::stderr().write_all(report.as_bytes());
    std::process::exit(101);
}
