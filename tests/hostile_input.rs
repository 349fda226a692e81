//! Hostile input on the shared broker: more than 10 000 messages no courier peer would send,
//! published straight onto an RPC server's and a notification listener's queues (every kind of
//! bad body the reliability issue lists, odd AMQP headers, 16 MiB bodies), interleaved with
//! valid calls and notifications. Nothing panics, every valid call is answered, every hostile
//! request that names a real reply queue gets an error reply, the queues end empty with nothing
//! unacknowledged, and the process's memory stays bounded (its RSS before and after is printed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use courier::amqp::DEFAULT_MAX_MESSAGE_SIZE;
use courier::wire::{self, Reply};
use courier::{Context, Metadata, NotificationListener, Notifier, RpcClient, RpcServer, Target};
use courier::{notification_endpoint, rpc_endpoint};
use courier_test_support::broker::{self, Raw};
use courier_test_support::{PATIENCE, unique, within};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable};
use lapin::{BasicProperties, Channel};
use serde_json::{Value, json};

/// Hostile messages: half to the server's topic queue, half to the listener's queue.
const HOSTILE: usize = 10_400;
/// A valid call and a valid notification after every this many hostile messages.
const VALID_EVERY: usize = 104;
/// Bodies over the listener's size limit (each kind twice, to the server and the listener).
const HUGE: usize = 2;
/// Nesting far beyond the decoder's depth limit.
const DEEP: usize = 100_000;
/// How much the process may grow over the run (it holds nothing after it).
const RSS_BOUND_KIB: u64 = 256 * 1024;

struct Echo;

#[rpc_endpoint]
impl Echo {
    fn echo(&self, value: u32) -> u32 {
        value
    }

    async fn aecho(&self, value: u32) -> u32 {
        value
    }

    fn _secret(&self) -> &'static str {
        "never callable"
    }
}

struct Counter(Arc<AtomicUsize>);

#[notification_endpoint]
impl Counter {
    fn info(&self, _publisher_id: String, event_type: String, _payload: Value, _metadata: Metadata) {
        assert_eq!(event_type, "valid.event", "only valid notifications reach the endpoint");
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a hostile message should cause.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// An error reply on our reply queue.
    ErrorReply,
    /// No reply at all.
    Nothing,
}

fn envelope(inner: &str) -> Vec<u8> {
    json!({"oslo.version": "2.0", "oslo.message": inner}).to_string().into_bytes()
}

fn call_to(method: &str, args: Value, reply_q: &str) -> Vec<u8> {
    let inner = json!({"method": method, "args": args, "_msg_id": wire::new_id(), "_reply_q": reply_q});
    envelope(&inner.to_string())
}

fn deep(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The `i`th hostile body (cycling through every kind) and what it should cause on the server.
fn hostile(i: usize, reply_q: &str, missing_q: &str) -> (Vec<u8>, Expect) {
    use Expect::{ErrorReply, Nothing};
    match i % 24 {
        0 => (b"not json at all \x00\x01".to_vec(), Nothing),
        1 => (b"[1, 2, 3]".to_vec(), Nothing),
        2 => (b"\"a string\"".to_vec(), Nothing),
        3 => (b"null".to_vec(), Nothing),
        4 => (br#"{"oslo.version": "2.0", "oslo.message": {"method": "echo"}}"#.to_vec(), Nothing),
        5 => (envelope("{not json"), Nothing),
        6 => (envelope("[1]"), Nothing),
        7 => (json!({"oslo.version": "3.0", "oslo.message": "{}"}).to_string().into_bytes(), Nothing),
        8 => (json!({"oslo.version": 2, "oslo.message": "{}"}).to_string().into_bytes(), Nothing),
        // Missing or ill-typed method / args, with a reply queue: a malformed-request reply.
        9 => (envelope(&json!({"args": {}, "_msg_id": "m", "_reply_q": reply_q}).to_string()), ErrorReply),
        10 => (envelope(&json!({"method": 42, "_msg_id": "m", "_reply_q": reply_q}).to_string()), ErrorReply),
        11 => (call_to("echo", json!([1, 2]), reply_q), ErrorReply),
        // Wrong argument types, missing and extra arguments.
        12 => (call_to("echo", json!({"value": "seven"}), reply_q), ErrorReply),
        13 => (call_to("aecho", json!({}), reply_q), ErrorReply),
        14 => (call_to("echo", json!({"value": 1, "extra": true}), reply_q), ErrorReply),
        // Beyond u64 (a float to serde_json), and beyond u32.
        15 => (
            envelope(&format!(
                r#"{{"method": "echo", "args": {{"value": 184467440737095516160}}, "_msg_id": "m", "_reply_q": "{reply_q}"}}"#
            )),
            ErrorReply,
        ),
        16 => (call_to("echo", json!({"value": u64::MAX}), reply_q), ErrorReply),
        // oslo's access policy: `_` methods are never callable; unknown methods neither.
        17 => (call_to("_secret", json!({}), reply_q), ErrorReply),
        18 => (call_to("no_such_method", json!({}), reply_q), ErrorReply),
        // NaN is not JSON; invalid UTF-8 neither.
        19 => (br#"{"method": "echo", "args": {"value": NaN}}"#.to_vec(), Nothing),
        20 => (b"{\"method\": \"echo\xff\xfe\", \"args\": {}}".to_vec(), Nothing),
        // A reply queue that does not exist; a msg id without a reply queue.
        21 => (call_to("echo", json!({"value": 1}), missing_q), Nothing),
        22 => {
            (envelope(&json!({"method": "echo", "args": {"value": 1}, "_msg_id": "m"}).to_string()), Nothing)
        }
        // Deeper than the decoder goes, inside the envelope and bare (one in twelve of these).
        _ if i.is_multiple_of(12) => (envelope(&deep(DEEP)), Nothing),
        _ => (deep(DEEP).into_bytes(), Nothing),
    }
}

/// AMQP properties no oslo peer sends: odd content types and header values of every type.
/// (Extreme decimals and timestamps are left out: they crash RabbitMQ 3.10's own connection
/// process, `INTERNAL_ERROR`, before any consumer sees them.)
fn odd_properties(i: usize) -> BasicProperties {
    let mut headers = FieldTable::default();
    let mut nested = FieldTable::default();
    nested.insert("deeper".into(), AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::Void])));
    headers.insert("x-table".into(), AMQPValue::FieldTable(nested));
    headers.insert("x-i64".into(), AMQPValue::LongLongInt(i64::MIN));
    headers.insert("x-double".into(), AMQPValue::Double(-0.0));
    headers.insert("x-bool".into(), AMQPValue::Boolean(true));
    headers.insert("x-u8".into(), AMQPValue::ShortShortUInt(255));
    headers.insert("x-bytes".into(), AMQPValue::ByteArray(ByteArray::from(vec![0xff, 0x00, 0xfe])));
    headers.insert("x-decimal".into(), AMQPValue::DecimalValue(DecimalValue { scale: 2, value: 12_345 }));
    headers.insert("x-timestamp".into(), AMQPValue::Timestamp(0));
    headers.insert("x-void".into(), AMQPValue::Void);
    let content_type =
        if i.is_multiple_of(2) { "application/x-bogus" } else { "text/plain; charset=latin-1" };
    BasicProperties::default()
        .with_headers(headers)
        .with_content_type(content_type.into())
        .with_content_encoding("gzip".into())
        .with_priority(255)
        .with_correlation_id("\u{0}\u{7f}".into())
        .with_message_id(wire::new_id().into())
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// Publishes and returns the broker's confirmation (to await later, so publishes pipeline).
async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> lapin::PublisherConfirm {
    channel
        .basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions::default(), body, properties)
        .await
        .unwrap_or_else(|e| {
            panic!("publish to {exchange} {routing_key} ({} bytes): {e:?} {:?}", body.len(), channel.status())
        })
}

/// Counts the failure replies arriving on `queue`; any success is a bug.
fn count_error_replies(channel: Channel, queue: String) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "hostile".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume the reply queue");
        while let Some(Ok(delivery)) = consumer.next().await {
            let reply = Reply::from_message(wire::decode_body(&delivery.data).expect("a reply decodes"))
                .expect("a reply reads");
            assert!(reply.failure.is_some(), "a hostile request was answered with a result: {reply:?}");
            delivery.acker.ack(BasicAckOptions::default()).await.expect("ack a reply");
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    count
}

/// Ready plus unacknowledged messages of a queue, once no consumer holds any: with no consumer
/// left, whatever was unacknowledged has gone back to ready.
async fn left_in(raw: &Raw, queue: &str) -> u32 {
    let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    within(&format!("the consumers of {queue} to go"), async {
        loop {
            let state =
                raw.channel.queue_declare(queue.into(), options, FieldTable::default()).await.unwrap();
            if state.consumer_count() == 0 {
                return state.message_count();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_never_stop_a_server_or_a_listener() {
    if !broker::available("hostile_messages_never_stop_a_server_or_a_listener") {
        return;
    }
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&panics);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    // Replies to missing queues give up after 2 s instead of oslo's 60.
    let (transport, exchange) = broker::transport_with("kombu_missing_consumer_retry_timeout=2").await;
    let topic = unique("hostile");
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Echo)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let notifications = Arc::new(AtomicUsize::new(0));
    let notification_topic = unique("hostile-notifications");
    let listener = NotificationListener::builder(transport.clone())
        .target(Target::new(&notification_topic))
        .endpoint(Counter(Arc::clone(&notifications)))
        .build()
        .unwrap();
    listener.start().await.unwrap();
    let client = RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE);
    let notifier = Notifier::new(transport.clone(), "hostile.test").with_topics([notification_topic.clone()]);

    let raw = Raw::connect().await;
    let reply_q = unique("hostile-replies");
    let missing_q = unique("hostile-missing");
    let reply_channel = raw.connection.create_channel().await.unwrap();
    reply_channel
        .queue_declare(reply_q.as_str().into(), QueueDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let error_replies = count_error_replies(reply_channel, reply_q.clone());
    let rss_before = rss_kib();

    let notification_key = format!("{notification_topic}.info");
    let (mut expected_errors, mut valid_calls, mut confirms) = (0, Vec::new(), Vec::new());
    for i in 0..HOSTILE {
        let (body, expect) = hostile(i / 2, &reply_q, &missing_q);
        let to_server = i.is_multiple_of(2);
        let key = if to_server { topic.as_str() } else { notification_key.as_str() };
        let properties = if i.is_multiple_of(7) { odd_properties(i) } else { BasicProperties::default() };
        confirms.push(publish(&raw.channel, &exchange, key, &body, properties).await);
        if to_server && expect == Expect::ErrorReply {
            expected_errors += 1;
        }
        if i.is_multiple_of(VALID_EVERY) {
            let (client, value) = (client.clone(), u32::try_from(i).unwrap());
            let method = if i.is_multiple_of(2) { "echo" } else { "aecho" };
            valid_calls.push(tokio::spawn(async move {
                let answer: u32 = client.call_as(&Context::new(), method, &json!({"value": value})).await?;
                assert_eq!(answer, value);
                Ok::<_, courier::Error>(())
            }));
            notifier.info(&Context::new(), "valid.event", json!({"i": i})).await.unwrap();
        }
        if confirms.len() == 256 {
            for confirm in confirms.drain(..) {
                confirm.await.expect("the broker confirms");
            }
        }
    }
    // Over the size limit: never decoded, rejected like any undecodable body.
    let huge = vec![b'['; DEFAULT_MAX_MESSAGE_SIZE + 1];
    for key in [topic.as_str(), notification_key.as_str()] {
        for _ in 0..HUGE {
            confirms.push(publish(&raw.channel, &exchange, key, &huge, BasicProperties::default()).await);
        }
    }
    drop(huge);
    for confirm in confirms {
        confirm.await.expect("the broker confirms");
    }
    let sent = HOSTILE + 2 * HUGE;
    // Last, a valid call and notification: once they are handled, the server and the listener
    // have settled everything before them (undecodable and unroutable messages are settled in
    // order, before the next one is taken).
    let last: u32 = within("the last call", client.call_as(&Context::new(), "echo", &json!({"value": 7})))
        .await
        .expect("the last call is answered");
    assert_eq!(last, 7);
    notifier.info(&Context::new(), "valid.event", json!({"last": true})).await.unwrap();
    valid_calls.push(tokio::spawn(async { Ok(()) }));

    let calls = valid_calls.len();
    for call in valid_calls {
        within("a valid call among hostile ones", call).await.unwrap().expect("every valid call is answered");
    }
    within("every valid notification", async {
        while notifications.load(Ordering::SeqCst) < calls {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within("an error reply to every hostile request with a reply queue", async {
        while error_replies.load(Ordering::SeqCst) < expected_errors {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    server.wait().await;
    listener.wait().await;
    transport.cleanup().await;
    for queue in [topic.clone(), format!("{topic}.s1"), notification_key.clone()] {
        assert_eq!(left_in(&raw, &queue).await, 0, "messages left in {queue}");
    }
    let rss_after = rss_kib();
    eprintln!(
        "hostile input: {sent} hostile messages, {calls} valid calls and notifications, \
         {expected_errors} error replies, panics {}, RSS {rss_before} KiB before, {rss_after} KiB after",
        panics.load(Ordering::SeqCst)
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "nothing panicked");
    assert_eq!(error_replies.load(Ordering::SeqCst), expected_errors, "no reply beyond the expected ones");
    assert_eq!(notifications.load(Ordering::SeqCst), calls, "no hostile message reached the endpoint");
    assert!(
        rss_after.saturating_sub(rss_before) < RSS_BOUND_KIB,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    for queue in [reply_q.as_str(), topic.as_str(), format!("{topic}.s1").as_str(), notification_key.as_str()]
    {
        let _ = raw.channel.queue_delete(queue.into(), Default::default()).await;
    }
    raw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_size_limit_are_not_decoded() {
    if !broker::available("bodies_over_the_size_limit_are_not_decoded") {
        return;
    }
    let (transport, exchange) = broker::transport_with("courier_max_message_size=64").await;
    let topic = unique("hostile-size");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s1"), &Default::default()).await.unwrap();
    let raw = Raw::connect().await;
    let small = br#"{"method": "echo", "args": {}}"#;
    let large = format!(r#"{{"method": "echo", "args": {{"pad": "{}"}}}}"#, "x".repeat(64));
    raw.publish(&exchange, &topic, small).await;
    raw.publish(&exchange, &topic, large.as_bytes()).await;
    let first = within("the small message", listener.next()).await.unwrap();
    assert_eq!(first.message.as_ref().unwrap()["method"], "echo");
    first.delivery.ack().await.unwrap();
    let second = within("the large message", listener.next()).await.unwrap();
    match &second.message {
        Err(wire::WireError::TooLarge { size, limit: 64 }) => assert_eq!(*size, large.len()),
        other => panic!("a body over the limit was decoded: {other:?}"),
    }
    second.delivery.reject().await.unwrap();
    listener.close().await;
    transport.cleanup().await;
    for queue in [topic.clone(), format!("{topic}.s1")] {
        let _ = raw.channel.queue_delete(queue.as_str().into(), Default::default()).await;
    }
    raw.close().await;
}
