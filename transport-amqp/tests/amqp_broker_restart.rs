//! Recovery after a broker restart (`rabbitmqctl stop_app` / `start_app`), on a private broker
//! node so the shared broker is never touched.

use std::time::Duration;

use courier_runtime::wire::Reply;
use courier_runtime::{
    error::TransportError,
    target::Target,
    transport::{CallOptions, ListenOptions, Listener, SendOptions, Transport, TransportConfig},
};
use courier_test_support::node::PrivateBroker;
use courier_test_support::wire::{call_request, next_request, request};
use courier_test_support::{unique, within};
use serde_json::json;

async fn round_trip(transport: &dyn Transport, listener: &mut Box<dyn Listener>, topic: &str, value: i64) {
    let mut pending = transport
        .call(
            &Target::new(topic),
            call_request("echo", json!({"v": value})),
            &CallOptions::new(Duration::from_secs(60)),
        )
        .await
        .expect("call");
    let (request, incoming) = next_request(listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(request.args["v"], value);
    transport
        .reply(
            request.reply_q.as_deref().unwrap(),
            Reply::success(json!(value)).with_msg_id(request.msg_id.unwrap()),
        )
        .await
        .expect("reply");
    let reply = within("the reply", pending.recv()).await.expect("a reply").expect("not an error");
    assert_eq!(reply.result, json!(value));
}

#[tokio::test(flavor = "multi_thread")]
async fn listeners_publishers_and_replies_recover_after_a_broker_restart() {
    // Reconnect every second while the broker is away.
    let Some(broker) = PrivateBroker::start().await else { return };
    let url = broker.url_with("rabbit_retry_interval=1&rabbit_retry_backoff=0&kombu_reconnect_delay=0");
    let config = TransportConfig::default().with_control_exchange(unique("courier-test"));
    let transport = courier_amqp::connect(url.parse().unwrap(), config).await.expect("the private broker");
    let topic = unique("restart");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    round_trip(transport.as_ref(), &mut listener, &topic, 1).await;

    // A call the server took but has not answered when the broker goes away.
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

    broker.stop_app().await;
    let ended = within("the in-flight call to fail", in_flight.recv()).await;
    match ended {
        Some(Err(TransportError::Connection { reason, .. })) => {
            assert!(reason.contains("lost"), "{reason}");
        }
        other => panic!("expected a connection error for the in-flight call, got {other:?}"),
    }
    broker.start_app().await;

    // Casts go through once the listener has declared its queues again; until then the broker
    // returns them (mandatory), which is the signal we wait on.
    let target = Target::new(&topic);
    within("the listener to declare its queues again", async {
        loop {
            match transport
                .cast(&target, request("after", json!({})), &SendOptions::default().with_mandatory(true))
                .await
            {
                Ok(()) => break,
                Err(TransportError::Undeliverable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(other) => panic!("cast after the restart failed: {other}"),
            }
        }
    })
    .await;
    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.method, "after", "the same listener keeps yielding after the reconnect");

    // Calls work again: the reply queue and its consumer were declared again.
    round_trip(transport.as_ref(), &mut listener, &topic, 2).await;
    listener.close().await;
    transport.cleanup().await;
}
