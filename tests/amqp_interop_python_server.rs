//! courier's `RpcClient` calling a real Python oslo.messaging 18.3.1 `RPCServer` over RabbitMQ
//! (`tests/python/rpc_server.py`).

use std::time::Duration;

use courier::Version;
use courier::wire::Failure;
use courier::{Context, Error, RpcClient, Target};
use courier_test_support::process::Peer;
use courier_test_support::{PATIENCE, broker, paths, python, unique};
use serde_json::{Map, Value, json};

fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, not {other}"),
    }
}

async fn client(topic: &str) -> RpcClient {
    RpcClient::new(broker::transport().await, Target::new(topic)).with_timeout(PATIENCE)
}

/// The next `{"event": "handled"}` line of a Python server for `method`.
async fn handled(server: &mut Peer, method: &str, payload: &Value) -> Value {
    server
        .wait_json(PATIENCE, &format!("{method}({payload})"), |v| {
            v["event"] == "handled" && v["method"] == method && v["payload"] == *payload
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_calls_a_python_server() {
    let Some(env) = paths::interop_env("courier_calls_a_python_server") else { return };
    let topic = unique("rs-call");
    let mut server = python::server(&env, &topic, "py1").await;
    let client = client(&topic).await;
    let ctx =
        Context::new().with_user("alice").with_request_id("req-42").with("custom", json!({"k": [1, 2]}));

    let payload = json!({"list": [1, "two", {"three": 3.0}], "flag": true});
    let result = client.call(&ctx, "echo", args(json!({"payload": payload}))).await.expect("echo");
    assert_eq!(result, payload);
    let seen = handled(&mut server, "echo", &payload).await;
    assert_eq!(seen["ctxt"]["user"], "alice", "{seen}");
    assert_eq!(seen["ctxt"]["request_id"], "req-42", "{seen}");
    assert_eq!(seen["ctxt"]["custom"], json!({"k": [1, 2]}), "{seen}");

    let received = client.call(&ctx, "context", Map::new()).await.expect("context");
    assert_eq!(received["user"], "alice", "{received}");
    assert_eq!(client.call(&ctx, "whoami", Map::new()).await.expect("whoami"), json!("py1"));

    let which = client.prepare().with_namespace("py").with_version(Version::new(2, 1));
    assert_eq!(which.call(&ctx, "which", Map::new()).await.expect("which"), json!("py-2.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_casts_and_fanouts_reach_python_servers() {
    let Some(env) = paths::interop_env("courier_casts_and_fanouts_reach_python_servers") else { return };
    let topic = unique("rs-cast");
    let mut a = python::server(&env, &topic, "a").await;
    let mut b = python::server(&env, &topic, "b").await;
    let client = client(&topic).await;
    let ctx = Context::new().with_user("carol");

    let marker = json!(unique("fanout"));
    client
        .prepare()
        .with_fanout(true)
        .cast(&ctx, "echo", args(json!({"payload": marker})))
        .await
        .expect("fanout");
    for server in [&mut a, &mut b] {
        let seen = handled(server, "echo", &marker).await;
        assert_eq!(seen["ctxt"]["user"], "carol", "{seen}");
    }

    let marker = json!(unique("cast-to-b"));
    client
        .prepare()
        .with_server("b")
        .cast(&ctx, "echo", args(json!({"payload": marker})))
        .await
        .expect("cast");
    assert_eq!(handled(&mut b, "echo", &marker).await["server"], "b");

    for name in ["a", "b"] {
        let whoami =
            client.prepare().with_server(name).call(&ctx, "whoami", Map::new()).await.expect("whoami");
        assert_eq!(whoami, json!(name));
    }

    // A plain cast goes to one of the two.
    let marker = json!(unique("cast"));
    client.cast(&ctx, "echo", args(json!({"payload": marker}))).await.expect("cast");
    let first = tokio::select! {
        seen = handled(&mut a, "echo", &marker) => seen,
        seen = handled(&mut b, "echo", &marker) => seen,
    };
    assert_eq!(first["payload"], marker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_exceptions_arrive_as_courier_errors() {
    let Some(env) = paths::interop_env("python_exceptions_arrive_as_courier_errors") else { return };
    let topic = unique("rs-errors");
    let _server = python::server(&env, &topic, "py1").await;
    let client = client(&topic).await;
    let ctx = Context::new();

    match client.call(&ctx, "fail", Map::new()).await {
        Err(Error::Remote(Failure { class, module, message, tb: traceback, .. })) => {
            assert_eq!((class.as_str(), module.as_str()), ("ValueError", "builtins"));
            assert!(message.contains("bad things") && message.contains("42"), "{message}");
            assert!(traceback.iter().any(|line| line.contains("rpc_server.py")), "{traceback:?}");
        }
        other => panic!("expected a remote ValueError, got {other:?}"),
    }

    match client.call(&ctx, "no_such_thing", Map::new()).await {
        Err(Error::NoSuchMethod { method, .. }) => assert_eq!(method, "no_such_thing"),
        other => panic!("expected NoSuchMethod, got {other:?}"),
    }

    let future = client.prepare().with_namespace("py").with_version(Version::new(3, 0));
    match future.call(&ctx, "which", Map::new()).await {
        Err(Error::UnsupportedVersion { version, method, .. }) => {
            assert_eq!((version.as_str(), method.as_str()), ("3.0", "which"))
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }

    // A wrong argument is Python's TypeError, and the server lives on.
    match client.call(&ctx, "echo", args(json!({"wrong": 1}))).await {
        Err(Error::Remote(Failure { class, .. })) => assert_eq!(class, "TypeError"),
        other => panic!("expected a remote TypeError, got {other:?}"),
    }
    assert_eq!(client.call(&ctx, "whoami", Map::new()).await.expect("whoami"), json!("py1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_call_to_python_times_out_and_call_monitor_keeps_it_alive() {
    let Some(env) = paths::interop_env("courier_call_to_python_times_out_and_call_monitor_keeps_it_alive")
    else {
        return;
    };
    let topic = unique("rs-timeout");
    let _server = python::server(&env, &topic, "py1").await;
    let client = client(&topic).await;
    let ctx = Context::new();

    let impatient = client.prepare().with_timeout(Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    match impatient.call(&ctx, "slow", args(json!({"seconds": 3}))).await {
        Err(Error::Timeout { timeout, .. }) => assert_eq!(timeout, Duration::from_secs(1)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3), "the timeout fired late: {:?}", started.elapsed());

    // Python's server heartbeats every second; without them the call would fail after 2 s.
    let monitored = client
        .prepare()
        .with_timeout(Duration::from_secs(30))
        .with_call_monitor_timeout(Duration::from_secs(2));
    let started = tokio::time::Instant::now();
    let result = monitored.call(&ctx, "slow", args(json!({"seconds": 4}))).await.expect("a monitored call");
    assert_eq!(result, json!(4));
    assert!(started.elapsed() >= Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_awkward_payloads_round_trip_through_python() {
    let Some(env) = paths::interop_env("courier_awkward_payloads_round_trip_through_python") else { return };
    let topic = unique("rs-payloads");
    let _server = python::server(&env, &topic, "py1").await;
    let client = client(&topic).await;
    let ctx = Context::new().with_user("ünïcødé ✓");

    for (what, payload) in python::awkward_payloads() {
        let result = client
            .call(&ctx, "echo", args(json!({"payload": payload})))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(result == payload, "{what} came back changed");
    }
    let received = client.call(&ctx, "context", Map::new()).await.expect("context");
    assert_eq!(received["user"], "ünïcødé ✓");
}
