//! Helpers of the notification tests: one scenario body runs on `fake://` and on the RabbitMQ
//! at 127.0.0.1:5672 (skipped, with the reason printed, when nothing listens there), with
//! unique topics and a control exchange of its own per test.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use courier::{Notifier, Transport, TransportConfig};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::sync::mpsc;

/// The in-memory transport.
pub const FAKE: &str = "fake://";
/// The only broker the tests talk to.
pub const RABBIT: &str = "rabbit://guest:guest@127.0.0.1:5672/";
/// How long a test waits for something that should happen (bounds failures only).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Runs `$scenario(url)` as two tests, `fake` and `rabbit`, in a module named after it.
#[macro_export]
macro_rules! on_both_transports {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fake() {
                super::$scenario($crate::notify_common::FAKE).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rabbit() {
                if $crate::notify_common::rabbit_available().await {
                    super::$scenario($crate::notify_common::RABBIT).await;
                }
            }
        }
    )*};
}

/// Whether the test broker accepts connections; prints why the RabbitMQ variant is skipped
/// when it does not.
pub async fn rabbit_available() -> bool {
    let probe =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect("127.0.0.1:5672"));
    match probe.await {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            println!(
                "skipping the RabbitMQ variant: nothing accepts connections on 127.0.0.1:5672 ({error})"
            );
            false
        }
        Err(_) => {
            println!("skipping the RabbitMQ variant: 127.0.0.1:5672 did not answer within 2 s");
            false
        }
    }
}

/// `prefix-<uuid hex>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Fails the test if `future` does not finish in time.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A transport with a control exchange of its own, and the raw access tests need.
pub struct Env {
    /// The transport URL.
    pub url: &'static str,
    /// The transport.
    pub transport: Arc<dyn Transport>,
    /// Its control exchange.
    pub exchange: String,
}

impl Env {
    /// Connects to `url` with a fresh control exchange.
    pub async fn new(url: &'static str) -> Self {
        let exchange = unique("courier-notify-test");
        let config = TransportConfig::default().with_control_exchange(exchange.clone());
        let transport = courier::connect_with(url, config).await.expect("connect to the test transport");
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

    pub fn is_rabbit(&self) -> bool {
        self.url.starts_with("rabbit")
    }

    /// Publishes a raw body on the control exchange with `routing_key`, as any publisher could.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        if self.is_rabbit() {
            let connection =
                Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", ConnectionProperties::default())
                    .await
                    .expect("connect with lapin");
            let channel = connection.create_channel().await.expect("open a channel");
            let properties = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_content_encoding("utf-8".into())
                .with_delivery_mode(2);
            channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    body,
                    properties,
                )
                .await
                .expect("publish")
                .await
                .expect("confirm");
            let _ = connection.close(200, "done".into()).await;
        } else {
            courier::fake::publish_raw(&self.exchange, routing_key, body.to_vec());
        }
    }

    /// Messages waiting (not taken by any consumer) in the pool-less queue `<topic>.<priority>`.
    pub async fn ready(&self, queue: &str) -> u32 {
        if self.is_rabbit() {
            let connection =
                Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", ConnectionProperties::default())
                    .await
                    .expect("connect with lapin");
            let channel = connection.create_channel().await.expect("open a channel");
            let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
            let count = channel
                .queue_declare(queue.into(), options, FieldTable::default())
                .await
                .expect("the queue exists")
                .message_count();
            let _ = connection.close(200, "done".into()).await;
            count
        } else {
            u32::try_from(courier::fake::queued(&self.exchange, queue)).unwrap_or(u32::MAX)
        }
    }
}

/// What test endpoints report: who saw which message.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub by: &'static str,
    pub priority: &'static str,
    pub publisher_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub message_id: String,
    pub timestamp: String,
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
    /// The next report.
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
