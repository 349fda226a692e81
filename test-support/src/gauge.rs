//! [`Gate`]: sync methods block on it and async methods await it until the test opens it;
//! [`Gauge`]: counts methods running now, the most that ever ran at once, started and finished.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::PATIENCE;

/// A gate sync methods block on and async methods await, opened once by the test.
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    notify: tokio::sync::Notify,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Opens the gate for every waiter, now and later.
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
        self.notify.notify_waiters();
    }

    /// Blocks the thread until the gate opens (bounded by [`PATIENCE`] so a failing test ends).
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

/// Counts methods running now, the most that ever ran at once, and how many started and
/// finished.
#[derive(Debug, Default)]
pub struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Gauge {
    /// A gauge at zero.
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

    /// Methods running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// The most methods that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Methods that started.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Methods that finished.
    pub fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Waits until `check` holds (bounded by [`PATIENCE`]).
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

/// Marks a method of a [`Gauge`] as running until it drops.
pub struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}
