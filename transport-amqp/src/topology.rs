//! oslo.messaging's RabbitMQ topology: exchange and queue names, flags and arguments, exactly as
//! oslo declares them (reference section 2.2), so a Python peer declaring the same names never
//! gets `406 PRECONDITION_FAILED`.

use std::sync::Arc;

use lapin::Channel;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};

use courier_runtime::notify::Priority;

use courier_runtime::error::TransportError;

use crate::options::RabbitOptions;
use crate::qmanager::QueueManager;

/// An exchange type oslo uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExchangeType {
    /// Topic exchange (`E`, the control exchange).
    Topic,
    /// Fanout exchange (`<topic>_fanout`).
    Fanout,
}

/// An exchange declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExchangeSpec {
    pub(crate) name: String,
    pub(crate) kind: ExchangeType,
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
}

/// A queue argument value, typed as py-amqp encodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ArgValue {
    /// Python `int` within 32 bits: AMQP `I` (signed 32-bit).
    Int(i32),
    /// Python `str`: AMQP `S` (long string).
    Str(&'static str),
    /// A Python `str` made at runtime (a stream's `x-max-age`).
    Text(String),
}

/// A queue declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueSpec {
    pub(crate) name: String,
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
    pub(crate) arguments: Vec<(&'static str, ArgValue)>,
}

/// A queue to consume from, with the exchange and keys it is bound with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) queue: QueueSpec,
    pub(crate) exchange: ExchangeSpec,
    pub(crate) routing_keys: Vec<String>,
    /// Deleted when the listener goes away (oslo deletes fanout queues on close).
    pub(crate) delete_on_close: bool,
    /// For a stream queue (`rabbit_stream_fanout`): where its consumer starts.
    pub(crate) stream_offset: Option<StreamOffset>,
}

/// Where a stream consumer starts (its `x-stream-offset` argument), as oslo tracks it: at the
/// last chunk at first and after the broker cancelled the consumer, else just after the last
/// message received, so a reconnect neither repeats nor skips messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamOffset {
    /// `"last"`.
    Last,
    /// The offset after the last message received.
    Next(i64),
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// oslo's `_get_queue_arguments` (without the HA and stream variants, which courier refuses).
fn queue_arguments(options: &RabbitOptions, quorum: bool, ttl_secs: u32) -> Vec<(&'static str, ArgValue)> {
    let mut args = Vec::new();
    if quorum {
        args.push(("x-queue-type", ArgValue::Str("quorum")));
        if options.rabbit_quorum_delivery_limit > 0 {
            args.push(("x-delivery-limit", ArgValue::Int(to_i32(options.rabbit_quorum_delivery_limit))));
        }
        if options.rabbit_quorum_max_memory_length > 0 {
            args.push((
                "x-max-in-memory-length",
                ArgValue::Int(to_i32(options.rabbit_quorum_max_memory_length)),
            ));
        }
        if options.rabbit_quorum_max_memory_bytes > 0 {
            args.push((
                "x-max-in-memory-bytes",
                ArgValue::Int(to_i32(options.rabbit_quorum_max_memory_bytes)),
            ));
        }
    }
    if ttl_secs > 0 {
        args.push(("x-expires", ArgValue::Int(to_i32(ttl_secs.saturating_mul(1000)))));
    }
    args
}

/// Names and declarations derived from the transport's options.
#[derive(Clone, Debug)]
pub(crate) struct Topology {
    options: RabbitOptions,
    /// `use_queue_manager`: stable names for reply and fanout queues.
    queue_manager: Option<Arc<QueueManager>>,
}

impl Topology {
    pub(crate) fn new(options: RabbitOptions) -> Self {
        let queue_manager = options.use_queue_manager.then(|| Arc::new(QueueManager::new(&options)));
        Self { options, queue_manager }
    }

    /// The unique part of a reply or fanout queue's name: the queue manager's next
    /// `<hostname>:<processname>:<n>`, or a uuid4 in hex.
    fn unique(&self) -> Result<String, TransportError> {
        match &self.queue_manager {
            Some(manager) => manager.next(),
            None => Ok(courier_runtime::wire::new_id()),
        }
    }

    /// The topic exchange `E` (RPC and notifications).
    pub(crate) fn topic_exchange(&self, name: &str) -> ExchangeSpec {
        ExchangeSpec {
            name: name.to_owned(),
            kind: ExchangeType::Topic,
            durable: self.options.durable(),
            auto_delete: self.options.amqp_auto_delete,
        }
    }

    /// The fanout exchange `<topic>_fanout`.
    pub(crate) fn fanout_exchange(&self, topic: &str) -> ExchangeSpec {
        ExchangeSpec {
            name: format!("{topic}_fanout"),
            kind: ExchangeType::Fanout,
            durable: self.options.rabbit_transient_quorum_queue,
            auto_delete: true,
        }
    }

    /// A shared queue on `E`: `<topic>`, `<topic>.<server>`, `<topic>.<priority>` or a pool.
    pub(crate) fn shared_queue(&self, name: &str) -> QueueSpec {
        QueueSpec {
            name: name.to_owned(),
            durable: self.options.durable(),
            auto_delete: self.options.amqp_auto_delete,
            arguments: queue_arguments(&self.options, self.options.rabbit_quorum_queue, 0),
        }
    }

    /// A transient queue (reply or fanout): quorum when `rabbit_transient_quorum_queue`,
    /// expiring after `rabbit_transient_queues_ttl`.
    fn transient_queue(&self, name: String) -> QueueSpec {
        let quorum = self.options.rabbit_transient_quorum_queue;
        QueueSpec {
            name,
            durable: quorum,
            auto_delete: false,
            arguments: queue_arguments(&self.options, quorum, self.options.rabbit_transient_queues_ttl),
        }
    }

    /// This server's fanout queue `<topic>_fanout_<uuid4 hex>` (or the queue manager's name),
    /// or with `rabbit_stream_fanout` the topic's one stream `<topic>_fanout`: durable,
    /// `x-queue-type: stream` and `x-max-age` from `rabbit_transient_queues_ttl` (oslo sets no
    /// other argument on it).
    pub(crate) fn fanout_queue(&self, topic: &str) -> Result<QueueSpec, TransportError> {
        if self.options.rabbit_stream_fanout {
            let mut arguments = vec![("x-queue-type", ArgValue::Str("stream"))];
            if self.options.rabbit_transient_queues_ttl > 0 {
                let max_age = format!("{}s", self.options.rabbit_transient_queues_ttl);
                arguments.push(("x-max-age", ArgValue::Text(max_age)));
            }
            return Ok(QueueSpec {
                name: format!("{topic}_fanout"),
                durable: true,
                auto_delete: false,
                arguments,
            });
        }
        Ok(self.transient_queue(format!("{topic}_fanout_{}", self.unique()?)))
    }

    /// The transport's reply queue `reply_<uuid4 hex>` (or the queue manager's name).
    pub(crate) fn reply_queue(&self) -> Result<QueueSpec, TransportError> {
        Ok(self.transient_queue(format!("reply_{}", self.unique()?)))
    }

    /// A private notification tap queue, deleted when its consumer goes away.
    pub(crate) fn tap_queue(&self, topic: &str) -> QueueSpec {
        let ttl = match self.options.rabbit_transient_queues_ttl {
            0 => 1800,
            ttl => ttl,
        };
        QueueSpec {
            name: format!("{topic}_tap_{}", courier_runtime::wire::new_id()),
            durable: false,
            auto_delete: true,
            arguments: queue_arguments(&self.options, false, ttl),
        }
    }

    /// The three subscriptions of an RPC server: `<topic>`, `<topic>.<server>` on `E` and a
    /// fanout queue on `<topic>_fanout`, which is deleted on close unless it is the topic's
    /// stream or a queue manager's (stable) queue, as in oslo.
    pub(crate) fn rpc_server(
        &self,
        exchange: &str,
        topic: &str,
        server: &str,
    ) -> Result<Vec<Subscription>, TransportError> {
        let server_key = format!("{topic}.{server}");
        let stream = self.options.rabbit_stream_fanout;
        Ok(vec![
            Subscription {
                queue: self.shared_queue(topic),
                exchange: self.topic_exchange(exchange),
                routing_keys: vec![topic.to_owned()],
                delete_on_close: false,
                stream_offset: None,
            },
            Subscription {
                queue: self.shared_queue(&server_key),
                exchange: self.topic_exchange(exchange),
                routing_keys: vec![server_key.clone()],
                delete_on_close: false,
                stream_offset: None,
            },
            Subscription {
                queue: self.fanout_queue(topic)?,
                exchange: self.fanout_exchange(topic),
                routing_keys: vec![topic.to_owned()],
                delete_on_close: !stream && self.queue_manager.is_none(),
                stream_offset: stream.then_some(StreamOffset::Last),
            },
        ])
    }

    /// Consumer arguments: `x-cancel-on-ha-failover` when enabled, or for a stream (a
    /// subscription's `stream_offset`) only its `x-stream-offset` (oslo replaces them so).
    pub(crate) fn consumer_arguments(&self, stream_offset: Option<StreamOffset>) -> FieldTable {
        let mut table = FieldTable::default();
        match stream_offset {
            Some(StreamOffset::Last) => {
                table.insert("x-stream-offset".into(), AMQPValue::LongString("last".into()));
            }
            Some(StreamOffset::Next(offset)) => {
                table.insert("x-stream-offset".into(), AMQPValue::LongLongInt(offset));
            }
            None if self.options.enable_cancel_on_failover => {
                table.insert("x-cancel-on-ha-failover".into(), AMQPValue::Boolean(true));
            }
            None => {}
        }
        table
    }
}

impl Subscription {
    /// oslo's fallback after `inequivalent arg 'durable'` (`Consumer._declare_fallback_nondurable`):
    /// the same exchange, queue, arguments and bindings, all non-durable.
    pub(crate) fn non_durable(&self) -> Self {
        let mut fallback = self.clone();
        fallback.exchange.durable = false;
        fallback.queue.durable = false;
        fallback
    }
}

/// Whether the broker refused a declaration with `406 PRECONDITION_FAILED - inequivalent arg
/// 'durable'` (an exchange or queue that exists with the other durability), the one refusal
/// oslo answers by declaring again non-durable (which only helps a durable declaration; oslo
/// tries either way, courier only then). The broker has closed the channel then.
pub(crate) fn is_durable_mismatch(error: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    match error.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => {
            *amqp.kind() == AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
                && amqp.get_message().as_str().contains("inequivalent arg 'durable'")
        }
        _ => false,
    }
}

/// The notification routing key (and default queue name) `<topic>.<priority lowercase>`.
pub(crate) fn notification_key(topic: &str, priority: Priority) -> String {
    format!("{topic}.{}", priority.as_str())
}

fn field_table(arguments: &[(&'static str, ArgValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in arguments {
        let value = match value {
            ArgValue::Int(n) => AMQPValue::LongInt(*n),
            ArgValue::Str(s) => AMQPValue::LongString((*s).into()),
            ArgValue::Text(s) => AMQPValue::LongString(s.as_str().into()),
        };
        table.insert((*key).into(), value);
    }
    table
}

/// Declares an exchange (never the default exchange `""`).
pub(crate) async fn declare_exchange(channel: &Channel, spec: &ExchangeSpec) -> lapin::Result<()> {
    let kind = match spec.kind {
        ExchangeType::Topic => lapin::ExchangeKind::Topic,
        ExchangeType::Fanout => lapin::ExchangeKind::Fanout,
    };
    let options =
        ExchangeDeclareOptions { durable: spec.durable, auto_delete: spec.auto_delete, ..Default::default() };
    channel.exchange_declare(spec.name.as_str().into(), kind, options, FieldTable::default()).await
}

/// Declares a queue; returns its message count.
pub(crate) async fn declare_queue(channel: &Channel, spec: &QueueSpec) -> lapin::Result<u32> {
    let options =
        QueueDeclareOptions { durable: spec.durable, auto_delete: spec.auto_delete, ..Default::default() };
    let queue =
        channel.queue_declare(spec.name.as_str().into(), options, field_table(&spec.arguments)).await?;
    Ok(queue.message_count())
}

/// Declares a subscription's exchange and queue and binds them.
pub(crate) async fn declare_subscription(
    channel: &Channel,
    subscription: &Subscription,
) -> lapin::Result<()> {
    declare_exchange(channel, &subscription.exchange).await?;
    declare_queue(channel, &subscription.queue).await?;
    for key in &subscription.routing_keys {
        channel
            .queue_bind(
                subscription.queue.name.as_str().into(),
                subscription.exchange.name.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(query: &str) -> Topology {
        let url: courier_runtime::url::TransportUrl = format!("rabbit://h/?{query}").parse().unwrap();
        Topology::new(RabbitOptions::from_url(&url).unwrap())
    }

    fn is_hex32(s: &str) -> bool {
        s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }

    #[test]
    fn default_topology_matches_the_captured_oslo_vhost() {
        let t = topology("");
        let exchange = t.topic_exchange("openstack");
        assert_eq!(
            (exchange.kind, exchange.durable, exchange.auto_delete),
            (ExchangeType::Topic, false, false)
        );
        let fanout = t.fanout_exchange("demo");
        assert_eq!(fanout.name, "demo_fanout");
        assert_eq!((fanout.kind, fanout.durable, fanout.auto_delete), (ExchangeType::Fanout, false, true));

        let subs = t.rpc_server("openstack", "demo", "srv1").unwrap();
        assert_eq!(
            subs[0].queue,
            QueueSpec { name: "demo".into(), durable: false, auto_delete: false, arguments: vec![] }
        );
        assert_eq!(subs[0].routing_keys, ["demo"]);
        assert_eq!(subs[1].queue.name, "demo.srv1");
        assert_eq!(subs[1].routing_keys, ["demo.srv1"]);
        assert!(subs[1].queue.arguments.is_empty());
        let fanout_queue = &subs[2].queue;
        assert!(is_hex32(fanout_queue.name.strip_prefix("demo_fanout_").unwrap()), "{}", fanout_queue.name);
        assert_eq!((fanout_queue.durable, fanout_queue.auto_delete), (false, false));
        assert_eq!(fanout_queue.arguments, [("x-expires", ArgValue::Int(1_800_000))]);
        assert_eq!(subs[2].exchange.name, "demo_fanout");
        assert!(subs[2].delete_on_close && !subs[0].delete_on_close);

        let reply = t.reply_queue().unwrap();
        assert!(is_hex32(reply.name.strip_prefix("reply_").unwrap()));
        assert_eq!((reply.durable, reply.auto_delete), (false, false));
        assert_eq!(reply.arguments, [("x-expires", ArgValue::Int(1_800_000))]);

        let notifications = t.shared_queue(&notification_key("notifications", Priority::Info));
        assert_eq!(notifications.name, "notifications.info");
        assert!(notifications.arguments.is_empty() && !notifications.durable);
    }

    #[test]
    fn durable_and_auto_delete_options() {
        let t = topology("amqp_durable_queues=true&amqp_auto_delete=true");
        let exchange = t.topic_exchange("openstack");
        assert!(exchange.durable && exchange.auto_delete);
        let queue = t.shared_queue("demo");
        assert!(queue.durable && queue.auto_delete);
        // Transient queues are not affected.
        let fanout = t.fanout_queue("demo").unwrap();
        assert!(!fanout.durable && !fanout.auto_delete);
        assert!(!t.fanout_exchange("demo").durable);
    }

    #[test]
    fn quorum_options() {
        let t = topology(
            "rabbit_quorum_queue=true&rabbit_quorum_delivery_limit=5&rabbit_quorum_max_memory_length=10\
             &rabbit_quorum_max_memory_bytes=4096",
        );
        assert!(t.topic_exchange("openstack").durable);
        let queue = t.shared_queue("demo");
        assert!(queue.durable);
        assert_eq!(
            queue.arguments,
            [
                ("x-queue-type", ArgValue::Str("quorum")),
                ("x-delivery-limit", ArgValue::Int(5)),
                ("x-max-in-memory-length", ArgValue::Int(10)),
                ("x-max-in-memory-bytes", ArgValue::Int(4096)),
            ]
        );
        assert!(t.reply_queue().unwrap().arguments.iter().all(|(k, _)| *k == "x-expires"));

        let transient = topology("rabbit_transient_quorum_queue=true&rabbit_transient_queues_ttl=60");
        let reply = transient.reply_queue().unwrap();
        assert!(reply.durable);
        assert_eq!(
            reply.arguments,
            [("x-queue-type", ArgValue::Str("quorum")), ("x-expires", ArgValue::Int(60_000))]
        );
        assert!(transient.fanout_exchange("demo").durable);
        assert!(transient.shared_queue("demo").arguments.is_empty());
    }

    #[test]
    fn ttl_zero_means_no_expiry() {
        let t = topology("rabbit_transient_queues_ttl=0");
        assert!(t.fanout_queue("demo").unwrap().arguments.is_empty());
        assert!(t.reply_queue().unwrap().arguments.is_empty());
    }

    #[test]
    fn durable_mismatches_are_told_from_other_refusals() {
        use lapin::protocol::{AMQPError, AMQPErrorKind, AMQPSoftError};
        let refusal = |kind, text: &str| -> lapin::Error {
            lapin::ErrorKind::ProtocolError(AMQPError::new(AMQPErrorKind::Soft(kind), text.into())).into()
        };
        assert!(is_durable_mismatch(&refusal(
            AMQPSoftError::PRECONDITIONFAILED,
            "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'nova' in vhost '/': received \
             'true' but current is 'false'"
        )));
        assert!(!is_durable_mismatch(&refusal(
            AMQPSoftError::PRECONDITIONFAILED,
            "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange 'nova' in vhost '/'"
        )));
        assert!(!is_durable_mismatch(&refusal(AMQPSoftError::NOTFOUND, "inequivalent arg 'durable'")));

        let t = topology("amqp_durable_queues=true&amqp_auto_delete=true");
        let subscription = &t.rpc_server("nova", "compute", "host1").unwrap()[0];
        let fallback = subscription.non_durable();
        assert!(!fallback.exchange.durable && !fallback.queue.durable);
        assert!(fallback.exchange.auto_delete && fallback.queue.auto_delete);
        assert_eq!(
            (&fallback.queue.name, &fallback.routing_keys),
            (&subscription.queue.name, &subscription.routing_keys)
        );
    }

    #[test]
    fn field_tables_use_py_amqp_types() {
        let table =
            field_table(&[("x-expires", ArgValue::Int(5)), ("x-queue-type", ArgValue::Str("quorum"))]);
        let inner = table.inner();
        assert_eq!(inner.get("x-expires"), Some(&AMQPValue::LongInt(5)));
        assert_eq!(inner.get("x-queue-type"), Some(&AMQPValue::LongString("quorum".into())));
        let t = topology("enable_cancel_on_failover=true");
        let subscription = &t.rpc_server("e", "t", "s").unwrap()[0];
        let consumer = t.consumer_arguments(subscription.stream_offset);
        assert_eq!(consumer.inner().get("x-cancel-on-ha-failover"), Some(&AMQPValue::Boolean(true)));
        assert!(topology("").consumer_arguments(subscription.stream_offset).inner().is_empty());
    }

    #[test]
    fn stream_fanout_is_one_durable_stream_per_topic_consumed_from_an_offset() {
        let t = topology(
            "rabbit_stream_fanout=true&rabbit_qos_prefetch_count=10&rabbit_transient_quorum_queue=true\
             &enable_cancel_on_failover=true",
        );
        let subs = t.rpc_server("openstack", "demo", "srv1").unwrap();
        let fanout = &subs[2];
        assert_eq!(
            fanout.queue,
            QueueSpec {
                name: "demo_fanout".into(),
                durable: true,
                auto_delete: false,
                arguments: vec![
                    ("x-queue-type", ArgValue::Str("stream")),
                    ("x-max-age", ArgValue::Text("1800s".into()))
                ],
            }
        );
        assert!(fanout.exchange.durable && fanout.exchange.auto_delete, "{:?}", fanout.exchange);
        assert!(!fanout.delete_on_close, "the stream is shared by every server");
        assert_eq!(fanout.stream_offset, Some(StreamOffset::Last));
        let args = t.consumer_arguments(fanout.stream_offset);
        assert_eq!(args.inner().get("x-stream-offset"), Some(&AMQPValue::LongString("last".into())));
        assert!(args.inner().get("x-cancel-on-ha-failover").is_none(), "oslo replaces the arguments");
        let resumed = t.consumer_arguments(Some(StreamOffset::Next(42)));
        assert_eq!(resumed.inner().get("x-stream-offset"), Some(&AMQPValue::LongLongInt(42)));
        // The other queues are as without streams; the reply queue is a quorum queue.
        assert_eq!(subs[0].stream_offset, None);
        assert_eq!(t.reply_queue().unwrap().arguments[0], ("x-queue-type", ArgValue::Str("quorum")));

        let no_ttl = topology(
            "rabbit_stream_fanout=true&rabbit_qos_prefetch_count=1&rabbit_transient_quorum_queue=true\
             &rabbit_transient_queues_ttl=0",
        );
        assert_eq!(
            no_ttl.fanout_queue("demo").unwrap().arguments,
            [("x-queue-type", ArgValue::Str("stream"))]
        );
    }

    #[test]
    fn queue_manager_fanout_queues_are_kept_on_close() {
        let host = format!("courier-unit-{}", courier_runtime::wire::new_id());
        let t = topology(&format!("use_queue_manager=true&hostname={host}&processname=unit"));
        let subs = t.rpc_server("openstack", "demo", "srv1").unwrap();
        assert!(
            subs[2].queue.name.starts_with(&format!("demo_fanout_{host}:unit:")),
            "{}",
            subs[2].queue.name
        );
        assert!(!subs[2].delete_on_close);
        assert!(t.reply_queue().unwrap().name.starts_with(&format!("reply_{host}:unit:")));
        let _ = std::fs::remove_file(format!("/dev/shm/{host}_unit_qmanager"));
    }
}
