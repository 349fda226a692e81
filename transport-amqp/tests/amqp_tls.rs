//! TLS through rustls against the broker's TLS listener on 127.0.0.1:5671, whose throwaway CA
//! `scripts/test-env.sh` writes to `target/test-env/tls/`.

use std::time::Duration;

use courier_runtime::wire::Reply;
use courier_runtime::{
    error::TransportError,
    target::Target,
    transport::{CallOptions, ListenOptions, TransportConfig},
};
use courier_test_support::paths::{tls_file, tls_url};
use courier_test_support::wire::{call_request, next_request};
use courier_test_support::{unique, within};
use serde_json::json;

#[tokio::test]
async fn call_over_tls_with_the_right_ca() {
    let exchange = unique("courier-tls");
    let config = TransportConfig::default().with_control_exchange(exchange);
    let transport =
        courier_amqp::connect(tls_url("ca.pem").parse().unwrap(), config).await.expect("TLS connect");
    let topic = unique("tls");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    let mut pending = transport
        .call(
            &Target::new(&topic),
            call_request("echo", json!({"v": "secret"})),
            &CallOptions::new(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let (request, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    transport
        .reply(
            request.reply_q.as_deref().unwrap(),
            Reply::success(json!("ok")).with_msg_id(request.msg_id.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(within("the reply", pending.recv()).await.unwrap().unwrap().result, json!("ok"));
    listener.close().await;
    transport.cleanup().await;
}

#[tokio::test]
async fn a_wrong_ca_fails_with_a_clear_error() {
    let error = courier_amqp::connect(tls_url("wrong-ca.pem").parse().unwrap(), TransportConfig::default())
        .await
        .expect_err("a broker certificate from another CA must be refused");
    let TransportError::Connection { reason, .. } = &error else {
        panic!("expected a connection error: {error:?}")
    };
    assert!(reason.contains("TLS handshake failed"), "{reason}");
    assert!(reason.contains("ssl_ca_file"), "{reason}");
    assert!(reason.contains("127.0.0.1:5671"), "{reason}");
    assert!(!reason.contains("guest:guest"), "no password in errors: {reason}");
}

#[tokio::test]
async fn plain_amqp_to_the_tls_port_or_tls_to_the_plain_port_fails() {
    let url: courier_runtime::url::TransportUrl =
        format!("rabbit://guest:guest@127.0.0.1:5672/?ssl=true&ssl_ca_file={}", tls_file("ca.pem").display())
            .parse()
            .unwrap();
    let error = courier_amqp::connect(url, TransportConfig::default()).await.expect_err("no TLS on 5672");
    assert!(matches!(error, TransportError::Connection { .. }), "{error:?}");
}
