//! Every priority reaches the endpoint method named after it, sync and async alike, with
//! oslo's message fields; listeners subscribe only to implemented priorities; notifiers publish
//! once per topic, with either driver, and report publish failures.

use std::sync::Arc;

use courier::{
    Context, Metadata, NotificationListener, Priority, Target, notification_endpoint,
    notify::{NotificationEndpoint, NotifierDriver},
    rpc::MethodKind,
};
use courier_test_support::transports::{Seen, TransportEnv, channel, seen};
use courier_test_support::{unique, within};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

/// Implements every priority, alternating sync and async methods.
struct Everything(UnboundedSender<Seen>);

#[notification_endpoint]
impl Everything {
    fn audit(
        &self,
        ctx: &Context,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) {
        let _ = self.0.send(seen("audit", "audit", ctx.clone(), publisher_id, event_type, payload, metadata));
    }
    async fn debug(
        &self,
        ctx: Context,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) {
        let _ = self.0.send(seen("debug", "debug", ctx, publisher_id, event_type, payload, metadata));
    }
    fn info(
        &self,
        ctx: &Context,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) {
        let _ = self.0.send(seen("info", "info", ctx.clone(), publisher_id, event_type, payload, metadata));
    }
    async fn warn(
        &self,
        ctx: &Context,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) {
        let _ = self.0.send(seen("warn", "warn", ctx.clone(), publisher_id, event_type, payload, metadata));
    }
    /// No context parameter: it is optional.
    fn error(&self, publisher_id: String, event_type: String, payload: Value, metadata: Metadata) {
        let _ =
            self.0.send(seen("error", "error", Context::new(), publisher_id, event_type, payload, metadata));
    }
    async fn critical(&self, publisher_id: String, event_type: String, payload: Value, metadata: Metadata) {
        let _ = self.0.send(seen(
            "critical",
            "critical",
            Context::new(),
            publisher_id,
            event_type,
            payload,
            metadata,
        ));
    }
    fn sample(
        &self,
        ctx: Context,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) {
        let _ = self.0.send(seen("sample", "sample", ctx, publisher_id, event_type, payload, metadata));
    }
}

/// A typed payload.
#[derive(serde::Deserialize)]
struct InstanceEvent {
    instance_id: u64,
    state: String,
}

/// Implements `info` only, with a typed payload.
struct InfoOnly(UnboundedSender<Seen>);

#[notification_endpoint]
impl InfoOnly {
    async fn info(
        &self,
        publisher_id: String,
        event_type: String,
        payload: InstanceEvent,
        metadata: Metadata,
    ) {
        let payload = json!({"instance_id": payload.instance_id, "state": payload.state});
        let _ = self.0.send(seen(
            "info-only",
            "info",
            Context::new(),
            publisher_id,
            event_type,
            payload,
            metadata,
        ));
    }
}

fn is_python_utc_timestamp(text: &str) -> bool {
    // "2026-11-23 07:02:47.787110", or without the fraction when the microsecond is zero.
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range.into_iter().all(|i| bytes.get(i).is_some_and(u8::is_ascii_digit))
    };
    let base = bytes.len() >= 19
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b' '
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19);
    base && (bytes.len() == 19 || (bytes.len() == 26 && bytes[19] == b'.' && digits(20..26)))
}

fn is_uuid4_with_dashes(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok_and(|u| u.get_version_num() == 4)
        && text.len() == 36
        && text.matches('-').count() == 4
}

async fn every_priority_reaches_its_method(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("routing");
    let (sender, mut seen) = channel();
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(Everything(sender))
        .build()
        .unwrap();
    assert_eq!(listener.subscriptions().len(), 7);
    listener.start().await.unwrap();

    let notifier = env.notifier("compute.host1", &topic);
    let ctx = Context::new().with_user("alice").with_auth_token("s3cret").with("db_password", "pw");
    for priority in Priority::ALL {
        let event_type = format!("test.{priority}");
        let payload = json!({"priority": priority.as_wire(), "n": 1});
        notifier.notify(&ctx, priority, &event_type, payload).await.unwrap();
    }
    let mut all = seen.take(7, "one notification per priority").await;
    all.sort_by_key(|s| s.priority.parse::<Priority>().unwrap());
    for (priority, got) in Priority::ALL.into_iter().zip(&all) {
        assert_eq!(got.by, priority.as_str(), "{got:?}");
        assert_eq!(got.event_type, format!("test.{priority}"));
        assert_eq!(got.publisher_id, "compute.host1");
        assert_eq!(got.payload, json!({"priority": priority.as_wire(), "n": 1}));
        assert!(is_uuid4_with_dashes(&got.message_id), "{}", got.message_id);
        assert!(is_python_utc_timestamp(&got.timestamp), "{}", got.timestamp);
    }
    // Methods taking the context get the sender's, redacted.
    for got in all.iter().filter(|s| !matches!(s.by, "error" | "critical")) {
        assert_eq!(got.context.user(), Some("alice"), "{got:?}");
        assert_eq!(got.context.get("auth_token"), Some(&Value::Null));
        assert_eq!(got.context.get("db_password"), Some(&Value::Null));
    }
    let ids: std::collections::HashSet<_> = all.iter().map(|s| s.message_id.clone()).collect();
    assert_eq!(ids.len(), 7, "message ids are unique");
    listener.wait().await;
}

async fn only_implemented_priorities_are_consumed(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("routing-info");
    let (sender, mut seen) = channel();
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(InfoOnly(sender))
        .build()
        .unwrap();
    assert_eq!(listener.subscriptions(), [(Target::new(&topic), Priority::Info)]);
    listener.start().await.unwrap();
    let notifier = env.notifier("compute.host2", &topic);
    let ctx = Context::new();
    notifier
        .warn(&ctx, "compute.instance.delete.start", json!({"instance_id": 1, "state": "x"}))
        .await
        .unwrap();
    notifier
        .info(&ctx, "compute.instance.create.end", json!({"instance_id": 12, "state": "active"}))
        .await
        .unwrap();
    let got = seen.next("the info notification").await;
    assert_eq!(
        (got.event_type.as_str(), got.payload.clone()),
        ("compute.instance.create.end", json!({"instance_id": 12, "state": "active"}))
    );
    listener.wait().await;
    // The warn notification waits in its own queue, untouched: nobody subscribed to it.
    assert_eq!(env.ready(&format!("{topic}.warn")).await, 1);
    assert!(seen.drain_now().is_empty());
}

async fn one_publish_per_topic_with_either_driver(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let (first, second) = (unique("topic-a"), unique("topic-b"));
    let (sender, mut seen) = channel();
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&first))
        .target(Target::new(&second))
        .endpoint(InfoOnly(sender))
        .build()
        .unwrap();
    listener.start().await.unwrap();
    let ctx = Context::new();
    let payload = json!({"instance_id": 7, "state": "active"});
    for driver in [NotifierDriver::MessagingV2, NotifierDriver::Messaging] {
        let notifier = env.notifier("p", &first).with_topics([&first, &second]).with_driver(driver.clone());
        notifier.info(&ctx, driver.as_str(), payload.clone()).await.unwrap();
        let both = seen.take(2, "one copy per topic").await;
        assert!(both.iter().all(|s| s.event_type == driver.as_str() && s.payload == payload), "{both:?}");
        assert_eq!(both[0].message_id, both[1].message_id, "both copies are one notification");
    }
    listener.wait().await;
}

async fn listeners_restart(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("restart");
    let (sender, mut seen) = channel();
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(InfoOnly(sender))
        .build()
        .unwrap();
    let notifier = env.notifier("p", &topic);
    let payload = json!({"instance_id": 1, "state": "a"});
    listener.start().await.unwrap();
    notifier.info(&Context::new(), "first", payload.clone()).await.unwrap();
    assert_eq!(seen.next("the first notification").await.event_type, "first");
    assert_eq!(listener.wait().await.abandoned, 0);
    // Sent while stopped: the shared queue keeps it for the next start.
    notifier.info(&Context::new(), "second", payload).await.unwrap();
    listener.start().await.unwrap();
    assert_eq!(seen.next("the notification sent while stopped").await.event_type, "second");
    listener.wait().await;
}

courier_test_support::on_every_transport!(
    every_priority_reaches_its_method,
    only_implemented_priorities_are_consumed,
    one_publish_per_topic_with_either_driver,
    listeners_restart,
);

#[test]
fn the_table_records_each_methods_kind() {
    let (sender, _) = channel();
    let info = Everything(sender).endpoint_info();
    let kinds: Vec<_> = info.methods.iter().map(|m| (m.priority, m.kind)).collect();
    assert_eq!(
        kinds,
        [
            (Priority::Audit, MethodKind::Sync),
            (Priority::Debug, MethodKind::Async),
            (Priority::Info, MethodKind::Sync),
            (Priority::Warn, MethodKind::Async),
            (Priority::Error, MethodKind::Sync),
            (Priority::Critical, MethodKind::Async),
            (Priority::Sample, MethodKind::Sync),
        ]
    );
    assert_eq!((info.type_name, info.batch), ("Everything", false));
}

#[tokio::test]
async fn the_noop_driver_sends_nothing() {
    let env = TransportEnv::new(courier_test_support::transports::FAKE).await;
    let topic = unique("noop");
    let notifier = env.notifier("p", &topic).with_driver(NotifierDriver::Noop);
    assert!(!notifier.is_enabled());
    notifier.info(&Context::new(), "e", json!({})).await.unwrap();
    assert_eq!(env.ready(&format!("{topic}.info")).await, 0);
    env.notifier("p", &topic).info(&Context::new(), "e", json!({})).await.unwrap();
    assert_eq!(env.ready(&format!("{topic}.info")).await, 1, "the default driver does send");
}

#[tokio::test]
async fn publish_failures_are_returned() {
    let env = TransportEnv::new(courier_test_support::transports::FAKE).await;
    let notifier = env.notifier("p", &unique("closed"));
    env.transport.cleanup().await;
    let error =
        within("the failed publish", notifier.info(&Context::new(), "e", json!({}))).await.unwrap_err();
    assert!(matches!(error, courier::Error::Transport(courier::error::TransportError::Closed)), "{error}");
}

#[tokio::test]
async fn oslo_fields_on_the_wire() {
    let env = TransportEnv::new(courier_test_support::transports::FAKE).await;
    let topic = unique("wire");
    let subscriptions = [(Target::new(&topic), Priority::Sample)];
    let mut raw =
        env.transport.listen_for_notifications(&subscriptions, None, &Default::default()).await.unwrap();
    let ctx = Context::new().with_user("alice").with_auth_token("s3cret");
    env.notifier("compute.host1", &topic).sample(&ctx, "metering", json!({"v": 1.5})).await.unwrap();
    let incoming = within("the raw notification", raw.next()).await.unwrap();
    let message = incoming.message.unwrap();
    incoming.delivery.ack().await.unwrap();
    let keys: Vec<&str> = message.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "message_id",
            "publisher_id",
            "event_type",
            "priority",
            "payload",
            "timestamp",
            "_unique_id",
            "_context_user",
            "_context_auth_token"
        ]
    );
    assert_eq!(message["priority"], "SAMPLE");
    assert_eq!(message["publisher_id"], "compute.host1");
    assert_eq!(message["payload"], json!({"v": 1.5}));
    assert_eq!(message["_context_auth_token"], Value::Null);
    assert!(is_uuid4_with_dashes(message["message_id"].as_str().unwrap()));
    assert!(is_python_utc_timestamp(message["timestamp"].as_str().unwrap()));
    assert_eq!(message["_unique_id"].as_str().unwrap().len(), 32);
}

/// A serializer that refuses every payload.
struct Refusing;

impl courier::serializer::Serializer for Refusing {
    fn serialize_entity(&self, _: &Context, _: Value) -> Result<Value, courier::error::BoxError> {
        Err("payloads are not allowed here".into())
    }
}

#[tokio::test]
async fn unencodable_or_refused_payloads_are_errors_keeping_their_cause() {
    let transport = courier::connect("fake://").await.unwrap();
    let notifier = courier::Notifier::new(transport, "p").with_topics([unique("bad-payload")]);
    // JSON object keys must be strings: serde refuses a map keyed by numbers pairs.
    let payload: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let error = notifier.info(&Context::new(), "e", payload).await.unwrap_err();
    match &error {
        courier::Error::Encode { what, .. } => assert_eq!(what, "the notification payload"),
        other => panic!("expected an encode error, got {other:?}"),
    }
    let source = std::error::Error::source(&error).expect("serde's error").to_string();
    assert!(source.contains("key must be a string"), "{source}");

    let refusing = notifier.with_serializer(Arc::new(Refusing));
    let error = refusing.info(&Context::new(), "e", json!({})).await.unwrap_err();
    assert!(matches!(error, courier::Error::Serializer { .. }), "{error:?}");
    let source = std::error::Error::source(&error).expect("the serializer's error").to_string();
    assert_eq!(source, "payloads are not allowed here");
}
