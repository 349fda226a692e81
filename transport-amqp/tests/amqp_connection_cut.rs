//! Recovery after the broker cuts this process's connections (`rabbitmqctl close_connection`),
//! without disturbing anyone else on the broker.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use courier_runtime::wire::Reply;
use courier_runtime::{
    error::TransportError,
    target::Target,
    transport::{CallOptions, ListenOptions, Listener, SendOptions, Transport},
};
use courier_test_support::broker::Raw;
use courier_test_support::wire::{call_request, next_request, request};
use courier_test_support::{broker, unique, within};
use serde_json::json;

/// The prefix of this process's connection names (`<argv0>:<pid>:<uuid>`, as oslo names them).
fn our_prefix() -> String {
    let argv0 = std::env::args().next().unwrap();
    let name = std::path::Path::new(&argv0).file_name().unwrap().to_string_lossy().into_owned();
    format!("{name}:{}:", std::process::id())
}

/// Closes every broker connection this process opened; returns how many.
fn cut_our_connections() -> usize {
    let output = Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "pid", "client_properties"])
        .output()
        .expect("run rabbitmqctl");
    assert!(output.status.success(), "rabbitmqctl list_connections failed");
    let listing = String::from_utf8_lossy(&output.stdout);
    let prefix = our_prefix();
    let mut cut = 0;
    for line in listing.lines().filter(|line| line.contains(&prefix)) {
        let pid = line.split('\t').next().unwrap().trim();
        let status =
            Command::new("rabbitmqctl").args(["close_connection", pid, "courier test cut"]).status().unwrap();
        assert!(status.success(), "cannot close {pid}");
        cut += 1;
    }
    cut
}

/// A transport that reconnects at once, and a server listener on a fresh topic.
async fn listening(prefix: &str) -> (Arc<dyn Transport>, String, Box<dyn Listener>) {
    let (transport, _) =
        broker::transport_with("rabbit_retry_interval=1&rabbit_retry_backoff=0&kombu_reconnect_delay=0")
            .await;
    let topic = unique(prefix);
    let listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    (transport, topic, listener)
}

/// Cutting connections is process-wide: the tests of this file take turns.
static ONE_CUT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_connection_is_reopened_and_consumers_resume() {
    let _turn = ONE_CUT_AT_A_TIME.lock().await;
    let (transport, topic, mut listener) = listening("cut").await;
    let mut in_flight = transport
        .call(
            &Target::new(&topic),
            call_request("slow", json!({})),
            &CallOptions::new(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    let (_, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();

    // Publisher, listener and reply connections.
    let cut = tokio::task::spawn_blocking(cut_our_connections).await.unwrap();
    assert!(cut >= 3, "expected to cut at least 3 connections, cut {cut}");
    match within("the in-flight call to fail", in_flight.recv()).await {
        Some(Err(TransportError::Connection { .. })) => {}
        other => panic!("expected a connection error, got {other:?}"),
    }

    // The queues survived (the broker stayed up), so a cast is consumed once the listener is back.
    transport
        .cast(&Target::new(&topic), request("after-cut", json!({})), &SendOptions::default())
        .await
        .unwrap();
    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.method, "after-cut");

    let mut pending = transport
        .call(
            &Target::new(&topic),
            call_request("echo", json!({})),
            &CallOptions::new(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let (request, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    transport
        .reply(
            request.reply_q.as_deref().unwrap(),
            Reply::success(json!("back")).with_msg_id(request.msg_id.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(within("the reply", pending.recv()).await.unwrap().unwrap().result, json!("back"));
    listener.close().await;
    transport.cleanup().await;
}

/// A request the listener had received but not acknowledged when its connection was cut comes
/// back from the same listener, flagged redelivered: the duplicate window (which saw its
/// `_unique_id` already) lets a redelivery through, so the server runs it (or answers it from its
/// reply cache) instead of losing it.
#[tokio::test(flavor = "multi_thread")]
async fn an_unacknowledged_request_comes_back_after_a_cut() {
    let _turn = ONE_CUT_AT_A_TIME.lock().await;
    let (transport, topic, mut listener) = listening("cut-redelivery").await;
    transport.cast(&Target::new(&topic), request("held", json!({})), &SendOptions::default()).await.unwrap();
    let (first, held) = next_request(&mut listener).await;
    assert!(!held.redelivered);

    let cut = tokio::task::spawn_blocking(cut_our_connections).await.unwrap();
    assert!(cut >= 2, "expected to cut the publisher and listener connections, cut {cut}");
    let (again, incoming) = next_request(&mut listener).await;
    assert_eq!((again.method.as_str(), &again.unique_id), ("held", &first.unique_id));
    assert!(incoming.redelivered, "the broker flags it");
    incoming.delivery.ack().await.unwrap();
    assert!(held.delivery.ack().await.is_err(), "the first delivery died with its channel");
    listener.close().await;
    transport.cleanup().await;
}

/// `rabbit_stream_fanout`: after a cut, the stream consumer resumes just after the last message
/// it received (oslo's `next_stream_offset`), not at the stream's last chunk: nothing is handed
/// up twice (these messages carry no `_unique_id` the duplicate window could catch) and nothing
/// published meanwhile is skipped.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_fanout_consumer_resumes_after_its_last_message() {
    let _turn = ONE_CUT_AT_A_TIME.lock().await;
    let (transport, _) = broker::transport_with(
        "rabbit_stream_fanout=true&rabbit_transient_quorum_queue=true&rabbit_qos_prefetch_count=10\
         &rabbit_retry_interval=1&rabbit_retry_backoff=0&kombu_reconnect_delay=0",
    )
    .await;
    let topic = unique("stream-cut");
    let stream = format!("{topic}_fanout");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    let raw = Raw::connect().await;
    let body =
        |n: u32| courier_runtime::wire::encode_envelope(&request("echo", json!({"n": n})).into_message());
    let expect = async |listener: &mut Box<dyn Listener>, n: u32| {
        let (received, incoming) = next_request(listener).await;
        incoming.delivery.ack().await.unwrap();
        assert_eq!(received.args["n"], n, "message {n} next on the stream");
    };
    for n in 0..3 {
        raw.publish(&stream, &topic, &body(n)).await;
    }
    for n in 0..3 {
        expect(&mut listener, n).await;
    }

    let cut = tokio::task::spawn_blocking(cut_our_connections).await.unwrap();
    assert!(cut >= 2, "expected to cut the publisher's and the listener's connections, cut {cut}");
    for n in 3..6 {
        raw.publish(&stream, &topic, &body(n)).await;
    }
    for n in 3..6 {
        expect(&mut listener, n).await;
    }

    listener.close().await;
    transport.cleanup().await;
    // Streams never expire: remove this one.
    let _ = raw.channel.queue_delete(stream.as_str().into(), Default::default()).await;
    raw.close().await;
}
