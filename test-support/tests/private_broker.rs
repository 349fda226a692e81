//! The private broker node: it boots on a port of its own, answers AMQP, dies on `kill`, comes
//! back on `restart` with the same URL, runs `rabbitmqctl` against itself only, and leaves
//! nothing behind.

use courier_test_support::broker::Raw;
use courier_test_support::node::PrivateBroker;
use courier_test_support::{PATIENCE, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_broker_starts_dies_restarts_and_cleans_up() {
    let Some(mut broker) = PrivateBroker::start().await else { return };
    assert_ne!(broker.port(), 5672, "never the shared broker's port");
    let queue = unique("private");
    let raw = Raw::connect_to(&broker.amqp_uri()).await;
    raw.channel
        .queue_declare(queue.as_str().into(), Default::default(), Default::default())
        .await
        .expect("declare a queue on the private broker");
    let listed = broker.ctl(&["list_queues", "name", "--silent"]).await;
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&queue), "ctl talks to this node: {listed:?}");
    raw.close().await;

    broker.kill().await;
    let refused = lapin::Connection::connect(&broker.amqp_uri(), Default::default()).await;
    assert!(refused.is_err(), "a killed broker accepts no connection");

    broker.restart().await;
    let raw = Raw::connect_to(&broker.amqp_uri()).await;
    raw.close().await;

    broker.stop_app().await;
    assert!(lapin::Connection::connect(&broker.amqp_uri(), Default::default()).await.is_err());
    broker.start_app().await;
    let transport = courier::connect(&broker.url()).await.expect("courier connects after start_app");
    transport.cleanup().await;

    let node = broker.node_name().to_owned();
    drop(broker);
    // epmd forgets a killed node once its socket closes, which may lag the kill a little.
    let short = node.split('@').next().unwrap_or_default().to_owned();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let Ok(names) = std::process::Command::new("epmd").arg("-names").output() else { return };
        let listed = String::from_utf8_lossy(&names.stdout).into_owned();
        if !listed.contains(&format!("name {short} ")) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the node is gone after drop: {listed}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
