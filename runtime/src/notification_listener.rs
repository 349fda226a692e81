//! The notification listener: consumes `<topic>.<priority>` queues (or a pool's queue) and
//! hands each notification to the endpoints implementing its priority, through the mixed
//! executor; one at a time, or in batches.
//!
//! Messages are acknowledged only after every endpoint of the chain finished (at least once,
//! as oslo): a crash mid-way redelivers them.

use std::sync::Arc;
use std::time::Duration;

use crate::consume::{ConsumeOptions, DrainReport, Engine, consume_options_methods};
use crate::error::Error;
use crate::notification_dispatch::{Callback, NotificationHandler};
use crate::notification_endpoint::NotificationEndpoint;
use crate::notification_filter::NotificationFilter;
use crate::notify::Priority;
use crate::target::Target;
use crate::transport::ListenOptions;
use crate::transport::Transport;

/// Builds a [`NotificationListener`] (oslo's `get_notification_listener` /
/// `get_batch_notification_listener`).
///
/// ```
/// # fn demo(transport: std::sync::Arc<dyn courier_runtime::transport::Transport>, ep: impl courier_runtime::notification_endpoint::NotificationEndpoint) -> Result<(), courier_runtime::error::Error> {
/// use courier_runtime::target::Target;
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
    options: ConsumeOptions,
    private_queue: bool,
    batch: Option<(usize, Option<Duration>)>,
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

    /// Honours [`NotificationResult::Requeue`](crate::notification_endpoint::NotificationResult::Requeue) and endpoint errors by requeueing the message
    /// (off by default, as oslo: the message is then acknowledged and the outcome logged).
    pub fn allow_requeue(mut self, allow: bool) -> Self {
        self.allow_requeue = allow;
        self
    }

    consume_options_methods!();

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

    /// Builds the listener (not started).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] without a target or for a target without a topic;
    /// [`Error::InvalidConfig`] without endpoints, when no endpoint implements any priority,
    /// for a plain endpoint in a batch listener, or for a pool with a private queue.
    pub fn build(self) -> Result<NotificationListener, Error> {
        if self.targets.is_empty() {
            return Err(Error::InvalidTarget("a notification listener needs at least one target".into()));
        }
        if let Some(target) = self.targets.iter().find(|t| t.topic.is_none()) {
            return Err(Error::InvalidTarget(format!("a notification target needs a topic: {target:?}")));
        }
        if self.pool.is_some() && self.private_queue {
            return Err(Error::bad_config("a pooled listener cannot use a private queue"));
        }
        if self.endpoints.is_empty() {
            return Err(Error::bad_config("a notification listener needs at least one endpoint"));
        }
        if self.batch.is_some()
            && let Some((endpoint, _)) = self.endpoints.iter().find(|(e, _)| !e.endpoint_info().batch)
        {
            return Err(Error::bad_config(format!(
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
            return Err(Error::bad_config("no endpoint implements any notification priority"));
        }
        let subscriptions =
            self.targets.iter().flat_map(|t| priorities.iter().map(move |p| (t.clone(), *p))).collect();
        let capacity = self.options.executor.capacity().max(self.batch.map_or(1, |(size, _)| size));
        let prefetch = self.options.prefetch.unwrap_or(u16::try_from(capacity).unwrap_or(u16::MAX));
        let handler = NotificationHandler {
            transport: self.transport,
            callbacks,
            serializer: self.options.serializer,
            allow_requeue: self.allow_requeue,
            subscriptions,
            pool: self.pool,
            options: ListenOptions::default().with_prefetch(prefetch).with_private_queue(self.private_queue),
        };
        Ok(NotificationListener {
            engine: Engine::new(handler, self.options.executor, self.options.drain_timeout),
            batch: self.batch,
        })
    }
}

/// A notification listener: oslo's `get_notification_listener` with start / stop / wait.
///
/// It subscribes to `<topic>.<priority>` for each target and each priority some endpoint
/// implements. For each message, the endpoints implementing its priority (and whose filter it
/// passes) run in order; the first [`NotificationResult::Requeue`](crate::notification_endpoint::NotificationResult::Requeue) (or error, or panic) stops
/// the chain and requeues the message when requeueing is allowed. Undecodable messages are
/// rejected without requeue; an unknown priority is logged and acknowledged.
pub struct NotificationListener {
    engine: Engine<NotificationHandler>,
    batch: Option<(usize, Option<Duration>)>,
}

impl std::fmt::Debug for NotificationListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let handler = self.engine.handler();
        f.debug_struct("NotificationListener")
            .field("subscriptions", &handler.subscriptions)
            .field("pool", &handler.pool)
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
            options: ConsumeOptions::default(),
            private_queue: false,
            batch: None,
        }
    }

    /// The `(target, priority)` pairs consumed.
    #[must_use]
    pub fn subscriptions(&self) -> &[(Target, Priority)] {
        &self.engine.handler().subscriptions
    }

    /// Messages admitted and unfinished, per kind: `(sync, async)`.
    #[must_use]
    pub fn in_flight(&self) -> (usize, usize) {
        self.engine.in_flight()
    }

    /// Declares the queues and starts consuming. Starting a running listener does nothing.
    ///
    /// # Errors
    /// [`Error::Transport`] when the transport cannot listen.
    pub async fn start(&self) -> Result<(), Error> {
        let handler = self.engine.handler();
        let listen = || {
            handler.transport.listen_for_notifications(
                &handler.subscriptions,
                handler.pool.as_deref(),
                &handler.options,
            )
        };
        let started = match self.batch {
            None => self.engine.start(listen).await?,
            Some((size, timeout)) => self.engine.start_batched(listen, size, timeout).await?,
        };
        if started {
            tracing::info!(subscriptions = ?handler.subscriptions, pool = ?handler.pool, "notification listener consuming");
        } else {
            tracing::warn!("the notification listener is already running");
        }
        Ok(())
    }

    /// Stops taking messages. Work already taken goes on and is settled; see
    /// [`wait`](Self::wait).
    pub async fn stop(&self) {
        self.engine.stop().await;
    }

    /// Stops (if needed), waits for in-flight messages to be handled and settled (up to the
    /// drain timeout), then closes the consumer. The listener can be started again afterwards.
    pub async fn wait(&self) -> DrainReport {
        self.engine.wait().await
    }
}
