//! oslo's `retry` on the RPC client (`prepare(retry=...)`) and the notifier, against a broker
//! that goes away after the transport connected: `Some(0)` gives up at once, `Some(n)` after
//! `n` reconnect rounds, `None` keeps reconnecting (within the client's timeout) until the
//! broker is back.

use std::time::Duration;

use courier::error::TransportError;
use courier::{Context, Error, Notifier, RpcClient, Target};
use courier_test_support::node::PrivateBroker;
use courier_test_support::watchdog::Watchdog;
use courier_test_support::{PATIENCE, unique, within};
use serde_json::Map;
use tokio::time::Instant;

/// Reconnect rounds one second apart, without oslo's extra `kombu_reconnect_delay`.
const QUERY: &str = "rabbit_retry_interval=1&rabbit_retry_backoff=0&kombu_reconnect_delay=0";

fn is_connection_error(error: &Error) -> bool {
    matches!(error, Error::Transport(TransportError::Connection { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_bounds_how_often_a_publish_reconnects() {
    // Ends the test process with a report if something no bound reaches hangs.
    let _watchdog = Watchdog::start("amqp_publish_retry", Duration::from_secs(300));
    let Some(node) = PrivateBroker::start().await else { return };
    let transport = courier::connect(&node.url_with(QUERY)).await.expect("connect");
    let topic = unique("retry");
    let client = RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE);
    let ctx = Context::new();
    client.cast(&ctx, "ping", Map::new()).await.expect("a cast while the broker is up");
    assert_eq!(client.retry(), None, "oslo's default: no limit");

    node.stop_app().await;

    // retry=0: the first failure is final, long before the timeout.
    let started = Instant::now();
    let error = client.prepare().with_retry(Some(0)).cast(&ctx, "ping", Map::new()).await.unwrap_err();
    assert!(is_connection_error(&error), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "no retry: {:?}", started.elapsed());

    // retry=2 on a call: two more rounds, one second apart, then the connection error (not a
    // timeout: the timeout is far away).
    let started = Instant::now();
    let error = client.prepare().with_retry(Some(2)).call(&ctx, "ping", Map::new()).await.unwrap_err();
    assert!(is_connection_error(&error), "{error:?}");
    let waited = started.elapsed();
    assert!((Duration::from_secs(2)..PATIENCE).contains(&waited), "two retries: {waited:?}");

    // The notifier's retry is the same mechanism.
    let notifier = Notifier::new(transport.clone(), "retry.test").with_topics([topic.as_str()]);
    let error = notifier.with_retry(Some(0)).info(&ctx, "retry.test", 1).await.unwrap_err();
    assert!(is_connection_error(&error), "{error:?}");

    // retry=None: still reconnecting after the time two retries took, and through once the
    // broker is back.
    let mut cast = tokio::spawn({
        let client = client.clone();
        async move { client.cast(&Context::new(), "ping", Map::new()).await }
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(3), &mut cast).await.is_err(),
        "a cast without a retry limit waits for the broker"
    );
    node.start_app().await;
    within("the cast once the broker is back", cast).await.unwrap().expect("the cast goes through");
    transport.cleanup().await;
}
