//! Graceful stop: in-flight calls all get their replies, nothing new starts after stop, and the
//! server can be started again to pick up what waited in the broker.

use std::sync::Arc;

use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::{PATIENCE, unique};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_and_nothing_new_starts_after_stop() {
    let topic = unique("graceful");
    // Server and client on transports of their own, as in two processes.
    let transport = courier::connect("fake://").await.unwrap();
    let server_transport = courier::connect("fake://").await.unwrap();
    let (gate, gauge) = (Gate::new(), Gauge::new());
    let server = RpcServer::builder(server_transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Slow { gate: gate.clone(), gauge: gauge.clone() })
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = SlowClient::new(RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE));
    let ctx = Context::new();

    const IN_FLIGHT: u32 = 50;
    let calls: Vec<_> = (0..IN_FLIGHT)
        .map(|n| {
            let (client, ctx) = (client.clone(), ctx.clone());
            // 40 async and 10 sync calls, all within the default bounds.
            tokio::spawn(async move {
                if n % 5 == 0 { client.sync_work(&ctx, n).await } else { client.work(&ctx, n).await }
            })
        })
        .collect();
    gauge.wait_until("all calls are in flight", |g| g.running() == IN_FLIGHT as usize).await;

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
    let server =
        RpcServer::builder(courier::connect("fake://").await.unwrap(), Target::new(&topic).with_server("s1"))
            .endpoint(Slow { gate: gate.clone(), gauge: gauge.clone() })
            .build()
            .unwrap();
    server.start().await.unwrap();
    gauge.wait_until("the waiting cast ran", |g| g.finished() == IN_FLIGHT as usize + 1).await;
    server.wait().await;
}

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
