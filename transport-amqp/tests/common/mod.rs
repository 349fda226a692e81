//! Helpers shared by the broker tests: a real RabbitMQ on 127.0.0.1:5672 (guest/guest), unique
//! names per test so tests run in parallel, and a raw lapin channel to look at the broker.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use courier_runtime::wire::{self, Message, Notification, Request};
use courier_runtime::{Incoming, Listener, Transport, TransportConfig, TransportUrl};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::json;

/// The only broker the tests talk to.
pub const BROKER: &str = "guest:guest@127.0.0.1:5672";

/// How long a test waits for something that should happen (bounds failures only).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `prefix-<uuid hex>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Fails the test if `future` does not finish in time.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

pub fn url(query: &str) -> TransportUrl {
    format!("rabbit://{BROKER}/?{query}").parse().unwrap()
}

/// A transport with its own control exchange, so tests never share topology.
pub async fn transport_with(query: &str) -> (Arc<dyn Transport>, String) {
    let exchange = unique("courier-test");
    let config = TransportConfig::default().with_control_exchange(exchange.clone());
    let transport = courier_amqp::connect(url(query), config).await.expect("connect to the test broker");
    (transport, exchange)
}

pub async fn transport() -> (Arc<dyn Transport>, String) {
    transport_with("").await
}

/// A second transport on the same control exchange (another process, as far as the broker
/// knows).
pub async fn peer(exchange: &str) -> Arc<dyn Transport> {
    let config = TransportConfig::default().with_control_exchange(exchange);
    courier_amqp::connect(url(""), config).await.expect("connect to the test broker")
}

pub fn args(value: serde_json::Value) -> Message {
    value.as_object().expect("an object").clone()
}

pub fn request(method: &str, value: serde_json::Value) -> Request {
    Request::new(method, args(value))
}

pub fn call_request(method: &str, value: serde_json::Value) -> Request {
    let mut request = request(method, value);
    request.msg_id = Some(wire::new_id());
    request
}

pub fn notification(event_type: &str, payload: serde_json::Value) -> Notification {
    Notification::from_message(args(json!({
        "message_id": uuid::Uuid::new_v4().to_string(),
        "publisher_id": "compute.host1",
        "event_type": event_type,
        "priority": "INFO",
        "payload": payload,
        "timestamp": "2026-11-23 07:02:47.787110",
    })))
    .unwrap()
}

/// The next message of a listener, decoded as a request.
pub async fn next_request(listener: &mut Box<dyn Listener>) -> (Request, Incoming) {
    let incoming = within("a request", listener.next()).await.expect("the listener ended");
    let message = incoming.message.as_ref().expect("a decodable message").clone();
    (Request::from_message(message).expect("a request"), incoming)
}

/// A raw connection to the broker, to publish odd things and look at queues.
pub struct Raw {
    pub connection: Connection,
    pub channel: Channel,
}

impl Raw {
    pub async fn connect() -> Self {
        let connection =
            Connection::connect(&format!("amqp://{BROKER}/%2f"), ConnectionProperties::default())
                .await
                .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel.confirm_select(lapin::options::ConfirmSelectOptions::default()).await.unwrap();
        Self { connection, channel }
    }

    /// Ready messages of a queue, through a passive declare.
    pub async fn depth(&self, queue: &str) -> u32 {
        let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        self.channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await
            .unwrap()
            .message_count()
    }

    /// Whether a queue exists (a failed passive declare closes the channel, so use a fresh one).
    pub async fn queue_exists(&self, queue: &str) -> bool {
        let channel = self.connection.create_channel().await.unwrap();
        let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let exists = channel.queue_declare(queue.into(), options, FieldTable::default()).await.is_ok();
        let _ = channel.close(200, "ok".into()).await;
        exists
    }

    /// Publishes a body as an oslo peer would (JSON properties) and waits until it is routed.
    pub async fn publish(&self, exchange: &str, routing_key: &str, body: &[u8]) {
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(2);
        self.channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
}
