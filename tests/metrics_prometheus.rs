//! courier's metrics (feature `metrics`, enabled for the tests by the dev-dependencies) land in
//! a Prometheus exporter: traffic through a server and a client, then the exporter's scrape,
//! checked series by series.
//!
//! The `metrics` recorder is process-wide, so this binary installs one exporter for all its
//! tests and each test reads only the series labelled with its own unique topic.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use courier::wire::Failure;
use courier::{
    Context, Error, Notifier, RpcClient, RpcServer, Target,
    rpc::{Hook, RemoteException, RequestInfo},
    rpc_endpoint,
};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::transports::{channel, recording_listener};
use courier_test_support::{unique, within};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

fn exporter() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("the only recorder"))
}

/// The value of the one series named `name` carrying every label in `labels`; `None` when no
/// series matches. Panics when several do, so a test never reads the wrong one.
fn value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let matching: Vec<f64> = scrape
        .lines()
        .filter_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
            let series_labels: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
            let all = wanted.iter().all(|w| series_labels.contains(&w.as_str()));
            (series_name == name && all).then(|| number.parse().expect("a number"))
        })
        .collect();
    assert!(matching.len() <= 1, "several series of {name} match {labels:?}:\n{scrape}");
    matching.first().copied()
}

#[derive(Debug)]
struct OutOfStock;

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of stock")
    }
}

impl RemoteException for OutOfStock {}

struct Shop {
    gate: Arc<Gate>,
    gauge: Arc<Gauge>,
}

impl Shop {
    fn new() -> Self {
        Self { gate: Gate::new(), gauge: Gauge::new() }
    }
}

#[rpc_endpoint]
impl Shop {
    /// Runs until the test opens the gate.
    async fn hold(&self) {
        let _running = self.gauge.enter();
        self.gate.wait().await;
    }

    fn price(&self, items: u32) -> u32 {
        items * 3
    }

    async fn order(&self, items: u32) -> Result<u32, OutOfStock> {
        if items > 10 { Err(OutOfStock) } else { Ok(items) }
    }

    fn explode(&self) {
        panic!("the shop exploded");
    }
}

#[tokio::test]
async fn the_server_counts_what_it_received_ran_and_rejected() {
    let handle = exporter();
    let topic = unique("metrics-server");
    let transport = courier::connect("fake://").await.unwrap();
    let shop = Shop::new();
    let (gate, gauge) = (Arc::clone(&shop.gate), Arc::clone(&shop.gauge));
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("h1"))
        .endpoint(shop)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = ShopClient::new(RpcClient::new(transport.clone(), Target::new(&topic)));
    let ctx = Context::new();
    let consumer = format!("{topic}.h1");
    let consumer = consumer.as_str();

    // Two bodies no request can come from, ahead of the calls on the topic's queue.
    courier::fake::publish_raw("openstack", &topic, b"not json".to_vec());
    let no_method = serde_json::json!({"oslo.version": "2.0", "oslo.message": "{\"args\": {}}"});
    courier::fake::publish_raw("openstack", &topic, no_method.to_string());

    for items in 1..=3 {
        within("a price", client.price(&ctx, items)).await.unwrap();
    }
    within("an order", client.order(&ctx, 2)).await.unwrap();
    assert!(matches!(within("an order", client.order(&ctx, 50)).await, Err(Error::Remote { .. })));
    assert!(matches!(within("a panic", client.explode(&ctx)).await, Err(Error::Remote { .. })));
    let nothing = serde_json::Map::new();
    let refund = within("a refund", client.inner().call(&ctx, "refund", nothing)).await;
    assert!(matches!(refund, Err(Error::NoSuchMethod { .. })), "{refund:?}");

    // While a call runs, it is in flight in its pool.
    let held = tokio::spawn({
        let (client, ctx) = (client.clone(), ctx.clone());
        async move { client.hold(&ctx).await }
    });
    gauge.wait_until("the held call running", |g| g.running() == 1).await;
    let scrape = handle.render();
    let running =
        |kind| value(&scrape, "courier_messages_in_flight", &[("consumer", consumer), ("kind", kind)]);
    assert_eq!(running("async"), Some(1.0), "{scrape}");
    assert_eq!(running("sync"), Some(0.0));
    gate.open();
    within("the held call", held).await.unwrap().unwrap();
    server.wait().await;

    let scrape = handle.render();
    let at = |name, labels: &[(&str, &str)]| {
        let mut all = vec![("consumer", consumer)];
        all.extend_from_slice(labels);
        value(&scrape, name, &all)
    };
    assert_eq!(at("courier_messages_received_total", &[]), Some(10.0), "{scrape}");
    let admitted =
        |method, kind| at("courier_messages_admitted_total", &[("method", method), ("kind", kind)]);
    assert_eq!(admitted("price", "sync"), Some(3.0));
    assert_eq!(admitted("order", "async"), Some(2.0));
    assert_eq!(admitted("explode", "sync"), Some(1.0));
    assert_eq!(admitted("hold", "async"), Some(1.0));
    let completed = |method| at("courier_messages_completed_total", &[("method", method)]);
    assert_eq!(completed("price"), Some(3.0));
    assert_eq!(completed("order"), Some(1.0));
    assert_eq!(completed("hold"), Some(1.0));
    assert_eq!(at("courier_messages_failed_total", &[("method", "order")]), Some(1.0));
    assert_eq!(at("courier_messages_panicked_total", &[("method", "explode")]), Some(1.0));
    let rejected = |reason| at("courier_messages_rejected_total", &[("reason", reason)]);
    assert_eq!(rejected("undecodable"), Some(1.0));
    assert_eq!(rejected("malformed"), Some(1.0));
    assert_eq!(rejected("no_such_method"), Some(1.0));
    let handled = at("courier_message_handling_seconds_count", &[("method", "price")]);
    assert_eq!(handled, Some(3.0), "one handling time per price call");
    for kind in ["sync", "async"] {
        assert_eq!(at("courier_messages_in_flight", &[("kind", kind)]), Some(0.0), "{kind}");
        assert_eq!(at("courier_messages_waiting", &[("kind", kind)]), Some(0.0), "{kind}");
    }
    assert_eq!(at("courier_reply_failures_total", &[]), None, "every reply went out");
}

#[tokio::test]
async fn a_notification_listener_counts_under_its_pool() {
    let handle = exporter();
    let topic = unique("metrics-notes");
    let pool = unique("metrics-pool");
    let transport = courier::connect("fake://").await.unwrap();
    let (sender, mut seen) = channel();
    let listener = recording_listener(&transport, &topic, Some(&pool), "counted", &sender);
    listener.start().await.unwrap();
    let notifier = Notifier::new(transport, "metrics-test").with_topics([topic.as_str()]);
    notifier.info(&Context::new(), "shop.sold", "one").await.unwrap();
    notifier.info(&Context::new(), "shop.sold", "two").await.unwrap();
    notifier.error(&Context::new(), "shop.broke", "three").await.unwrap();
    seen.take(3, "the three notifications").await;
    listener.wait().await;

    let scrape = handle.render();
    let at = |name, labels: &[(&str, &str)]| {
        let mut all = vec![("consumer", pool.as_str())];
        all.extend_from_slice(labels);
        value(&scrape, name, &all)
    };
    assert_eq!(at("courier_messages_received_total", &[]), Some(3.0), "{scrape}");
    let admitted =
        |method, kind| at("courier_messages_admitted_total", &[("method", method), ("kind", kind)]);
    assert_eq!(admitted("info", "sync"), Some(2.0));
    assert_eq!(admitted("error", "async"), Some(1.0));
    assert_eq!(at("courier_messages_completed_total", &[("method", "info")]), Some(2.0));
    assert_eq!(at("courier_messages_completed_total", &[("method", "error")]), Some(1.0));
}

#[tokio::test]
async fn client_calls_casts_timeouts_and_notifications_are_counted() {
    let handle = exporter();
    let topic = unique("metrics-client");
    let transport = courier::connect("fake://").await.unwrap();
    let shop = Shop::new();
    let (gate, gauge) = (Arc::clone(&shop.gate), Arc::clone(&shop.gauge));
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("h1"))
        .endpoint(shop)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = ShopClient::new(RpcClient::new(transport.clone(), Target::new(&topic)));
    let ctx = Context::new();

    // A call waiting for its reply is outstanding.
    let held = tokio::spawn({
        let (client, ctx) = (client.clone(), ctx.clone());
        async move { client.hold(&ctx).await }
    });
    gauge.wait_until("the held call running", |g| g.running() == 1).await;
    let outstanding = value(&handle.render(), "courier_client_outstanding_replies", &[("topic", &topic)]);
    assert_eq!(outstanding, Some(1.0));
    gate.open();
    within("the held call", held).await.unwrap().unwrap();

    for items in 1..=3 {
        assert_eq!(within("a price", client.price(&ctx, items)).await.unwrap(), items * 3);
    }
    assert!(matches!(within("an order", client.order(&ctx, 50)).await, Err(Error::Remote { .. })));
    client
        .inner()
        .cast(&ctx, "price", courier::rpc::to_args(&serde_json::json!({"items": 1})).unwrap())
        .await
        .unwrap();
    server.wait().await;

    // Nobody serves this topic: the call times out (the fake broker keeps the request).
    let lonely = unique("metrics-lonely");
    let nobody =
        RpcClient::new(transport.clone(), Target::new(&lonely)).with_timeout(Duration::from_millis(50));
    assert!(matches!(nobody.call(&ctx, "price", serde_json::Map::new()).await, Err(Error::Timeout { .. })));

    let notifier = Notifier::new(transport, "metrics-test").with_topics([topic.as_str()]);
    notifier.info(&ctx, "shop.sold", "three").await.unwrap();
    notifier.info(&ctx, "shop.sold", "four").await.unwrap();

    let scrape = handle.render();
    let topic = topic.as_str();
    let calls =
        |method| value(&scrape, "courier_client_calls_total", &[("topic", topic), ("method", method)]);
    assert_eq!(calls("price"), Some(3.0), "{scrape}");
    assert_eq!(calls("order"), Some(1.0));
    assert_eq!(calls("hold"), Some(1.0));
    let casts = value(&scrape, "courier_client_casts_total", &[("topic", topic), ("method", "price")]);
    assert_eq!(casts, Some(1.0));
    assert_eq!(value(&scrape, "courier_client_timeouts_total", &[("topic", topic)]), None);
    let timeouts =
        value(&scrape, "courier_client_timeouts_total", &[("topic", &lonely), ("method", "price")]);
    assert_eq!(timeouts, Some(1.0));
    for topic in [topic, &lonely] {
        let outstanding = value(&scrape, "courier_client_outstanding_replies", &[("topic", topic)]);
        assert_eq!(outstanding, Some(0.0), "every call got its reply or gave up");
    }
    let sent = value(&scrape, "courier_notifications_sent_total", &[("topic", topic), ("priority", "info")]);
    assert_eq!(sent, Some(2.0));
}

/// Refuses every `order`.
struct NoOrders;

impl Hook for NoOrders {
    fn before(&self, request: &RequestInfo<'_>) -> Result<(), Failure> {
        match request.method {
            "order" => Err(Failure::new("NotAuthorized", "shop.exception", "no orders today")),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn a_hooks_refusal_counts_as_a_rejection_not_a_run() {
    let handle = exporter();
    let topic = unique("metrics-hook");
    let transport = courier::connect("fake://").await.unwrap();
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("h1"))
        .endpoint(Shop::new())
        .with_hook(NoOrders)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = ShopClient::new(RpcClient::new(transport, Target::new(&topic)));
    let refused = within("a refused order", client.order(&Context::new(), 1)).await;
    assert!(matches!(refused, Err(Error::Remote { .. })), "{refused:?}");
    within("a price", client.price(&Context::new(), 1)).await.unwrap();
    server.wait().await;

    let scrape = handle.render();
    let consumer = format!("{topic}.h1");
    let at = |name, labels: &[(&str, &str)]| {
        let mut all = vec![("consumer", consumer.as_str())];
        all.extend_from_slice(labels);
        value(&scrape, name, &all)
    };
    let refusals =
        at("courier_messages_rejected_total", &[("method", "order"), ("reason", "refused_by_hook")]);
    assert_eq!(refusals, Some(1.0), "{scrape}");
    assert_eq!(at("courier_messages_completed_total", &[("method", "order")]), None, "it never ran");
    assert_eq!(at("courier_messages_failed_total", &[("method", "order")]), None, "it never ran");
    assert_eq!(at("courier_messages_completed_total", &[("method", "price")]), Some(1.0));
}

struct Hog;

#[rpc_endpoint]
impl Hog {
    async fn hog(&self) {
        // Blocks the runtime thread past the blocking watchdog's threshold.
        std::thread::sleep(Duration::from_millis(40));
    }
}

#[tokio::test]
async fn the_blocking_watchdog_counts_polls_that_blocked() {
    let handle = exporter();
    let topic = unique("metrics-watchdog");
    let transport = courier::connect("fake://").await.unwrap();
    let watchdog =
        courier::executor::ExecutorConfig::default().with_blocking_watchdog(Some(Duration::from_millis(10)));
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("h1"))
        .endpoint(Hog)
        .with_executor(watchdog)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(transport, Target::new(&topic));
    for _ in 0..2 {
        within("a hog", client.call(&Context::new(), "hog", serde_json::Map::new())).await.unwrap();
    }
    let consumer = format!("{topic}.h1");
    let labels = [("consumer", consumer.as_str()), ("method", "hog")];
    assert_eq!(value(&handle.render(), courier::metrics::BLOCKING_POLLS, &labels), Some(2.0));
    server.wait().await;
}
