//! Pools: each pool (and the pool-less group) gets its own copy of every notification;
//! listeners sharing a pool share its messages; a private-queue tap sees everything without
//! taking messages from anyone.

use std::collections::BTreeSet;
use std::sync::Arc;

use courier::{Context, NotificationListener, Target};
use courier_test_support::transports::{Recorder, Seen, TransportEnv, channel, recording_listener};
use courier_test_support::unique;
use serde_json::json;

async fn send(env: &TransportEnv, topic: &str, count: usize) -> BTreeSet<String> {
    let notifier = env.notifier("p", topic);
    let mut events = BTreeSet::new();
    for i in 0..count {
        let event = format!("event.{i}");
        notifier.info(&Context::new(), &event, json!({"i": i})).await.unwrap();
        events.insert(event);
    }
    events
}

fn events_of(reports: &[Seen], by: &str) -> Vec<String> {
    let mut events: Vec<String> =
        reports.iter().filter(|r| r.by == by).map(|r| r.event_type.clone()).collect();
    events.sort();
    events
}

async fn every_pool_gets_every_message(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("pools");
    let (pool_a, pool_b) = (unique("pool-a"), unique("pool-b"));
    let (sender, mut seen) = channel();
    let other = env.another_transport().await;
    let listeners = [
        recording_listener(&env.transport, &topic, Some(&pool_a), "a", &sender),
        recording_listener(&other, &topic, Some(&pool_b), "b", &sender),
        recording_listener(&env.transport, &topic, None, "pool-less", &sender),
    ];
    for listener in &listeners {
        listener.start().await.unwrap();
    }
    let sent = send(&env, &topic, 4).await;
    let reports = seen.take(12, "four notifications for each of three groups").await;
    let expected: Vec<String> = sent.into_iter().collect();
    for group in ["a", "b", "pool-less"] {
        assert_eq!(events_of(&reports, group), expected, "{group}");
    }
    for listener in &listeners {
        listener.wait().await;
    }
    assert!(seen.drain_now().is_empty());
}

async fn listeners_of_one_pool_share_its_messages(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("shared-pool");
    let pool = unique("pool");
    let (sender, mut seen) = channel();
    let other = env.another_transport().await;
    let listeners = [
        recording_listener(&env.transport, &topic, Some(&pool), "first", &sender),
        recording_listener(&other, &topic, Some(&pool), "second", &sender),
    ];
    for listener in &listeners {
        listener.start().await.unwrap();
    }
    let sent = send(&env, &topic, 10).await;
    let reports = seen.take(10, "ten notifications between the two listeners").await;
    for listener in &listeners {
        listener.wait().await;
    }
    assert!(seen.drain_now().is_empty(), "each message went to one listener of the pool only");
    let received: BTreeSet<String> = reports.iter().map(|r| r.event_type.clone()).collect();
    assert_eq!(received, sent);
}

async fn a_tap_sees_everything_and_takes_nothing(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("tap");
    let (sender, mut seen) = channel();
    let tap = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(Recorder("tap", sender.clone()))
        .private_queue(true)
        .build()
        .unwrap();
    let consumer = recording_listener(&env.transport, &topic, None, "consumer", &sender);
    tap.start().await.unwrap();
    consumer.start().await.unwrap();
    let sent: Vec<String> = send(&env, &topic, 3).await.into_iter().collect();
    let reports = seen.take(6, "three notifications for the tap and for the consumer").await;
    assert_eq!(events_of(&reports, "tap"), sent);
    assert_eq!(events_of(&reports, "consumer"), sent);
    tap.wait().await;
    consumer.wait().await;
}

courier_test_support::on_every_transport!(
    every_pool_gets_every_message,
    listeners_of_one_pool_share_its_messages,
    a_tap_sees_everything_and_takes_nothing,
);

#[test]
fn a_pool_cannot_be_private() {
    let transport = courier::fake::connect(Default::default());
    let (sender, _) = channel();
    let error = NotificationListener::builder(transport)
        .target(Target::new("t"))
        .endpoint(Recorder("x", sender))
        .pool("p")
        .private_queue(true)
        .build()
        .unwrap_err();
    assert!(matches!(error, courier::Error::InvalidConfig { .. }), "{error}");
}
