//! `client_timeout` in the request context, as oslo's rabbit driver puts it there
//! (`amqp.unpack_context`: the request's `_timeout`, or null): a courier server on rabbit://
//! hands it to endpoints, whether the caller is a courier client with a call-monitor timeout or
//! a Python `RPCClient` prepared with `call_monitor_timeout`. On fake:// it is absent, as with
//! oslo's fake driver.

use std::time::Duration;

use courier::{Context, RpcClient, RpcServer, Target, Transport, rpc_endpoint};
use courier_test_support::{PATIENCE, broker, paths, python, unique};
use serde_json::{Map, Value, json};
use std::sync::Arc;

struct Probe;

#[rpc_endpoint]
impl Probe {
    /// What the endpoint sees: the raw context value (`"absent"` when missing) and the typed
    /// accessor in seconds.
    async fn client_timeout(&self, ctx: &Context) -> Value {
        json!({
            "raw": ctx.get("client_timeout").cloned().unwrap_or(json!("absent")),
            "typed": ctx.client_timeout().map(|t| t.as_secs_f64()),
        })
    }
}

async fn serve(transport: Arc<dyn Transport>, topic: &str) -> RpcServer {
    let server =
        RpcServer::builder(transport, Target::new(topic).with_server("s1")).endpoint(Probe).build().unwrap();
    server.start().await.unwrap();
    server
}

async fn seen(client: &RpcClient) -> Value {
    client.call(&Context::new(), "client_timeout", Map::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_courier_caller_on_rabbit_passes_its_call_monitor_timeout() {
    if !broker::available("a_courier_caller_on_rabbit_passes_its_call_monitor_timeout") {
        return;
    }
    let topic = unique("client-timeout");
    let transport = broker::transport().await;
    let server = serve(transport.clone(), &topic).await;
    let client = RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE);

    let monitored = client.clone().with_call_monitor_timeout(Duration::from_secs(30));
    assert_eq!(seen(&monitored).await, json!({"raw": 30, "typed": 30.0}));
    let fractional = client.clone().with_call_monitor_timeout(Duration::from_millis(2500));
    assert_eq!(seen(&fractional).await, json!({"raw": 2.5, "typed": 2.5}));
    // No call-monitor timeout: the key is there, null, as oslo's `msg.pop('_timeout', None)`.
    assert_eq!(seen(&client).await, json!({"raw": null, "typed": null}));
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_transport_adds_no_client_timeout() {
    let topic = unique("client-timeout-fake");
    let transport = courier::connect("fake://").await.unwrap();
    let server = serve(transport.clone(), &topic).await;
    let client = RpcClient::new(transport, Target::new(&topic))
        .with_timeout(PATIENCE)
        .with_call_monitor_timeout(Duration::from_secs(30));
    assert_eq!(seen(&client).await, json!({"raw": "absent", "typed": null}));
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_caller_with_call_monitor_timeout_is_seen_as_oslo_would() {
    let Some(env) = paths::interop_env("a_python_caller_with_call_monitor_timeout_is_seen_as_oslo_would")
    else {
        return;
    };
    let topic = unique("py-client-timeout");
    let server = serve(broker::transport().await, &topic).await;
    let mut py = python::client(&env, &topic, &[]).await;

    let a = py.request(json!({"op": "call", "method": "client_timeout", "call_monitor_timeout": 20})).await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["result"], json!({"raw": 20, "typed": 20.0}));
    let a = py.request(json!({"op": "call", "method": "client_timeout"})).await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["result"], json!({"raw": null, "typed": null}));
    server.wait().await;
}

/// A timeout shorter than the broker needs to declare the reply queue is still the call's
/// timeout (CLI exit 2), not a broker failure: the transport's own deadline fires in the same
/// instant as the client's, and its "timed out" must read as the call's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_before_the_reply_queue_is_ready_is_the_calls_timeout() {
    if !broker::available("a_timeout_before_the_reply_queue_is_ready_is_the_calls_timeout") {
        return;
    }
    let topic = unique("reply-queue-timeout");
    for timeout in [Duration::from_millis(1), Duration::from_millis(2), Duration::from_millis(5)] {
        for _ in 0..5 {
            // A fresh transport each time: its reply queue is declared by the first call.
            let client = RpcClient::new(broker::transport().await, Target::new(&topic)).with_timeout(timeout);
            let error = client.call(&Context::new(), "nobody_serves_this", Map::new()).await.unwrap_err();
            assert!(matches!(error, courier::Error::Timeout { .. }), "{timeout:?}: {error:?}");
            client.transport().cleanup().await;
        }
    }
}
