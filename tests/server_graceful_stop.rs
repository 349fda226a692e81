//! Graceful stop: in-flight calls all get their replies, nothing new starts after stop, and the
//! server can be started again to pick up what waited in the broker.

use std::sync::Arc;

use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::{PATIENCE, unique, within};

struct Slow {
    gate: Arc<Gate>,
    gauge: Arc<Gauge>,
}

#[rpc_endpoint]
impl Slow {
    async fn work(&self, n: u32) -> u32 {
        let _running = self.gauge.enter();
        self.gate.wait().await;
        n * 2
    }

    fn sync_work(&self, n: u32) -> u32 {
        let _running = self.gauge.enter();
        self.gate.wait_blocking();
        n * 2
    }
}

/// A transport on `exchange`: one per process of the test.
async fn connect(url: &str, exchange: &str) -> Arc<dyn courier::Transport> {
    let config = courier::transport::TransportConfig::default().with_control_exchange(exchange);
    courier::connect_with(url, config).await.unwrap()
}

/// 100 calls in flight (80 async: 64 running and 16 admitted waiting for a slot; 20 sync) when
/// the server stops: 100 replies, and nothing new starts.
async fn in_flight_calls_finish_and_nothing_new_starts_after_stop(url: &'static str) {
    let topic = unique("graceful");
    let exchange = unique("graceful");
    // Server and client on transports of their own, as in two processes.
    let transport = connect(url, &exchange).await;
    let server_transport = connect(url, &exchange).await;
    let (gate, gauge) = (Gate::new(), Gauge::new());
    let server = RpcServer::builder(server_transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Slow { gate: gate.clone(), gauge: gauge.clone() })
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = SlowClient::new(RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE));
    let ctx = Context::new();

    const IN_FLIGHT: u32 = 100;
    let calls: Vec<_> = (0..IN_FLIGHT)
        .map(|n| {
            let (client, ctx) = (client.clone(), ctx.clone());
            // 80 async and 20 sync calls: within the default bounds, slots plus waiting queues.
            tokio::spawn(async move {
                if n % 5 == 0 { client.sync_work(&ctx, n).await } else { client.work(&ctx, n).await }
            })
        })
        .collect();
    within("all calls in flight", async {
        while server.in_flight() != (20, 80) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    // 64 async and 20 sync run; 16 async wait for a slot.
    gauge.wait_until("every slot is taken", |g| g.running() == 84).await;

    server.stop().await;
    client.cast_work(&ctx, 1000).await.unwrap();
    gate.open();
    let report = server.wait().await;
    assert_eq!(report.abandoned, 0);
    // `wait()` returned, so every reply has gone out: a service may now close its transport.
    server_transport.cleanup().await;
    for (n, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), n as u32 * 2, "call {n} got its reply");
    }
    assert_eq!(gauge.started(), IN_FLIGHT as usize, "nothing new started after stop");

    // Restarted (on a transport of its own again), the server takes the cast that waited in the
    // broker.
    let server = RpcServer::builder(connect(url, &exchange).await, Target::new(&topic).with_server("s1"))
        .endpoint(Slow { gate: gate.clone(), gauge: gauge.clone() })
        .build()
        .unwrap();
    server.start().await.unwrap();
    gauge.wait_until("the waiting cast ran", |g| g.finished() == IN_FLIGHT as usize + 1).await;
    server.wait().await;
}

courier_test_support::on_every_transport!(in_flight_calls_finish_and_nothing_new_starts_after_stop);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_timeout_reports_abandoned_work() {
    let topic = unique("drain");
    let transport = courier::connect("fake://").await.unwrap();
    let (gate, gauge) = (Gate::new(), Gauge::new());
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Slow { gate: gate.clone(), gauge: gauge.clone() })
        .with_drain_timeout(std::time::Duration::from_millis(10))
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = SlowClient::new(RpcClient::new(transport, Target::new(&topic)));
    client.cast_work(&Context::new(), 1).await.unwrap();
    gauge.wait_until("the cast runs", |g| g.running() == 1).await;
    assert_eq!(server.wait().await.abandoned, 1);
    gate.open();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waited_server_starts_again_and_takes_what_waited_in_the_broker() {
    let topic = unique("restart");
    let transport = courier::connect("fake://").await.unwrap();
    let (gate, gauge) = (Gate::new(), Gauge::new());
    gate.open();
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Slow { gate, gauge: gauge.clone() })
        .build()
        .unwrap();
    let client = SlowClient::new(RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE));
    server.start().await.unwrap();
    assert_eq!(client.work(&Context::new(), 1).await.unwrap(), 2);
    server.wait().await;
    client.cast_work(&Context::new(), 5).await.unwrap();
    server.start().await.unwrap();
    gauge.wait_until("the cast that waited ran", |g| g.finished() == 2).await;
    assert_eq!(client.work(&Context::new(), 3).await.unwrap(), 6);
    server.wait().await;
}
