//! Load under broker faults: how each call of a load ended ([`Tally`], [`Counts`]), a call
//! bounded so a hung one is counted rather than waited for ([`bounded_call`]), and waiting for
//! a count to be reached ([`wait_until`]).
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

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

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
