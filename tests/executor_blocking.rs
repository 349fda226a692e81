//! The `blocking` executor: one message at a time, in order.

use std::sync::{Arc, Mutex};

use courier::{Context, RpcClient, RpcServer, Target, executor::ExecutorConfig, rpc_endpoint};
use courier_test_support::gauge::Gauge;
use courier_test_support::unique;

struct Ordered {
    log: Arc<Mutex<Vec<u32>>>,
    gauge: Arc<Gauge>,
}

#[rpc_endpoint]
impl Ordered {
    fn sync_step(&self, n: u32) {
        let _running = self.gauge.enter();
        std::thread::yield_now();
        self.log.lock().unwrap().push(n);
    }

    async fn async_step(&self, n: u32) {
        let _running = self.gauge.enter();
        tokio::task::yield_now().await;
        self.log.lock().unwrap().push(n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_run_one_at_a_time_in_order() {
    let topic = unique("blocking");
    let transport = courier::connect("fake://").await.unwrap();
    let (log, gauge) = (Arc::new(Mutex::new(Vec::new())), Gauge::new());
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Ordered { log: log.clone(), gauge: gauge.clone() })
        .with_executor(ExecutorConfig::blocking())
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = OrderedClient::new(RpcClient::new(transport, Target::new(&topic)));
    let ctx = Context::new();
    const STEPS: u32 = 40;
    for n in 0..STEPS {
        if n % 2 == 0 {
            client.cast_sync_step(&ctx, n).await.unwrap()
        } else {
            client.cast_async_step(&ctx, n).await.unwrap()
        }
    }
    gauge.wait_until("every step ran", |g| g.finished() == STEPS as usize).await;
    assert_eq!(*log.lock().unwrap(), (0..STEPS).collect::<Vec<_>>());
    assert_eq!(gauge.peak(), 1);
    server.wait().await;
}
