//! oslo's `use_queue_manager` and `rabbit_stream_fanout` with Python oslo.messaging 18.3.1 and
//! courier on one topic, the same options on both sides: calls both ways, fanout casts from
//! either side reaching every server, and the queues on the broker named and typed as oslo
//! names and types them.

use std::process::Command;

use courier::{Context, RpcClient, Target};
use courier_test_support::broker::{self, Raw};
use courier_test_support::demo::DemoServer;
use courier_test_support::paths::InteropEnv;
use courier_test_support::process::Peer;
use courier_test_support::{PATIENCE, paths, unique};
use serde_json::{Map, json};

/// A lock directory for oslo's queue manager (oslo.concurrency's `lock_path`).
fn lock_path() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("courier-oslo-locks-").tempdir().expect("a temporary directory")
}

/// A Python `RPCServer` on `url` and control exchange `exchange`, consuming.
async fn python_server(env: &InteropEnv, url: &str, exchange: &str, topic: &str, locks: &str) -> Peer {
    let args = ["--url", url, "--exchange", exchange, "--topic", topic, "--server", "py"];
    let mut peer = Peer::python_with_env(env, "rpc_server.py", &args, &[("OSLO_LOCK_PATH", locks)]);
    peer.ready().await;
    peer
}

/// A Python `RPCClient` on `url` and control exchange `exchange`, ready for commands.
async fn python_client(env: &InteropEnv, url: &str, exchange: &str, topic: &str, locks: &str) -> Peer {
    let args = ["--url", url, "--exchange", exchange, "--topic", topic];
    let mut peer = Peer::python_with_env(env, "rpc_client.py", &args, &[("OSLO_LOCK_PATH", locks)]);
    peer.ready().await;
    peer
}

/// Calls both ways and fanout casts from both sides, each reaching both servers.
async fn both_ways(
    py_server: &mut Peer,
    rs_server: &mut DemoServer,
    py_client: &mut Peer,
    rs_client: &RpcClient,
) {
    let answer = py_client.request(json!({"op": "call", "method": "whoami", "server": "rs"})).await;
    assert_eq!(answer["result"], "rs", "Python calls courier: {answer}");
    let result = rs_client.prepare().with_server("py").call(&Context::new(), "whoami", Map::new()).await;
    assert_eq!(result.expect("courier calls Python"), json!("py"));

    let from_python = json!(unique("fanout-from-python"));
    let answer = py_client
        .request(json!({"op": "cast", "method": "echo", "args": {"payload": from_python}, "fanout": true}))
        .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let from_courier = json!(unique("fanout-from-courier"));
    let args = json!({"payload": from_courier}).as_object().cloned().unwrap();
    rs_client
        .prepare()
        .with_fanout(true)
        .cast(&Context::new(), "echo", args)
        .await
        .expect("courier's fanout");
    // Each server runs the two casts concurrently: they may start in either order.
    let markers = [from_python, from_courier];
    let mut seen_by_python = Vec::new();
    while seen_by_python.len() < markers.len() {
        let handled = py_server
            .wait_json(PATIENCE, &format!("the Python server's fanouts {markers:?}"), |v| {
                v["event"] == "handled" && markers.contains(&v["payload"])
            })
            .await;
        if !seen_by_python.contains(&handled["payload"]) {
            seen_by_python.push(handled["payload"].clone());
        }
    }
    for marker in &markers {
        rs_server.wait_call(&format!("courier's fanout {marker}"), |c| c.args["payload"] == *marker).await;
    }
}

/// `rabbitmqctl list_queues name type` for one queue: its type, if it exists.
fn queue_type(queue: &str) -> Option<String> {
    let output = Command::new("rabbitmqctl").args(["list_queues", "-q", "name", "type"]).output().ok()?;
    String::from_utf8_lossy(&output.stdout).lines().find_map(|line| {
        let (name, kind) = line.split_once('\t')?;
        (name == queue).then(|| kind.trim().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_manager_names_are_oslos_on_both_sides() {
    let Some(env) = paths::interop_env("queue_manager_names_are_oslos_on_both_sides") else { return };
    let (exchange, topic, host) = (unique("qmanager"), unique("qmanager"), unique("host"));
    let url = |process: &str| {
        format!("{}?use_queue_manager=true&hostname={host}&processname={process}", broker::URL)
    };
    let locks = lock_path();
    let locks_dir = locks.path().to_str().unwrap();

    let mut py_server = python_server(&env, &url("py-server"), &exchange, &topic, locks_dir).await;
    let server_transport = broker::transport_on(&url("rs-server"), &exchange).await;
    let mut rs_server = DemoServer::start(server_transport.clone(), &topic, "rs").await;
    let mut py_client = python_client(&env, &url("py-client"), &exchange, &topic, locks_dir).await;
    let client_transport = broker::transport_on(&url("rs-client"), &exchange).await;
    let rs_client = RpcClient::new(client_transport.clone(), Target::new(&topic)).with_timeout(PATIENCE);
    both_ways(&mut py_server, &mut rs_server, &mut py_client, &rs_client).await;

    // Each service counts in its own /dev/shm file; a courier transport takes its reply
    // queue's name when it is built, then each server's fanout queue its own.
    let names = [
        format!("{topic}_fanout_{host}:py-server:1"),
        format!("reply_{host}:py-client:1"),
        format!("{topic}_fanout_{host}:rs-server:2"),
        format!("reply_{host}:rs-client:1"),
    ];
    let raw = Raw::connect().await;
    for name in &names {
        assert!(raw.queue_exists(name).await, "no queue {name}");
    }
    // Stable names are not deleted when the server stops (they expire), as in oslo.
    rs_server.server.stop().await;
    rs_server.server.wait().await;
    assert!(raw.queue_exists(&names[2]).await, "courier's fanout queue outlives the server");

    drop(py_server);
    drop(py_client);
    server_transport.cleanup().await;
    client_transport.cleanup().await;
    for name in &names {
        let _ = raw.channel.queue_delete(name.as_str().into(), Default::default()).await;
    }
    raw.close().await;
    for process in ["py-server", "py-client", "rs-server", "rs-client"] {
        let _ = std::fs::remove_file(format!("/dev/shm/{host}_{process}_qmanager"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_fanout_reaches_python_and_courier_servers() {
    let Some(env) = paths::interop_env("stream_fanout_reaches_python_and_courier_servers") else { return };
    let (exchange, topic) = (unique("stream"), unique("stream"));
    let url = format!(
        "{}?rabbit_stream_fanout=true&rabbit_transient_quorum_queue=true&rabbit_qos_prefetch_count=10",
        broker::URL
    );
    let locks = lock_path();
    let locks_dir = locks.path().to_str().unwrap();

    let mut py_server = python_server(&env, &url, &exchange, &topic, locks_dir).await;
    let server_transport = broker::transport_on(&url, &exchange).await;
    let mut rs_server = DemoServer::start(server_transport.clone(), &topic, "rs").await;
    let mut py_client = python_client(&env, &url, &exchange, &topic, locks_dir).await;
    let client_transport = broker::transport_on(&url, &exchange).await;
    let rs_client = RpcClient::new(client_transport.clone(), Target::new(&topic)).with_timeout(PATIENCE);
    both_ways(&mut py_server, &mut rs_server, &mut py_client, &rs_client).await;

    // One stream for the topic, shared by both servers.
    let stream = format!("{topic}_fanout");
    assert_eq!(queue_type(&stream).as_deref(), Some("stream"));

    drop(py_server);
    drop(py_client);
    rs_server.server.stop().await;
    rs_server.server.wait().await;
    assert_eq!(queue_type(&stream).as_deref(), Some("stream"), "the shared stream is not deleted on close");
    server_transport.cleanup().await;
    client_transport.cleanup().await;
    // Streams never expire: remove this one.
    let raw = Raw::connect().await;
    let _ = raw.channel.queue_delete(stream.as_str().into(), Default::default()).await;
    raw.close().await;
}
