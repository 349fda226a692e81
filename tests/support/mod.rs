//! Shared helpers of the facade's integration tests: unique names, gates that blocking and
//! async methods wait on, and concurrency gauges.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Bounds how long a test waits for something that should happen; only a failure waits this
/// long.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A name no other test uses, so tests can share one broker.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A gate sync methods block on and async methods await, opened once by the test.
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    notify: tokio::sync::Notify,
}

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
        self.notify.notify_waiters();
    }

    /// Blocks the thread until the gate opens (bounded by PATIENCE so a failing test ends).
    pub fn wait_blocking(&self) {
        let open = self.open.lock().unwrap();
        let (open, _) = self.opened.wait_timeout_while(open, PATIENCE, |open| !*open).unwrap();
        assert!(*open, "the test never opened the gate");
    }

    /// Waits for the gate without blocking a thread.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if *self.open.lock().unwrap() {
                return;
            }
            tokio::time::timeout(PATIENCE, notified).await.expect("the test never opened the gate");
        }
    }
}

/// Counts methods running now, the most that ever ran at once, and how many started.
#[derive(Debug, Default)]
pub struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Gauge {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Marks a method as running until the guard drops.
    pub fn enter(self: &Arc<Self>) -> GaugeGuard {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        GaugeGuard(Arc::clone(self))
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Waits until `check` holds (bounded by PATIENCE).
    pub async fn wait_until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if check(self) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(PATIENCE, wait).await.is_err() {
            panic!(
                "timed out waiting until {what} (running {}, started {}, finished {})",
                self.running(),
                self.started(),
                self.finished()
            );
        }
    }
}

pub struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}
