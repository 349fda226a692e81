//! RPC over a real RabbitMQ, driving the `Transport` trait directly: calls, casts, fanout,
//! server routing, mandatory delivery, late replies, duplicates, malformed bodies, prefetch.

use std::time::Duration;

use courier_runtime::wire::{self, Reply, WireError};
use courier_runtime::{
    error::TransportError,
    target::Target,
    transport::{CallOptions, ListenOptions, SendOptions},
};
use courier_test_support::broker::Raw;
use courier_test_support::wire::{call_request, next_request, request};
use courier_test_support::{broker, unique, within};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::json;

#[tokio::test]
async fn call_round_trip_through_listen_and_reply() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("calc");
    let target = Target::new(&topic).with_server("srv1");
    let mut listener = transport.listen(&target, &ListenOptions::default()).await.unwrap();

    let request = call_request("add", json!({"a": 2, "b": 3}));
    let msg_id = request.msg_id.clone().unwrap();
    let mut pending = transport
        .call(&Target::new(&topic), request, &CallOptions::new(Duration::from_secs(30)))
        .await
        .unwrap();

    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.method, "add");
    assert_eq!(received.args["a"], 2);
    assert_eq!(received.msg_id.as_deref(), Some(msg_id.as_str()));
    let reply_q = received.reply_q.clone().expect("the transport fills `_reply_q`");
    assert!(reply_q.starts_with("reply_") && reply_q.len() == "reply_".len() + 32, "{reply_q}");
    let unique_id = received.unique_id.clone().expect("the transport fills `_unique_id`");
    assert_eq!(unique_id.len(), 32);

    transport.reply(&reply_q, Reply::heartbeat().with_msg_id(&msg_id)).await.unwrap();
    transport.reply(&reply_q, Reply::success(json!(5)).with_msg_id(&msg_id)).await.unwrap();
    let heartbeat = within("the heartbeat", pending.recv()).await.unwrap().unwrap();
    assert!(heartbeat.is_heartbeat());
    let reply = within("the reply", pending.recv()).await.unwrap().unwrap();
    assert_eq!(reply.result, json!(5));
    assert!(reply.ending);
    assert_eq!(reply.msg_id.as_deref(), Some(msg_id.as_str()));

    // A second call reuses the same reply queue.
    let request = call_request("add", json!({"a": 1, "b": 1}));
    let mut pending = transport
        .call(&Target::new(&topic), request, &CallOptions::new(Duration::from_secs(30)))
        .await
        .unwrap();
    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.reply_q.as_deref(), Some(reply_q.as_str()));
    assert_ne!(received.unique_id.as_deref(), Some(unique_id.as_str()), "a fresh `_unique_id` per publish");
    let msg_id = received.msg_id.clone().unwrap();
    transport.reply(&reply_q, Reply::success(json!(2)).with_msg_id(&msg_id)).await.unwrap();
    assert_eq!(within("the reply", pending.recv()).await.unwrap().unwrap().result, json!(2));
    listener.close().await;
    transport.cleanup().await;
}

#[tokio::test]
async fn requests_carry_oslo_properties_and_expiration() {
    let (transport, exchange) = broker::transport_with("").await;
    let topic = unique("props");
    let raw = Raw::connect().await;
    // A plain queue bound like oslo's `<topic>` queue, so we can read the raw message.
    transport
        .cast(&Target::new(&topic), request("warmup", json!({})), &SendOptions::default())
        .await
        .unwrap();
    raw.channel
        .queue_declare(topic.as_str().into(), QueueDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap();
    raw.channel
        .queue_bind(
            topic.as_str().into(),
            exchange.as_str().into(),
            topic.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let request = call_request("echo", json!({"value": "x"}));
    let _pending = transport
        .call(&Target::new(&topic), request, &CallOptions::new(Duration::from_millis(7000)))
        .await
        .unwrap();
    let mut consumer = raw
        .channel
        .basic_consume(
            topic.as_str().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let delivery = within("the raw call", consumer.next()).await.unwrap().unwrap();
    delivery.acker.ack(BasicAckOptions::default()).await.unwrap();
    let p = &delivery.properties;
    assert_eq!(p.content_type().as_ref().map(|s| s.as_str()), Some("application/json"));
    assert_eq!(p.content_encoding().as_ref().map(|s| s.as_str()), Some("utf-8"));
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(*p.priority(), Some(0));
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("7000"));
    assert!(p.reply_to().is_none() && p.correlation_id().is_none());
    let outer: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap();
    assert_eq!(outer["oslo.version"], "2.0");
    let inner: serde_json::Value = serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap();
    assert_eq!(inner["method"], "echo");
    assert!(inner["_reply_q"].as_str().unwrap().starts_with("reply_"));
    assert!(inner["_timeout"].is_null());
    raw.channel.queue_delete(topic.as_str().into(), Default::default()).await.unwrap();
    transport.cleanup().await;
}

#[tokio::test]
async fn cast_reaches_one_server_of_the_topic() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("cast");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s1"), &ListenOptions::default()).await.unwrap();
    transport
        .cast(&Target::new(&topic), request("ping", json!({"n": 1})), &SendOptions::default())
        .await
        .unwrap();
    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.method, "ping");
    assert!(received.msg_id.is_none() && received.reply_q.is_none());
    assert!(received.unique_id.is_some());
    listener.close().await;
    transport.cleanup().await;
}

#[tokio::test]
async fn fanout_reaches_every_server() {
    let (transport, exchange) = broker::transport_with("").await;
    let other = broker::transport_on(broker::URL, &exchange).await;
    let topic = unique("fan");
    let mut a =
        transport.listen(&Target::new(&topic).with_server("a"), &ListenOptions::default()).await.unwrap();
    let mut b = other.listen(&Target::new(&topic).with_server("b"), &ListenOptions::default()).await.unwrap();
    transport
        .cast(&Target::new(&topic).with_fanout(true), request("refresh", json!({})), &SendOptions::default())
        .await
        .unwrap();
    for listener in [&mut a, &mut b] {
        let (received, incoming) = next_request(listener).await;
        incoming.delivery.ack().await.unwrap();
        assert_eq!(received.method, "refresh");
    }
    a.close().await;
    b.close().await;
    transport.cleanup().await;
    other.cleanup().await;
}

#[tokio::test]
async fn server_targeted_messages_reach_only_that_server() {
    let (transport, exchange) = broker::transport_with("").await;
    let other = broker::transport_on(broker::URL, &exchange).await;
    let topic = unique("route");
    let mut a =
        transport.listen(&Target::new(&topic).with_server("a"), &ListenOptions::default()).await.unwrap();
    let mut b = other.listen(&Target::new(&topic).with_server("b"), &ListenOptions::default()).await.unwrap();
    let raw = Raw::connect().await;
    for _ in 0..3 {
        transport
            .cast(&Target::new(&topic).with_server("b"), request("for_b", json!({})), &SendOptions::default())
            .await
            .unwrap();
    }
    transport
        .cast(&Target::new(&topic).with_server("a"), request("for_a", json!({})), &SendOptions::default())
        .await
        .unwrap();
    let (first_a, incoming) = next_request(&mut a).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(first_a.method, "for_a", "server a only sees its own message");
    for _ in 0..3 {
        let (received, incoming) = next_request(&mut b).await;
        incoming.delivery.ack().await.unwrap();
        assert_eq!(received.method, "for_b");
    }
    assert_eq!(raw.depth(&format!("{topic}.a")).await, 0);
    assert_eq!(raw.depth(&format!("{topic}.b")).await, 0);
    a.close().await;
    b.close().await;
    transport.cleanup().await;
    other.cleanup().await;
}

#[tokio::test]
async fn mandatory_publish_without_queue_is_undeliverable() {
    let (transport, exchange) = broker::transport_with("").await;
    let topic = unique("nobody");
    let started = tokio::time::Instant::now();
    let err = transport
        .cast(&Target::new(&topic), request("x", json!({})), &SendOptions::default().with_mandatory(true))
        .await
        .unwrap_err();
    match err {
        TransportError::Undeliverable { exchange: e, routing_key } => {
            assert_eq!(e, exchange);
            assert_eq!(routing_key, topic);
        }
        other => panic!("expected Undeliverable, got {other:?}"),
    }
    let options = CallOptions::new(Duration::from_secs(30)).with_mandatory(true);
    let err = transport
        .call(&Target::new(&topic).with_server("s"), call_request("x", json!({})), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Undeliverable { routing_key, .. } if *routing_key == format!("{topic}.s")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "undeliverable is reported at once");
    // Without mandatory the broker silently drops it.
    transport.cast(&Target::new(&topic), request("x", json!({})), &SendOptions::default()).await.unwrap();
    transport.cleanup().await;
}

#[tokio::test]
async fn late_replies_are_acked_and_dropped() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("late");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    let raw = Raw::connect().await;

    let pending = transport
        .call(
            &Target::new(&topic),
            call_request("slow", json!({})),
            &CallOptions::new(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let (late, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    drop(pending); // the caller gave up

    let mut pending = transport
        .call(
            &Target::new(&topic),
            call_request("fast", json!({})),
            &CallOptions::new(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let (fast, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    let reply_q = late.reply_q.clone().unwrap();
    transport
        .reply(&reply_q, Reply::success(json!("late")).with_msg_id(late.msg_id.clone().unwrap()))
        .await
        .unwrap();
    transport
        .reply(&reply_q, Reply::success(json!("fast")).with_msg_id(fast.msg_id.clone().unwrap()))
        .await
        .unwrap();
    let reply = within("the fast reply", pending.recv()).await.unwrap().unwrap();
    assert_eq!(reply.result, json!("fast"), "the late reply never reaches another call");
    assert_eq!(raw.depth(&reply_q).await, 0, "the late reply was acked, not left in the queue");
    listener.close().await;
    transport.cleanup().await;
}

#[tokio::test]
async fn duplicate_requests_are_dropped() {
    let (transport, exchange) = broker::transport_with("").await;
    let topic = unique("dup");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    let raw = Raw::connect().await;
    let mut first = request("once", json!({}));
    first.unique_id = Some(wire::new_id());
    let body = wire::encode_envelope(&first.to_message());
    raw.publish(&exchange, &topic, &body).await;
    raw.publish(&exchange, &topic, &body).await;
    let mut second = request("after", json!({}));
    second.unique_id = Some(wire::new_id());
    raw.publish(&exchange, &topic, &wire::encode_envelope(&second.to_message())).await;

    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.method, "once");
    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.method, "after", "the duplicate was skipped");
    assert_eq!(raw.depth(&topic).await, 0, "the duplicate was acked");
    listener.close().await;
    transport.cleanup().await;
}

#[tokio::test]
async fn malformed_bodies_are_handed_up_and_rejected_for_good() {
    let (transport, exchange) = broker::transport_with("").await;
    let topic = unique("garbage");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    let raw = Raw::connect().await;
    raw.publish(&exchange, &topic, b"this is not json {").await;
    raw.publish(&exchange, &topic, br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#).await;
    transport.cast(&Target::new(&topic), request("valid", json!({})), &SendOptions::default()).await.unwrap();

    let incoming = within("the garbage", listener.next()).await.unwrap();
    assert!(matches!(incoming.message, Err(WireError::InvalidJson(_))), "{:?}", incoming.message);
    incoming.delivery.reject().await.unwrap();
    let incoming = within("the bad envelope", listener.next()).await.unwrap();
    assert!(matches!(incoming.message, Err(WireError::UnsupportedEnvelope(_))), "{:?}", incoming.message);
    incoming.delivery.reject().await.unwrap();
    let (received, incoming) = next_request(&mut listener).await;
    assert_eq!(received.method, "valid", "rejected messages are not redelivered");
    incoming.delivery.ack().await.unwrap();
    assert_eq!(raw.depth(&topic).await, 0);
    listener.close().await;
    transport.cleanup().await;
}

#[tokio::test]
async fn prefetch_bounds_what_the_listener_takes() {
    const N: u32 = 6;
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("prefetch");
    let mut listener = transport
        .listen(&Target::new(&topic).with_server("s"), &ListenOptions::default().with_prefetch(1))
        .await
        .unwrap();
    let raw = Raw::connect().await;
    for n in 0..N {
        transport
            .cast(&Target::new(&topic), request("work", json!({"n": n})), &SendOptions::default())
            .await
            .unwrap();
    }
    let (first, held) = next_request(&mut listener).await;
    assert_eq!(first.args["n"], 0);
    assert_eq!(raw.depth(&topic).await, N - 1, "with prefetch 1 and nothing acked the broker keeps the rest");
    held.delivery.ack().await.unwrap();
    let (second, held) = next_request(&mut listener).await;
    assert_eq!(second.args["n"], 1);
    assert_eq!(raw.depth(&topic).await, N - 2);
    // Closing hands the unacked message back to the broker.
    listener.close().await;
    drop(held);
    drop(listener);
    assert_eq!(
        within("the requeue", async {
            loop {
                let depth = raw.depth(&topic).await;
                if depth == N - 1 {
                    break depth;
                }
                tokio::task::yield_now().await;
            }
        })
        .await,
        N - 1
    );
    transport.cleanup().await;
}

#[tokio::test]
async fn cleanup_deletes_fanout_queues_and_declares_oslo_arguments() {
    let (transport, exchange) = broker::transport_with("").await;
    let topic = unique("topo");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    let raw = Raw::connect().await;
    // A Python peer declaring the same names with oslo's arguments gets no 406.
    let mut expiring = FieldTable::default();
    expiring.insert("x-expires".into(), AMQPValue::LongInt(1_800_000));
    for queue in [topic.clone(), format!("{topic}.s")] {
        raw.channel
            .queue_declare(queue.as_str().into(), QueueDeclareOptions::default(), FieldTable::default())
            .await
            .unwrap();
    }
    raw.declare_exchange(&exchange, lapin::ExchangeKind::Topic, Default::default()).await;
    let auto_delete = lapin::options::ExchangeDeclareOptions { auto_delete: true, ..Default::default() };
    raw.declare_exchange(&format!("{topic}_fanout"), lapin::ExchangeKind::Fanout, auto_delete).await;
    // The reply queue, once a call made it exist.
    let _pending = transport
        .call(&Target::new(&topic), call_request("x", json!({})), &CallOptions::new(Duration::from_secs(30)))
        .await
        .unwrap();
    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    let reply_q = received.reply_q.unwrap();
    raw.channel
        .queue_declare(reply_q.as_str().into(), QueueDeclareOptions::default(), expiring.clone())
        .await
        .unwrap();

    let fanout_queue = format!("{topic}_fanout_");
    let debug = format!("{transport:?}");
    assert!(debug.contains("guest:***") && !debug.contains("guest:guest"), "{debug}");
    listener.close().await;
    drop(listener);
    transport.cleanup().await;
    // The server's fanout queue is gone; the shared queues stay.
    let output =
        std::process::Command::new("rabbitmqctl").args(["list_queues", "-q", "name"]).output().unwrap();
    assert!(output.status.success(), "rabbitmqctl list_queues failed");
    let names = String::from_utf8_lossy(&output.stdout);
    assert!(!names.lines().any(|l| l.trim().starts_with(&fanout_queue)), "fanout queue left: {names}");
    assert!(raw.queue_exists(&topic).await);
}

#[tokio::test]
async fn replies_to_a_missing_queue_are_retried_then_given_up() {
    let (transport, _) = broker::transport_with("kombu_missing_consumer_retry_timeout=1").await;
    let missing = format!("reply_{}", wire::new_id());
    let started = tokio::time::Instant::now();
    let err = transport.reply(&missing, Reply::success(json!(1)).with_msg_id("m1")).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&err, TransportError::Undeliverable { routing_key, .. } if *routing_key == missing),
        "{err:?}"
    );
    assert!(waited >= Duration::from_millis(700), "retried every 0.25 s for about a second, not {waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    // Remembered as dead: the next reply to it is dropped at once.
    let started = tokio::time::Instant::now();
    let err = transport.reply(&missing, Reply::success(json!(2)).with_msg_id("m2")).await.unwrap_err();
    assert!(matches!(err, TransportError::Undeliverable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(200));

    // A reply queue that exists gets its reply at once.
    let raw = Raw::connect().await;
    let present = format!("reply_{}", wire::new_id());
    raw.channel
        .queue_declare(present.as_str().into(), QueueDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap();
    transport.reply(&present, Reply::success(json!(3)).with_msg_id("m3")).await.unwrap();
    assert_eq!(raw.depth(&present).await, 1);
    raw.channel.queue_delete(present.as_str().into(), Default::default()).await.unwrap();
    transport.cleanup().await;
}

#[tokio::test]
async fn listeners_end_after_close_or_cleanup_and_bad_urls_are_refused() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("end");
    let mut closed =
        transport.listen(&Target::new(&topic).with_server("a"), &ListenOptions::default()).await.unwrap();
    let mut cleaned =
        transport.listen(&Target::new(&topic).with_server("b"), &ListenOptions::default()).await.unwrap();
    closed.close().await;
    assert!(within("next after close", closed.next()).await.is_none());
    transport.cleanup().await;
    assert!(within("next after cleanup", cleaned.next()).await.is_none());
    let err = transport
        .cast(&Target::new(&topic), request("x", json!({})), &SendOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Closed), "{err:?}");

    // (Stream fanout alone lacks the prefetch and the quorum queues it needs, as in oslo.)
    for query in
        ["no_such_option=1", "rabbit_stream_fanout=true", "rabbit_ha_queues=true", "kombu_compression=gzip"]
    {
        let err = courier_amqp::connect(broker::url_with(query), Default::default()).await.unwrap_err();
        assert!(matches!(err, TransportError::InvalidUrl(_)), "{query}: {err:?}");
    }
    let err =
        courier_amqp::connect("rabbit://guest:hunter2@127.0.0.1:1/".parse().unwrap(), Default::default())
            .await
            .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TransportError::Connection { .. }) && text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn registered_schemes_build_this_transport() {
    courier_amqp::register();
    for scheme in courier_amqp::SCHEMES {
        let transport = courier_runtime::transport::connect(
            &format!("{scheme}://{}/", broker::AUTHORITY),
            Default::default(),
        )
        .await
        .unwrap();
        assert!(format!("{transport:?}").starts_with("RabbitTransport"), "{transport:?}");
        transport.cleanup().await;
    }
}

#[tokio::test]
async fn close_while_the_listener_is_full_hands_everything_back_promptly() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("full");
    let listener_target = Target::new(&topic).with_server("s");
    let mut listener =
        transport.listen(&listener_target, &ListenOptions::default().with_prefetch(1)).await.unwrap();
    let raw = Raw::connect().await;
    for _ in 0..3 {
        transport
            .cast(&Target::new(&topic), request("shared", json!({})), &SendOptions::default())
            .await
            .unwrap();
        transport.cast(&listener_target, request("mine", json!({})), &SendOptions::default()).await.unwrap();
    }
    // Both consumers got one message each (prefetch 1) and the listener's buffer holds one: the
    // other waits in the supervisor. Nothing has been taken with `next`.
    within("both consumers to take one message", async {
        while raw.depth(&topic).await + raw.depth(&format!("{topic}.s")).await != 4 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let started = tokio::time::Instant::now();
    listener.close().await;
    assert!(started.elapsed() < Duration::from_secs(5), "close took {:?}", started.elapsed());
    within("everything to go back to the queues", async {
        while raw.depth(&topic).await + raw.depth(&format!("{topic}.s")).await != 6 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    drop(listener);
    transport.cleanup().await;
}

/// The reply consumer acks replies in bursts (one `multiple` ack); with a reply prefetch of 8
/// the broker stops delivering after 8 unacked replies, so 40 replies, in bursts larger and
/// smaller than the ack batch and with pauses between them, all arrive only if every burst is
/// acked, the one a pause ends included.
#[tokio::test]
async fn replies_beyond_the_reply_prefetch_all_arrive() {
    let (transport, _) = broker::transport_with("rabbit_qos_prefetch_count=8").await;
    let topic = unique("burst");
    let target = Target::new(&topic).with_server("srv1");
    let mut listener = transport.listen(&target, &ListenOptions::default().with_prefetch(64)).await.unwrap();
    let mut pendings = Vec::new();
    for n in 0..40 {
        let request = call_request("echo", json!({"n": n}));
        let options = CallOptions::new(Duration::from_secs(60));
        pendings.push(transport.call(&Target::new(&topic), request, &options).await.unwrap());
    }
    let mut received = Vec::new();
    for _ in 0..40 {
        let (request, incoming) = next_request(&mut listener).await;
        incoming.delivery.ack().await.unwrap();
        received.push(request);
    }
    let mut pendings = pendings.into_iter();
    for burst in [3usize, 13, 1, 20, 3] {
        let requests: Vec<_> = received.drain(..burst).collect();
        for request in &requests {
            let reply =
                Reply::success(request.args["n"].clone()).with_msg_id(request.msg_id.clone().unwrap());
            transport.reply(request.reply_q.as_deref().unwrap(), reply).await.unwrap();
        }
        for request in &requests {
            let mut pending = pendings.next().unwrap();
            let reply = within("a reply", pending.recv()).await.unwrap().unwrap();
            assert_eq!(reply.result, request.args["n"]);
        }
    }
    listener.close().await;
    transport.cleanup().await;
}

/// A queue the broker cannot declare as asked (it exists with other properties: oslo's
/// PRECONDITION_FAILED) fails the listen as `Refused`, the broker's reply text in the message
/// and lapin's error, with its reply code, as the source.
#[tokio::test]
async fn a_refused_declaration_keeps_the_brokers_error_as_its_source() {
    let (transport, _) = broker::transport_with("").await;
    let topic = unique("refused");
    let raw = Raw::connect().await;
    // courier declares topic queues non-durable; a durable one of that name is a conflict.
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    raw.channel.queue_declare(topic.as_str().into(), durable, FieldTable::default()).await.unwrap();
    let error = transport.listen(&Target::new(&topic).with_server("s1"), &ListenOptions::default()).await;
    let error = error.err().expect("the declaration is refused");
    match &error {
        TransportError::Refused { reason, source: Some(source) } => {
            assert!(reason.contains("PRECONDITION_FAILED"), "{reason}");
            let lapin_error = source.downcast_ref::<lapin::Error>().expect("lapin's error");
            assert!(lapin_error.is_amqp_soft_error(), "{lapin_error:?}");
        }
        other => panic!("expected Refused with a source, got {other:?}"),
    }
    let deleted = raw.channel.queue_delete(topic.as_str().into(), Default::default()).await;
    deleted.unwrap();
    raw.close().await;
}
