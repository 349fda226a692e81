//! Failover in a 3-node RabbitMQ cluster the test starts itself (private nodes joined with
//! `rabbitmqctl join_cluster`, quorum queues, a multi-host transport URL), under a load of calls,
//! casts and notifications: the node the RPC server consumes on is killed (SIGKILL), then, once
//! it is back in the cluster, the node the notification listener consumes on. Calls keep being
//! answered and notifications consumed after each failover, none hangs past its timeout, and no
//! cast or notification the broker confirmed is lost. The figures are printed.

use std::sync::Arc;
use std::time::Duration;

use courier::{
    Metadata, NotificationListener, Notifier, RpcClient, RpcServer, Target, notification_endpoint,
};
use courier_test_support::cluster::PrivateCluster;
use courier_test_support::faults::{Load, Numbers, Recording, wait_until};
use courier_test_support::watchdog::Watchdog;
use courier_test_support::{PATIENCE, unique};
use serde_json::Value;
use tokio::time::Instant;

/// Each call's timeout; a call not back well after it counts as hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const HUNG_AFTER: Duration = Duration::from_secs(15);
/// Answered calls wanted before the kill and after it.
const CALLS_EACH_SIDE: usize = 20;
const CALLERS: usize = 3;

struct Recorder(Numbers);

#[notification_endpoint]
impl Recorder {
    fn info(&self, _publisher_id: String, _event_type: String, payload: Value, _metadata: Metadata) {
        if let Some(n) = payload["n"].as_u64() {
            self.0.lock().unwrap().insert(n);
        }
    }
}

/// The index of the node whose channel consumes `queue` (a consumer's channel pid names its
/// node), as node `ask` (one that runs) sees it.
async fn consuming_node(cluster: &PrivateCluster, ask: usize, queue: &str) -> usize {
    let listed = cluster.nodes[ask].ctl(&["list_consumers", "queue_name", "channel_pid", "--silent"]).await;
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    let line = text.lines().find(|line| line.split_whitespace().next() == Some(queue)).unwrap_or_else(|| {
        panic!("no consumer of {queue}: {text}{}", String::from_utf8_lossy(&listed.stderr))
    });
    cluster
        .nodes
        .iter()
        .position(|node| line.contains(node.node_name()))
        .unwrap_or_else(|| panic!("no node of the cluster in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_casts_and_notifications_survive_losing_the_servers_node() {
    // Ends the test process with a report if something no bound reaches hangs.
    let _watchdog = Watchdog::start("amqp_cluster_failover", Duration::from_secs(600));
    let Some(mut cluster) = PrivateCluster::start(3).await else { return };
    let query =
        "rabbit_quorum_queue=true&rabbit_retry_interval=1&rabbit_retry_backoff=1&rabbit_interval_max=2";
    let exchange = unique("cluster");
    let config = || courier::transport::TransportConfig::default().with_control_exchange(&exchange);
    // The server side connects to node 0 (listed first), the client side to node 1.
    let server_transport = courier::connect_with(&cluster.url_from(0, query), config()).await.unwrap();
    let client_transport = courier::connect_with(&cluster.url_from(1, query), config()).await.unwrap();

    let topic = unique("cluster-rpc");
    let (service, casts) = Recording::new();
    let server = RpcServer::builder(server_transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(service)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let notified = Numbers::default();
    let notification_topic = unique("cluster-notifications");
    let listener = NotificationListener::builder(server_transport.clone())
        .target(Target::new(&notification_topic))
        .endpoint(Recorder(Arc::clone(&notified)))
        .build()
        .unwrap();
    listener.start().await.unwrap();

    let client = RpcClient::new(client_transport.clone(), Target::new(&topic)).with_timeout(CALL_TIMEOUT);
    let notifier = Notifier::new(client_transport.clone(), "cluster.test")
        .with_topics([notification_topic.clone()])
        .with_retry(Some(0));
    let load = Load::start(&client, Some(notifier), CALLERS, HUNG_AFTER);
    let tally = load.calls.clone();
    let (sent_casts, sent_notifications) = (load.sent_casts.clone(), load.sent_notifications.clone());

    let flowing = wait_until(PATIENCE, || tally.ok() >= CALLS_EACH_SIDE);
    assert!(flowing.await, "calls are not answered before the kill: {}", tally.counts());
    // Each connection of a transport takes the next host: find the node the server consumes on.
    let victim = consuming_node(&cluster, 0, &topic).await;
    let before = tally.counts();
    let killed_at = Instant::now();
    cluster.nodes[victim].kill().await;
    let recovered = wait_until(PATIENCE * 4, || tally.ok() >= before.ok + CALLS_EACH_SIDE).await;
    let recovered_in = killed_at.elapsed();
    let after = tally.counts() - before;
    assert!(recovered, "calls are not answered again after the kill: {after}");
    eprintln!(
        "cluster failover (SIGKILL of node {victim}, where the server consumed): calls before the kill: {before}; \
         after it: {after}; {CALLS_EACH_SIDE} answered calls again within {recovered_in:.1?}"
    );

    // The listener: bring the killed node back (it rejoins), then kill the node the listener
    // consumes on now, unless the first kill already moved it.
    let alive = (victim + 1) % cluster.nodes.len();
    let notification_queue = format!("{notification_topic}.info");
    let listening_on = consuming_node(&cluster, alive, &notification_queue).await;
    if listening_on == victim {
        eprintln!("cluster failover: the listener consumed on node {victim} too, and moved with the server");
    } else {
        cluster.nodes[victim].restart().await;
        let seen = notified.lock().unwrap().len();
        let killed_at = Instant::now();
        cluster.nodes[listening_on].kill().await;
        let resumed =
            wait_until(PATIENCE * 4, || notified.lock().unwrap().len() >= seen + CALLS_EACH_SIDE).await;
        assert!(resumed, "no notification consumed after the listener's node was killed");
        eprintln!(
            "cluster failover (SIGKILL of node {listening_on}, where the listener consumed): \
             {CALLS_EACH_SIDE} notifications consumed again within {:.1?}; calls since the first kill: {}",
            killed_at.elapsed(),
            tally.counts() - before
        );
    }
    load.finish().await;

    let sent_casts = sent_casts.lock().unwrap().clone();
    let sent_notifications = sent_notifications.lock().unwrap().clone();
    let delivered = wait_until(PATIENCE, || {
        sent_casts.is_subset(&casts.lock().unwrap())
            && sent_notifications.is_subset(&notified.lock().unwrap())
    });
    assert!(delivered.await, "confirmed casts or notifications were lost");
    eprintln!(
        "cluster failover, in all: calls {}; casts sent {} lost 0, notifications sent {} lost 0",
        tally.counts(),
        sent_casts.len(),
        sent_notifications.len(),
    );
    assert_eq!(tally.counts().hung, 0, "no call hung past its timeout");
    server.wait().await;
    listener.wait().await;
    client_transport.cleanup().await;
    server_transport.cleanup().await;
}
