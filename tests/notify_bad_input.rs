//! Messages a listener cannot read (not JSON, a bad envelope, required fields missing) are
//! rejected without requeue, one with an unknown priority is acknowledged, and the listener
//! keeps going: the next good notification is handled and nothing is left in the queue.

use std::sync::Arc;

use courier::{Context, Metadata, NotificationListener, Target, notification_endpoint};
use courier_test_support::transports::{Seen, TransportEnv, channel, seen};
use courier_test_support::unique;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

struct Recorder(UnboundedSender<Seen>);

#[notification_endpoint]
impl Recorder {
    fn info(&self, publisher_id: String, event_type: String, payload: Value, metadata: Metadata) {
        let _ = self.0.send(seen(
            "recorder",
            "info",
            Context::new(),
            publisher_id,
            event_type,
            payload,
            metadata,
        ));
    }
}

fn envelope(inner: &Value) -> Vec<u8> {
    json!({"oslo.version": "2.0", "oslo.message": inner.to_string()}).to_string().into_bytes()
}

async fn bad_messages_are_dropped_and_the_listener_goes_on(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("bad-input");
    let routing_key = format!("{topic}.info");
    let (sender, mut seen) = channel();
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(Recorder(sender))
        .allow_requeue(true)
        .build()
        .unwrap();
    listener.start().await.unwrap();

    let complete = json!({
        "message_id": "470bbc99-f9bd-40e2-a43b-b194a904e159", "publisher_id": "p",
        "event_type": "e", "priority": "INFO", "payload": {}, "timestamp": "2026-11-23 07:02:47.787110"
    });
    let mut no_payload = complete.clone();
    no_payload.as_object_mut().unwrap().remove("payload");
    let mut unknown_priority = complete.clone();
    unknown_priority["priority"] = json!("FATAL");
    unknown_priority["event_type"] = json!("unknown-priority");
    let bodies: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        b"[1, 2, 3]".to_vec(),
        br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#.to_vec(),
        br#"{"oslo.version": "2.0", "oslo.message": "{not json"}"#.to_vec(),
        br#"{"priority": "INFO", "publisher_id": "p"}"#.to_vec(),
        envelope(&no_payload),
        envelope(&json!({"event_type": 5, "priority": "INFO", "payload": {}})),
        envelope(&unknown_priority),
    ];
    for body in &bodies {
        env.publish_raw(&routing_key, body).await;
    }
    env.notifier("p", &topic).info(&Context::new(), "good", json!({"ok": true})).await.unwrap();

    let good = seen.next("the good notification after the bad ones").await;
    assert_eq!((good.event_type.as_str(), good.payload.clone()), ("good", json!({"ok": true})));
    listener.wait().await;
    assert!(seen.drain_now().is_empty(), "no bad message reached the endpoint");
    // Rejected without requeue: nothing came back to the queue once the consumer went away.
    assert_eq!(env.ready(&routing_key).await, 0);
}

courier_test_support::on_every_transport!(bad_messages_are_dropped_and_the_listener_goes_on);
