//! The in-memory broker's delivery semantics (oslo's fake driver), driven through the
//! runtime's server and client with a hand-written endpoint.

use std::sync::Arc;
use std::time::Duration;

use courier_runtime::server::RpcServer;
use courier_runtime::wire::{self, Notification};
use courier_runtime::{
    client::RpcClient,
    context::Context,
    endpoint::{Endpoint, EndpointInfo, Invocation, MethodInfo, MethodKind},
    error::{Error, TransportError},
    notify::Priority,
    target::Target,
    transport::{ListenOptions, NotifyOptions, Transport, TransportConfig},
};
use serde_json::{Map, Value, json};

/// Answers `whoami` with its name.
struct Named(&'static str);

impl Endpoint for Named {
    fn info(&self) -> &'static EndpointInfo {
        const METHODS: &[MethodInfo] = &[MethodInfo {
            name: "whoami",
            kind: MethodKind::Async,
            args: &[],
            exposed: false,
            idempotent: false,
            drop_at_deadline: false,
        }];
        static INFO: EndpointInfo =
            EndpointInfo { type_name: "Named", namespace: None, version: None, methods: METHODS };
        &INFO
    }

    fn invoke(self: Arc<Self>, _: usize, _: Context, _: Map<String, Value>) -> Invocation {
        Invocation::Async(Box::pin(async move { Ok(Value::from(self.0)) }))
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", wire::new_id())
}

async fn serve(transport: &Arc<dyn Transport>, topic: &str, name: &'static str) -> RpcServer {
    let target = Target::new(topic).with_server(name);
    let server = RpcServer::builder(Arc::clone(transport), target).endpoint(Named(name)).build().unwrap();
    server.start().await.unwrap();
    server
}

const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_one_transport_answers_a_client_on_another() {
    let topic = unique("shared");
    let server_side = courier_fake::connect(TransportConfig::default());
    let server = serve(&server_side, &topic, "a").await;
    let client_side = courier_fake::connect(TransportConfig::default());
    let client = RpcClient::new(client_side, Target::new(&topic)).with_timeout(PATIENCE);
    assert_eq!(client.call(&Context::new(), "whoami", Map::new()).await.unwrap(), "a");
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_targeted_calls_reach_only_that_server() {
    let topic = unique("targeted");
    let transport = courier_fake::connect(TransportConfig::default());
    let (a, b) = (serve(&transport, &topic, "a").await, serve(&transport, &topic, "b").await);
    let client = RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE);
    for _ in 0..10 {
        let answer =
            client.prepare().with_server("b").call(&Context::new(), "whoami", Map::new()).await.unwrap();
        assert_eq!(answer, "b");
    }
    a.wait().await;
    b.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_nobody_serves_times_out_and_mandatory_fails_fast() {
    let transport = courier_fake::connect(TransportConfig::default());
    let client =
        RpcClient::new(transport, Target::new(unique("nobody"))).with_timeout(Duration::from_millis(50));
    let err = client.call(&Context::new(), "whoami", Map::new()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let mandatory = client.prepare().with_topic(unique("nobody")).with_mandatory(true);
    let err = mandatory.call(&Context::new(), "whoami", Map::new()).await.unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::Undeliverable { .. })), "{err}");
}

fn notification(event_type: &str) -> Notification {
    let message = json!({
        "message_id": wire::new_id(), "publisher_id": "test", "event_type": event_type,
        "priority": "INFO", "payload": {"n": 1}, "timestamp": "2026-11-23 07:02:47.787110",
    });
    Notification::from_message(message.as_object().unwrap().clone()).unwrap()
}

#[tokio::test]
async fn each_notification_pool_gets_its_own_copy() {
    let transport = courier_fake::connect(TransportConfig::default());
    let topic = unique("notifications");
    let subscription = [(Target::new(&topic), Priority::Info)];
    let options = ListenOptions::default();
    let mut pool_a = transport.listen_for_notifications(&subscription, Some("a"), &options).await.unwrap();
    let mut pool_b = transport.listen_for_notifications(&subscription, Some("b"), &options).await.unwrap();
    transport
        .notify(&Target::new(&topic), Priority::Info, notification("x.y"), &NotifyOptions::default())
        .await
        .unwrap();
    for listener in [&mut pool_a, &mut pool_b] {
        let incoming = tokio::time::timeout(PATIENCE, listener.next()).await.unwrap().unwrap();
        assert_eq!(incoming.message.unwrap()["event_type"], "x.y");
        incoming.delivery.ack().await.unwrap();
    }
}
