//! Batch listeners: endpoints receive the messages of one priority together, once `size`
//! messages arrived or the timeout passed; a requeue (or error) requeues the whole group.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use courier::{
    Context, Metadata, NotificationListener, NotificationMessage, Target, notification_endpoint,
    notify::NotificationResult,
};
use courier_test_support::transports::TransportEnv;
use courier_test_support::{unique, within};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// One endpoint call: the priority and the event types of its messages.
type Call = (&'static str, BTreeSet<String>);

#[derive(Deserialize)]
struct Event {
    n: u32,
}

/// Records each batch; `info` requeues its first `requeue_first` calls.
struct Batcher {
    calls: UnboundedSender<Call>,
    requeue_first: usize,
    info_calls: AtomicUsize,
}

impl Batcher {
    fn new(requeue_first: usize) -> (Self, UnboundedReceiver<Call>) {
        let (calls, receiver) = mpsc::unbounded_channel();
        (Self { calls, requeue_first, info_calls: AtomicUsize::new(0) }, receiver)
    }
}

#[notification_endpoint(batch)]
impl Batcher {
    /// Typed payloads.
    fn info(&self, messages: Vec<NotificationMessage<Event>>) -> NotificationResult {
        assert!(messages.iter().all(|m| m.payload.n < 100));
        let _ = self.calls.send(("info", messages.into_iter().map(|m| m.event_type).collect()));
        if self.info_calls.fetch_add(1, Ordering::SeqCst) < self.requeue_first {
            NotificationResult::Requeue
        } else {
            NotificationResult::Handled
        }
    }

    /// Payloads as JSON, async.
    async fn warn(&self, messages: Vec<NotificationMessage>) {
        let _ = self.calls.send(("warn", messages.into_iter().map(|m| m.event_type).collect()));
    }
}

async fn next_call(calls: &mut UnboundedReceiver<Call>, what: &str) -> Call {
    within(what, calls.recv()).await.expect("the endpoint is gone")
}

fn set(events: &[&str]) -> BTreeSet<String> {
    events.iter().map(|e| (*e).to_owned()).collect()
}

async fn send(env: &TransportEnv, topic: &str, priority: courier::Priority, events: &[&str]) {
    let notifier = env.notifier("p", topic);
    for (n, event) in events.iter().enumerate() {
        notifier.notify(&Context::new(), priority, event, json!({"n": n})).await.unwrap();
    }
}

async fn batches_by_size(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("batch-size");
    let (endpoint, mut calls) = Batcher::new(0);
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(endpoint)
        .batch(3, None)
        .build()
        .unwrap();
    listener.start().await.unwrap();
    send(&env, &topic, courier::Priority::Info, &["a", "b", "c", "d", "e", "f"]).await;
    let first = next_call(&mut calls, "the first batch").await;
    let second = next_call(&mut calls, "the second batch").await;
    assert_eq!((first.0, first.1.len()), ("info", 3), "{first:?}");
    assert_eq!((second.0, second.1.len()), ("info", 3), "{second:?}");
    let all: BTreeSet<String> = first.1.union(&second.1).cloned().collect();
    assert_eq!(all, set(&["a", "b", "c", "d", "e", "f"]));
    listener.wait().await;
    assert!(calls.try_recv().is_err());
}

async fn batches_are_grouped_by_priority(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("batch-groups");
    let (endpoint, mut calls) = Batcher::new(0);
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(endpoint)
        .batch(4, None)
        .build()
        .unwrap();
    listener.start().await.unwrap();
    send(&env, &topic, courier::Priority::Info, &["i1"]).await;
    send(&env, &topic, courier::Priority::Warn, &["w1"]).await;
    send(&env, &topic, courier::Priority::Info, &["i2"]).await;
    send(&env, &topic, courier::Priority::Warn, &["w2"]).await;
    let mut got =
        vec![next_call(&mut calls, "a group").await, next_call(&mut calls, "the other group").await];
    got.sort();
    assert_eq!(got, [("info", set(&["i1", "i2"])), ("warn", set(&["w1", "w2"]))]);
    listener.wait().await;
}

async fn a_requeue_requeues_the_whole_group(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("batch-requeue");
    let (endpoint, mut calls) = Batcher::new(1);
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(endpoint)
        .batch(4, None)
        .allow_requeue(true)
        .build()
        .unwrap();
    listener.start().await.unwrap();
    send(&env, &topic, courier::Priority::Info, &["i1", "i2"]).await;
    send(&env, &topic, courier::Priority::Warn, &["w1", "w2"]).await;
    let mut first =
        vec![next_call(&mut calls, "a group").await, next_call(&mut calls, "the other group").await];
    first.sort();
    assert_eq!(first, [("info", set(&["i1", "i2"])), ("warn", set(&["w1", "w2"]))]);
    // The info group comes back whole; the warn group was acknowledged. Two more messages fill
    // the next batch of four.
    send(&env, &topic, courier::Priority::Warn, &["w3", "w4"]).await;
    let mut second =
        vec![next_call(&mut calls, "a group").await, next_call(&mut calls, "the other group").await];
    second.sort();
    assert_eq!(second, [("info", set(&["i1", "i2"])), ("warn", set(&["w3", "w4"]))]);
    listener.wait().await;
    assert!(calls.try_recv().is_err());
    assert_eq!(env.ready(&format!("{topic}.info")).await, 0);
    assert_eq!(env.ready(&format!("{topic}.warn")).await, 0);
}

async fn a_partial_batch_flushes_on_timeout(url: &'static str) {
    let env = TransportEnv::new(url).await;
    let topic = unique("batch-timeout");
    let (endpoint, mut calls) = Batcher::new(0);
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(endpoint)
        .batch(100, Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    listener.start().await.unwrap();
    send(&env, &topic, courier::Priority::Info, &["a", "b", "c"]).await;
    let mut seen = BTreeSet::new();
    while seen.len() < 3 {
        let (priority, events) = next_call(&mut calls, "a batch flushed by the timeout").await;
        assert_eq!(priority, "info");
        seen.extend(events);
    }
    assert_eq!(seen, set(&["a", "b", "c"]));
    listener.wait().await;
}

courier_test_support::on_every_transport!(
    batches_by_size,
    batches_are_grouped_by_priority,
    a_requeue_requeues_the_whole_group,
    a_partial_batch_flushes_on_timeout,
);

/// With the clock paused, the batch of two waits exactly the timeout: not before, and then.
#[tokio::test(start_paused = true)]
async fn the_timeout_starts_when_collecting_starts() {
    let env = TransportEnv::new(courier_test_support::transports::FAKE).await;
    let topic = unique("batch-clock");
    let (endpoint, mut calls) = Batcher::new(0);
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(endpoint)
        .batch(10, Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    listener.start().await.unwrap();
    send(&env, &topic, courier::Priority::Warn, &["w1", "w2"]).await;
    let early = tokio::time::timeout(Duration::from_millis(4_900), calls.recv()).await;
    assert!(early.is_err(), "a partial batch was delivered before the timeout: {early:?}");
    let (priority, events) =
        tokio::time::timeout(Duration::from_secs(1), calls.recv()).await.unwrap().unwrap();
    assert_eq!((priority, events), ("warn", set(&["w1", "w2"])));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(5) && elapsed < Duration::from_secs(6), "{elapsed:?}");
    listener.wait().await;
}

struct Plain;

#[notification_endpoint]
impl Plain {
    fn info(&self, _publisher_id: String, _event_type: String, _payload: Value, _metadata: Metadata) {}
}

#[test]
fn a_batch_listener_needs_batch_endpoints() {
    let error = NotificationListener::builder(courier::fake::connect(Default::default()))
        .target(Target::new("t"))
        .endpoint(Plain)
        .batch(10, None)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("#[notification_endpoint(batch)]"), "{error}");
}
