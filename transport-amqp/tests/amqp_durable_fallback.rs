//! oslo's non-durable fallback: a declaration the broker refuses with `406 PRECONDITION_FAILED -
//! inequivalent arg 'durable'` (another service declared the control exchange or a queue
//! non-durable first) is declared again non-durable, by servers for their exchange and queues
//! and by publishers for the exchange; notifications do not fall back (neither do oslo's).

use courier_runtime::error::TransportError;
use courier_runtime::notify::Priority;
use courier_runtime::target::Target;
use courier_runtime::transport::{ListenOptions, NotifyOptions, SendOptions};
use courier_test_support::broker::{self, Raw};
use courier_test_support::wire::{next_request, notification, request};
use courier_test_support::{unique, within};
use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::json;

const DURABLE: &str = "amqp_durable_queues=true";

/// Whether `queue` exists non-durable: declaring it so is then equivalent (a durable one would
/// be refused with a 406).
async fn is_non_durable(queue: &str) -> bool {
    let raw = Raw::connect().await;
    let declared =
        raw.channel.queue_declare(queue.into(), QueueDeclareOptions::default(), FieldTable::default()).await;
    raw.close().await;
    declared.is_ok()
}

#[tokio::test]
async fn a_durable_server_and_publisher_fall_back_to_what_exists_non_durable() {
    if !broker::available("a_durable_server_and_publisher_fall_back_to_what_exists_non_durable") {
        return;
    }
    let exchange = unique("fallback");
    let topic = unique("fallback");
    let url_durable = format!("{}?{DURABLE}", broker::URL);
    // A service with oslo's defaults declares the exchange and `<topic>` first.
    let plain = broker::transport_on(broker::URL, &exchange).await;
    let mut first =
        plain.listen(&Target::new(&topic).with_server("a"), &ListenOptions::default()).await.expect("listen");
    // A durable one joins: its declarations are refused, then made non-durable.
    let durable = broker::transport_on(&url_durable, &exchange).await;
    let mut second = durable
        .listen(&Target::new(&topic).with_server("b"), &ListenOptions::default())
        .await
        .expect("the durable server falls back to non-durable");
    assert!(is_non_durable(&format!("{topic}.b")).await, "its own queue was declared non-durable");

    // The durable publisher falls back too, and both servers are reachable.
    for (server, listener) in [("a", &mut first), ("b", &mut second)] {
        let marker = unique(server);
        durable
            .cast(
                &Target::new(&topic).with_server(server),
                request("echo", json!({"payload": marker})),
                &SendOptions::default(),
            )
            .await
            .expect("the durable publisher falls back to the non-durable exchange");
        let (received, incoming) = within("the cast", next_request(listener)).await;
        incoming.delivery.ack().await.unwrap();
        assert_eq!(received.args["payload"], json!(marker));
    }
    // Later publishes reuse the non-durable declaration.
    durable
        .cast(&Target::new(&topic), request("echo", json!({"payload": 2})), &SendOptions::default())
        .await
        .expect("a second cast");

    first.close().await;
    second.close().await;
    plain.cleanup().await;
    durable.cleanup().await;
}

#[tokio::test]
async fn a_durable_exchange_is_not_replaced_and_notifications_do_not_fall_back() {
    if !broker::available("a_durable_exchange_is_not_replaced_and_notifications_do_not_fall_back") {
        return;
    }
    // The fallback only ever declares non-durable: a durable exchange stays a conflict for a
    // non-durable server, as in oslo.
    let exchange = unique("durable-exchange");
    let raw = Raw::connect().await;
    let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    raw.declare_exchange(&exchange, lapin::ExchangeKind::Topic, options).await;
    let plain = broker::transport_on(broker::URL, &exchange).await;
    let refused = plain.listen(&Target::new(unique("t")).with_server("s"), &ListenOptions::default()).await;
    match refused.err().expect("refused") {
        TransportError::Refused { reason, .. } => {
            assert!(reason.contains("inequivalent arg 'durable'"), "{reason}")
        }
        other => panic!("expected Refused, got {other:?}"),
    }

    // oslo declares a notification's default queue (and with it the exchange) before its
    // exchange fallback could run, so a durable notifier on a non-durable exchange fails.
    let exchange = unique("plain-exchange");
    raw.declare_exchange(&exchange, lapin::ExchangeKind::Topic, ExchangeDeclareOptions::default()).await;
    let durable = broker::transport_on(&format!("{}?{DURABLE}", broker::URL), &exchange).await;
    let result = durable
        .notify(
            &Target::new(unique("notifications")),
            Priority::Info,
            notification("compute.instance.create.end", json!({})),
            &NotifyOptions::default().with_retry(Some(0)),
        )
        .await;
    match result {
        Err(TransportError::Refused { reason, .. }) => {
            assert!(reason.contains("inequivalent arg 'durable'"), "{reason}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    raw.close().await;
    plain.cleanup().await;
    durable.cleanup().await;
}
