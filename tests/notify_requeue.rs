//! Requeue: an endpoint's `Requeue`, error or panic puts the message back for a second
//! delivery when the listener allows requeueing, and stops the endpoint chain; otherwise the
//! message is acknowledged and never seen again.
//!
//! The listeners use the blocking executor (one message at a time, in order), so a requeued
//! message comes back before the next one and the order of reports is exact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use courier::{
    Context, Metadata, NotificationListener, Target, executor::ExecutorConfig, notification_endpoint,
    notify::NotificationResult,
};
use courier_test_support::transports::{Seen, TransportEnv, channel, seen};
use courier_test_support::unique;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

/// What the endpoint does the first time it sees `m1` (later, and with other messages: handled).
#[derive(Clone, Copy, Debug)]
enum First {
    Requeue,
    Error,
    Panic,
    /// Every time, not only the first.
    AlwaysRequeue,
    AlwaysError,
}

struct Flaky {
    name: &'static str,
    first: First,
    attempts: Mutex<HashMap<String, usize>>,
    sender: UnboundedSender<Seen>,
}

impl Flaky {
    fn new(name: &'static str, first: First, sender: &UnboundedSender<Seen>) -> Self {
        Self { name, first, attempts: Mutex::default(), sender: sender.clone() }
    }

    fn attempt(&self, event_type: &str) -> usize {
        let mut attempts = self.attempts.lock().unwrap();
        let n = attempts.entry(event_type.to_owned()).or_default();
        *n += 1;
        *n
    }
}

#[notification_endpoint]
impl Flaky {
    fn info(
        &self,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) -> Result<NotificationResult, String> {
        let attempt = self.attempt(&event_type);
        let is_m1 = event_type == "m1";
        let report = seen(self.name, "info", Context::new(), publisher_id, event_type, payload, metadata);
        let _ = self.sender.send(report);
        match (self.first, attempt) {
            (First::AlwaysRequeue, _) => Ok(NotificationResult::Requeue),
            (First::AlwaysError, _) => Err("the database is down".to_owned()),
            _ if !is_m1 => Ok(NotificationResult::Handled),
            (First::Requeue, 1) => Ok(NotificationResult::Requeue),
            (First::Error, 1) => Err("the database is down".to_owned()),
            (First::Panic, 1) => panic!("the endpoint panicked"),
            _ => Ok(NotificationResult::Handled),
        }
    }
}

/// Fails the first time, from an async method.
struct AsyncFlaky(Flaky);

#[notification_endpoint]
impl AsyncFlaky {
    async fn info(
        &self,
        publisher_id: String,
        event_type: String,
        payload: Value,
        metadata: Metadata,
    ) -> Result<(), String> {
        let attempt = self.0.attempt(&event_type);
        let _ = self.0.sender.send(seen(
            self.0.name,
            "info",
            Context::new(),
            publisher_id,
            event_type,
            payload,
            metadata,
        ));
        tokio::task::yield_now().await;
        if attempt == 1 { Err("not yet".to_owned()) } else { Ok(()) }
    }
}

struct Recorder(&'static str, UnboundedSender<Seen>);

#[notification_endpoint]
impl Recorder {
    fn info(&self, publisher_id: String, event_type: String, payload: Value, metadata: Metadata) {
        let _ =
            self.1.send(seen(self.0, "info", Context::new(), publisher_id, event_type, payload, metadata));
    }
}

/// Runs a listener with these endpoints, sends `events`, and returns `(by, event_type)` of the
/// first `expected` reports, checking that nothing more arrives and that the queue is empty
/// once the listener stopped.
async fn run(
    url: &'static str,
    allow_requeue: bool,
    endpoints: impl FnOnce(&UnboundedSender<Seen>) -> Vec<Arc<dyn courier::notify::NotificationEndpoint>>,
    events: &[&str],
    expected: usize,
) -> Vec<(&'static str, String)> {
    let env = TransportEnv::new(url).await;
    let topic = unique("requeue");
    let (sender, mut seen) = channel();
    let mut builder = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .with_executor(ExecutorConfig::blocking())
        .allow_requeue(allow_requeue);
    for endpoint in endpoints(&sender) {
        builder = builder.endpoint_arc(endpoint, None);
    }
    let listener = builder.build().unwrap();
    listener.start().await.unwrap();
    let notifier = env.notifier("p", &topic);
    for event in events {
        notifier.info(&Context::new(), event, json!({})).await.unwrap();
    }
    let reports = seen.take(expected, "the endpoint calls").await;
    assert_eq!(listener.wait().await.abandoned, 0);
    let extra = seen.drain_now();
    assert!(extra.is_empty(), "unexpected further deliveries: {extra:?}");
    assert_eq!(env.ready(&format!("{topic}.info")).await, 0, "nothing is left in the queue");
    reports.into_iter().map(|r| (r.by, r.event_type)).collect()
}

fn pairs(list: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    list.iter().map(|(by, e)| (*by, (*e).to_owned())).collect()
}

/// The same reports in any order: while `m1` runs, the in-memory broker (which has no
/// prefetch) already hands `m2` over, so a requeued `m1` comes back after it; RabbitMQ, with
/// the blocking executor's prefetch of 1, redelivers `m1` first.
fn sorted(mut list: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    list.sort();
    list
}

async fn requeue_allowed_delivers_again(url: &'static str) {
    let got =
        run(url, true, |s| vec![Arc::new(Flaky::new("flaky", First::Requeue, s))], &["m1", "m2"], 3).await;
    assert_eq!(sorted(got), pairs(&[("flaky", "m1"), ("flaky", "m1"), ("flaky", "m2")]));
}

async fn requeue_not_allowed_acknowledges(url: &'static str) {
    let got =
        run(url, false, |s| vec![Arc::new(Flaky::new("flaky", First::AlwaysRequeue, s))], &["m1", "m2"], 2)
            .await;
    assert_eq!(got, pairs(&[("flaky", "m1"), ("flaky", "m2")]));
}

async fn an_error_requeues_and_delivers_again(url: &'static str) {
    let got = run(url, true, |s| vec![Arc::new(Flaky::new("sync", First::Error, s))], &["m1", "m2"], 3).await;
    assert_eq!(sorted(got), pairs(&[("sync", "m1"), ("sync", "m1"), ("sync", "m2")]));
    let got =
        run(url, true, |s| vec![Arc::new(AsyncFlaky(Flaky::new("async", First::Error, s)))], &["m1"], 2)
            .await;
    assert_eq!(got, pairs(&[("async", "m1"), ("async", "m1")]));
}

async fn a_panic_requeues_and_delivers_again(url: &'static str) {
    let got =
        run(url, true, |s| vec![Arc::new(Flaky::new("panicky", First::Panic, s))], &["m1", "m2"], 3).await;
    assert_eq!(sorted(got), pairs(&[("panicky", "m1"), ("panicky", "m1"), ("panicky", "m2")]));
}

async fn an_error_without_requeue_acknowledges(url: &'static str) {
    let got =
        run(url, false, |s| vec![Arc::new(Flaky::new("failing", First::AlwaysError, s))], &["m1", "m2"], 2)
            .await;
    assert_eq!(got, pairs(&[("failing", "m1"), ("failing", "m2")]));
}

async fn the_first_requeue_stops_the_chain(url: &'static str) {
    let endpoints = |s: &UnboundedSender<Seen>| -> Vec<Arc<dyn courier::notify::NotificationEndpoint>> {
        vec![Arc::new(Flaky::new("first", First::Requeue, s)), Arc::new(Recorder("second", s.clone()))]
    };
    let got = run(url, true, endpoints, &["m1"], 3).await;
    assert_eq!(got, pairs(&[("first", "m1"), ("first", "m1"), ("second", "m1")]));
}

courier_test_support::on_every_transport!(
    requeue_allowed_delivers_again,
    requeue_not_allowed_acknowledges,
    an_error_requeues_and_delivers_again,
    a_panic_requeues_and_delivers_again,
    an_error_without_requeue_acknowledges,
    the_first_requeue_stops_the_chain,
);

struct Broken;

#[notification_endpoint]
impl Broken {
    fn info(
        &self,
        _publisher_id: String,
        _event_type: String,
        _payload: Value,
        _metadata: Metadata,
    ) -> std::io::Result<()> {
        Err(std::io::Error::other("the database refused the connection"))
    }
}

/// The listener logs what a failing endpoint returned, the error kept as the log's cause
/// (not only its text), and a payload of the wrong type names the method, the event and the
/// type.
#[tokio::test]
async fn endpoint_failures_are_logged_with_their_causes() {
    let (_guard, logs) = courier_test_support::logs::capture_thread("courier_runtime=error");
    let env = TransportEnv::new("fake://").await;
    let topic = unique("logged-failure");
    let listener = NotificationListener::builder(Arc::clone(&env.transport))
        .target(Target::new(&topic))
        .endpoint(Broken)
        .build()
        .unwrap();
    listener.start().await.unwrap();
    env.notifier("p", &topic).info(&Context::new(), "e", json!({})).await.unwrap();
    courier_test_support::within("the failure's log line", async {
        while !logs.contains("the endpoint returned an error: the database refused the connection") {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    listener.wait().await;
}
