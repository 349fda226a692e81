//! Notifications over a real RabbitMQ: `<topic>.<priority>` routing, the default queue the
//! publisher declares, pools, envelope or bare bodies, and ack-time duplicate detection.

use courier_runtime::wire::{self, Notification};
use courier_runtime::{
    notify::Priority,
    target::Target,
    transport::{ListenOptions, Listener, NotifyOptions},
};
use courier_test_support::broker::Raw;
use courier_test_support::wire::notification;
use courier_test_support::{broker, unique, within};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use serde_json::json;

async fn next_notification(
    listener: &mut Box<dyn Listener>,
) -> (Notification, courier_runtime::transport::Incoming) {
    let incoming = within("a notification", listener.next()).await.expect("the listener ended");
    let message = incoming.message.as_ref().expect("decodable").clone();
    (Notification::from_message(message).expect("a notification"), incoming)
}

#[tokio::test]
async fn pools_each_get_a_copy_and_the_default_queue_keeps_early_messages() {
    let (transport, exchange) = broker::transport_with("").await;
    let topic = unique("notifications");
    let target = Target::new(&topic);
    let raw = Raw::connect().await;

    // Published before anyone listens: the publisher declared `<topic>.info`.
    transport
        .notify(
            &target,
            Priority::Info,
            notification("compute.instance.create.end", json!({"id": 1})),
            &NotifyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(raw.depth(&format!("{topic}.info")).await, 1);

    let subscriptions = [(target.clone(), Priority::Info), (target.clone(), Priority::Warn)];
    let mut plain =
        transport.listen_for_notifications(&subscriptions, None, &ListenOptions::default()).await.unwrap();
    let pool_a = unique("pool");
    let pool_b = unique("pool");
    let other = broker::transport_on(broker::URL, &exchange).await;
    let mut in_a = other
        .listen_for_notifications(&subscriptions, Some(&pool_a), &ListenOptions::default())
        .await
        .unwrap();
    let mut in_b = other
        .listen_for_notifications(&subscriptions, Some(&pool_b), &ListenOptions::default())
        .await
        .unwrap();

    let (early, incoming) = next_notification(&mut plain).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(early.event_type, "compute.instance.create.end");
    assert_eq!(early.payload["id"], 1);

    transport
        .notify(
            &target,
            Priority::Warn,
            notification("compute.instance.delete.start", json!({"id": 2})),
            &NotifyOptions::default(),
        )
        .await
        .unwrap();
    for listener in [&mut plain, &mut in_a, &mut in_b] {
        let (received, incoming) = next_notification(listener).await;
        incoming.delivery.ack().await.unwrap();
        assert_eq!(received.event_type, "compute.instance.delete.start");
        assert_eq!(received.priority, "INFO", "the body keeps the priority the notifier wrote");
        assert!(received.unique_id.is_some());
    }
    assert_eq!(raw.depth(&pool_a).await, 0);
    assert_eq!(raw.depth(&format!("{topic}.warn")).await, 0);
    for listener in [&mut plain, &mut in_a, &mut in_b] {
        listener.close().await;
    }
    transport.cleanup().await;
    other.cleanup().await;
}

#[tokio::test]
async fn envelope_or_bare_bodies() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("bodies");
    let target = Target::new(&topic);
    transport
        .notify(&target, Priority::Info, notification("e.v2", json!({})), &NotifyOptions::default())
        .await
        .unwrap();
    transport
        .notify(
            &target,
            Priority::Info,
            notification("e.v1", json!({})),
            &NotifyOptions::default().with_envelope(false),
        )
        .await
        .unwrap();
    let raw = Raw::connect().await;
    let mut consumer = raw
        .channel
        .basic_consume(
            format!("{topic}.info").as_str().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let enveloped = within("the v2 body", consumer.next()).await.unwrap().unwrap();
    enveloped.acker.ack(BasicAckOptions::default()).await.unwrap();
    let outer: serde_json::Value = serde_json::from_slice(&enveloped.data).unwrap();
    assert_eq!(outer["oslo.version"], "2.0");
    assert_eq!(enveloped.properties.content_type().as_ref().map(|s| s.as_str()), Some("application/json"));
    let bare = within("the v1 body", consumer.next()).await.unwrap().unwrap();
    bare.acker.ack(BasicAckOptions::default()).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bare.data).unwrap();
    assert_eq!(body["event_type"], "e.v1");
    assert!(body.get("oslo.version").is_none());
    assert_eq!(body["_unique_id"].as_str().map(str::len), Some(32));
    raw.channel.queue_delete(format!("{topic}.info").as_str().into(), Default::default()).await.unwrap();
    transport.cleanup().await;
}

#[tokio::test]
async fn notification_ids_are_recorded_only_when_acked() {
    let (transport, exchange) = broker::transport_with("").await;
    let topic = unique("dedupe");
    let target = Target::new(&topic);
    let mut listener = transport
        .listen_for_notifications(&[(target, Priority::Info)], None, &ListenOptions::default())
        .await
        .unwrap();
    let raw = Raw::connect().await;
    let key = format!("{topic}.info");
    let mut repeated = notification("repeated", json!({}));
    repeated.unique_id = Some(wire::new_id());
    let body = wire::encode_envelope(&repeated.to_message());
    raw.publish(&exchange, &key, &body).await;
    raw.publish(&exchange, &key, &body).await;
    let mut last = notification("last", json!({}));
    last.unique_id = Some(wire::new_id());
    raw.publish(&exchange, &key, &wire::encode_envelope(&last.to_message())).await;

    let (first, incoming) = next_notification(&mut listener).await;
    assert_eq!(first.event_type, "repeated");
    incoming.delivery.requeue().await.unwrap();
    let (again, incoming) = next_notification(&mut listener).await;
    assert_eq!(again.event_type, "repeated", "a requeued (never acked) notification is processed again");
    incoming.delivery.ack().await.unwrap();
    let (after, incoming) = next_notification(&mut listener).await;
    assert_eq!(after.event_type, "last", "the copy seen after the ack is a duplicate");
    incoming.delivery.ack().await.unwrap();
    assert_eq!(raw.depth(&key).await, 0);
    listener.close().await;
    transport.cleanup().await;
}

#[tokio::test]
async fn private_tap_queue_sees_notifications_without_taking_them() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("tap");
    let target = Target::new(&topic);
    let subscriptions = [(target.clone(), Priority::Error)];
    let mut tap = transport
        .listen_for_notifications(&subscriptions, None, &ListenOptions::default().with_private_queue(true))
        .await
        .unwrap();
    transport
        .notify(&target, Priority::Error, notification("boom", json!({})), &NotifyOptions::default())
        .await
        .unwrap();
    let (seen, incoming) = next_notification(&mut tap).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(seen.event_type, "boom");
    let raw = Raw::connect().await;
    assert_eq!(raw.depth(&format!("{topic}.error")).await, 1, "the shared queue keeps its copy");
    tap.close().await;
    raw.channel.queue_delete(format!("{topic}.error").as_str().into(), Default::default()).await.unwrap();
    transport.cleanup().await;
}
