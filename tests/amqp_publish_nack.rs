//! A publish the broker nacks is sent again on a fresh channel until its deadline, and fails
//! with the nack only then. RabbitMQ nacks when a queue the message routes to cannot take it: a
//! full queue with `x-overflow: reject-publish` here, a quorum queue whose leader was on a lost
//! cluster node in `amqp_cluster_failover` (there every later publish on the channel was nacked
//! until a fresh channel was opened).

use std::time::Duration;

use courier::{Context, Error, RpcClient, Target};
use courier_test_support::broker::{self, Raw};
use courier_test_support::logs::capture_thread;
use courier_test_support::{PATIENCE, unique, within};
use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::json;

/// Declares `queue`, which takes one message and nacks the next (`x-max-length: 1`,
/// `x-overflow: reject-publish`), bound to `exchange` with `routing_key`.
async fn declare_full_after_one(raw: &Raw, queue: &str, exchange: &str, routing_key: &str) {
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongInt(1));
    arguments.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
    raw.channel.queue_declare(queue.into(), QueueDeclareOptions::default(), arguments).await.unwrap();
    raw.channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_nacked_cast_is_sent_again_and_goes_through_once_the_queue_has_room() {
    if !broker::available("a_nacked_cast_is_sent_again_and_goes_through_once_the_queue_has_room") {
        return;
    }
    let (_guard, logs) = capture_thread("courier_amqp=info");
    let (transport, exchange) =
        broker::transport_with("rabbit_retry_interval=1&rabbit_retry_backoff=0&kombu_reconnect_delay=0")
            .await;
    let topic = unique("nack");
    let client = RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE);
    let cast = |n: u64| {
        let client = client.clone();
        async move { client.cast(&Context::new(), "record", json!({"n": n}).as_object().unwrap().clone()).await }
    };
    // The first cast declares the control exchange (no queue is bound yet: the broker drops it).
    cast(0).await.unwrap();
    let raw = Raw::connect().await;
    let full = unique("nack-full");
    declare_full_after_one(&raw, &full, &exchange, &topic).await;
    cast(1).await.expect("the queue takes one message");

    let blocked = tokio::spawn(cast(2));
    within("the broker's nack", async {
        while !logs.contains("publishing on a fresh channel") && !blocked.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if blocked.is_finished() {
        panic!("a nacked cast must be sent again, not end at once: {:?}", blocked.await.unwrap());
    }
    raw.channel.queue_purge(full.as_str().into(), QueuePurgeOptions::default()).await.unwrap();
    within("the cast sent again", blocked).await.unwrap().expect("the cast goes through once there is room");
    assert_eq!(raw.depth(&full).await, 1, "the cast sent again is in the queue");

    // Still full when the deadline passes: the nack is the error.
    let short =
        RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(Duration::from_millis(1500));
    let error = short
        .cast(&Context::new(), "record", json!({"n": 3}).as_object().unwrap().clone())
        .await
        .expect_err("the queue stays full");
    assert!(
        matches!(&error, Error::Transport(courier::error::TransportError::Refused { reason, .. }) if reason.contains("nacked")),
        "{error:?}"
    );
    raw.channel.queue_delete(full.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    raw.close().await;
    transport.cleanup().await;
}
