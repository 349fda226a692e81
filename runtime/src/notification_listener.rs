//! The notification listener: consumes `<topic>.<priority>` queues (or a pool's queue) and
//! hands each notification to the endpoints implementing its priority, through the mixed
//! executor; one at a time, or in batches.
//!
//! Messages are acknowledged only after every endpoint of the chain finished (at least once,
//! as oslo): a crash mid-way redelivers them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::endpoint::{Invocation, MethodKind};
use crate::executor::{Admission, Executor, ExecutorConfig};
use crate::notification_endpoint::{
    NotificationEndpoint, NotificationInvocation, NotificationMessage, NotificationOutcome,
    NotificationResult,
};
use crate::notification_filter::NotificationFilter;
use crate::notify::Priority;
use crate::serializer::{NoOpSerializer, Serializer};
use crate::server::DrainReport;
use crate::transport::{Delivery, Incoming, ListenOptions, Listener};
use crate::wire::{Failure, Notification};
use crate::{Error, Target, Transport, TransportError};

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

    /// Honours [`NotificationResult::Requeue`] and endpoint errors by requeueing the message
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
        let subscriptions = self
            .targets
            .iter()
            .flat_map(|t| priorities.iter().map(move |p| (t.clone(), p.as_str().to_owned())))
            .collect();
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

/// One endpoint method for one priority.
#[derive(Clone)]
struct Callback {
    endpoint: Arc<dyn NotificationEndpoint>,
    filter: Option<Arc<NotificationFilter>>,
    kind: MethodKind,
    name: String,
}

/// What the dispatch loop and the work tasks share.
struct Shared {
    transport: Arc<dyn Transport>,
    /// Indexed by `Priority as usize`.
    callbacks: Vec<Vec<Callback>>,
    executor: Executor,
    serializer: Arc<dyn Serializer>,
    allow_requeue: bool,
    /// Messages (or batches) taken and not yet settled.
    in_flight: watch::Sender<usize>,
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
/// passes) run in order; the first [`NotificationResult::Requeue`] (or error, or panic) stops
/// the chain and requeues the message when requeueing is allowed. Undecodable messages are
/// rejected without requeue; an unknown priority is logged and acknowledged.
pub struct NotificationListener {
    shared: Arc<Shared>,
    subscriptions: Vec<(Target, String)>,
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
    pub fn subscriptions(&self) -> &[(Target, String)] {
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

/// A notification decoded and ready for its endpoints.
struct Taken {
    message: NotificationMessage,
    delivery: Box<dyn Delivery>,
}

/// The messages of one priority, the endpoint calls to make, and how to settle them.
struct Group {
    priority: Priority,
    deliveries: Vec<Box<dyn Delivery>>,
    steps: Vec<(Callback, Vec<NotificationMessage>)>,
}

async fn dispatch_loop(
    shared: Arc<Shared>,
    mut listener: Box<dyn Listener>,
    mut stopped: watch::Receiver<bool>,
) -> Box<dyn Listener> {
    loop {
        let incoming = tokio::select! {
            biased;
            _ = stop_requested(&mut stopped) => break,
            next = listener.next() => match next {
                Some(incoming) => incoming,
                None => {
                    tracing::warn!("the transport closed the notification listener");
                    break;
                }
            },
        };
        let Some(taken) = take(&shared, incoming).await else { continue };
        let groups = plan(&shared, vec![taken]);
        if !submit(&shared, groups, &mut stopped).await {
            break;
        }
    }
    listener
}

async fn batch_loop(
    shared: Arc<Shared>,
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
                _ = stop_requested(&mut stopped) => {
                    stopping = true;
                    break;
                }
                () = sleep_until(deadline) => break,
                next = listener.next() => match next {
                    Some(incoming) => incoming,
                    None => {
                        tracing::warn!("the transport closed the notification listener");
                        stopping = true;
                        break;
                    }
                },
            };
            batch.extend(take(&shared, incoming).await);
        }
        if stopping {
            for taken in batch {
                settle(taken.delivery.requeue().await, "requeue");
            }
            break;
        }
        if !batch.is_empty() && !submit(&shared, plan(&shared, batch), &mut stopped).await {
            break;
        }
    }
    listener
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Decodes a message; what cannot be handled is settled here.
async fn take(shared: &Shared, incoming: Incoming) -> Option<Taken> {
    let Incoming { message, delivery, .. } = incoming;
    let notification =
        match message.map_err(TransportError::from).and_then(|m| Ok(Notification::from_message(m)?)) {
            Ok(notification) => notification,
            Err(error) => {
                tracing::warn!(%error, "rejecting an undecodable notification");
                settle(delivery.reject().await, "reject");
                return None;
            }
        };
    let Ok(priority) = notification.priority.parse::<Priority>() else {
        tracing::warn!(priority = %notification.priority, "unknown notification priority; dropping the message");
        settle(delivery.ack().await, "ack");
        return None;
    };
    let context = shared.serializer.deserialize_context(notification.context);
    let payload = match shared.serializer.deserialize_entity(&context, notification.payload) {
        Ok(payload) => payload,
        Err(error) => {
            // As oslo: a dispatch error counts as handled.
            tracing::error!(%error, event_type = %notification.event_type, "the serializer refused a notification payload; dropping it");
            settle(delivery.ack().await, "ack");
            return None;
        }
    };
    let message =
        NotificationMessage::new(priority, notification.publisher_id, notification.event_type, payload)
            .with_context(context)
            .with_metadata(crate::notification_endpoint::Metadata::new(
                notification.message_id,
                notification.timestamp,
            ));
    Some(Taken { message, delivery })
}

/// Groups messages by priority and picks, for each group, the endpoints to call with the
/// messages passing their filters, in order.
fn plan(shared: &Shared, taken: Vec<Taken>) -> Vec<Group> {
    let mut groups: Vec<(Priority, Vec<Taken>)> = Vec::new();
    for item in taken {
        match groups.iter_mut().find(|(p, _)| *p == item.message.priority) {
            Some((_, items)) => items.push(item),
            None => groups.push((item.message.priority, vec![item])),
        }
    }
    groups.sort_by_key(|(p, _)| *p);
    groups
        .into_iter()
        .map(|(priority, items)| {
            let (messages, deliveries): (Vec<_>, Vec<_>) =
                items.into_iter().map(|t| (t.message, t.delivery)).unzip();
            let steps = shared.callbacks[priority as usize]
                .iter()
                .filter_map(|callback| {
                    let passing: Vec<NotificationMessage> = match &callback.filter {
                        Some(filter) => messages.iter().filter(|m| filter.matches(m)).cloned().collect(),
                        None => messages.clone(),
                    };
                    (!passing.is_empty()).then(|| (callback.clone(), passing))
                })
                .collect();
            Group { priority, deliveries, steps }
        })
        .collect()
}

/// Admits the work (waiting for a slot of its first step's kind: back-pressure) and spawns
/// it. Returns false when a stop came first (the messages are then requeued).
async fn submit(shared: &Arc<Shared>, groups: Vec<Group>, stopped: &mut watch::Receiver<bool>) -> bool {
    let Some(kind) = groups.iter().find_map(|g| g.steps.first()).map(|(c, _)| c.kind) else {
        // No endpoint wants these messages: done with them.
        for delivery in groups.iter().flat_map(|g| &g.deliveries) {
            settle(delivery.ack().await, "ack");
        }
        return true;
    };
    let admission = tokio::select! {
        biased;
        _ = stop_requested(stopped) => {
            for delivery in groups.iter().flat_map(|g| &g.deliveries) {
                settle(delivery.requeue().await, "requeue");
            }
            return false;
        }
        admission = shared.executor.admit(kind) => admission,
    };
    shared.in_flight.send_modify(|n| *n += 1);
    let guard = InFlight(Arc::clone(shared));
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let mut admission = Some(admission);
        for group in groups {
            let first =
                group.steps.first().map(|(c, m)| (c.name.clone(), m.first().map(|m| m.event_type.clone())));
            let span = tracing::info_span!(
                "notification.dispatch",
                priority = %group.priority,
                messages = group.deliveries.len(),
                first = ?first,
            );
            run_group(&shared, group, &mut admission).instrument(span).await;
        }
        drop(guard);
    });
    true
}

/// Counts a unit of work in flight until dropped.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Runs a group's endpoint chain, then acknowledges or requeues its messages.
async fn run_group(shared: &Shared, group: Group, admission: &mut Option<Admission>) {
    let mut requeue = false;
    for (callback, messages) in group.steps {
        let admitted = match admission.take() {
            Some(admitted) if admitted.kind() == callback.kind => admitted,
            other => {
                drop(other);
                shared.executor.admit(callback.kind).await
            }
        };
        let invocation = Arc::clone(&callback.endpoint).invoke(group.priority, messages);
        let outcome = from_method_result(admitted.run(to_invocation(invocation), &callback.name).await);
        match outcome {
            Ok(NotificationResult::Handled) => {}
            Ok(NotificationResult::Requeue) => {
                tracing::debug!(endpoint = %callback.name, "the endpoint asked for a requeue");
                requeue = true;
                break;
            }
            Err(error) => {
                tracing::error!(endpoint = %callback.name, %error, "the notification endpoint failed");
                requeue = true;
                break;
            }
        }
    }
    if requeue && !shared.allow_requeue {
        tracing::warn!(
            priority = %group.priority,
            "requeue asked but this listener does not allow requeueing; acknowledging"
        );
    }
    for delivery in &group.deliveries {
        if requeue && shared.allow_requeue {
            settle(delivery.requeue().await, "requeue");
        } else {
            settle(delivery.ack().await, "ack");
        }
    }
}

/// Runs a notification call through the executor's invocation type (so panics are caught the
/// same way): `true` stands for a requeue.
fn to_invocation(invocation: NotificationInvocation) -> Invocation {
    let encode = |outcome: NotificationOutcome| match outcome {
        Ok(result) => Ok(Value::Bool(result == NotificationResult::Requeue)),
        Err(error) => Err(Failure::runtime_error(error)),
    };
    match invocation {
        NotificationInvocation::Sync(call) => Invocation::Sync(Box::new(move || encode(call()))),
        NotificationInvocation::Async(future) => {
            Invocation::Async(Box::pin(async move { encode(future.await) }))
        }
    }
}

fn from_method_result(result: Result<Value, Failure>) -> NotificationOutcome {
    match result {
        Ok(Value::Bool(true)) => Ok(NotificationResult::Requeue),
        Ok(_) => Ok(NotificationResult::Handled),
        Err(failure) => Err(failure.message),
    }
}

fn settle(result: Result<(), TransportError>, what: &str) {
    if let Err(error) = result {
        tracing::warn!(%error, "could not {what} a notification");
    }
}

/// Resolves once the listener is told to stop.
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
