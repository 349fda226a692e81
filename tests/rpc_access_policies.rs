//! oslo's RPC access policies, chosen with `RpcServerBuilder::with_access_policy`, as a caller
//! sees them over fake://: `Default` hides `_`-prefixed names, `Explicit` serves only methods
//! marked `#[rpc(expose)]`, `Legacy` serves everything (`_`-prefixed names of hand-written
//! endpoints too). A hidden method is answered with `NoSuchMethod`, as oslo's dispatcher does;
//! a Python oslo.messaging `RPCClient` over RabbitMQ sees the same `RemoteError` as from a
//! Python server.

use std::sync::Arc;

use courier::{
    Context, Error, RpcClient, RpcServer, Target, Transport,
    rpc::{AccessPolicy, Endpoint, EndpointInfo, Invocation, MethodInfo, MethodKind, to_args},
    rpc_endpoint,
};
use courier_test_support::{PATIENCE, broker, paths, python, unique};
use serde_json::{Map, Value, json};

struct Compute;

#[rpc_endpoint]
impl Compute {
    /// Exposed: callable under every policy.
    #[rpc(expose)]
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    /// Exposed under a wire name.
    #[rpc(expose, name = "get_console")]
    async fn console(&self) -> &'static str {
        "tty0"
    }

    /// Not exposed: hidden by `Explicit` only.
    fn status(&self) -> &'static str {
        "up"
    }
}

/// A hand-written endpoint with a `_`-prefixed method (the macro refuses such names) and an
/// exposed one, as a dynamic endpoint ported from Python might have.
struct Dynamic;

impl Endpoint for Dynamic {
    fn info(&self) -> &'static EndpointInfo {
        const METHODS: &[MethodInfo] = &[
            MethodInfo {
                name: "_sync_power_states",
                kind: MethodKind::Async,
                args: &[],
                exposed: false,
                idempotent: false,
                drop_at_deadline: false,
            },
            MethodInfo {
                name: "_exposed_private",
                kind: MethodKind::Async,
                args: &[],
                exposed: true,
                idempotent: false,
                drop_at_deadline: false,
            },
        ];
        static INFO: EndpointInfo =
            EndpointInfo { type_name: "Dynamic", namespace: None, version: None, methods: METHODS };
        &INFO
    }

    fn invoke(self: Arc<Self>, index: usize, _context: Context, _args: Map<String, Value>) -> Invocation {
        let name = Self.info().methods[index].name;
        Invocation::Async(Box::pin(async move { Ok(Value::from(format!("ran {name}"))) }))
    }
}

async fn serve(policy: Option<AccessPolicy>) -> (RpcServer, RpcClient) {
    let topic = unique("access");
    let transport = courier::connect("fake://").await.unwrap();
    serve_on(transport, &topic, policy).await
}

async fn serve_on(
    transport: Arc<dyn Transport>,
    topic: &str,
    policy: Option<AccessPolicy>,
) -> (RpcServer, RpcClient) {
    let mut builder = RpcServer::builder(transport.clone(), Target::new(topic).with_server("s1"))
        .endpoint(Compute)
        .endpoint(Dynamic)
        .with_ping(true);
    if let Some(policy) = policy {
        builder = builder.with_access_policy(policy);
    }
    let server = builder.build().unwrap();
    server.start().await.unwrap();
    (server, RpcClient::new(transport, Target::new(topic)).with_timeout(PATIENCE))
}

async fn call(client: &RpcClient, method: &str, args: Value) -> Result<Value, Error> {
    client.call(&Context::new(), method, to_args(&args).unwrap()).await
}

/// Every method of the servers above, with its arguments and the answer when it is served.
fn methods() -> [(&'static str, Value, Value); 6] {
    [
        ("add", json!({"a": 2, "b": 3}), json!(5)),
        ("get_console", json!({}), json!("tty0")),
        ("status", json!({}), json!("up")),
        ("_sync_power_states", json!({}), json!("ran _sync_power_states")),
        ("_exposed_private", json!({}), json!("ran _exposed_private")),
        ("oslo_rpc_server_ping", json!({}), json!("pong")),
    ]
}

/// Calls every method; asserts the served ones answer and the others fail with `NoSuchMethod`
/// naming the method (oslo's "Endpoint does not support RPC method ...").
async fn assert_served(policy: Option<AccessPolicy>, served: &[&str]) {
    let (server, client) = serve(policy).await;
    for (method, args, answer) in methods() {
        let outcome = call(&client, method, args).await;
        if served.contains(&method) {
            assert_eq!(outcome.unwrap(), answer, "{policy:?}: {method}");
        } else {
            match outcome {
                Err(Error::NoSuchMethod { method: m, .. }) => assert_eq!(m, method, "{policy:?}"),
                other => panic!("{policy:?}: {method}: expected NoSuchMethod, got {other:?}"),
            }
        }
    }
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_policy_hides_private_names() {
    let served = ["add", "get_console", "status", "oslo_rpc_server_ping"];
    assert_served(None, &served).await;
    assert_served(Some(AccessPolicy::Default), &served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_policy_serves_only_exposed_methods() {
    // As in oslo, the ping endpoint's method is not exposed, and an exposed `_` name is callable.
    assert_served(Some(AccessPolicy::Explicit), &["add", "get_console", "_exposed_private"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_policy_serves_private_names_too() {
    let served =
        ["add", "get_console", "status", "_sync_power_states", "_exposed_private", "oslo_rpc_server_ping"];
    assert_served(Some(AccessPolicy::Legacy), &served).await;
}

#[test]
fn the_macro_records_the_expose_marker() {
    let rows: Vec<_> = Compute::RPC_METHODS.iter().map(|m| (m.name, m.exposed)).collect();
    assert_eq!(rows, [("add", true), ("get_console", true), ("status", false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_caller_sees_hidden_methods_as_no_such_method() {
    let Some(env) = paths::interop_env("a_python_caller_sees_hidden_methods_as_no_such_method") else {
        return;
    };
    let topic = unique("py-access");
    let (server, _) = serve_on(broker::transport().await, &topic, Some(AccessPolicy::Explicit)).await;
    let mut py = python::client(&env, &topic, &[]).await;

    let a = py.request(json!({"op": "call", "method": "add", "args": {"a": 40, "b": 2}})).await;
    assert_eq!((&a["ok"], &a["result"]), (&json!(true), &json!(42)), "{a}");
    for method in ["status", "oslo_rpc_server_ping"] {
        let a = py.request(json!({"op": "call", "method": method})).await;
        assert_eq!(a["ok"], false, "{a}");
        let e = &a["error"];
        assert_eq!((&e["type"], &e["exc_type"]), (&json!("RemoteError"), &json!("NoSuchMethod")), "{a}");
        assert_eq!(e["value"], format!("Endpoint does not support RPC method {method}"), "{a}");
    }
    server.wait().await;
}
