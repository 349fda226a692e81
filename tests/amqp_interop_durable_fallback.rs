//! oslo's non-durable fallback between courier and Python oslo.messaging 18.3.1: a service with
//! `amqp_durable_queues=true` joining a control exchange that another service declared
//! non-durable retries its declarations non-durable (servers: exchange and queues; publishers:
//! the exchange) instead of failing with `406 PRECONDITION_FAILED`, whichever side came first.

use courier::{Context, RpcClient, Target};
use courier_test_support::demo::DemoServer;
use courier_test_support::process::Peer;
use courier_test_support::{PATIENCE, broker, paths, python, unique};
use serde_json::{Map, Value, json};

fn durable_url() -> String {
    format!("{}?amqp_durable_queues=true", broker::URL)
}

/// A Python `RPCServer` on `url`, control exchange `exchange`, consuming.
async fn python_server(env: &paths::InteropEnv, url: &str, exchange: &str, topic: &str, name: &str) -> Peer {
    let mut peer = Peer::python(
        env,
        "rpc_server.py",
        &["--url", url, "--exchange", exchange, "--topic", topic, "--server", name],
    );
    peer.ready().await;
    peer
}

/// `whoami` on one server, through a Python `RPCClient` on `url`.
async fn python_whoami(client: &mut Peer, server: &str) -> Value {
    let answer = client.request(json!({"op": "call", "method": "whoami", "server": server})).await;
    assert_eq!(answer["ok"], true, "the call failed: {answer}");
    answer["result"].clone()
}

/// `whoami` on one server, through a courier client on `url`.
async fn courier_whoami(url: &str, exchange: &str, topic: &str, server: &str) -> Value {
    let transport = broker::transport_on(url, exchange).await;
    let client =
        RpcClient::new(transport.clone(), Target::new(topic).with_server(server)).with_timeout(PATIENCE);
    let result = client.call(&Context::new(), "whoami", Map::new()).await.expect("whoami");
    transport.cleanup().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_courier_server_joins_a_non_durable_python_topology() {
    let Some(env) = paths::interop_env("a_durable_courier_server_joins_a_non_durable_python_topology") else {
        return;
    };
    let (exchange, topic) = (unique("fallback-py-first"), unique("fallback"));
    let _py = python_server(&env, broker::URL, &exchange, &topic, "py1").await;
    let durable = broker::transport_on(&durable_url(), &exchange).await;
    let _rs = DemoServer::start(durable, &topic, "rs").await;

    let mut client = python::client(&env, &topic, &["--exchange", &exchange]).await;
    assert_eq!(python_whoami(&mut client, "rs").await, json!("rs"));
    assert_eq!(courier_whoami(&durable_url(), &exchange, &topic, "py1").await, json!("py1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_python_server_joins_a_non_durable_courier_topology() {
    let Some(env) = paths::interop_env("a_durable_python_server_joins_a_non_durable_courier_topology") else {
        return;
    };
    let (exchange, topic) = (unique("fallback-rs-first"), unique("fallback"));
    let _rs = DemoServer::start(broker::transport_on(broker::URL, &exchange).await, &topic, "rs").await;
    let _py = python_server(&env, &durable_url(), &exchange, &topic, "py1").await;

    let url = durable_url();
    let mut client = python::client(&env, &topic, &["--exchange", &exchange, "--url", &url]).await;
    assert_eq!(python_whoami(&mut client, "rs").await, json!("rs"));
    assert_eq!(courier_whoami(broker::URL, &exchange, &topic, "py1").await, json!("py1"));
}
