//! The transport conformance suite: the same RPC and notification scenarios against every
//! transport, so `fake://` and `rabbit://` are proven equivalent and a new transport has a
//! ready test. A test file instantiates the suite once per transport with
//! [`transport_conformance!`](crate::transport_conformance):
//!
//! ```ignore
//! courier_test_support::transport_conformance!(
//!     fake,
//!     available: true,
//!     subject: courier_test_support::conformance::Subject::url("fake://"),
//! );
//! ```
//!
//! Each scenario is a public `async fn(&Subject)`, so a failing one can also be called alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use courier::wire::Failure;
use courier::{
    Context, Error, Notifier, RpcClient, RpcServer, Target, Transport, rpc::RemoteException, rpc_endpoint,
    transport::TransportConfig,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::transports::{Receiver, channel, recording_listener};
use crate::{PATIENCE, unique, within};

type Connect =
    dyn Fn(TransportConfig) -> Pin<Box<dyn Future<Output = Arc<dyn Transport>> + Send>> + Send + Sync;

/// The transport under test: a factory of transports of one kind, each connected with the
/// configuration (control exchange) it is given. Two transports from one subject on one
/// exchange are two processes on one broker.
pub struct Subject {
    connect: Box<Connect>,
}

impl Subject {
    /// Transports `courier::connect_with` builds for `url` (any registered scheme).
    pub fn url(url: &'static str) -> Self {
        Self::new(move |config| async move {
            courier::connect_with(url, config).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"))
        })
    }

    /// Transports `connect` builds.
    pub fn new<F, Fut>(connect: F) -> Self
    where
        F: Fn(TransportConfig) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Arc<dyn Transport>> + Send + 'static,
    {
        Self { connect: Box::new(move |config| Box::pin(connect(config))) }
    }

    /// Two transports (a server's and a client's process) on a fresh control exchange.
    async fn pair(&self) -> (Arc<dyn Transport>, Arc<dyn Transport>) {
        let exchange = unique("courier-conformance");
        let config = || TransportConfig::default().with_control_exchange(exchange.clone());
        ((self.connect)(config()).await, (self.connect)(config()).await)
    }
}

/// Instantiates every scenario of the suite as a test, in a module named `$transport`;
/// `available` is evaluated first in each test (print why and return `false` to skip).
#[macro_export]
macro_rules! transport_conformance {
    ($transport:ident, available: $available:expr, subject: $subject:expr $(,)?) => {
        mod $transport {
            $crate::__conformance_tests!(($available) ($subject)
                rpc_call_returns_the_result_and_carries_the_context,
                rpc_cast_reaches_the_server,
                rpc_remote_errors_keep_their_class,
                rpc_unknown_methods_are_reported,
                rpc_calls_nobody_serves_time_out,
                rpc_server_targeted_calls_reach_only_that_server,
                rpc_calls_are_shared_between_the_servers_of_a_topic,
                rpc_fanout_casts_reach_every_server,
                notification_fields_arrive_intact,
                notification_pools_share_and_groups_copy,
                unusable_targets_are_refused_before_the_broker,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($available:expr) ($subject:expr) $($scenario:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            if $available {
                $crate::conformance::$scenario(&$subject).await;
            }
        }
    )*};
}

/// What `Probe::fail` returns; the caller sees its class.
#[derive(Debug)]
struct ProbeFailure(String);

impl std::fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl RemoteException for ProbeFailure {
    fn exception_module(&self) -> std::borrow::Cow<'_, str> {
        "courier.conformance".into()
    }
}

/// The RPC endpoint of the scenarios: answers with who it is, reports casts.
struct Probe {
    server: String,
    casts: mpsc::UnboundedSender<(String, Value)>,
}

#[rpc_endpoint]
impl Probe {
    async fn echo(&self, ctx: &Context, value: Value) -> Value {
        json!({"value": value, "user": ctx.user(), "server": self.server})
    }

    fn record(&self, value: Value) {
        let _ = self.casts.send((self.server.clone(), value));
    }

    fn fail(&self, message: String) -> Result<(), ProbeFailure> {
        Err(ProbeFailure(message))
    }
}

/// Servers of [`Probe`] on one topic, and a client of that topic.
struct Rpc {
    servers: Vec<RpcServer>,
    casts: mpsc::UnboundedReceiver<(String, Value)>,
    client: ProbeClient,
    transports: Vec<Arc<dyn Transport>>,
}

impl Rpc {
    /// Servers named `names` on a fresh topic (on the first transport), the client on the second.
    async fn start(subject: &Subject, names: &[&str]) -> Self {
        let (server_side, client_side) = subject.pair().await;
        let topic = unique("conformance");
        let (sender, casts) = mpsc::unbounded_channel();
        let mut servers = Vec::new();
        for name in names {
            let server = RpcServer::builder(Arc::clone(&server_side), Target::new(&topic).with_server(*name))
                .endpoint(Probe { server: (*name).to_owned(), casts: sender.clone() })
                .build()
                .expect("a valid server");
            server.start().await.expect("the server consumes");
            servers.push(server);
        }
        let client = ProbeClient::new(
            RpcClient::new(Arc::clone(&client_side), Target::new(&topic)).with_timeout(PATIENCE),
        );
        Self { servers, casts, client, transports: vec![server_side, client_side] }
    }

    async fn next_cast(&mut self, what: &str) -> (String, Value) {
        within(what, self.casts.recv()).await.expect("the servers are gone")
    }

    async fn stop(self) {
        for server in &self.servers {
            server.wait().await;
        }
        for transport in &self.transports {
            transport.cleanup().await;
        }
    }
}

/// A call returns the endpoint's result, with the caller's context delivered to it.
pub async fn rpc_call_returns_the_result_and_carries_the_context(subject: &Subject) {
    let rpc = Rpc::start(subject, &["s1"]).await;
    let ctx = Context::new().with("user", "alice");
    let value = json!({"text": "héllo ✓", "list": [1, 2.5, null], "nested": {"deep": [{}]}});
    let answer = rpc.client.echo(&ctx, value.clone()).await.expect("the call succeeds");
    assert_eq!(answer, json!({"value": value, "user": "alice", "server": "s1"}));
    rpc.stop().await;
}

/// A cast reaches the server's method with its arguments.
pub async fn rpc_cast_reaches_the_server(subject: &Subject) {
    let mut rpc = Rpc::start(subject, &["s1"]).await;
    rpc.client
        .inner()
        .cast(&Context::new(), "record", crate::wire::args(json!({"value": 7})))
        .await
        .expect("cast");
    assert_eq!(rpc.next_cast("the cast").await, ("s1".to_owned(), json!(7)));
    rpc.stop().await;
}

/// An endpoint's error reaches the caller with its class, module and message.
pub async fn rpc_remote_errors_keep_their_class(subject: &Subject) {
    let rpc = Rpc::start(subject, &["s1"]).await;
    match rpc.client.fail(&Context::new(), "it broke".to_owned()).await {
        Err(Error::Remote(Failure { class, module, message, .. })) => {
            assert_eq!((class.as_str(), module.as_str()), ("ProbeFailure", "courier.conformance"));
            assert!(message.contains("it broke"), "{message}");
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    rpc.stop().await;
}

/// A method no endpoint has is reported as such, not as a timeout.
pub async fn rpc_unknown_methods_are_reported(subject: &Subject) {
    let rpc = Rpc::start(subject, &["s1"]).await;
    let result: Result<Value, Error> = rpc.client.inner().call_as(&Context::new(), "nope", &json!({})).await;
    match result {
        Err(Error::NoSuchMethod { method, .. }) => assert_eq!(method, "nope"),
        other => panic!("expected NoSuchMethod, got {other:?}"),
    }
    rpc.stop().await;
}

/// A call to a topic nobody serves ends with a timeout error, not a hang.
pub async fn rpc_calls_nobody_serves_time_out(subject: &Subject) {
    let (transport, _) = subject.pair().await;
    let topic = unique("conformance-nobody");
    let client =
        RpcClient::new(Arc::clone(&transport), Target::new(&topic)).with_timeout(Duration::from_millis(500));
    let result: Result<Value, Error> =
        within("the timeout", client.call_as(&Context::new(), "echo", &json!({}))).await;
    match result {
        Err(Error::Timeout { topic: timed_out, .. }) => assert_eq!(timed_out, topic),
        other => panic!("expected a timeout, got {other:?}"),
    }
    transport.cleanup().await;
}

/// A call naming a server reaches that server and no other.
pub async fn rpc_server_targeted_calls_reach_only_that_server(subject: &Subject) {
    let rpc = Rpc::start(subject, &["s1", "s2"]).await;
    let to_s2 = ProbeClient::new(rpc.client.inner().clone().with_server("s2"));
    for i in 0..4 {
        let answer = to_s2.echo(&Context::new(), json!(i)).await.expect("the call succeeds");
        assert_eq!(answer["server"], "s2", "call {i}");
    }
    rpc.stop().await;
}

/// Calls on a topic served by two servers are each answered once, by one of them.
pub async fn rpc_calls_are_shared_between_the_servers_of_a_topic(subject: &Subject) {
    let rpc = Rpc::start(subject, &["s1", "s2"]).await;
    for i in 0..6 {
        let answer = rpc.client.echo(&Context::new(), json!(i)).await.expect("the call succeeds");
        assert_eq!(answer["value"], json!(i));
        assert!(["s1", "s2"].contains(&answer["server"].as_str().unwrap_or_default()), "{answer}");
    }
    rpc.stop().await;
}

/// A fanout cast reaches every server of the topic, once each.
pub async fn rpc_fanout_casts_reach_every_server(subject: &Subject) {
    let mut rpc = Rpc::start(subject, &["s1", "s2", "s3"]).await;
    let fanout = rpc.client.inner().clone().with_fanout(true);
    fanout.cast(&Context::new(), "record", crate::wire::args(json!({"value": "all"}))).await.expect("cast");
    let mut reached = Vec::new();
    for _ in 0..3 {
        let (server, value) = rpc.next_cast("the fanout cast on each server").await;
        assert_eq!(value, json!("all"));
        reached.push(server);
    }
    reached.sort();
    assert_eq!(reached, ["s1", "s2", "s3"]);
    // Once each: a probe call through every server comes after any duplicate would have.
    for name in ["s1", "s2", "s3"] {
        ProbeClient::new(rpc.client.inner().clone().with_server(name))
            .echo(&Context::new(), json!(0))
            .await
            .unwrap();
    }
    assert!(rpc.casts.try_recv().is_err(), "a server got the fanout cast twice");
    rpc.stop().await;
}

/// A notification reaches the method of its priority with publisher, event type, payload and
/// context intact, and a message id and timestamp.
pub async fn notification_fields_arrive_intact(subject: &Subject) {
    let (listening, notifying) = subject.pair().await;
    let topic = unique("conformance-notify");
    let (sender, mut seen): (_, Receiver) = channel();
    let listener = recording_listener(&listening, &topic, None, "listener", &sender);
    listener.start().await.expect("the listener consumes");
    let notifier = Notifier::new(Arc::clone(&notifying), "compute.host1").with_topics([topic.as_str()]);
    let ctx = Context::new().with("user", "alice");
    let payload = json!({"instance_id": 12, "name": "ünïcode", "tags": [], "nested": {"a": [1, null]}});
    notifier.info(&ctx, "compute.instance.create.end", payload.clone()).await.expect("notify info");
    notifier.error(&ctx, "compute.instance.create.error", json!({"code": 500})).await.expect("notify error");
    let mut reports = seen.take(2, "the INFO and the ERROR notification").await;
    reports.sort_by_key(|report| report.priority);
    let (error, info) = (&reports[0], &reports[1]);
    assert_eq!(
        (info.priority, info.publisher_id.as_str(), info.event_type.as_str(), &info.payload),
        ("info", "compute.host1", "compute.instance.create.end", &payload)
    );
    assert_eq!((error.priority, error.event_type.as_str()), ("error", "compute.instance.create.error"));
    assert_eq!(info.context.user(), Some("alice"));
    assert!(!info.message_id.is_empty() && !info.timestamp.is_empty(), "{info:?}");
    assert_ne!(info.message_id, error.message_id);
    listener.wait().await;
    listening.cleanup().await;
    notifying.cleanup().await;
}

/// Listeners of one pool share its notifications; each pool, and the pool-less group, gets
/// its own copy of every notification.
pub async fn notification_pools_share_and_groups_copy(subject: &Subject) {
    let (first, second) = subject.pair().await;
    let topic = unique("conformance-pools");
    let pool = unique("pool");
    let (sender, mut seen) = channel();
    let listeners = [
        recording_listener(&first, &topic, Some(&pool), "pool", &sender),
        recording_listener(&second, &topic, Some(&pool), "pool", &sender),
        recording_listener(&first, &topic, None, "pool-less", &sender),
    ];
    for listener in &listeners {
        listener.start().await.expect("the listener consumes");
    }
    let notifier = Notifier::new(Arc::clone(&second), "p").with_topics([topic.as_str()]);
    for i in 0..4 {
        notifier.info(&Context::new(), &format!("event.{i}"), json!({"i": i})).await.expect("notify");
    }
    let reports = seen.take(8, "four notifications for the pool and four for the pool-less group").await;
    for group in ["pool", "pool-less"] {
        let mut events: Vec<&str> =
            reports.iter().filter(|r| r.by == group).map(|r| r.event_type.as_str()).collect();
        events.sort_unstable();
        assert_eq!(events, ["event.0", "event.1", "event.2", "event.3"], "{group}");
    }
    for listener in &listeners {
        listener.wait().await;
    }
    assert!(seen.drain_now().is_empty(), "a pool member got a notification another member had");
    first.cleanup().await;
    second.cleanup().await;
}

/// The transport itself refuses a target it cannot use, as `TransportError::InvalidTarget`
/// (not as something the broker refused): a cast or a listener without a topic, an RPC
/// server's listener without a server name, a call with fanout.
pub async fn unusable_targets_are_refused_before_the_broker(subject: &Subject) {
    use courier::error::TransportError;
    use courier::transport::{CallOptions, ListenOptions, SendOptions};
    use courier::wire::Request;
    let (transport, _) = subject.pair().await;
    let no_topic = Target::default();
    let args = serde_json::Map::new();
    let refused = |result: Result<(), TransportError>, what: &str| match result {
        Err(TransportError::InvalidTarget(_)) => {}
        other => panic!("{what}: expected InvalidTarget, got {other:?}"),
    };
    let cast = transport.cast(&no_topic, Request::new("m", args.clone()), &SendOptions::default()).await;
    refused(cast, "a cast without a topic");
    let listen = transport.listen(&no_topic, &ListenOptions::default()).await.map(drop);
    refused(listen, "a listener without a topic");
    let no_server = Target::new(unique("no-server"));
    let listen = transport.listen(&no_server, &ListenOptions::default()).await.map(drop);
    refused(listen, "an RPC server listener without a server name");
    let fanout_call = Target::new(unique("fanout-call")).with_fanout(true);
    let mut request = Request::new("m", args);
    request.msg_id = Some("a-msg-id".into());
    let call = transport.call(&fanout_call, request, &CallOptions::new(PATIENCE)).await.map(drop);
    refused(call, "a call with fanout");
    transport.cleanup().await;
}
