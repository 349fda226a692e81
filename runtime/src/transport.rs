//! The boundary between the runtime and a broker: oslo's driver verbs as an object-safe trait,
//! and the registry that turns a transport URL into a transport.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::error::TransportError;
use crate::priority::Priority;
use crate::target::Target;
use crate::url::TransportUrl;
use crate::wire::{Message, Notification, Reply, Request, WireError};

/// The control exchange oslo uses when a service sets none.
pub const DEFAULT_CONTROL_EXCHANGE: &str = "openstack";

/// A message broker, as the runtime sees it (oslo's driver interface).
///
/// Implementations: `courier-fake` (`fake://`) and `courier-amqp` (`rabbit://`, `amqp://`).
/// Every method takes `&self`; a transport is shared as `Arc<dyn Transport>` by servers,
/// clients and notifiers.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Publishes a call and returns the stream its replies arrive on.
    ///
    /// `request.msg_id` is set by the caller; the transport sets `reply_q` (and
    /// `unique_id`) and routes every reply carrying that `_msg_id` into the returned stream.
    async fn call(
        &self,
        target: &Target,
        request: Request,
        options: &CallOptions,
    ) -> Result<PendingReply, TransportError>;

    /// Publishes a cast: to the topic (or `topic.server`), or to every server of the topic when
    /// `target.fanout` is set. Returns once the broker accepted it.
    async fn cast(
        &self,
        target: &Target,
        request: Request,
        options: &SendOptions,
    ) -> Result<(), TransportError>;

    /// Sends a reply (final or heartbeat) to a caller's reply queue.
    async fn reply(&self, reply_q: &str, reply: Reply) -> Result<(), TransportError>;

    /// Publishes a notification on `<target.topic>.<priority>` (the priority's lower-case name,
    /// [`Priority::as_str`]).
    async fn notify(
        &self,
        target: &Target,
        priority: Priority,
        notification: Notification,
        options: &NotifyOptions,
    ) -> Result<(), TransportError>;

    /// Consumes RPC requests for a server target: `topic`, `topic.server` and the topic's fanout.
    async fn listen(
        &self,
        target: &Target,
        options: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError>;

    /// Consumes notifications for each `(target, priority)`: the shared `<topic>.<priority>`
    /// queues, or the queue named `pool` when one is given.
    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
        options: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError>;

    /// Releases connections and consumers; the transport is unusable afterwards.
    async fn cleanup(&self);

    /// The broker kind, as OpenTelemetry's `messaging.system` span field (`rabbitmq`, ...).
    fn messaging_system(&self) -> &'static str {
        "unknown"
    }

    /// The exchange a target without one goes to (the configured control exchange).
    fn control_exchange(&self) -> &str {
        DEFAULT_CONTROL_EXCHANGE
    }
}

/// Message headers beside the body (AMQP `headers`): W3C trace context (`traceparent`,
/// `tracestate`) when the `opentelemetry` feature propagates it. Empty by default, and then
/// nothing is added on the wire.
pub type Headers = std::collections::BTreeMap<String, String>;

/// Options of a call.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CallOptions {
    /// How long the caller will wait; also the request's expiration in the broker.
    pub timeout: Duration,
    /// Ask the broker to return the request when no queue is bound (fail fast).
    pub mandatory: bool,
    /// Headers to publish beside the request.
    pub headers: Headers,
    /// How often publishing the request is retried on connection errors (oslo's `retry`):
    /// `None` until the timeout passes, `Some(0)` never, `Some(n)` up to `n` times (still
    /// within the timeout).
    pub retry: Option<u32>,
}

impl CallOptions {
    /// Options with a timeout.
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, mandatory: false, headers: Headers::new(), retry: None }
    }

    /// Sets the retry count (`None`: until the timeout).
    #[must_use]
    pub fn with_retry(mut self, retry: Option<u32>) -> Self {
        self.retry = retry;
        self
    }

    /// Sets mandatory delivery.
    #[must_use]
    pub fn with_mandatory(mut self, mandatory: bool) -> Self {
        self.mandatory = mandatory;
        self
    }

    /// Sets the headers published beside the request.
    #[must_use]
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// Options of a cast.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// Ask the broker to return the message when no queue is bound.
    pub mandatory: bool,
    /// How long publishing (reconnects and the broker's confirm included) may take; the
    /// transport's own default when `None`.
    pub timeout: Option<Duration>,
    /// Headers to publish beside the request.
    pub headers: Headers,
    /// How often publishing is retried on connection errors (oslo's `retry`): `None` until
    /// the timeout passes, `Some(0)` never, `Some(n)` up to `n` times (still within the
    /// timeout).
    pub retry: Option<u32>,
}

impl SendOptions {
    /// Sets the retry count (`None`: until the timeout).
    #[must_use]
    pub fn with_retry(mut self, retry: Option<u32>) -> Self {
        self.retry = retry;
        self
    }

    /// Sets mandatory delivery.
    #[must_use]
    pub fn with_mandatory(mut self, mandatory: bool) -> Self {
        self.mandatory = mandatory;
        self
    }

    /// Bounds how long publishing may take.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the headers published beside the request.
    #[must_use]
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// Options of a notification publish.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NotifyOptions {
    /// Wrap the message in the 2.0 envelope (`messagingv2`) or send it bare (`messaging`).
    pub envelope: bool,
    /// How often to retry the publish on connection errors (oslo's `retry`): `None` forever,
    /// `Some(0)` never, `Some(n)` up to `n` times.
    pub retry: Option<u32>,
    /// Headers to publish beside the notification.
    pub headers: Headers,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self { envelope: true, retry: None, headers: Headers::new() }
    }
}

impl NotifyOptions {
    /// Sets whether the envelope is used.
    #[must_use]
    pub fn with_envelope(mut self, envelope: bool) -> Self {
        self.envelope = envelope;
        self
    }

    /// Sets the retry count (`None`: forever).
    #[must_use]
    pub fn with_retry(mut self, retry: Option<u32>) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the headers published beside the notification.
    #[must_use]
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// Options of a listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenOptions {
    /// How many unacknowledged messages the broker may push ahead (AMQP prefetch). The server
    /// sets it from its executor's capacity so nothing buffers without bound.
    pub prefetch: u16,
    /// For notification listeners with no pool: use a private queue that expires when the
    /// listener goes away instead of the shared `<topic>.<priority>` queues (for taps such as
    /// `courier listen`).
    pub private_queue: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self { prefetch: 1, private_queue: false }
    }
}

impl ListenOptions {
    /// Sets the prefetch.
    #[must_use]
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Uses a private, expiring queue (notification taps).
    #[must_use]
    pub fn with_private_queue(mut self, private_queue: bool) -> Self {
        self.private_queue = private_queue;
        self
    }
}

/// The replies of one call, as the transport routes them: the receiving half of
/// [`PendingReply::channel`].
///
/// Dropping it tells the transport the caller stopped waiting (late replies are then dropped
/// with a log line, as oslo does).
pub struct PendingReply {
    receiver: mpsc::Receiver<BoxedReply>,
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

/// A reply in the channel: boxed, so that the channel's first block of slots, allocated when a
/// call starts, is 32 pointers rather than 32 replies (10 KiB per waiting call unboxed, which
/// was most of a client's memory with 10 000 calls outstanding).
type BoxedReply = Box<Result<Reply, TransportError>>;

/// The sending half of a call's reply channel ([`PendingReply::channel`]): where the transport
/// puts each reply (heartbeats and the final one) or the error that ends the call.
#[derive(Clone)]
pub struct ReplySender(mpsc::Sender<BoxedReply>);

/// Why [`ReplySender::try_send`] gave a reply back.
#[derive(Debug, thiserror::Error)]
pub enum ReplySendError {
    /// The caller has not read the replies before it yet (the channel is full).
    #[error("the caller has not read its earlier replies yet")]
    Full(Result<Reply, TransportError>),
    /// The caller stopped waiting.
    #[error("the caller stopped waiting for replies")]
    Closed(Result<Reply, TransportError>),
}

impl ReplySender {
    /// Hands over a reply without waiting.
    ///
    /// # Errors
    /// [`ReplySendError`], with the reply, when the channel is full or the caller stopped
    /// waiting.
    pub fn try_send(&self, reply: Result<Reply, TransportError>) -> Result<(), ReplySendError> {
        self.0.try_send(Box::new(reply)).map_err(|error| match error {
            mpsc::error::TrySendError::Full(reply) => ReplySendError::Full(*reply),
            mpsc::error::TrySendError::Closed(reply) => ReplySendError::Closed(*reply),
        })
    }

    /// Hands over a reply, waiting for room in the channel.
    ///
    /// # Errors
    /// The reply, when the caller stopped waiting.
    pub async fn send(
        &self,
        reply: Result<Reply, TransportError>,
    ) -> Result<(), Result<Reply, TransportError>> {
        self.0.send(Box::new(reply)).await.map_err(|error| *error.0)
    }
}

impl fmt::Debug for ReplySender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplySender").finish_non_exhaustive()
    }
}

impl PendingReply {
    /// A call's reply channel: up to `capacity` replies may wait unread; `on_drop` runs when
    /// the caller stops waiting (the transport forgets the call then).
    ///
    /// ```
    /// use courier_runtime::transport::PendingReply;
    /// use courier_runtime::wire::Reply;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (sender, mut pending) = PendingReply::channel(16, || {});
    /// sender.try_send(Ok(Reply::success(serde_json::json!(42)))).unwrap();
    /// let reply = pending.recv().await.unwrap().unwrap();
    /// assert_eq!(reply.result, 42);
    /// # });
    /// ```
    #[must_use]
    pub fn channel(capacity: usize, on_drop: impl FnOnce() + Send + Sync + 'static) -> (ReplySender, Self) {
        let (sender, receiver) = mpsc::channel(capacity);
        (ReplySender(sender), Self { receiver, on_drop: Some(Box::new(on_drop)) })
    }

    /// The next reply (or heartbeat); `None` if the transport went away.
    pub async fn recv(&mut self) -> Option<Result<Reply, TransportError>> {
        self.receiver.recv().await.map(|reply| *reply)
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

impl fmt::Debug for PendingReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingReply").finish_non_exhaustive()
    }
}

/// A consumer: yields incoming messages until it is closed.
#[async_trait::async_trait]
pub trait Listener: Send {
    /// The next message, decoded from its envelope; `None` once the listener is closed or the
    /// transport is gone for good. The transport keeps consuming across reconnects.
    async fn next(&mut self) -> Option<Incoming>;

    /// Stops consuming. Messages not yet acknowledged go back to the broker.
    async fn close(&mut self);
}

/// One message taken off a queue, not yet acknowledged.
#[non_exhaustive]
pub struct Incoming {
    /// The decoded object, or why it could not be decoded.
    pub message: Result<Message, WireError>,
    /// How to settle it with the broker.
    pub delivery: Box<dyn Delivery>,
    /// The broker delivered it before (AMQP's `redelivered` flag): it was requeued, or its
    /// consumer went away before settling it. It may have been handled already.
    pub redelivered: bool,
    /// The headers it was published with (string values only; empty when none).
    pub headers: Headers,
    /// Where it came from, when the transport says (for spans and logs).
    pub origin: Option<Origin>,
    /// When its sender gives up waiting for it, when the message says (a call's timeout:
    /// RabbitMQ's per-message `expiration`, counted from this receipt). A server does not run a
    /// call past it.
    pub deadline: Option<tokio::time::Instant>,
}

impl Incoming {
    /// Pairs a message with its delivery handle (a first delivery).
    #[must_use]
    pub fn new(message: Result<Message, WireError>, delivery: Box<dyn Delivery>) -> Self {
        Self { message, delivery, redelivered: false, headers: Headers::new(), origin: None, deadline: None }
    }

    /// Sets when its sender gives up.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<tokio::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the redelivered flag.
    #[must_use]
    pub fn with_redelivered(mut self, redelivered: bool) -> Self {
        self.redelivered = redelivered;
        self
    }

    /// Sets the headers it was published with.
    #[must_use]
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// Sets where the message came from.
    #[must_use]
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }
}

/// Shows the message with every secret-looking value (`_context_auth_token`, passwords, keys,
/// at any depth) masked as `***`, so logging a received message never leaks credentials.
impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.message.as_ref().map(crate::secrets::mask_secrets);
        f.debug_struct("Incoming")
            .field("message", &message)
            .field("redelivered", &self.redelivered)
            .field("headers", &self.headers)
            .field("origin", &self.origin)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Where a delivery came from: the messaging system (OpenTelemetry's `messaging.system`, e.g.
/// `rabbitmq`), the exchange it was published to and its routing key.
///
/// ```
/// use courier_runtime::transport::Origin;
///
/// let origin = Origin::new("rabbitmq", "openstack", "compute.host1");
/// assert_eq!((origin.system, &*origin.exchange, &*origin.routing_key), ("rabbitmq", "openstack", "compute.host1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Origin {
    /// The messaging system, e.g. `rabbitmq` or `fake`.
    pub system: &'static str,
    /// The exchange (OpenTelemetry's `messaging.destination.name`).
    pub exchange: Arc<str>,
    /// The routing key.
    pub routing_key: Arc<str>,
}

impl Origin {
    /// An origin with these values.
    #[must_use]
    pub fn new(
        system: &'static str,
        exchange: impl Into<Arc<str>>,
        routing_key: impl Into<Arc<str>>,
    ) -> Self {
        Self { system, exchange: exchange.into(), routing_key: routing_key.into() }
    }
}

/// Settles one message with the broker. Each method is called at most once, and only one of
/// them.
#[async_trait::async_trait]
pub trait Delivery: Send + Sync {
    /// Done with it.
    async fn ack(&self) -> Result<(), TransportError>;
    /// Put it back to be delivered again.
    async fn requeue(&self) -> Result<(), TransportError>;
    /// Refuse it for good (a dead-letter exchange may catch it).
    async fn reject(&self) -> Result<(), TransportError>;
}

/// Configuration a transport is built with besides its URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportConfig {
    /// The default topic exchange (oslo's `control_exchange`).
    pub control_exchange: String,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self { control_exchange: DEFAULT_CONTROL_EXCHANGE.to_owned() }
    }
}

impl TransportConfig {
    /// Sets the control exchange.
    #[must_use]
    pub fn with_control_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.control_exchange = exchange.into();
        self
    }
}

/// Builds a transport for a parsed URL.
pub type Connector =
    fn(TransportUrl, TransportConfig) -> BoxFuture<'static, Result<Arc<dyn Transport>, TransportError>>;

fn registry() -> &'static RwLock<HashMap<String, Connector>> {
    static REGISTRY: std::sync::OnceLock<RwLock<HashMap<String, Connector>>> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers the transport for a URL scheme (`fake`, `rabbit`, ...), replacing any other.
pub fn register_transport(scheme: &str, connector: Connector) {
    registry()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(scheme.to_owned(), connector);
}

/// Builds a transport from a URL with the transport registered for its scheme.
///
/// # Errors
/// [`TransportError::InvalidUrl`] for a bad URL, [`TransportError::UnknownScheme`] when no
/// transport is registered for it, or the transport's own error.
pub async fn connect(url: &str, config: TransportConfig) -> Result<Arc<dyn Transport>, TransportError> {
    connect_url(url.parse()?, config).await
}

/// Builds a transport from an already parsed URL (one a program edited, say, adding query
/// options) with the transport registered for its scheme.
///
/// # Errors
/// [`TransportError::UnknownScheme`] when no transport is registered for the URL's driver, or
/// the transport's own error.
pub async fn connect_url(
    url: TransportUrl,
    config: TransportConfig,
) -> Result<Arc<dyn Transport>, TransportError> {
    let connector = registry()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(url.driver())
        .copied()
        .ok_or_else(|| TransportError::UnknownScheme(url.driver().to_owned()))?;
    tracing::debug!(url = %url, "connecting transport");
    connector(url, config).await
}

impl dyn Transport {
    /// Builds a transport from a URL (`fake://`, `rabbit://user:pass@host:5672/vhost`) with the
    /// default configuration. The facade crate `courier` registers its built-in transports;
    /// see [`register_transport`].
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn from_url(url: &str) -> Result<Arc<dyn Transport>, TransportError> {
        connect(url, TransportConfig::default()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Unsettled;

    #[async_trait::async_trait]
    impl Delivery for Unsettled {
        async fn ack(&self) -> Result<(), TransportError> {
            Ok(())
        }
        async fn requeue(&self) -> Result<(), TransportError> {
            Ok(())
        }
        async fn reject(&self) -> Result<(), TransportError> {
            Ok(())
        }
    }

    #[test]
    fn incoming_debug_masks_secrets_at_any_depth() {
        let serde_json::Value::Object(message) = serde_json::json!({
            "method": "echo",
            "args": {"value": 1, "nested": {"admin_password": "pw-Zx81"}},
            "_context_auth_token": "tok-Qv27",
            "_context_user": "alice",
        }) else {
            unreachable!()
        };
        let debug = format!("{:?}", Incoming::new(Ok(message), Box::new(Unsettled)));
        assert!(!debug.contains("tok-Qv27") && !debug.contains("pw-Zx81"), "{debug}");
        assert!(debug.contains("alice") && debug.contains("echo") && debug.contains("***"), "{debug}");
    }
}
