//! What an RPC server and a notification listener share: the options they consume with
//! ([`ConsumeOptions`]) and what their `wait()` reports ([`DrainReport`]).

// The consume engine both run on (internal): the receive loop and its stop race, admission
// through the mixed executor (and requeue on stop), settling, the count of every task spawned
// for a message, the lifecycle (`start` / `stop` / `wait` with one drain) and the span each
// message is handled in.
//
// What differs between the two is a `Handler`: how a delivery decodes into work, how the work
// runs, and the `AckPolicy`. RPC requests are acknowledged on admission (oslo's ack on
// receipt; sent by the handler from the message's task before it runs), so the consumer stops
// consuming at `stop`; notifications are acknowledged after their endpoints ran. Either way
// the consumer is dropped only after the drain, so late acks still reach the broker.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Span;

use crate::endpoint::MethodKind;
use crate::error::{Error, TransportError};
use crate::executor::{Admission, Executor, ExecutorConfig};
use crate::metrics::{self, Rejection};
use crate::serializer::{NoOpSerializer, Serializer};
use crate::transport::{Delivery, Incoming, Listener, Origin};

/// What [`RpcServer`](crate::server::RpcServer) and
/// [`NotificationListener`](crate::notification_listener::NotificationListener) builders share: the executor's
/// bounds, the serializer, the drain timeout and the prefetch.
///
/// Both builders take them one by one (`with_executor`, `with_serializer`,
/// `with_drain_timeout`, `with_prefetch`) or all at once (`with_options`).
///
/// ```
/// use std::time::Duration;
/// use courier_runtime::consume::ConsumeOptions;
/// use courier_runtime::executor::ExecutorConfig;
///
/// let options = ConsumeOptions::default()
///     .with_executor(ExecutorConfig::default().with_sync_pool(8))
///     .with_drain_timeout(Duration::from_secs(30))
///     .with_prefetch(16);
/// assert_eq!(options.executor.sync_pool, 8);
/// assert_eq!(options.prefetch, Some(16));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ConsumeOptions {
    /// The executor's mode and bounds.
    pub executor: ExecutorConfig,
    /// Applied to contexts, arguments and results (RPC) or payloads (notifications).
    pub serializer: Arc<dyn Serializer>,
    /// How long `wait()` waits for in-flight work; unbounded (`None`) by default, as oslo.
    pub drain_timeout: Option<Duration>,
    /// How many messages the broker may push ahead of admission; `None`: the consumer's
    /// default (RPC: [`DEFAULT_PREFETCH`](crate::server::DEFAULT_PREFETCH); notifications:
    /// the executor's capacity, or the batch size when larger).
    pub prefetch: Option<u16>,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        Self {
            executor: ExecutorConfig::default(),
            serializer: Arc::new(NoOpSerializer),
            drain_timeout: None,
            prefetch: None,
        }
    }
}

impl std::fmt::Debug for ConsumeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeOptions")
            .field("executor", &self.executor)
            .field("drain_timeout", &self.drain_timeout)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl ConsumeOptions {
    /// Sets the executor's mode and bounds.
    #[must_use]
    pub fn with_executor(mut self, config: ExecutorConfig) -> Self {
        self.executor = config;
        self
    }

    /// Sets the serializer.
    #[must_use]
    pub fn with_serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Bounds how long `wait()` waits for in-flight work; what is unfinished then is reported
    /// and abandoned.
    #[must_use]
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// How many messages the broker may push ahead of admission (at least 1).
    #[must_use]
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = Some(prefetch.max(1));
        self
    }
}

/// The `with_*` builder methods of [`ConsumeOptions`], for a builder with an `options` field.
macro_rules! consume_options_methods {
    () => {
        /// Sets the executor's mode and bounds.
        pub fn with_executor(mut self, config: $crate::executor::ExecutorConfig) -> Self {
            self.options = self.options.with_executor(config);
            self
        }

        /// Sets the serializer.
        pub fn with_serializer(
            mut self,
            serializer: std::sync::Arc<dyn $crate::serializer::Serializer>,
        ) -> Self {
            self.options = self.options.with_serializer(serializer);
            self
        }

        /// Bounds how long `wait()` waits for in-flight work; what is unfinished then is
        /// reported and abandoned. Unbounded by default, as oslo.
        pub fn with_drain_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options = self.options.with_drain_timeout(timeout);
            self
        }

        /// How many messages the broker may push ahead of admission (at least 1).
        pub fn with_prefetch(mut self, prefetch: u16) -> Self {
            self.options = self.options.with_prefetch(prefetch);
            self
        }

        /// Sets every shared option at once.
        pub fn with_options(mut self, options: $crate::consume::ConsumeOptions) -> Self {
            self.options = options;
            self
        }
    };
}
pub(crate) use consume_options_methods;

/// What `wait()` found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Messages (or batches) still running, waiting or replying when the drain timeout
    /// passed, abandoned.
    pub abandoned: usize,
}

/// When a consumer acknowledges what it admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckPolicy {
    /// On admission, before running (RPC): the consumer stops consuming at `stop`.
    OnAdmission,
    /// After handling (notifications, by the handler): the consumer stays open until the
    /// drain is over, so the late acks still reach the broker.
    AfterHandling,
}

/// How to settle a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settlement {
    Ack,
    Requeue,
    Reject,
}

impl Settlement {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Requeue => "requeue",
            Self::Reject => "reject",
        }
    }

    /// Settles `delivery` this way.
    pub(crate) async fn apply(self, delivery: &dyn Delivery) -> Result<(), TransportError> {
        match self {
            Self::Ack => delivery.ack().await,
            Self::Requeue => delivery.requeue().await,
            Self::Reject => delivery.reject().await,
        }
    }

    /// Settles `delivery` this way, logging a failure: the broker then redelivers or drops
    /// the message on its own.
    pub(crate) async fn settle(self, delivery: &dyn Delivery) {
        self.log(self.apply(delivery).await);
    }

    pub(crate) fn log(self, result: Result<(), TransportError>) {
        if let Err(error) = result {
            tracing::warn!(%error, "could not {} a message", self.as_str());
        }
    }
}

/// Work decoded from one message (or a batch), ready for admission.
pub(crate) trait Work: Send + 'static {
    /// The executor slot it needs; `None`: nothing runs it (the engine acknowledges it).
    fn kind(&self) -> Option<MethodKind>;

    /// The `method` label of its metrics (a method of the dispatch table, or a priority).
    fn method(&self) -> &'static str;

    /// Settles all its deliveries; the first error, if any.
    fn settle(&self, how: Settlement) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// When its sender gives up: work still waiting for admission then is not run.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Logs (with its ids) that it expired unrun.
    fn log_expired(&self) {}
}

/// A kind of consumer: how deliveries become work and how work runs.
pub(crate) trait Handler: Send + Sync + Sized + 'static {
    /// A decoded message.
    type Taken: Send + 'static;
    /// What is admitted and run.
    type Work: Work;

    /// When admitted work is acknowledged.
    const ACK: AckPolicy;

    /// The `consumer` label of its metrics ([`crate::metrics`]).
    fn consumer(&self) -> String;

    /// The span a message is handled in, opened on receipt (see [`consumer_span!`]).
    fn span(&self, origin: Option<&Origin>) -> Span;

    /// Decodes a delivery. What cannot be handled is settled (and answered, with
    /// [`Core::spawn`]) here; `None` then.
    fn take(core: &Arc<Core<Self>>, incoming: Incoming) -> impl Future<Output = Option<Self::Taken>> + Send;

    /// Plans the work of one message.
    fn plan(&self, taken: Self::Taken) -> Self::Work;

    /// Runs admitted work to its end (reply or settlement); under [`AckPolicy::OnAdmission`]
    /// it acknowledges the work first, before running it. The admission is released when
    /// this returns or drops it, whichever comes first. `stopping` turns true when the
    /// consumer is stopped.
    fn handle(
        core: Arc<Core<Self>>,
        work: Self::Work,
        admission: Admission,
        stopping: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send;
}

/// A handler that can also take messages in batches.
pub(crate) trait BatchHandler: Handler {
    /// Plans the work of a batch.
    fn plan_batch(&self, batch: Vec<Self::Taken>) -> Self::Work;
}

/// Opens a consumer span named `$name` with OpenTelemetry's messaging fields from an
/// `Option<&Origin>`, plus the handler's own fields (declare them `Empty` and record them once
/// decoded).
macro_rules! consumer_span {
    ($name:literal, $origin:expr, $($fields:tt)*) => {{
        let origin: Option<&$crate::transport::Origin> = $origin;
        tracing::info_span!(
            $name,
            "otel.kind" = "consumer",
            "messaging.system" = origin.map_or("unknown", |o| o.system),
            "messaging.destination.name" = origin.map(|o| &*o.exchange),
            "messaging.rabbitmq.destination.routing_key" = origin.map(|o| &*o.routing_key),
            $($fields)*
        )
    }};
}
pub(crate) use consumer_span;

/// Awaits `$future` inside `$span`, pinned where it is built (`Instrument` would move it
/// once more).
macro_rules! in_span {
    ($span:expr, $future:expr) => {{
        let span: &Span = &$span;
        let mut future = std::pin::pin!($future);
        std::future::poll_fn(|cx| {
            let _entered = span.enter();
            future.as_mut().poll(cx)
        })
        .await
    }};
}

/// What the receive loop and the work tasks share.
pub(crate) struct Core<H> {
    pub(crate) handler: H,
    pub(crate) executor: Executor,
    /// The `consumer` label of the metrics.
    pub(crate) consumer: Arc<str>,
    /// Tasks spawned for messages and not finished: work, and replies sent outside it.
    tasks: AtomicUsize,
    /// Woken when `tasks` drops to zero.
    idle: Notify,
}

impl<H: Handler> Core<H> {
    /// Spawns a task for a message (in the current span) that the drain waits for.
    pub(crate) fn spawn(self: &Arc<Self>, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.fetch_add(1, Ordering::AcqRel);
        // One wrapper for span and count: message futures are large, and each wrapper level
        // copies them once more (the copies showed up in the benchmark).
        tokio::spawn(Tracked { task, span: Span::current(), _guard: TaskGuard(Arc::clone(self)) });
    }

    /// Receives one message at a time until stopped. Returns the consumer.
    async fn receive(
        self: Arc<Self>,
        mut listener: Box<dyn Listener>,
        mut stopped: watch::Receiver<bool>,
    ) -> Box<dyn Listener> {
        loop {
            let Some(incoming) = next(&mut listener, &mut stopped).await else { break };
            metrics::received(&self.consumer);
            let span = self.handler.span(incoming.origin.as_ref());
            crate::telemetry::extract_parent(&span, &incoming.headers);
            let go_on = in_span!(span, async {
                let Some(taken) = H::take(&self, incoming).await else { return true };
                self.submit(self.handler.plan(taken), &mut stopped).await
            });
            if !go_on {
                break;
            }
        }
        listener
    }

    /// Admits the work (waiting for a slot of its kind: back-pressure), acknowledges it if
    /// the policy says so, and spawns it. Returns false when a stop came first (the work's
    /// messages are then requeued).
    async fn submit(self: &Arc<Self>, work: H::Work, stopped: &mut watch::Receiver<bool>) -> bool {
        let Some(kind) = work.kind() else {
            metrics::rejected(&self.consumer, work.method(), Rejection::Filtered);
            Settlement::Ack.log(work.settle(Settlement::Ack).await);
            return true;
        };
        if self.expired(&work) {
            Settlement::Ack.log(work.settle(Settlement::Ack).await);
            return true;
        }
        let admission = tokio::select! {
            biased;
            () = stop_requested(stopped) => {
                Settlement::Requeue.log(work.settle(Settlement::Requeue).await);
                return false;
            }
            admission = self.executor.admit(kind) => admission,
        };
        // Waiting for a slot may have outlasted the sender's patience.
        if self.expired(&work) {
            Settlement::Ack.log(work.settle(Settlement::Ack).await);
            return true;
        }
        metrics::admitted(&self.consumer, work.method(), kind.as_str());
        let (core, stopping) = (Arc::clone(self), stopped.clone());
        // Boxed: the handling future is several KiB, and spawning moves a task's future several
        // times (callgrind showed the copies); a boxed one moves as a pointer.
        self.spawn(Box::pin(H::handle(core, work, admission, stopping)));
        true
    }

    /// Whether the work's sender has given up; such work is logged and counted here, and
    /// acknowledged by the caller without a reply (nobody waits for it).
    fn expired(&self, work: &H::Work) -> bool {
        if work.deadline().is_none_or(|deadline| Instant::now() < deadline) {
            return false;
        }
        work.log_expired();
        metrics::rejected(&self.consumer, work.method(), Rejection::Expired);
        true
    }
}

impl<H: BatchHandler> Core<H> {
    /// Receives batches of up to `size` messages, cut after `timeout` since the first.
    async fn receive_batches(
        self: Arc<Self>,
        mut listener: Box<dyn Listener>,
        mut stopped: watch::Receiver<bool>,
        size: usize,
        timeout: Option<Duration>,
    ) -> Box<dyn Listener> {
        let mut stopping = false;
        while !stopping {
            let deadline = timeout.map(|t| Instant::now() + t);
            let mut batch = Vec::with_capacity(size);
            while batch.len() < size {
                let incoming = tokio::select! {
                    biased;
                    next = next(&mut listener, &mut stopped) => match next {
                        Some(incoming) => incoming,
                        None => {
                            stopping = true;
                            break;
                        }
                    },
                    () = sleep_until(deadline) => break,
                };
                metrics::received(&self.consumer);
                let span = self.handler.span(incoming.origin.as_ref());
                crate::telemetry::extract_parent(&span, &incoming.headers);
                batch.extend(in_span!(span, H::take(&self, incoming)));
            }
            if batch.is_empty() {
                continue;
            }
            let work = self.handler.plan_batch(batch);
            if stopping {
                Settlement::Requeue.log(work.settle(Settlement::Requeue).await);
            } else if !self.submit(work, &mut stopped).await {
                break;
            }
        }
        listener
    }
}

/// The next message, or `None` once a stop was asked for (checked first) or the transport
/// closed the consumer.
async fn next(listener: &mut Box<dyn Listener>, stopped: &mut watch::Receiver<bool>) -> Option<Incoming> {
    tokio::select! {
        biased;
        () = stop_requested(stopped) => None,
        next = listener.next() => {
            if next.is_none() {
                tracing::warn!("the transport closed the consumer");
            }
            next
        }
    }
}

/// Resolves once a stop is asked for.
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

pin_project_lite::pin_project! {
    /// A message's task: polled in its span, counted until dropped.
    struct Tracked<F, H> {
        #[pin]
        task: F,
        span: Span,
        _guard: TaskGuard<H>,
    }
}

impl<F: Future<Output = ()>, H> Future for Tracked<F, H> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = self.project();
        let _entered = this.span.enter();
        this.task.poll(cx)
    }
}

/// Counts a task until dropped.
struct TaskGuard<H>(Arc<Core<H>>);

impl<H> Drop for TaskGuard<H> {
    fn drop(&mut self) {
        if self.0.tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl<H> Core<H> {
    /// Resolves once no task is left.
    async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a task ending in between still wakes us.
            idle.as_mut().enable();
            if self.tasks.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

enum State {
    Idle,
    Running {
        stop: watch::Sender<bool>,
        receive: JoinHandle<Box<dyn Listener>>,
    },
    /// Stopped and not yet drained; with the consumer when it closes after the drain.
    Stopped {
        listener: Option<Box<dyn Listener>>,
    },
}

/// A consumer's lifecycle over a handler.
pub(crate) struct Engine<H> {
    core: Arc<Core<H>>,
    drain_timeout: Option<Duration>,
    state: Mutex<State>,
}

impl<H: Handler> Engine<H> {
    pub(crate) fn new(handler: H, executor: ExecutorConfig, drain_timeout: Option<Duration>) -> Self {
        let consumer: Arc<str> = handler.consumer().into();
        let executor = Executor::new(executor).with_consumer(Arc::clone(&consumer));
        Self {
            core: Arc::new(Core {
                handler,
                executor,
                consumer,
                tasks: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
            drain_timeout,
            state: Mutex::new(State::Idle),
        }
    }

    pub(crate) fn handler(&self) -> &H {
        &self.core.handler
    }

    pub(crate) fn in_flight(&self) -> (usize, usize) {
        self.core.executor.in_flight()
    }

    /// Listens with `listen` and receives one message at a time. Starting a running
    /// consumer does nothing.
    pub(crate) async fn start<F>(&self, listen: impl FnOnce() -> F) -> Result<bool, Error>
    where
        F: Future<Output = Result<Box<dyn Listener>, TransportError>>,
    {
        self.start_with(listen, |core, listener, stopped| tokio::spawn(core.receive(listener, stopped))).await
    }

    async fn start_with<F>(
        &self,
        listen: impl FnOnce() -> F,
        receive: impl FnOnce(
            Arc<Core<H>>,
            Box<dyn Listener>,
            watch::Receiver<bool>,
        ) -> JoinHandle<Box<dyn Listener>>,
    ) -> Result<bool, Error>
    where
        F: Future<Output = Result<Box<dyn Listener>, TransportError>>,
    {
        let mut state = self.state.lock().await;
        match &mut *state {
            State::Running { .. } => return Ok(false),
            // Restarted before `wait()`: the old consumer gives its unsettled messages back.
            State::Stopped { listener } => {
                if let Some(mut listener) = listener.take() {
                    listener.close().await;
                }
            }
            State::Idle => {}
        }
        let listener = listen().await?;
        let (stop, stopped) = watch::channel(false);
        let receive = receive(Arc::clone(&self.core), listener, stopped);
        *state = State::Running { stop, receive };
        Ok(true)
    }

    /// Stops taking messages; admitted work goes on.
    pub(crate) async fn stop(&self) {
        let mut state = self.state.lock().await;
        if let State::Running { stop, receive } =
            std::mem::replace(&mut *state, State::Stopped { listener: None })
        {
            let _ = stop.send(true);
            match receive.await {
                Ok(mut listener) => {
                    // RPC: no more deliveries; the channel stays until the drain, for the acks
                    // of admitted messages (sent from their tasks).
                    if H::ACK == AckPolicy::OnAdmission {
                        listener.close().await;
                    }
                    *state = State::Stopped { listener: Some(listener) };
                }
                Err(error) => tracing::error!(%error, "the receive loop failed"),
            }
        }
    }

    /// Stops, waits for every task spawned for a message (up to the drain timeout), then
    /// closes the consumer if still open.
    pub(crate) async fn wait(&self) -> DrainReport {
        self.stop().await;
        let idle = self.core.idle();
        let abandoned = match self.drain_timeout {
            None => {
                idle.await;
                0
            }
            Some(timeout) => match tokio::time::timeout(timeout, idle).await {
                Ok(()) => 0,
                Err(_) => self.core.tasks.load(Ordering::Acquire),
            },
        };
        if abandoned > 0 {
            tracing::warn!(abandoned, "drain timeout passed; abandoning unfinished messages");
        }
        let mut state = self.state.lock().await;
        if let State::Stopped { listener: Some(mut listener) } = std::mem::replace(&mut *state, State::Idle) {
            listener.close().await;
        }
        DrainReport { abandoned }
    }
}

impl<H: BatchHandler> Engine<H> {
    /// As [`start`](Self::start), receiving batches.
    pub(crate) async fn start_batched<F>(
        &self,
        listen: impl FnOnce() -> F,
        size: usize,
        timeout: Option<Duration>,
    ) -> Result<bool, Error>
    where
        F: Future<Output = Result<Box<dyn Listener>, TransportError>>,
    {
        self.start_with(listen, |core, listener, stopped| {
            tokio::spawn(core.receive_batches(listener, stopped, size, timeout))
        })
        .await
    }
}
