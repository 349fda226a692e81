//! Load under broker faults: a service to call and cast to ([`Recording`]), a load of calls,
//! casts and notifications ([`Load`]) counting how each call ended ([`Tally`], [`Counts`]) and
//! remembering what the broker confirmed, a call bounded so a hung one is counted rather than
//! waited for ([`bounded_call`]), and waiting for a count to be reached ([`wait_until`]).
//!
//! ```
//! use std::time::Duration;
//! use courier_test_support::faults::{Outcome, Tally};
//!
//! let tally = Tally::default();
//! tally.add(Outcome::Ok);
//! tally.add(Outcome::TimedOut);
//! let counts = tally.counts();
//! assert_eq!((counts.ok, counts.timed_out, counts.hung), (1, 1, 0));
//! assert_eq!(counts.to_string(), "ok 1, failed 0, timed out 1, hung 0");
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier::{Context, Notifier, RpcClient, rpc_endpoint};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Numbers, shared between the tasks that add them and the test that reads them.
pub type Numbers = Arc<Mutex<BTreeSet<u64>>>;

/// The service of the fault tests: `echo` answers with its value, the cast `record` remembers
/// its number.
pub struct Recording {
    recorded: Numbers,
}

impl Recording {
    /// The service, and the numbers it will have recorded.
    pub fn new() -> (Self, Numbers) {
        let recorded = Numbers::default();
        (Self { recorded: Arc::clone(&recorded) }, recorded)
    }
}

#[rpc_endpoint]
impl Recording {
    async fn echo(&self, value: u64) -> u64 {
        value
    }

    fn record(&self, n: u64) {
        self.recorded.lock().unwrap().insert(n);
    }
}

/// A load on a [`Recording`] service until [`Load::finish`]: callers calling `echo` one call
/// after another (each bounded by `hung_after`, counted in [`Load::calls`]), and one task
/// casting `record` and, with a notifier, sending an `info` notification whose payload is
/// `{"n": n}` every 20 ms. What the broker confirmed is remembered by number.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    /// How the calls ended so far.
    pub calls: Arc<Tally>,
    /// The casts the broker confirmed.
    pub sent_casts: Numbers,
    /// The notifications the broker confirmed.
    pub sent_notifications: Numbers,
}

impl Load {
    /// Starts `callers` callers and the caster on `client` (and `notifier`).
    pub fn start(
        client: &RpcClient,
        notifier: Option<Notifier>,
        callers: usize,
        hung_after: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Tally::default());
        let (sent_casts, sent_notifications) = (Numbers::default(), Numbers::default());
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..callers {
            let (client, calls, stop, next) = (client.clone(), calls.clone(), stop.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let (ctx, args) = (Context::new(), json!({"value": n}));
                    let (outcome, answer) =
                        bounded_call(hung_after, client.call_as::<_, u64>(&ctx, "echo", &args)).await;
                    if let Some(answer) = answer {
                        assert_eq!(answer, n, "a caller got another call's answer");
                    }
                    calls.add(outcome);
                    if outcome == Outcome::Failed {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
        let (client, stop_casting) = (client.clone(), stop.clone());
        let (casts, notifications) = (sent_casts.clone(), sent_notifications.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0_u64;
            while !stop_casting.load(Ordering::SeqCst) {
                n += 1;
                let args = json!({"n": n}).as_object().expect("an object").clone();
                if client.cast(&Context::new(), "record", args).await.is_ok() {
                    casts.lock().unwrap().insert(n);
                }
                if let Some(notifier) = &notifier
                    && notifier.info(&Context::new(), "fault.event", json!({"n": n})).await.is_ok()
                {
                    notifications.lock().unwrap().insert(n);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
        Self { stop, tasks, calls, sent_casts, sent_notifications }
    }

    /// The flag that stops the load, for other callers that should stop with it.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Stops the load and waits for its tasks.
    ///
    /// # Panics
    /// When a caller got another call's answer.
    pub async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a task of the load");
        }
    }
}

/// How one call of a load ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered.
    Ok,
    /// Failed with a clear error other than its timeout (e.g. the broker was unreachable).
    Failed,
    /// Failed with its own timeout.
    TimedOut,
    /// Neither answered nor failed well after its timeout: what must never happen.
    Hung,
}

/// How the calls of a load ended so far; shared by the tasks making them.
#[derive(Debug, Default)]
pub struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    timed_out: AtomicUsize,
    hung: AtomicUsize,
}

impl Tally {
    /// Counts one call.
    pub fn add(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Ok => &self.ok,
            Outcome::Failed => &self.failed,
            Outcome::TimedOut => &self.timed_out,
            Outcome::Hung => &self.hung,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    /// Calls answered so far.
    pub fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        Counts {
            ok: self.ok(),
            failed: self.failed.load(Ordering::SeqCst),
            timed_out: self.timed_out.load(Ordering::SeqCst),
            hung: self.hung.load(Ordering::SeqCst),
        }
    }
}

/// A [`Tally`] read at one moment; subtract two to get what happened in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Answered.
    pub ok: usize,
    /// Failed with a clear error.
    pub failed: usize,
    /// Failed with their timeout.
    pub timed_out: usize,
    /// Hung past their timeout.
    pub hung: usize,
}

impl std::ops::Sub for Counts {
    type Output = Counts;

    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            ok: self.ok - earlier.ok,
            failed: self.failed - earlier.failed,
            timed_out: self.timed_out - earlier.timed_out,
            hung: self.hung - earlier.hung,
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ok {}, failed {}, timed out {}, hung {}", self.ok, self.failed, self.timed_out, self.hung)
    }
}

/// Runs a courier `call`, giving up on it after `hung_after` (which must be well past the
/// call's own timeout): the outcome and, when answered, the result.
pub async fn bounded_call<T>(
    hung_after: Duration,
    call: impl Future<Output = Result<T, courier::Error>>,
) -> (Outcome, Option<T>) {
    match tokio::time::timeout(hung_after, call).await {
        Ok(Ok(value)) => (Outcome::Ok, Some(value)),
        Ok(Err(courier::Error::Timeout { .. })) => (Outcome::TimedOut, None),
        Ok(Err(_)) => (Outcome::Failed, None),
        Err(_) => (Outcome::Hung, None),
    }
}

/// Polls `check` every 100 ms until it holds (`true`) or `limit` passes (`false`), so the
/// caller can fail with what it knows (e.g. the counts so far).
pub async fn wait_until(limit: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}
