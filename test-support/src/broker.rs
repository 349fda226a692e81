//! The shared test broker: the RabbitMQ on 127.0.0.1:5672 (guest/guest) that
//! `scripts/test-env.sh` provides, which every test shares through [`unique`]
//! names. Tests never stop or reconfigure it; a test that must break a broker starts a
//! [`PrivateBroker`](crate::node::PrivateBroker).

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use courier::{
    Transport,
    transport::{TransportConfig, TransportUrl},
};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::unique;

/// The shared broker's address.
pub const ADDRESS: &str = "127.0.0.1:5672";
/// The shared broker's credentials and address, as URLs spell them.
pub const AUTHORITY: &str = "guest:guest@127.0.0.1:5672";
/// The shared broker as courier names it.
pub const URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";
/// The shared broker as lapin names it (the default vhost).
pub const AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The shared broker's TLS listener (its CA is [`tls_file("ca.pem")`](crate::paths::tls_file)).
pub const TLS_ADDRESS: &str = "127.0.0.1:5671";

/// Whether the shared broker accepts connections; prints why `test` is skipped when it does
/// not (`scripts/test-env.sh` starts it, and the README's test command runs that script).
pub fn available(test: &str) -> bool {
    let address: SocketAddr = ADDRESS.parse().expect("a socket address");
    match TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
        Ok(_) => true,
        Err(error) => {
            eprintln!(
                "skipping {test}: nothing accepts connections on {ADDRESS} ({error}); run scripts/test-env.sh"
            );
            false
        }
    }
}

/// [`URL`] with a query (`rabbit_retry_interval=1&...`), parsed.
pub fn url_with(query: &str) -> TransportUrl {
    format!("{URL}?{query}").parse().expect("a valid test broker URL")
}

/// A transport to the shared broker on the default control exchange.
pub async fn transport() -> Arc<dyn Transport> {
    courier::connect(URL).await.expect("connect to the test broker over rabbit://")
}

/// A transport to `url` on the control exchange `exchange`, so tests never share topology.
pub async fn transport_on(url: &str, exchange: &str) -> Arc<dyn Transport> {
    let config = TransportConfig::default().with_control_exchange(exchange);
    courier::connect_with(url, config).await.expect("connect to the test transport")
}

/// A transport to the shared broker on a fresh control exchange of its own, and that exchange.
pub async fn transport_with(query: &str) -> (Arc<dyn Transport>, String) {
    let exchange = unique("courier-test");
    let url = if query.is_empty() { URL.to_owned() } else { format!("{URL}?{query}") };
    (transport_on(&url, &exchange).await, exchange)
}

/// A raw lapin connection to a broker, to publish what any publisher could and look at queues.
pub struct Raw {
    /// The connection.
    pub connection: Connection,
    /// A channel in confirm mode.
    pub channel: Channel,
}

impl Raw {
    /// Connects to the shared broker.
    pub async fn connect() -> Self {
        Self::connect_to(AMQP_URI).await
    }

    /// Connects to the broker at the lapin URI `uri`.
    pub async fn connect_to(uri: &str) -> Self {
        let connection =
            Connection::connect(uri, ConnectionProperties::default()).await.expect("connect with lapin");
        let channel = connection.create_channel().await.expect("open a channel");
        channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirm mode");
        Self { connection, channel }
    }

    /// Ready messages of a queue (not taken by any consumer), through a passive declare.
    pub async fn depth(&self, queue: &str) -> u32 {
        let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        self.channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await
            .expect("the queue exists")
            .message_count()
    }

    /// Whether a queue exists (a failed passive declare closes the channel, so use a fresh one).
    pub async fn queue_exists(&self, queue: &str) -> bool {
        let channel = self.connection.create_channel().await.expect("open a channel");
        let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let exists = channel.queue_declare(queue.into(), options, FieldTable::default()).await.is_ok();
        let _ = channel.close(200, "ok".into()).await;
        exists
    }

    /// Declares an exchange as another peer (or an operator) would have, with `options`
    /// (durable, auto-delete), e.g. to set up a declaration courier must live with.
    pub async fn declare_exchange(
        &self,
        name: &str,
        kind: lapin::ExchangeKind,
        options: ExchangeDeclareOptions,
    ) {
        self.channel
            .exchange_declare(name.into(), kind, options, FieldTable::default())
            .await
            .unwrap_or_else(|e| panic!("declare the exchange {name}: {e}"));
    }

    /// Publishes a body as an oslo peer would (JSON properties, persistent) and waits until the
    /// broker confirms it.
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
            .expect("publish")
            .await
            .expect("confirm");
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}
