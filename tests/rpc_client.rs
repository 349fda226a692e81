//! The client's contract: timeouts, version caps, fanout, server-targeted calls, target rules,
//! typed remote errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier::Version;
use courier::wire::Failure;
use courier::{Context, Error, RpcClient, RpcServer, Target, rpc::RemoteException, rpc_endpoint};
use courier_test_support::gauge::Gauge;
use courier_test_support::{PATIENCE, unique};

#[derive(Debug)]
struct QuotaExceeded {
    limit: u32,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quota of {} exceeded", self.limit)
    }
}

impl RemoteException for QuotaExceeded {
    fn exception_module(&self) -> std::borrow::Cow<'_, str> {
        "nova.exception".into()
    }
}

struct Node {
    name: &'static str,
    seen: Arc<Mutex<Vec<&'static str>>>,
    gauge: Arc<Gauge>,
}

#[rpc_endpoint]
impl Node {
    async fn whoami(&self) -> &'static str {
        self.name
    }

    fn record(&self) {
        let _done = self.gauge.enter();
        self.seen.lock().unwrap().push(self.name);
    }

    fn reserve(&self, count: u32) -> Result<u32, QuotaExceeded> {
        if count > 10 { Err(QuotaExceeded { limit: 10 }) } else { Ok(count) }
    }
}

struct Cluster {
    servers: Vec<RpcServer>,
    seen: Arc<Mutex<Vec<&'static str>>>,
    gauge: Arc<Gauge>,
    client: RpcClient,
}

async fn cluster(topic: &str, names: &[&'static str]) -> Cluster {
    let transport = courier::connect("fake://").await.unwrap();
    let (seen, gauge) = (Arc::new(Mutex::new(Vec::new())), Gauge::new());
    let mut servers = Vec::new();
    for &name in names {
        let node = Node { name, seen: seen.clone(), gauge: gauge.clone() };
        let server = RpcServer::builder(transport.clone(), Target::new(topic).with_server(name))
            .endpoint(node)
            .build()
            .unwrap();
        server.start().await.unwrap();
        servers.push(server);
    }
    let client = RpcClient::new(transport, Target::new(topic)).with_timeout(PATIENCE);
    Cluster { servers, seen, gauge, client }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_reaches_every_server() {
    let topic = unique("fanout");
    let cluster = cluster(&topic, &["a", "b", "c"]).await;
    let client = NodeClient::new(cluster.client.prepare().with_fanout(true));
    client.cast_record(&Context::new()).await.unwrap();
    cluster.gauge.wait_until("every server recorded", |g| g.finished() == 3).await;
    let mut seen = cluster.seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, ["a", "b", "c"]);
    for server in &cluster.servers {
        server.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_targeted_calls_reach_only_that_server() {
    let topic = unique("targeted");
    let cluster = cluster(&topic, &["a", "b"]).await;
    let to_b = NodeClient::new(cluster.client.prepare().with_server("b"));
    for _ in 0..20 {
        assert_eq!(to_b.whoami(&Context::new()).await.unwrap(), "b");
    }
    for _ in 0..5 {
        to_b.cast_record(&Context::new()).await.unwrap();
    }
    cluster.gauge.wait_until("the casts ran", |g| g.finished() == 5).await;
    assert!(cluster.seen.lock().unwrap().iter().all(|name| *name == "b"));
    for server in &cluster.servers {
        server.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_errors_arrive_with_their_exception_class() {
    let topic = unique("errors");
    let cluster = cluster(&topic, &["a"]).await;
    let client = NodeClient::new(cluster.client.clone());
    assert_eq!(client.reserve(&Context::new(), 3).await.unwrap(), 3);
    match client.reserve(&Context::new(), 11).await {
        Err(Error::Remote(Failure { class, module, message, .. })) => {
            assert_eq!(class, "QuotaExceeded");
            assert_eq!(module, "nova.exception");
            assert_eq!(message, "quota of 10 exceeded");
        }
        other => panic!("expected a remote QuotaExceeded, got {other:?}"),
    }
    cluster.servers[0].wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_nobody_answers_times_out() {
    let transport = courier::connect("fake://").await.unwrap();
    let client =
        RpcClient::new(transport, Target::new(unique("nobody"))).with_timeout(Duration::from_millis(100));
    match NodeClient::new(client).whoami(&Context::new()).await {
        Err(Error::Timeout { timeout, topic, msg_id }) => {
            assert_eq!(timeout, Duration::from_millis(100));
            assert!(topic.starts_with("nobody-"));
            assert_eq!(msg_id.len(), 32);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_cap_is_checked_before_sending() {
    let transport = courier::connect("fake://").await.unwrap();
    // Nobody serves this topic: a refused message fails at once instead of timing out.
    let client =
        RpcClient::new(transport, Target::new(unique("capped"))).with_version_cap(Version::new(1, 3));
    assert!(client.can_send_version(Some(Version::new(1, 2))));
    assert!(client.can_send_version(Some(Version::new(1, 3))));
    assert!(!client.can_send_version(Some(Version::new(1, 4))));
    assert!(!client.can_send_version(Some(Version::new(2, 0))));
    assert!(!client.can_send_version(None), "with a cap, a message without a version is refused");
    for version in ["1.4", "2.0"] {
        let capped = client.prepare().with_version(version.parse().unwrap());
        match capped.call(&Context::new(), "whoami", Default::default()).await {
            Err(Error::VersionCap { version: v, cap }) => {
                assert_eq!((v.as_str(), cap.as_str()), (version, "1.3"))
            }
            other => panic!("expected a version cap error, got {other:?}"),
        }
        assert!(matches!(
            capped.cast(&Context::new(), "whoami", Default::default()).await,
            Err(Error::VersionCap { .. })
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_are_refused() {
    let transport = courier::connect("fake://").await.unwrap();
    let fanout_call = RpcClient::new(transport.clone(), Target::new("t")).with_fanout(true);
    assert!(matches!(
        fanout_call.call(&Context::new(), "m", Default::default()).await,
        Err(Error::InvalidTarget(_))
    ));
    let no_server = RpcServer::builder(transport.clone(), Target::new("t")).build();
    assert!(matches!(no_server, Err(Error::InvalidTarget(_))));
    let no_topic = RpcClient::new(transport, Target::default().with_server("s"));
    assert!(matches!(
        no_topic.cast(&Context::new(), "m", Default::default()).await,
        Err(Error::InvalidTarget(_))
    ));
}
