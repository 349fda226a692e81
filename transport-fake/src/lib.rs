//! courier's in-memory transport for `fake://` URLs: tests and demos without a broker.
//!
//! It follows oslo.messaging's fake driver: one broker per process shared by every `fake://`
//! transport (a server on one transport answers a client on another), exchanges holding topic
//! queues with competing consumers, per-server queues, fanout to every server queue of a
//! topic, and one queue per notification pool. Unlike oslo's, requests and notifications go
//! through the real wire encoding (the 2.0 envelope), so serialization bugs show in memory too
//! (replies are handed over as they are, as oslo's fake driver does: their result is JSON
//! already), delivery wakes listeners instead of polling, a call's request expires with its
//! timeout, and cleanup only releases what this transport owns, so parallel tests never disturb
//! each other.
//!
//! [`connect_with_faults`] builds a transport with a [`Faults`] handle that injects what a real
//! broker and network do on a bad day, to that transport only: failed and lost publishes,
//! redeliveries (with [`Incoming::redelivered`] set), a dropped connection that takes unsettled
//! deliveries back, cancelled consumers, delayed and reordered deliveries. Delays use tokio
//! time, so fault tests run under a paused clock.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use courier_runtime::transport::{Transport, TransportConfig};
//!
//! let transport = courier_fake::connect(TransportConfig::default());
//! assert!(format!("{transport:?}").contains("FakeTransport"));
//! transport.cleanup().await;
//! # }
//! ```
#![deny(missing_docs)]

mod broker;
mod faults;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio::time::Instant;

use courier_runtime::transport::Origin;
use courier_runtime::wire::{self, Notification, Reply, Request};
use courier_runtime::{
    error::TransportError,
    notify::Priority,
    target::Target,
    transport::{
        CallOptions, Delivery, Headers, Incoming, ListenOptions, Listener, NotifyOptions, PendingReply,
        ReplySender, SendOptions, Transport, TransportConfig,
    },
    url::TransportUrl,
};

use broker::{Queue, Stored, broker, lock};
use faults::{Fate, FaultState, Unsettled};

pub use faults::{FaultStats, Faults, Publish, connect_with_faults};

/// How many replies (heartbeats included) may wait for a caller to read them.
const REPLY_BUFFER: usize = 16;

type Waiters = Arc<Mutex<HashMap<String, ReplySender>>>;

/// An in-memory transport. Build one with [`connect`] or the URL `fake://`.
pub struct FakeTransport {
    control_exchange: String,
    reply_q: String,
    waiters: Waiters,
    closed: AtomicBool,
    /// Set for transports built by [`connect_with_faults`].
    faults: Option<Arc<FaultState>>,
}

impl std::fmt::Debug for FakeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTransport")
            .field("control_exchange", &self.control_exchange)
            .field("reply_q", &self.reply_q)
            .finish_non_exhaustive()
    }
}

/// Builds an in-memory transport.
#[must_use]
pub fn connect(config: TransportConfig) -> Arc<dyn Transport> {
    connect_inner(config, None)
}

fn connect_inner(config: TransportConfig, faults: Option<Arc<FaultState>>) -> Arc<dyn Transport> {
    let transport = FakeTransport {
        control_exchange: config.control_exchange,
        reply_q: format!("reply_{}", wire::new_id()),
        waiters: Arc::default(),
        closed: AtomicBool::new(false),
        faults,
    };
    broker().add_reply_queue(transport.reply_q.clone(), Arc::downgrade(&transport.waiters));
    Arc::new(transport)
}

/// Registers `fake://` with the runtime's transport registry.
pub fn register() {
    courier_runtime::transport::register_transport("fake", connect_url);
}

fn connect_url(
    _url: TransportUrl,
    config: TransportConfig,
) -> BoxFuture<'static, Result<Arc<dyn Transport>, TransportError>> {
    Box::pin(async move { Ok(connect(config)) })
}

/// How many messages wait in the shared queue of `topic` on `exchange` (not yet taken by any
/// server): lets tests check that back-pressure leaves work in the broker.
#[must_use]
pub fn queued(exchange: &str, topic: &str) -> usize {
    broker().topic_queue(exchange, topic, None).len()
}

/// Puts a raw body on every queue bound to `routing_key` on `exchange` (creating the pool-less
/// one), as a broker delivers a message from any publisher: lets tests inject bodies courier
/// never sends itself (not JSON, fields missing). Notification queues are keyed
/// `<topic>.<priority>`, RPC topic queues by the topic.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// courier_fake::publish_raw("openstack", "doc-raw.info", b"not json".to_vec());
/// assert_eq!(courier_fake::queued("openstack", "doc-raw.info"), 1);
/// # }
/// ```
pub fn publish_raw(exchange: &str, routing_key: &str, body: impl Into<Vec<u8>>) {
    let body = body.into();
    for queue in broker().topic_targets(exchange, routing_key, true) {
        queue.push_back(Stored::new(body.clone(), None, Headers::new()));
    }
}

impl FakeTransport {
    fn exchange<'a>(&'a self, target: &'a Target) -> &'a str {
        target.exchange.as_deref().unwrap_or(&self.control_exchange)
    }

    fn check_open(&self) -> Result<(), TransportError> {
        if self.closed.load(Ordering::Acquire) { Err(TransportError::Closed) } else { Ok(()) }
    }

    /// Checks the transport is open and applies the armed publish faults.
    fn publishing(&self, kind: faults::Publish) -> Result<Fate, TransportError> {
        self.check_open()?;
        match &self.faults {
            Some(faults) => faults.publish(kind),
            None => Ok(Fate::Deliver),
        }
    }

    /// Delivers a request as oslo's fake driver does.
    fn deliver(
        &self,
        target: &Target,
        body: Vec<u8>,
        mandatory: bool,
        expires_at: Option<Instant>,
        headers: &Headers,
    ) -> Result<(), TransportError> {
        let topic = target
            .topic
            .as_deref()
            .ok_or(TransportError::InvalidTarget("a topic is required to send".into()))?;
        let exchange = self.exchange(target);
        let mut broker = broker();
        let queues = if target.fanout {
            broker.fanout_targets(exchange, topic)
        } else if let Some(server) = &target.server {
            if mandatory {
                broker.existing_server_queue(exchange, topic, server).into_iter().collect()
            } else {
                vec![broker.server_queue(exchange, topic, server)]
            }
        } else {
            broker.topic_targets(exchange, topic, !mandatory)
        };
        drop(broker);
        if queues.is_empty() && (mandatory || !target.fanout) {
            let routing_key = match &target.server {
                Some(server) => format!("{topic}.{server}"),
                None => topic.to_owned(),
            };
            return Err(TransportError::Undeliverable { exchange: exchange.to_owned(), routing_key });
        }
        // The last queue (usually the only one) takes the body itself, not a copy.
        let mut body = Some(body);
        let last = queues.len().saturating_sub(1);
        for (i, queue) in queues.into_iter().enumerate() {
            let body =
                if i == last { body.take().unwrap_or_default() } else { body.clone().unwrap_or_default() };
            queue.push_back(Stored::new(body, expires_at, headers.clone()));
        }
        Ok(())
    }
}

#[async_trait]
impl Transport for FakeTransport {
    async fn call(
        &self,
        target: &Target,
        mut request: Request,
        options: &CallOptions,
    ) -> Result<PendingReply, TransportError> {
        if target.fanout {
            return Err(TransportError::InvalidTarget("a call cannot be used with fanout".into()));
        }
        let fate = self.publishing(faults::Publish::Call)?;
        let msg_id =
            request.msg_id.clone().ok_or(TransportError::InvalidRequest("a call needs a _msg_id".into()))?;
        request.reply_q = Some(self.reply_q.clone());
        request.unique_id = Some(wire::new_id());
        let waiters = Arc::downgrade(&self.waiters);
        let forget = msg_id.clone();
        let (sender, pending) = PendingReply::channel(REPLY_BUFFER, move || {
            if let Some(waiters) = waiters.upgrade() {
                lock(&waiters).remove(&forget);
            }
        });
        lock(&self.waiters).insert(msg_id, sender);
        let body = wire::encode_envelope(&request);
        let expires_at = Instant::now().checked_add(options.timeout);
        if fate == Fate::Deliver {
            self.deliver(target, body, options.mandatory, expires_at, &options.headers)?;
        }
        Ok(pending)
    }

    async fn cast(
        &self,
        target: &Target,
        mut request: Request,
        options: &SendOptions,
    ) -> Result<(), TransportError> {
        if self.publishing(faults::Publish::Cast)? == Fate::Drop {
            return Ok(());
        }
        request.unique_id = Some(wire::new_id());
        self.deliver(target, wire::encode_envelope(&request), options.mandatory, None, &options.headers)
    }

    async fn reply(&self, reply_q: &str, reply: Reply) -> Result<(), TransportError> {
        if self.publishing(faults::Publish::Reply)? == Fate::Drop {
            return Ok(());
        }
        let undeliverable =
            || TransportError::Undeliverable { exchange: String::new(), routing_key: reply_q.to_owned() };
        let waiters = broker().reply_router(reply_q).and_then(|w| w.upgrade()).ok_or_else(undeliverable)?;
        // Handed over as it is, as oslo's fake driver hands its replies over: a reply's result
        // is JSON already (the serializer made it), so encoding and decoding it again would
        // only cost time; nor does it get a `_unique_id`, which only dedupes broker deliveries.
        let msg_id = reply.msg_id.clone().unwrap_or_default();
        let sender = lock(&waiters).get(&msg_id).cloned();
        match sender {
            Some(sender) => {
                if sender.try_send(Ok(reply)).is_err() {
                    tracing::debug!(%msg_id, "the caller is not reading replies; dropping one");
                }
            }
            None => tracing::info!(%msg_id, "no call is waiting for this reply (it timed out?); dropping it"),
        }
        Ok(())
    }

    async fn notify(
        &self,
        target: &Target,
        priority: Priority,
        notification: Notification,
        options: &NotifyOptions,
    ) -> Result<(), TransportError> {
        if self.publishing(faults::Publish::Notify)? == Fate::Drop {
            return Ok(());
        }
        let topic = target
            .topic
            .as_deref()
            .ok_or(TransportError::InvalidTarget("a topic is required to notify".into()))?;
        let body = if options.envelope {
            wire::encode_envelope(&notification)
        } else {
            wire::encode_bare(&notification)
        };
        let routing = format!("{topic}.{}", priority.as_str());
        let queues = broker().topic_targets(self.exchange(target), &routing, true);
        for queue in queues {
            queue.push_back(Stored::new(body.clone(), None, options.headers.clone()));
        }
        Ok(())
    }

    async fn listen(
        &self,
        target: &Target,
        _options: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError> {
        self.check_open()?;
        let topic = target
            .topic
            .as_deref()
            .ok_or(TransportError::InvalidTarget("a topic is required to listen".into()))?;
        let server = target
            .server
            .as_deref()
            .ok_or(TransportError::InvalidTarget("a server is required to listen".into()))?;
        let exchange = self.exchange(target);
        let mut broker = broker();
        let queues = vec![
            (broker.server_queue(exchange, topic, server), origin(exchange, format!("{topic}.{server}"))),
            (broker.topic_queue(exchange, topic, None), origin(exchange, topic)),
        ];
        Ok(Box::new(FakeListener::new(queues, self.faults.clone())))
    }

    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
        options: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError> {
        self.check_open()?;
        let private_pool =
            (pool.is_none() && options.private_queue).then(|| format!("courier-tap-{}", wire::new_id()));
        let pool = pool.or(private_pool.as_deref());
        let mut broker = broker();
        let mut queues = Vec::new();
        for (target, priority) in targets_and_priorities {
            let topic = target
                .topic
                .as_deref()
                .ok_or(TransportError::InvalidTarget("a topic is required to listen".into()))?;
            let routing = format!("{topic}.{}", priority.as_str());
            let exchange = self.exchange(target);
            queues.push((broker.topic_queue(exchange, &routing, pool), origin(exchange, routing)));
        }
        Ok(Box::new(FakeListener::new(queues, self.faults.clone())))
    }

    fn messaging_system(&self) -> &'static str {
        "fake"
    }

    fn control_exchange(&self) -> &str {
        &self.control_exchange
    }

    async fn cleanup(&self) {
        self.closed.store(true, Ordering::Release);
        broker().remove_reply_queue(&self.reply_q);
        lock(&self.waiters).clear();
    }
}

/// The origin of the messages of a queue bound with `routing_key` on `exchange`.
fn origin(exchange: &str, routing_key: impl Into<Arc<str>>) -> Origin {
    Origin::new("fake", exchange, routing_key)
}

/// Consumes from its queues in order; delivery wakes it.
struct FakeListener {
    queues: Vec<(Arc<Queue>, Origin)>,
    waker: Arc<Notify>,
    closed: bool,
    /// The faults of its transport, and their cancel epoch when it started consuming.
    faults: Option<(Arc<FaultState>, u64)>,
}

impl FakeListener {
    fn new(queues: Vec<(Arc<Queue>, Origin)>, faults: Option<Arc<FaultState>>) -> Self {
        let waker = Arc::new(Notify::new());
        for (queue, _) in &queues {
            queue.subscribe(&waker);
        }
        let faults = faults.map(|faults| {
            faults.add_listener(&waker);
            let epoch = faults.cancel_epoch();
            (faults, epoch)
        });
        Self { queues, waker, closed: false, faults }
    }

    fn cancelled(&self) -> bool {
        self.faults.as_ref().is_some_and(|(faults, epoch)| faults.cancel_epoch() != *epoch)
    }
}

#[async_trait]
impl Listener for FakeListener {
    async fn next(&mut self) -> Option<Incoming> {
        loop {
            if self.closed {
                return None;
            }
            if self.cancelled() {
                tracing::warn!("the consumer was cancelled (injected fault)");
                return None;
            }
            let faults = self.faults.as_ref().map(|(faults, _)| faults);
            let newest_first = faults.is_some_and(|f| f.reorder());
            for (queue, origin) in &self.queues {
                if let Some(stored) = queue.pop(newest_first) {
                    let message = wire::decode_body(&stored.body);
                    let (redelivered, deadline) = (stored.redelivered, stored.expires_at);
                    let headers = stored.headers.clone();
                    let unsettled = Unsettled::new(Arc::clone(queue), stored, faults.cloned());
                    // Held (unsettled) during the delay, as a message in flight on the network.
                    if let Some(delay) = faults.and_then(|f| f.delay()) {
                        tokio::time::sleep(delay).await;
                    }
                    let delivery = FakeDelivery(unsettled);
                    return Some(
                        Incoming::new(message, Box::new(delivery))
                            .with_redelivered(redelivered)
                            .with_deadline(deadline)
                            .with_headers(headers)
                            .with_origin(origin.clone()),
                    );
                }
            }
            self.waker.notified().await;
        }
    }

    async fn close(&mut self) {
        self.closed = true;
    }
}

/// A message taken off a queue; dropped unsettled, it goes back (as on a closed channel).
struct FakeDelivery(Arc<Unsettled>);

#[async_trait]
impl Delivery for FakeDelivery {
    async fn ack(&self) -> Result<(), TransportError> {
        let stored = self.0.settle().await?;
        self.0.finish(stored);
        Ok(())
    }

    async fn requeue(&self) -> Result<(), TransportError> {
        if let Some(stored) = self.0.settle().await? {
            self.0.queue.push_front(stored.into_redelivered());
        }
        Ok(())
    }

    async fn reject(&self) -> Result<(), TransportError> {
        let stored = self.0.settle().await?;
        if stored.is_some() {
            tracing::warn!("message rejected without requeue; the in-memory broker drops it");
        }
        self.0.finish(stored);
        Ok(())
    }
}

impl Drop for FakeDelivery {
    fn drop(&mut self) {
        if let Some(stored) = self.0.take() {
            self.0.queue.push_front(stored.into_redelivered());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unsettled_deliveries_go_back() {
        let transport = connect(TransportConfig::default());
        let topic = format!("t-{}", wire::new_id());
        let target = Target::new(&topic).with_server("s");
        let mut listener = transport.listen(&target, &ListenOptions::default()).await.unwrap();
        transport
            .cast(&Target::new(&topic), Request::new("m", Default::default()), &SendOptions::default())
            .await
            .unwrap();
        let first = listener.next().await.unwrap();
        drop(first);
        let again = listener.next().await.unwrap();
        assert_eq!(again.message.unwrap()["method"], "m");
        again.delivery.ack().await.unwrap();
    }

    #[tokio::test]
    async fn mandatory_needs_a_queue() {
        let transport = connect(TransportConfig::default());
        let target = Target::new(format!("nobody-{}", wire::new_id()));
        let err = transport
            .cast(
                &target,
                Request::new("m", Default::default()),
                &SendOptions::default().with_mandatory(true),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Undeliverable { .. }), "{err}");
    }
}
