//! Notifications between courier and a real Python oslo.messaging 18.3.1 over RabbitMQ, with
//! both drivers: a Python `Notifier` (`tests/python/notifier.py`) feeding a courier
//! `NotificationListener`, and a courier `Notifier` feeding a Python `NotificationListener`
//! (`tests/python/notification_listener.py`).

use std::collections::BTreeMap;
use std::time::Duration;

use courier::testing::{NotificationTap, Tapped};
use courier::{
    Context, NotificationListener, NotificationMessage, Notifier, Priority, Target, notify::NotifierDriver,
};
use courier_test_support::paths::InteropEnv;
use courier_test_support::process::Peer;
use courier_test_support::{PATIENCE, STARTUP, broker, paths, python, unique};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A courier listener on `topic`, tapping every priority, and what it receives.
async fn courier_listener(topic: &str) -> (NotificationListener, mpsc::Receiver<Tapped>) {
    let (taps, tapped) = NotificationTap::channel(&Priority::ALL, 64);
    let builder = NotificationListener::builder(broker::transport().await).target(Target::new(topic));
    let listener = taps
        .into_iter()
        .fold(builder, |builder, tap| builder.endpoint(tap))
        .build()
        .expect("a valid listener");
    listener.start().await.expect("the listener consumes");
    (listener, tapped)
}

async fn next_notification(rx: &mut mpsc::Receiver<Tapped>) -> NotificationMessage {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a notification within PATIENCE")
        .expect("the listener is running")
        .ack()
}

async fn received(rx: &mut mpsc::Receiver<Tapped>, event_type: &str) -> NotificationMessage {
    let wait = async {
        loop {
            let message = rx.recv().await.expect("the listener is running").ack();
            if message.event_type == event_type {
                return message;
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("no {event_type} notification arrived"))
}

/// oslo's `message_id` (uuid4 with dashes) and `timestamp` (`str(datetime.utcnow())`).
fn assert_oslo_metadata(message_id: &str, timestamp: &str) {
    let uuid = uuid::Uuid::parse_str(message_id).unwrap_or_else(|e| panic!("message_id {message_id:?}: {e}"));
    assert_eq!(uuid.hyphenated().to_string(), message_id, "message_id is a dashed uuid");
    let digits = timestamp.replace(|c: char| c.is_ascii_digit(), "9");
    assert!(
        digits == "9999-99-99 99:99:99.999999" || digits == "9999-99-99 99:99:99",
        "timestamp {timestamp:?} is not Python's str(utcnow())"
    );
}

async fn python_notifier(env: &InteropEnv, topic: &str, driver: &str) -> Peer {
    let mut peer =
        Peer::python(env, "notifier.py", &["--url", broker::URL, "--topic", topic, "--driver", driver]);
    peer.ready().await;
    peer
}

async fn python_notifier_reaches_courier(driver: &str) {
    let Some(env) = paths::interop_env(&format!("python_{driver}_notifier_reaches_courier_listener")) else {
        return;
    };
    let topic = unique(&format!("py-notify-{driver}"));
    let (listener, mut rx) = courier_listener(&topic).await;
    let mut notifier = python_notifier(&env, &topic, driver).await;

    let request_context = json!({
        "user_id": "u1", "project_id": "p1", "request_id": "req-abc", "auth_token": "s3cret",
        "roles": ["member", "reader"],
    });
    let payload = json!({"instance_id": 12, "state": "active", "nested": {"list": [1, 2.5, null, "é"]}});
    for priority in ["info", "warn", "error", "audit", "sample"] {
        let answer = notifier
            .request(json!({
                "priority": priority, "publisher_id": "compute.host1",
                "event_type": format!("compute.instance.{priority}"),
                "payload": payload, "request_context": request_context,
            }))
            .await;
        assert_eq!(answer["ok"], true, "{answer}");
    }
    // Each priority has its own queue: the five may arrive in any order.
    let mut arrived = BTreeMap::new();
    while arrived.len() < 5 {
        let message = next_notification(&mut rx).await;
        arrived.insert(message.event_type.clone(), message);
    }
    for priority in ["info", "warn", "error", "audit", "sample"] {
        let message = &arrived[&format!("compute.instance.{priority}")];
        assert_eq!(message.priority, priority.parse::<Priority>().unwrap());
        assert_eq!(message.publisher_id, "compute.host1");
        assert_eq!(message.payload, payload);
        assert_eq!(message.context.user(), Some("u1"), "{:?}", message.context);
        assert_eq!(message.context.project_id(), Some("p1"), "{:?}", message.context);
        assert_eq!(message.context.request_id(), Some("req-abc"), "{:?}", message.context);
        assert_eq!(message.context.roles(), ["member", "reader"], "{:?}", message.context);
        // oslo sends the context redacted.
        assert_eq!(message.context.get("auth_token"), Some(&Value::Null), "{:?}", message.context);
        assert_oslo_metadata(&message.metadata.message_id, &message.metadata.timestamp);
    }

    for (what, payload) in python::awkward_payloads() {
        let answer = notifier
            .request(json!({
                "priority": "info", "publisher_id": "p", "event_type": format!("awkward.{what}"),
                "payload": payload,
            }))
            .await;
        assert_eq!(answer["ok"], true, "{what}: {answer}");
        let message = received(&mut rx, &format!("awkward.{what}")).await;
        assert!(message.payload == payload, "{what} arrived changed");
    }
    listener.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_messagingv2_notifier_reaches_courier_listener() {
    python_notifier_reaches_courier("messagingv2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_messaging_notifier_reaches_courier_listener() {
    python_notifier_reaches_courier("messaging").await;
}

async fn courier_notifier_reaches_python(driver: NotifierDriver) {
    let name = driver.as_str();
    let Some(env) = paths::interop_env(&format!("courier_{name}_notifier_reaches_python_listener")) else {
        return;
    };
    let topic = unique(&format!("rs-notify-{name}"));
    let mut listener =
        Peer::python(&env, "notification_listener.py", &["--url", broker::URL, "--topic", &topic]);
    listener.wait_json(STARTUP, "ready line", |v| v["event"] == "ready").await;
    let notifier = Notifier::new(broker::transport().await, "compute.host9")
        .with_topics([topic.as_str()])
        .with_driver(driver);

    let ctx = Context::new()
        .with_user("u9")
        .with_project_id("p9")
        .with_request_id("req-9")
        .with_auth_token("s3cret")
        .with("custom", json!({"k": [1, 2]}));
    let payload = json!({"instance_id": 99, "flavor": {"vcpus": 2, "name": "m1.small"}, "tags": []});
    for priority in Priority::ALL {
        let event_type = format!("compute.instance.{priority}");
        notifier.notify(&ctx, priority, &event_type, &payload).await.expect("publish");
    }
    // Each priority has its own queue: they may arrive in any order.
    let mut arrived = BTreeMap::new();
    while arrived.len() < Priority::ALL.len() {
        let seen = listener.wait_json(PATIENCE, "a notification", |v| v["event"] == "notification").await;
        arrived.insert(seen["event_type"].as_str().expect("an event type").to_owned(), seen);
    }
    for priority in Priority::ALL {
        let seen = &arrived[&format!("compute.instance.{priority}")];
        assert_eq!(seen["priority"], priority.as_str(), "{seen}");
        assert_eq!(seen["publisher_id"], "compute.host9", "{seen}");
        assert_eq!(seen["payload"], payload, "{seen}");
        assert_eq!(seen["ctxt"]["user"], "u9", "{seen}");
        assert_eq!(seen["ctxt"]["project_id"], "p9", "{seen}");
        assert_eq!(seen["ctxt"]["request_id"], "req-9", "{seen}");
        assert_eq!(seen["ctxt"]["custom"], json!({"k": [1, 2]}), "{seen}");
        assert_eq!(seen["ctxt"]["auth_token"], Value::Null, "the token leaked: {seen}");
        let metadata = &seen["metadata"];
        assert_oslo_metadata(
            metadata["message_id"].as_str().expect("a message_id"),
            metadata["timestamp"].as_str().expect("a timestamp"),
        );
    }

    for (what, payload) in python::awkward_payloads() {
        let event_type = format!("awkward.{what}");
        notifier.info(&Context::new(), &event_type, &payload).await.expect("publish");
        let seen = listener
            .wait_json(PATIENCE, &event_type, |v| {
                v["event"] == "notification" && v["event_type"] == event_type
            })
            .await;
        assert!(seen["payload"] == payload, "{what} arrived changed");
    }

    listener.close_stdin();
    listener.wait_json(PATIENCE, "stopped line", |v| v["event"] == "stopped").await;
    let status = listener.exit_status(Duration::from_secs(10)).await;
    assert!(status.success(), "the Python listener exited with {status}\n{}", listener.stderr_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_messagingv2_notifier_reaches_python_listener() {
    courier_notifier_reaches_python(NotifierDriver::MessagingV2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_messaging_notifier_reaches_python_listener() {
    courier_notifier_reaches_python(NotifierDriver::Messaging).await;
}
