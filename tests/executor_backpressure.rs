//! Back-pressure: with a bound of N, never more than N methods of a kind run at once, work
//! beyond the bound and its small waiting queue stays in the broker, and nothing is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use courier::{
    Context, RpcClient, RpcServer, Target, executor::ExecutorConfig, rpc_endpoint,
    transport::DEFAULT_CONTROL_EXCHANGE,
};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::unique;

struct Jobs {
    gate: Arc<Gate>,
    sync_gauge: Arc<Gauge>,
    async_gauge: Arc<Gauge>,
    done: Arc<AtomicUsize>,
}

#[rpc_endpoint]
impl Jobs {
    fn sync_job(&self, n: u32) {
        let _running = self.sync_gauge.enter();
        self.gate.wait_blocking();
        self.done.fetch_add(n as usize, Ordering::SeqCst);
    }

    async fn async_job(&self, n: u32) {
        let _running = self.async_gauge.enter();
        self.gate.wait().await;
        self.done.fetch_add(n as usize, Ordering::SeqCst);
    }
}

const POOL: usize = 3;
const QUEUE: usize = 2;
const CASTS: usize = 25;

async fn run(async_kind: bool) {
    let topic = unique("backpressure");
    let transport = courier::connect("fake://").await.unwrap();
    let (gate, sync_gauge, async_gauge) = (Gate::new(), Gauge::new(), Gauge::new());
    let done = Arc::new(AtomicUsize::new(0));
    let jobs = Jobs {
        gate: gate.clone(),
        sync_gauge: sync_gauge.clone(),
        async_gauge: async_gauge.clone(),
        done: done.clone(),
    };
    let config = ExecutorConfig::default()
        .with_sync_pool(POOL)
        .with_sync_queue(QUEUE)
        .with_async_pool(POOL)
        .with_async_queue(QUEUE);
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(jobs)
        .with_executor(config)
        .build()
        .unwrap();
    server.start().await.unwrap();

    let client = JobsClient::new(RpcClient::new(transport, Target::new(&topic)));
    let ctx = Context::new();
    for _ in 0..CASTS {
        if async_kind {
            client.cast_async_job(&ctx, 1).await.unwrap()
        } else {
            client.cast_sync_job(&ctx, 1).await.unwrap()
        }
    }
    let gauge = if async_kind { &async_gauge } else { &sync_gauge };
    gauge.wait_until("the pool is full", |g| g.running() == POOL).await;
    // The waiting queue fills and the dispatch loop holds one more message it cannot admit;
    // everything else must still be in the broker's queue.
    let held_by_courier = POOL + QUEUE + 1;
    let in_broker = courier::fake::queued(DEFAULT_CONTROL_EXCHANGE, &topic);
    assert!(in_broker >= CASTS - held_by_courier, "only {in_broker} of {CASTS} casts stayed in the broker");
    assert_eq!(gauge.started(), POOL, "nothing beyond the bound started");

    gate.open();
    gauge.wait_until("every cast ran", |g| g.finished() == CASTS).await;
    assert_eq!(done.load(Ordering::SeqCst), CASTS, "no message was lost");
    assert_eq!(gauge.peak(), POOL, "never more than the bound ran at once");
    assert_eq!(courier::fake::queued(DEFAULT_CONTROL_EXCHANGE, &topic), 0);
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_work_beyond_the_bound_waits_in_the_broker() {
    run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_work_beyond_the_bound_waits_in_the_broker() {
    run(true).await;
}
