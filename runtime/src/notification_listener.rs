//! The notification listener: consumes `<topic>.<priority>` queues (or a pool's queue) and
//! hands each notification to the endpoints implementing its priority, through the mixed
//! executor; one at a time, or in batches.
//!
//! Messages are acknowledged only after every endpoint of the chain finished (at least once,
//! as oslo): a crash mid-way redelivers them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::executor::{Executor, ExecutorConfig};
use crate::notification_dispatch::{Callback, Shared, batch_loop, dispatch_loop};
use crate::notification_endpoint::NotificationEndpoint;
use crate::notification_filter::NotificationFilter;
use crate::notify::Priority;
use crate::serializer::{NoOpSerializer, Serializer};
use crate::server::DrainReport;
use crate::transport::{ListenOptions, Listener};
use crate::{Error, Target, Transport};

/// Builds a [`NotificationListener`] (oslo's `get_notification_listener` /
/// `get_batch_notification_listener`).
///
/// ```
/// # fn demo(transport: std::sync::Arc<dyn courier_runtime::Transport>, ep: impl courier_runtime::notification_endpoint::NotificationEndpoint) -> Result<(), courier_runtime::Error> {
/// use courier_runtime::Target;
/// use courier_runtime::notification_filter::NotificationFilter;
/// use courier_runtime::notification_listener::NotificationListener;
///
/// let listener = NotificationListener::builder(transport)
///     .target(Target::new("notifications"))
///     .endpoint_with_filter(ep, NotificationFilter::new().with_event_type(r"compute\.")?)
///     .pool("billing")
///     .allow_requeue(true)
///     .build()?;
/// # let _ = listener; Ok(()) }
/// ```
#[must_use]
pub struct NotificationListenerBuilder {
    transport: Arc<dyn Transport>,
    targets: Vec<Target>,
    endpoints: Vec<(Arc<dyn NotificationEndpoint>, Option<NotificationFilter>)>,
    pool: Option<String>,
    allow_requeue: bool,
    executor: ExecutorConfig,
    serializer: Arc<dyn Serializer>,
    private_queue: bool,
    batch: Option<(usize, Option<Duration>)>,
    drain_timeout: Option<Duration>,
}

impl NotificationListenerBuilder {
    /// Adds a target to consume (its topic, and its exchange if set). Several may be added.
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// Adds an endpoint; for each priority, endpoints run in the order they were added.
    pub fn endpoint(self, endpoint: impl NotificationEndpoint) -> Self {
        self.endpoint_arc(Arc::new(endpoint), None)
    }

    /// Adds an endpoint that only sees notifications passing `filter` (oslo's `filter_rule`).
    pub fn endpoint_with_filter(
        self,
        endpoint: impl NotificationEndpoint,
        filter: NotificationFilter,
    ) -> Self {
        self.endpoint_arc(Arc::new(endpoint), Some(filter))
    }

    /// Adds a shared endpoint, with an optional filter.
    pub fn endpoint_arc(
        mut self,
        endpoint: Arc<dyn NotificationEndpoint>,
        filter: Option<NotificationFilter>,
    ) -> Self {
        self.endpoints.push((endpoint, filter));
        self
    }

    /// Consumes the queue of this pool: listeners of one pool share its messages, and each
    /// pool gets its own copy of every notification.
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// Honours [`NotificationResult::Requeue`](crate::NotificationResult::Requeue) and endpoint errors by requeueing the message
    /// (off by default, as oslo: the message is then acknowledged and the outcome logged).
    pub fn allow_requeue(mut self, allow: bool) -> Self {
        self.allow_requeue = allow;
        self
    }

    /// Sets the executor's mode and bounds.
    pub fn executor(mut self, config: ExecutorConfig) -> Self {
        self.executor = config;
        self
    }

    /// Sets the serializer applied to contexts and payloads on their way in.
    pub fn serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Consumes a private queue that goes away with the listener instead of the shared
    /// `<topic>.<priority>` queues: a tap that sees notifications without taking them from
    /// their consumers. Not with a pool.
    pub fn private_queue(mut self, private: bool) -> Self {
        self.private_queue = private;
        self
    }

    /// Delivers notifications in batches: endpoints (which must be batch endpoints) receive the
    /// messages of one priority together, once `size` messages arrived or `timeout` passed
    /// since collecting started (`None`: wait for `size`).
    pub fn batch(mut self, size: usize, timeout: Option<Duration>) -> Self {
        self.batch = Some((size.max(1), timeout));
        self
    }

    /// Bounds how long [`NotificationListener::wait`] waits for in-flight work.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// Builds the listener (not started).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] without a target or for a target without a topic;
    /// [`Error::InvalidArgument`] without endpoints, when no endpoint implements any priority,
    /// for a plain endpoint in a batch listener, or for a pool with a private queue.
    pub fn build(self) -> Result<NotificationListener, Error> {
        if self.targets.is_empty() {
            return Err(Error::InvalidTarget("a notification listener needs at least one target".into()));
        }
        if let Some(target) = self.targets.iter().find(|t| t.topic.is_none()) {
            return Err(Error::InvalidTarget(format!("a notification target needs a topic: {target:?}")));
        }
        if self.pool.is_some() && self.private_queue {
            return Err(Error::InvalidArgument("a pooled listener cannot use a private queue".into()));
        }
        if self.endpoints.is_empty() {
            return Err(Error::InvalidArgument("a notification listener needs at least one endpoint".into()));
        }
        if self.batch.is_some()
            && let Some((endpoint, _)) = self.endpoints.iter().find(|(e, _)| !e.endpoint_info().batch)
        {
            return Err(Error::InvalidArgument(format!(
                "{} takes one notification at a time; a batch listener needs batch endpoints \
                 (`#[notification_endpoint(batch)]`)",
                endpoint.endpoint_info().type_name
            )));
        }
        let mut callbacks: Vec<Vec<Callback>> = vec![Vec::new(); Priority::ALL.len()];
        for (endpoint, filter) in self.endpoints {
            let filter = filter.map(Arc::new);
            for method in endpoint.endpoint_info().methods {
                callbacks[method.priority as usize].push(Callback {
                    endpoint: Arc::clone(&endpoint),
                    filter: filter.clone(),
                    kind: method.kind,
                    name: format!("{}.{}", endpoint.endpoint_info().type_name, method.priority),
                });
            }
        }
        let priorities: Vec<Priority> =
            Priority::ALL.into_iter().filter(|p| !callbacks[*p as usize].is_empty()).collect();
        if priorities.is_empty() {
            return Err(Error::InvalidArgument("no endpoint implements any notification priority".into()));
        }
        let subscriptions =
            self.targets.iter().flat_map(|t| priorities.iter().map(move |p| (t.clone(), *p))).collect();
        let capacity = self.executor.capacity().max(self.batch.map_or(1, |(size, _)| size));
        let (in_flight, _) = watch::channel(0);
        Ok(NotificationListener {
            shared: Arc::new(Shared {
                transport: self.transport,
                callbacks,
                executor: Executor::new(self.executor),
                serializer: self.serializer,
                allow_requeue: self.allow_requeue,
                in_flight,
            }),
            subscriptions,
            pool: self.pool,
            options: ListenOptions::default()
                .with_prefetch(u16::try_from(capacity).unwrap_or(u16::MAX))
                .with_private_queue(self.private_queue),
            batch: self.batch,
            drain_timeout: self.drain_timeout,
            state: Mutex::new(State::Idle),
        })
    }
}

enum State {
    Idle,
    Running { stop: watch::Sender<bool>, dispatch: JoinHandle<Box<dyn Listener>> },
    Stopped { listener: Option<Box<dyn Listener>> },
}

/// A notification listener: oslo's `get_notification_listener` with start / stop / wait.
///
/// It subscribes to `<topic>.<priority>` for each target and each priority some endpoint
/// implements. For each message, the endpoints implementing its priority (and whose filter it
/// passes) run in order; the first [`NotificationResult::Requeue`](crate::NotificationResult::Requeue) (or error, or panic) stops
/// the chain and requeues the message when requeueing is allowed. Undecodable messages are
/// rejected without requeue; an unknown priority is logged and acknowledged.
pub struct NotificationListener {
    shared: Arc<Shared>,
    subscriptions: Vec<(Target, Priority)>,
    pool: Option<String>,
    options: ListenOptions,
    batch: Option<(usize, Option<Duration>)>,
    drain_timeout: Option<Duration>,
    state: Mutex<State>,
}

impl std::fmt::Debug for NotificationListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationListener")
            .field("subscriptions", &self.subscriptions)
            .field("pool", &self.pool)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl NotificationListener {
    /// Starts building a listener.
    pub fn builder(transport: Arc<dyn Transport>) -> NotificationListenerBuilder {
        NotificationListenerBuilder {
            transport,
            targets: Vec::new(),
            endpoints: Vec::new(),
            pool: None,
            allow_requeue: false,
            executor: ExecutorConfig::default(),
            serializer: Arc::new(NoOpSerializer),
            private_queue: false,
            batch: None,
            drain_timeout: None,
        }
    }

    /// The `(target, priority)` pairs consumed.
    #[must_use]
    pub fn subscriptions(&self) -> &[(Target, Priority)] {
        &self.subscriptions
    }

    /// Messages admitted and unfinished, per kind: `(sync, async)`.
    #[must_use]
    pub fn in_flight(&self) -> (usize, usize) {
        self.shared.executor.in_flight()
    }

    /// Declares the queues and starts consuming. Starting a running listener does nothing.
    ///
    /// # Errors
    /// [`Error::Transport`] when the transport cannot listen.
    pub async fn start(&self) -> Result<(), Error> {
        let mut state = self.state.lock().await;
        match &mut *state {
            State::Running { .. } => {
                tracing::warn!("the notification listener is already running");
                return Ok(());
            }
            State::Stopped { listener } => {
                if let Some(mut listener) = listener.take() {
                    listener.close().await;
                }
            }
            State::Idle => {}
        }
        let listener = self
            .shared
            .transport
            .listen_for_notifications(&self.subscriptions, self.pool.as_deref(), &self.options)
            .await?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::clone(&self.shared);
        let dispatch = match self.batch {
            None => tokio::spawn(dispatch_loop(shared, listener, stopped)),
            Some((size, timeout)) => tokio::spawn(batch_loop(shared, listener, stopped, size, timeout)),
        };
        *state = State::Running { stop, dispatch };
        tracing::info!(subscriptions = ?self.subscriptions, pool = ?self.pool, "notification listener consuming");
        Ok(())
    }

    /// Stops taking messages. Work already taken goes on and is settled; see
    /// [`wait`](Self::wait).
    pub async fn stop(&self) {
        let mut state = self.state.lock().await;
        if let State::Running { stop, dispatch } =
            std::mem::replace(&mut *state, State::Stopped { listener: None })
        {
            let _ = stop.send(true);
            match dispatch.await {
                Ok(listener) => *state = State::Stopped { listener: Some(listener) },
                Err(error) => tracing::error!(%error, "the notification dispatch loop failed"),
            }
        }
    }

    /// Stops (if needed), waits for in-flight messages to be handled and settled (up to the
    /// drain timeout), then closes the consumer. The listener can be started again afterwards.
    pub async fn wait(&self) -> DrainReport {
        self.stop().await;
        let mut in_flight = self.shared.in_flight.subscribe();
        let idle = async {
            let _ = in_flight.wait_for(|n| *n == 0).await;
        };
        let abandoned = match self.drain_timeout {
            None => {
                idle.await;
                0
            }
            Some(timeout) => match tokio::time::timeout(timeout, idle).await {
                Ok(()) => 0,
                Err(_) => *self.shared.in_flight.borrow(),
            },
        };
        if abandoned > 0 {
            tracing::warn!(abandoned, "drain timeout passed; abandoning unfinished notifications");
        }
        let mut state = self.state.lock().await;
        if let State::Stopped { listener: Some(mut listener) } = std::mem::replace(&mut *state, State::Idle) {
            listener.close().await;
        }
        DrainReport { abandoned }
    }
}
