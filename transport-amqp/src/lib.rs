//! courier's RabbitMQ transport: `rabbit://`, `amqp://` and `kombu://` URLs, speaking
//! oslo.messaging's rabbit wire format on [lapin](https://docs.rs/lapin).
//!
//! # Core concepts
//!
//! - **Topology** exactly as oslo declares it: the topic exchange (the control exchange,
//!   `openstack` unless configured), the queues `<topic>` and `<topic>.<server>`, the fanout
//!   exchange `<topic>_fanout` with one `<topic>_fanout_<uuid hex>` queue per server, one
//!   `reply_<uuid hex>` queue per transport, notification queues `<topic>.<priority>` and pool
//!   queues, with oslo's flags and arguments so Python peers never see a `406`; oslo's
//!   variants of it: quorum queues, stable names (`use_queue_manager`), one stream per topic
//!   for fanout (`rabbit_stream_fanout`), and the non-durable fallback when an exchange or
//!   queue exists non-durable.
//! - **Connections**: one for publishing (publisher confirms; `mandatory` returns become
//!   [`TransportError::Undeliverable`]), one per listener (with `basic.qos` prefetch), one for the
//!   reply queue. Each reconnects with oslo's backoff after a broker restart or a cut connection
//!   and declares its topology and consumers again.
//! - **Options** are oslo's `[oslo_messaging_rabbit]` names in the URL query; see
//!   [`RabbitOptions`].
//! - **Failover**: with several hosts the list is shuffled once (as oslo does), then tried in
//!   turn (`kombu_failover_strategy=round-robin`) or at random (`shuffle`).
//! - **Messages**: `application/json`, `utf-8`, persistent, priority 0, the 2.0 envelope; a
//!   fresh `_unique_id` on every publish; calls expire in the broker after their timeout.
//! - **Duplicates**: listeners remember the last [`DEDUPE_WINDOW`] `_unique_id`s (RPC on
//!   receipt, notifications once acked) and drop repeats.
//! - **Undecodable messages** are handed up as `Incoming { message: Err(..) }`; rejecting them
//!   is `basic.reject` with `requeue=false`.
//! - **Prefetch** is `basic.qos` per consumer (oslo's `global=false`): the listener's
//!   `ListenOptions::prefetch`, or `rabbit_qos_prefetch_count` when the URL sets it.
//! - **Replies** go to the default exchange with `mandatory`; a missing reply queue is retried
//!   every 0.25 s for `kombu_missing_consumer_retry_timeout`, then remembered as dead for 60 s.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn demo() -> Result<(), courier_runtime::error::TransportError> {
//! use courier_runtime::transport::{Transport, TransportConfig};
//!
//! courier_amqp::register(); // `rabbit`, `amqp` and `kombu` URLs now work with courier_runtime::transport::connect
//! let transport = courier_amqp::connect(
//!     "rabbit://guest:guest@127.0.0.1:5672/?rabbit_qos_prefetch_count=16".parse()?,
//!     TransportConfig::default().with_control_exchange("nova"),
//! )
//! .await?;
//! transport.cleanup().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod connection;
mod heartbeat_off;
mod listener;
mod options;
mod publisher;
mod qmanager;
mod replies;
mod supervisor;
mod topology;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_runtime::wire::{self, Notification, Reply, Request};
use courier_runtime::{
    error::TransportError,
    notify::Priority,
    target::Target,
    transport::{
        CallOptions, Connector, ListenOptions, Listener, NotifyOptions, PendingReply, SendOptions, Transport,
        TransportConfig,
    },
    url::TransportUrl,
};
use tokio::sync::watch;
use tokio::time::Instant;

pub use listener::DEDUPE_WINDOW;
pub use options::{DEFAULT_MAX_MESSAGE_SIZE, FailoverStrategy, LoginMethod, RabbitOptions};

use connection::Broker;
use listener::{AmqpListener, Kind, ListenSetup};
use publisher::{Outgoing, Publisher};
use replies::ReplyHub;
use supervisor::TASK_JOIN_TIMEOUT;
use topology::{Subscription, Topology, notification_key};

/// How long a cast, notification or reply may take to publish, reconnects included.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// A deadline far enough away to mean "never" (about 30 years; tokio's timers accept it).
const FOREVER_SECS: u64 = 30 * 365 * 86_400;
/// How often a reply to a missing reply queue is tried again (oslo: 0.25 s).
const MISSING_REPLY_QUEUE_RETRY: Duration = Duration::from_millis(250);
/// How long a reply queue that never came back is remembered as dead (oslo: 60 s).
const DEAD_REPLY_QUEUE_TTL: Duration = Duration::from_secs(60);
/// How many dead reply queues are remembered (oslo: 200).
const DEAD_REPLY_QUEUES: usize = 200;

/// The URL schemes this transport serves.
pub const SCHEMES: [&str; 3] = ["rabbit", "amqp", "kombu"];

/// Builds a RabbitMQ transport: parses the options, opens the publishing connection (one
/// attempt per host, so an unreachable broker, bad credentials or a wrong CA fail here with a
/// clear error) and returns the transport. Listeners and the reply queue connect on first use.
///
/// # Errors
/// [`TransportError::InvalidUrl`] for unknown or unsupported options or unreadable TLS files;
/// [`TransportError::Connection`] when no broker accepts the connection.
pub async fn connect(
    url: TransportUrl,
    config: TransportConfig,
) -> Result<Arc<dyn Transport>, TransportError> {
    Ok(Arc::new(RabbitTransport::connect(url, config).await?))
}

/// The [`Connector`] to register for the `rabbit`, `amqp` and `kombu` schemes.
#[must_use]
pub fn connector() -> Connector {
    |url, config| Box::pin(connect(url, config))
}

/// Registers this transport for the `rabbit`, `amqp` and `kombu` URL schemes with
/// [`courier_runtime::transport::register_transport`].
pub fn register() {
    for scheme in SCHEMES {
        courier_runtime::transport::register_transport(scheme, connector());
    }
}

/// A RabbitMQ transport speaking oslo.messaging's wire format.
///
/// `Debug` shows the URL with the password hidden.
pub struct RabbitTransport {
    url: TransportUrl,
    control_exchange: String,
    topology: Topology,
    broker: Arc<Broker>,
    publisher: Publisher,
    replies: Arc<ReplyHub>,
    closing: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    dead_reply_queues: Mutex<Vec<(String, Instant)>>,
}

impl fmt::Debug for RabbitTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitTransport")
            .field("url", &self.url)
            .field("control_exchange", &self.control_exchange)
            .field("reply_queue", &self.replies.queue_name())
            .finish_non_exhaustive()
    }
}

fn topic_of(target: &Target) -> Result<&str, TransportError> {
    target
        .topic
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TransportError::InvalidTarget("a topic is required to send or listen".into()))
}

impl RabbitTransport {
    /// Builds the transport (see [`connect`]).
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn connect(url: TransportUrl, config: TransportConfig) -> Result<Self, TransportError> {
        let options = RabbitOptions::from_url(&url)?;
        let topology = Topology::new(options.clone());
        let broker = Arc::new(Broker::new(&url, options)?);
        let (closing, closing_rx) = watch::channel(false);
        let publisher = Publisher::new(broker.clone(), closing_rx.clone());
        publisher.connect().await?;
        let replies = ReplyHub::new(broker.clone(), topology.clone(), closing_rx)?;
        Ok(Self {
            url,
            control_exchange: config.control_exchange,
            topology,
            broker,
            publisher,
            replies,
            closing,
            tasks: Mutex::default(),
            dead_reply_queues: Mutex::default(),
        })
    }

    /// The options read from the URL.
    #[must_use]
    pub fn options(&self) -> &RabbitOptions {
        self.broker.options()
    }

    /// This transport's reply queue (`reply_<uuid hex>`); declared on the first call.
    #[must_use]
    pub fn reply_queue(&self) -> &str {
        self.replies.queue_name()
    }

    fn exchange_of<'a>(&'a self, target: &'a Target) -> &'a str {
        target.exchange.as_deref().filter(|e| !e.is_empty()).unwrap_or(&self.control_exchange)
    }

    /// Where a request goes: the fanout exchange, or `E` with `topic` / `topic.server`.
    fn request_route(&self, target: &Target) -> Result<(topology::ExchangeSpec, String), TransportError> {
        let topic = topic_of(target)?;
        if target.fanout {
            return Ok((self.topology.fanout_exchange(topic), String::new()));
        }
        let key = match target.server.as_deref().filter(|s| !s.is_empty()) {
            Some(server) => format!("{topic}.{server}"),
            None => topic.to_owned(),
        };
        Ok((self.topology.topic_exchange(self.exchange_of(target)), key))
    }

    fn prefetch(&self, options: &ListenOptions) -> u16 {
        match self.broker.options().rabbit_qos_prefetch_count {
            0 => options.prefetch.max(1),
            n => n,
        }
    }

    fn is_dead_reply_queue(&self, reply_q: &str) -> bool {
        let mut dead = self.dead_reply_queues.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        dead.retain(|(_, until)| *until > now);
        dead.iter().any(|(name, _)| name == reply_q)
    }

    fn remember_dead_reply_queue(&self, reply_q: &str) {
        let mut dead = self.dead_reply_queues.lock().unwrap_or_else(|e| e.into_inner());
        if dead.len() >= DEAD_REPLY_QUEUES {
            dead.remove(0);
        }
        dead.push((reply_q.to_owned(), Instant::now() + DEAD_REPLY_QUEUE_TTL));
    }

    async fn start_listener(
        &self,
        kind: Kind,
        subscriptions: Vec<Subscription>,
        options: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError> {
        if *self.closing.borrow() {
            return Err(TransportError::Closed);
        }
        let prefetch = self.prefetch(options);
        let session = listener::open(&self.broker, &self.topology, &subscriptions, prefetch).await?;
        let setup = ListenSetup {
            broker: self.broker.clone(),
            topology: self.topology.clone(),
            subscriptions,
            prefetch,
            closing: self.closing.subscribe(),
        };
        let (listener, task) = AmqpListener::start(kind, setup, session);
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|task| !task.is_finished());
        tasks.push(task);
        Ok(Box::new(listener))
    }
}

#[async_trait::async_trait]
impl Transport for RabbitTransport {
    async fn call(
        &self,
        target: &Target,
        mut request: Request,
        options: &CallOptions,
    ) -> Result<PendingReply, TransportError> {
        if target.fanout {
            return Err(TransportError::InvalidTarget("a call cannot be used with fanout".into()));
        }
        let (exchange, routing_key) = self.request_route(target)?;
        let deadline = Instant::now() + options.timeout;
        self.replies.ready(deadline, options.retry).await?;
        let msg_id = request.msg_id.get_or_insert_with(wire::new_id).clone();
        request.reply_q = Some(self.replies.queue_name().to_owned());
        request.unique_id = Some(wire::new_id());
        let pending = self.replies.wait_for(&msg_id);
        let message = Outgoing {
            exchange_name: exchange.name.clone(),
            exchange: Some(exchange),
            default_queue: None,
            routing_key,
            body: wire::encode_envelope(&request),
            expiration: Some(options.timeout.as_millis().max(1).to_string()),
            mandatory: options.mandatory,
            headers: options.headers.clone(),
        };
        tracing::debug!(%msg_id, exchange = %message.exchange_name, routing_key = %message.routing_key, "sending call");
        self.publisher.publish_with_retry(&message, deadline, options.retry).await?;
        Ok(pending)
    }

    async fn cast(
        &self,
        target: &Target,
        mut request: Request,
        options: &SendOptions,
    ) -> Result<(), TransportError> {
        let (exchange, routing_key) = self.request_route(target)?;
        request.unique_id = Some(wire::new_id());
        let message = Outgoing {
            exchange_name: exchange.name.clone(),
            exchange: Some(exchange),
            default_queue: None,
            routing_key,
            body: wire::encode_envelope(&request),
            expiration: None,
            mandatory: options.mandatory,
            headers: options.headers.clone(),
        };
        let deadline = Instant::now() + options.timeout.unwrap_or(PUBLISH_TIMEOUT);
        self.publisher.publish_with_retry(&message, deadline, options.retry).await
    }

    async fn reply(&self, reply_q: &str, mut reply: Reply) -> Result<(), TransportError> {
        let undeliverable =
            || TransportError::Undeliverable { exchange: String::new(), routing_key: reply_q.to_owned() };
        if self.is_dead_reply_queue(reply_q) {
            tracing::info!(reply_q, "dropping a reply to a reply queue that recently went missing");
            return Err(undeliverable());
        }
        reply.unique_id = Some(wire::new_id());
        let msg_id = reply.msg_id.clone();
        let message = Outgoing {
            exchange: None,
            default_queue: None,
            exchange_name: String::new(),
            routing_key: reply_q.to_owned(),
            body: wire::encode_envelope(&reply),
            expiration: None,
            mandatory: self.broker.options().direct_mandatory_flag,
            headers: courier_runtime::transport::Headers::new(),
        };
        let started = Instant::now();
        let give_up = started + self.broker.options().missing_consumer_retry_timeout();
        loop {
            match self.publisher.publish(&message, Instant::now() + PUBLISH_TIMEOUT).await {
                Err(TransportError::Undeliverable { .. })
                    if Instant::now() + MISSING_REPLY_QUEUE_RETRY < give_up =>
                {
                    tracing::debug!(reply_q, "reply queue missing; retrying the reply");
                    tokio::time::sleep(MISSING_REPLY_QUEUE_RETRY).await;
                }
                Err(TransportError::Undeliverable { .. }) => {
                    tracing::warn!(
                        reply_q,
                        ?msg_id,
                        waited = ?started.elapsed(),
                        "the reply queue does not exist; giving up on the reply (the caller is gone)"
                    );
                    self.remember_dead_reply_queue(reply_q);
                    return Err(undeliverable());
                }
                other => return other,
            }
        }
    }

    async fn notify(
        &self,
        target: &Target,
        priority: Priority,
        mut notification: Notification,
        options: &NotifyOptions,
    ) -> Result<(), TransportError> {
        let topic = topic_of(target)?;
        let key = notification_key(topic, priority);
        notification.unique_id = Some(wire::new_id());
        let body = if options.envelope {
            wire::encode_envelope(&notification)
        } else {
            wire::encode_bare(&notification)
        };
        let exchange = self.topology.topic_exchange(self.exchange_of(target));
        let outgoing = Outgoing {
            exchange_name: exchange.name.clone(),
            exchange: Some(exchange),
            default_queue: Some(self.topology.shared_queue(&key)),
            routing_key: key,
            body,
            expiration: None,
            mandatory: false,
            headers: options.headers.clone(),
        };
        // oslo's `retry`: `None` reconnects for as long as it takes, as oslo does.
        let deadline = match options.retry {
            Some(_) => Instant::now() + PUBLISH_TIMEOUT,
            None => Instant::now() + Duration::from_secs(FOREVER_SECS),
        };
        self.publisher.publish_with_retry(&outgoing, deadline, options.retry).await
    }

    async fn listen(
        &self,
        target: &Target,
        options: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError> {
        let topic = topic_of(target)?;
        let server = target.server.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
            TransportError::InvalidTarget("an RPC server target needs a server name".into())
        })?;
        let subscriptions = self.topology.rpc_server(self.exchange_of(target), topic, server)?;
        self.start_listener(Kind::Rpc, subscriptions, options).await
    }

    async fn listen_for_notifications(
        &self,
        targets_and_priorities: &[(Target, Priority)],
        pool: Option<&str>,
        options: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError> {
        let pool = pool.filter(|p| !p.is_empty());
        let tap = match (pool, options.private_queue) {
            (None, true) => {
                let first = targets_and_priorities.first().map(|(t, _)| topic_of(t)).transpose()?;
                Some(self.topology.tap_queue(first.unwrap_or("notifications")))
            }
            _ => None,
        };
        let mut subscriptions: Vec<Subscription> = Vec::new();
        for (target, priority) in targets_and_priorities {
            let key = notification_key(topic_of(target)?, *priority);
            let exchange = self.topology.topic_exchange(self.exchange_of(target));
            let queue = match (&tap, pool) {
                (Some(tap), _) => tap.clone(),
                (None, Some(pool)) => self.topology.shared_queue(pool),
                (None, None) => self.topology.shared_queue(&key),
            };
            match subscriptions.iter_mut().find(|s| s.queue.name == queue.name && s.exchange == exchange) {
                Some(existing) if !existing.routing_keys.contains(&key) => existing.routing_keys.push(key),
                Some(_) => {}
                None => subscriptions.push(Subscription {
                    delete_on_close: tap.is_some(),
                    stream_offset: None,
                    queue,
                    exchange,
                    routing_keys: vec![key],
                }),
            }
        }
        if subscriptions.is_empty() {
            return Err(TransportError::InvalidTarget(
                "a notification listener needs at least one target".into(),
            ));
        }
        self.start_listener(Kind::Notification, subscriptions, options).await
    }

    async fn cleanup(&self) {
        self.closing.send_replace(true);
        let tasks: Vec<_> = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
        for task in tasks {
            let _ = tokio::time::timeout(TASK_JOIN_TIMEOUT, task).await;
        }
        self.replies.join().await;
        self.publisher.close().await;
    }

    fn messaging_system(&self) -> &'static str {
        "rabbitmq"
    }

    fn control_exchange(&self) -> &str {
        &self.control_exchange
    }
}
