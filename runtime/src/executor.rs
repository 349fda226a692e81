//! The mixed executor: async methods run as tokio tasks, sync methods on the blocking pool,
//! each kind with its own bound and its own small waiting queue.
//!
//! A message is *admitted* when its kind has a free slot or room in its waiting queue; the
//! server acknowledges RPC requests at that point (oslo's "ack on receipt"). When the next
//! message's kind has neither, the server stops taking messages and the broker holds the rest,
//! so a full sync pool never holds up async messages until the sync waiting queue is full too,
//! and nothing queues without bound.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::endpoint::{Invocation, MethodKind};
use crate::metrics::Occupancy;
use crate::wire::Failure;

/// oslo's `executor_thread_pool_size`.
pub const DEFAULT_POOL_SIZE: usize = 64;
/// How many admitted messages of one kind may wait for a slot.
pub const DEFAULT_QUEUE_SIZE: usize = 16;

/// How a server runs its endpoints' methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExecutorMode {
    /// Sync and async methods in separate, separately bounded pools (the default).
    #[default]
    Mixed,
    /// One message at a time, in order (oslo's `blocking` executor). Sync methods still run
    /// on the blocking pool so the reactor never stalls.
    Blocking,
}

/// Bounds of the executor.
///
/// ```
/// use courier_runtime::executor::{ExecutorConfig, ExecutorMode};
///
/// let config = ExecutorConfig::default().with_sync_pool(8).with_async_pool(256).with_sync_queue(4);
/// assert_eq!(config.mode, ExecutorMode::Mixed);
/// assert_eq!(config.capacity(), 8 + 4 + 256 + 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutorConfig {
    /// Mixed or blocking.
    pub mode: ExecutorMode,
    /// Sync methods running at once.
    pub sync_pool: usize,
    /// Async methods running at once.
    pub async_pool: usize,
    /// Admitted sync messages waiting for a slot.
    pub sync_queue: usize,
    /// Admitted async messages waiting for a slot.
    pub async_queue: usize,
    /// The blocking watchdog: an async method whose one poll takes longer than this (it
    /// blocked its runtime thread, stalling every other task there) is named in a warning
    /// and counted (`courier_blocking_polls_total`). Default [`DEFAULT_BLOCKING_WATCHDOG`] in
    /// debug builds, off in release builds (it reads the clock twice per poll).
    pub blocking_watchdog: Option<Duration>,
}

/// The blocking watchdog's threshold in debug builds: a poll of 10 ms is a thread blocked.
pub const DEFAULT_BLOCKING_WATCHDOG: Duration = Duration::from_millis(10);

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            mode: ExecutorMode::Mixed,
            sync_pool: DEFAULT_POOL_SIZE,
            async_pool: DEFAULT_POOL_SIZE,
            sync_queue: DEFAULT_QUEUE_SIZE,
            async_queue: DEFAULT_QUEUE_SIZE,
            blocking_watchdog: cfg!(debug_assertions).then_some(DEFAULT_BLOCKING_WATCHDOG),
        }
    }
}

impl ExecutorConfig {
    /// oslo's `blocking` executor: one message at a time, in order.
    #[must_use]
    pub fn blocking() -> Self {
        Self { mode: ExecutorMode::Blocking, ..Self::default() }
    }

    /// Sets the blocking watchdog's threshold (`None`: off); see
    /// [`blocking_watchdog`](Self::blocking_watchdog).
    ///
    /// ```
    /// use std::time::Duration;
    /// use courier_runtime::executor::ExecutorConfig;
    ///
    /// let config = ExecutorConfig::default().with_blocking_watchdog(Some(Duration::from_millis(50)));
    /// assert_eq!(config.blocking_watchdog, Some(Duration::from_millis(50)));
    /// ```
    #[must_use]
    pub fn with_blocking_watchdog(mut self, threshold: Option<Duration>) -> Self {
        self.blocking_watchdog = threshold;
        self
    }

    /// Sets the sync pool size (at least 1).
    #[must_use]
    pub fn with_sync_pool(mut self, size: usize) -> Self {
        self.sync_pool = size.max(1);
        self
    }

    /// Sets the async pool size (at least 1).
    #[must_use]
    pub fn with_async_pool(mut self, size: usize) -> Self {
        self.async_pool = size.max(1);
        self
    }

    /// Sets the sync waiting queue size.
    #[must_use]
    pub fn with_sync_queue(mut self, size: usize) -> Self {
        self.sync_queue = size;
        self
    }

    /// Sets the async waiting queue size.
    #[must_use]
    pub fn with_async_queue(mut self, size: usize) -> Self {
        self.async_queue = size;
        self
    }

    /// How many messages may be admitted at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        match self.mode {
            ExecutorMode::Mixed => self.sync_pool + self.sync_queue + self.async_pool + self.async_queue,
            ExecutorMode::Blocking => 1,
        }
    }
}

/// One kind's bound: `admitted` counts running plus waiting, `running` the slots.
#[derive(Debug)]
struct Pool {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: u32,
}

impl Pool {
    fn new(slots: usize, queue: usize) -> Self {
        let capacity = u32::try_from(slots + queue).unwrap_or(u32::MAX >> 4);
        Self {
            admitted: Arc::new(Semaphore::new(capacity as usize)),
            running: Arc::new(Semaphore::new(slots)),
            capacity,
        }
    }

    fn in_flight(&self) -> usize {
        self.capacity as usize - self.admitted.available_permits()
    }
}

/// Runs invocations within the configured bounds.
#[derive(Debug)]
pub(crate) struct Executor {
    sync: Pool,
    async_: Pool,
    mode: ExecutorMode,
    /// The `consumer` label of the waiting / in-flight gauges; none: not recorded.
    consumer: Option<Arc<str>>,
    /// See [`ExecutorConfig::blocking_watchdog`].
    watchdog: Option<Duration>,
}

impl Executor {
    /// An executor with these bounds.
    #[must_use]
    pub(crate) fn new(config: ExecutorConfig) -> Self {
        match config.mode {
            ExecutorMode::Mixed => Self {
                sync: Pool::new(config.sync_pool, config.sync_queue),
                async_: Pool::new(config.async_pool, config.async_queue),
                mode: config.mode,
                consumer: None,
                watchdog: config.blocking_watchdog,
            },
            ExecutorMode::Blocking => {
                let one = Pool::new(1, 0);
                let shared = Pool {
                    admitted: Arc::clone(&one.admitted),
                    running: Arc::clone(&one.running),
                    capacity: one.capacity,
                };
                Self {
                    sync: one,
                    async_: shared,
                    mode: config.mode,
                    consumer: None,
                    watchdog: config.blocking_watchdog,
                }
            }
        }
    }

    /// Records the waiting and in-flight gauges ([`crate::metrics`]) under this `consumer`
    /// label.
    #[must_use]
    pub(crate) fn with_consumer(mut self, consumer: Arc<str>) -> Self {
        self.consumer = Some(consumer);
        self
    }

    fn pool(&self, kind: MethodKind) -> &Pool {
        match kind {
            MethodKind::Sync => &self.sync,
            MethodKind::Async => &self.async_,
        }
    }

    /// Waits until a message of `kind` can be admitted.
    pub(crate) async fn admit(&self, kind: MethodKind) -> Admission {
        let pool = self.pool(kind);
        let permit =
            Arc::clone(&pool.admitted).acquire_owned().await.expect("executor semaphores are never closed");
        let occupancy = Occupancy::waiting(self.consumer.as_ref(), kind.as_str());
        let watchdog = self.watchdog.map(|threshold| Watchdog { threshold, consumer: self.consumer.clone() });
        Admission { _admitted: permit, running: Arc::clone(&pool.running), kind, occupancy, watchdog }
    }

    /// Messages admitted and not finished, per kind: `(sync, async)`.
    #[must_use]
    pub(crate) fn in_flight(&self) -> (usize, usize) {
        match self.mode {
            ExecutorMode::Mixed => (self.sync.in_flight(), self.async_.in_flight()),
            ExecutorMode::Blocking => (self.sync.in_flight(), 0),
        }
    }

    /// Waits until nothing is in flight, or `timeout` passes. Returns how many messages were
    /// still unfinished (abandoned) at the deadline. The consume engine drains its own count of
    /// tasks (which also covers replies being sent); this one serves the tests below.
    #[cfg(test)]
    async fn drain(&self, timeout: Option<std::time::Duration>) -> usize {
        let all = async {
            let sync = self.sync.admitted.acquire_many(self.sync.capacity).await;
            let async_ = match self.mode {
                ExecutorMode::Mixed => Some(self.async_.admitted.acquire_many(self.async_.capacity).await),
                ExecutorMode::Blocking => None,
            };
            drop((sync, async_));
        };
        match timeout {
            None => {
                all.await;
                0
            }
            Some(timeout) => match tokio::time::timeout(timeout, all).await {
                Ok(()) => 0,
                Err(_) => {
                    let (sync, async_) = self.in_flight();
                    sync + async_
                }
            },
        }
    }
}

/// A message's place in its kind's bound; released when dropped.
#[derive(Debug)]
pub(crate) struct Admission {
    _admitted: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
    kind: MethodKind,
    occupancy: Occupancy,
    watchdog: Option<Watchdog>,
}

/// What the blocking watchdog needs: its threshold and the metrics' `consumer` label.
#[derive(Debug, Clone)]
struct Watchdog {
    threshold: Duration,
    consumer: Option<Arc<str>>,
}

impl Admission {
    /// The kind it was admitted as.
    #[must_use]
    pub(crate) fn kind(&self) -> MethodKind {
        self.kind
    }

    /// Waits for a slot, then runs the invocation: sync ones on the blocking pool, async ones
    /// in the calling task. A panic is caught, logged with `name`, and returned as
    /// [`Panicked`].
    ///
    /// The slot is freed when the call returns; the admission itself stays until dropped, so
    /// a server keeps it until the reply is sent and a drain waits for that too.
    ///
    /// # Errors
    /// [`Panicked`] when the call panicked (or its blocking task was cancelled because the
    /// runtime is shutting down).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        invocation: Invocation<T>,
        name: &str,
    ) -> Result<T, Panicked> {
        let _slot = self.running.acquire().await.expect("executor semaphores are never closed");
        let _running = self.occupancy.start();
        self.run_now(invocation, name).await
    }

    /// As [`run`](Self::run), unless `deadline` passed while it waited for its slot: then it
    /// does not run, and `None`.
    pub(crate) async fn run_before<T: Send + 'static>(
        &self,
        invocation: Invocation<T>,
        name: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> Option<Result<T, Panicked>> {
        let _slot = self.running.acquire().await.expect("executor semaphores are never closed");
        if deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
            return None;
        }
        let _running = self.occupancy.start();
        Some(self.run_now(invocation, name).await)
    }

    async fn run_now<T: Send + 'static>(&self, invocation: Invocation<T>, name: &str) -> Result<T, Panicked> {
        match invocation {
            Invocation::Sync(call) => match tokio::task::spawn_blocking(call).await {
                Ok(value) => Ok(value),
                Err(error) if error.is_panic() => Err(Panicked::caught(name, error.into_panic())),
                Err(error) => Err(Panicked { message: format!("cancelled: {error}") }),
            },
            Invocation::Async(future) => {
                let caught = match &self.watchdog {
                    None => AssertUnwindSafe(future).catch_unwind().await,
                    Some(watchdog) => {
                        AssertUnwindSafe(Watched { future, watchdog, name }).catch_unwind().await
                    }
                };
                caught.map_err(|panic| Panicked::caught(name, panic))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// An async method's future, each poll timed against the watchdog's threshold.
    struct Watched<'a, F> {
        #[pin]
        future: F,
        watchdog: &'a Watchdog,
        name: &'a str,
    }
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        // The real clock: a blocked thread blocks in real time, paused tokio clock or not.
        let started = std::time::Instant::now();
        let polled = this.future.poll(cx);
        let took = started.elapsed();
        if took > this.watchdog.threshold {
            tracing::warn!(
                method = %this.name,
                poll_ms = took.as_secs_f64() * 1000.0,
                "the async method {} blocked its runtime thread for {took:?} in one poll, stalling \
                 the other tasks there; make blocking work a sync `fn` (it runs on the blocking pool)",
                this.name
            );
            crate::metrics::blocking_poll(this.watchdog.consumer.as_deref(), this.name);
        }
        polled
    }
}

/// A call that panicked instead of returning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Panicked {
    /// The panic's message (`"a non-string panic payload"` when it was not a string).
    pub(crate) message: String,
}

impl Panicked {
    fn caught(name: &str, panic: Box<dyn std::any::Any + Send>) -> Self {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned());
        tracing::error!(method = %name, panic = %message, "endpoint method panicked");
        Self { message }
    }

    /// The failure an RPC caller gets: a `RuntimeError` naming the method.
    #[must_use]
    pub(crate) fn to_failure(&self, method: &str) -> Failure {
        Failure::runtime_error(format!("method {method} panicked: {}", self.message))
    }
}

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl std::error::Error for Panicked {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::time::Duration;

    #[tokio::test]
    async fn panics_become_failures() {
        let executor = Executor::new(ExecutorConfig::default());
        let sync: Invocation<()> = Invocation::Sync(Box::new(|| panic!("sync boom")));
        let panicked = executor.admit(MethodKind::Sync).await.run(sync, "s").await.unwrap_err();
        assert_eq!(panicked.message, "sync boom");
        let failure = panicked.to_failure("s");
        assert_eq!(failure.class, "RuntimeError");
        assert_eq!(failure.message, "method s panicked: sync boom");
        let async_: Invocation<u8> = Invocation::Async(Box::pin(async { panic!("async {}", "boom") }));
        let panicked = executor.admit(MethodKind::Async).await.run(async_, "a").await.unwrap_err();
        assert_eq!(panicked.message, "async boom");
        let fine: Invocation<u8> = Invocation::Async(Box::pin(async { 7 }));
        assert_eq!(executor.admit(MethodKind::Async).await.run(fine, "f").await, Ok(7));
        assert_eq!(executor.in_flight(), (0, 0));
    }

    #[tokio::test]
    async fn admission_stops_at_slots_plus_queue() {
        let executor = Executor::new(ExecutorConfig::default().with_sync_pool(1).with_sync_queue(1));
        let first = executor.admit(MethodKind::Sync).await;
        let second = executor.admit(MethodKind::Sync).await;
        assert_eq!(executor.in_flight(), (2, 0));
        // A third sync message must wait, while async ones still get in.
        assert!(executor.admit(MethodKind::Sync).now_or_never().is_none());
        let async_ = executor.admit(MethodKind::Async).await;
        assert_eq!(
            async_.run(Invocation::Async(Box::pin(async { Ok::<_, Failure>(Value::Null) })), "a").await,
            Ok(Ok(Value::Null))
        );
        drop((first, second, async_));
        assert_eq!(executor.drain(Some(Duration::from_secs(1))).await, 0);
    }
}
