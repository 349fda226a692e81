//! One scenario on every transport: [`on_every_transport!`](crate::on_every_transport!) runs an `async fn(&'static str)`
//! once per transport URL (`fake://` and the shared RabbitMQ, skipped with the reason printed
//! when nothing listens there), and [`TransportEnv`] gives the scenario a transport with a
//! control exchange of its own plus the raw access it needs (publishing odd bodies, counting
//! waiting messages) on either transport. [`channel`] and [`Seen`] are what recording
//! notification endpoints report through.

use std::sync::Arc;

use courier::{
    Context, Metadata, NotificationListener, Notifier, Target, Transport, notification_endpoint,
    transport::TransportConfig,
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::broker::{self, Raw};
use crate::{unique, within};

/// The in-memory transport.
pub const FAKE: &str = "fake://";
/// The shared RabbitMQ.
pub const RABBIT: &str = broker::URL;

/// Runs each `async fn $scenario(url: &'static str)` as one test per transport, `fake` and
/// `rabbit`, in a module named after the scenario.
///
/// ```ignore
/// async fn a_notification_arrives(url: &'static str) { /* ... */ }
/// courier_test_support::on_every_transport!(a_notification_arrives);
/// ```
#[macro_export]
macro_rules! on_every_transport {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fake() {
                super::$scenario($crate::transports::FAKE).await;
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rabbit() {
                if $crate::broker::available(concat!(stringify!($scenario), " on RabbitMQ")) {
                    super::$scenario($crate::transports::RABBIT).await;
                }
            }
        }
    )*};
}

/// A transport with a control exchange of its own, and the raw access tests need.
pub struct TransportEnv {
    /// The transport URL.
    pub url: &'static str,
    /// The transport.
    pub transport: Arc<dyn Transport>,
    /// Its control exchange.
    pub exchange: String,
}

impl TransportEnv {
    /// Connects to `url` with a fresh control exchange.
    pub async fn new(url: &'static str) -> Self {
        let exchange = unique("courier-test");
        let transport = broker::transport_on(url, &exchange).await;
        Self { url, transport, exchange }
    }

    /// Another transport on the same broker and exchange (a second process, say).
    pub async fn another_transport(&self) -> Arc<dyn Transport> {
        let config = TransportConfig::default().with_control_exchange(self.exchange.clone());
        courier::connect_with(self.url, config).await.expect("connect to the test transport")
    }

    /// A notifier on `topic`.
    pub fn notifier(&self, publisher_id: &str, topic: &str) -> Notifier {
        Notifier::new(Arc::clone(&self.transport), publisher_id).with_topics([topic])
    }

    /// Whether this is the RabbitMQ transport.
    pub fn is_rabbit(&self) -> bool {
        self.url.starts_with("rabbit")
    }

    /// Publishes a raw body on the control exchange with `routing_key`, as any publisher could.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        if self.is_rabbit() {
            let raw = Raw::connect().await;
            raw.publish(&self.exchange, routing_key, body).await;
            raw.close().await;
        } else {
            courier::fake::publish_raw(&self.exchange, routing_key, body.to_vec());
        }
    }

    /// Messages waiting (not taken by any consumer) in the queue `queue`.
    pub async fn ready(&self, queue: &str) -> u32 {
        if self.is_rabbit() {
            let raw = Raw::connect().await;
            let count = raw.depth(queue).await;
            raw.close().await;
            count
        } else {
            u32::try_from(courier::fake::queued(&self.exchange, queue)).unwrap_or(u32::MAX)
        }
    }
}

/// What recording notification endpoints report: who saw which message.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// The endpoint that saw it.
    pub by: &'static str,
    /// The method (priority) that saw it.
    pub priority: &'static str,
    /// Its publisher.
    pub publisher_id: String,
    /// Its event type.
    pub event_type: String,
    /// Its payload.
    pub payload: serde_json::Value,
    /// Its message id.
    pub message_id: String,
    /// Its timestamp.
    pub timestamp: String,
    /// Its context.
    pub context: courier::Context,
}

/// A channel endpoints report into.
pub fn channel() -> (mpsc::UnboundedSender<Seen>, Receiver) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (sender, Receiver(receiver))
}

/// The receiving side of [`channel`].
pub struct Receiver(mpsc::UnboundedReceiver<Seen>);

impl Receiver {
    /// The next report (within [`PATIENCE`](crate::PATIENCE)).
    pub async fn next(&mut self, what: &str) -> Seen {
        within(what, self.0.recv()).await.expect("the endpoints are gone")
    }

    /// The next `n` reports.
    pub async fn take(&mut self, n: usize, what: &str) -> Vec<Seen> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(self.next(&format!("{what} ({i} of {n} so far)")).await);
        }
        out
    }

    /// Reports already waiting (none expected after a witness saw everything).
    pub fn drain_now(&mut self) -> Vec<Seen> {
        let mut out = Vec::new();
        while let Ok(seen) = self.0.try_recv() {
            out.push(seen);
        }
        out
    }
}

/// Builds a [`Seen`].
pub fn seen(
    by: &'static str,
    priority: &'static str,
    context: courier::Context,
    publisher_id: String,
    event_type: String,
    payload: serde_json::Value,
    metadata: courier::Metadata,
) -> Seen {
    Seen {
        by,
        priority,
        publisher_id,
        event_type,
        payload,
        message_id: metadata.message_id,
        timestamp: metadata.timestamp,
        context,
    }
}

/// A notification endpoint reporting every INFO (sync method) and ERROR (async method)
/// notification as a [`Seen`] by the name it was given.
pub struct Recorder(pub &'static str, pub mpsc::UnboundedSender<Seen>);

#[notification_endpoint]
impl Recorder {
    fn info(
        &self,
        ctx: &Context,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) {
        let _ = self.1.send(seen(self.0, "info", ctx.clone(), publisher_id, event_type, payload, metadata));
    }

    async fn error(
        &self,
        ctx: &Context,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) {
        let _ = self.1.send(seen(self.0, "error", ctx.clone(), publisher_id, event_type, payload, metadata));
    }
}

/// A listener on `topic` (in `pool`, if any) with one [`Recorder`] named `name`.
pub fn recording_listener(
    transport: &Arc<dyn Transport>,
    topic: &str,
    pool: Option<&str>,
    name: &'static str,
    sender: &mpsc::UnboundedSender<Seen>,
) -> NotificationListener {
    let mut builder = NotificationListener::builder(Arc::clone(transport))
        .target(Target::new(topic))
        .endpoint(Recorder(name, sender.clone()));
    if let Some(pool) = pool {
        builder = builder.pool(pool);
    }
    builder.build().expect("a valid listener")
}
