//! The mixed executor keeps the kinds apart: blocking methods holding every sync slot do not
//! stop async methods, and an async flood does not push sync work past its bound.

use std::sync::Arc;

use courier::{Context, RpcClient, RpcServer, Target, executor::ExecutorConfig, rpc_endpoint};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::{PATIENCE, unique};

struct Worker {
    gate: Arc<Gate>,
    sync_gauge: Arc<Gauge>,
    async_gauge: Arc<Gauge>,
}

#[rpc_endpoint]
impl Worker {
    /// Holds a blocking thread until the test opens the gate.
    fn block(&self) -> &'static str {
        let _running = self.sync_gauge.enter();
        self.gate.wait_blocking();
        "unblocked"
    }

    /// Answers at once.
    async fn ping(&self) -> &'static str {
        let _running = self.async_gauge.enter();
        tokio::task::yield_now().await;
        "pong"
    }
}

const SYNC_POOL: usize = 3;
const SYNC_QUEUE: usize = 2;

async fn start(topic: &str) -> (RpcServer, Arc<Gate>, Arc<Gauge>, Arc<Gauge>, WorkerClient) {
    let transport = courier::connect("fake://").await.unwrap();
    let (gate, sync_gauge, async_gauge) = (Gate::new(), Gauge::new(), Gauge::new());
    let worker =
        Worker { gate: gate.clone(), sync_gauge: sync_gauge.clone(), async_gauge: async_gauge.clone() };
    let server = RpcServer::builder(transport.clone(), Target::new(topic).with_server("s1"))
        .endpoint(worker)
        .with_executor(
            ExecutorConfig::default()
                .with_sync_pool(SYNC_POOL)
                .with_sync_queue(SYNC_QUEUE)
                .with_async_pool(8),
        )
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = WorkerClient::new(RpcClient::new(transport, Target::new(topic)).with_timeout(PATIENCE));
    (server, gate, sync_gauge, async_gauge, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_methods_answer_while_every_blocking_slot_is_held() {
    let topic = unique("isolation");
    let (server, gate, sync_gauge, _async_gauge, client) = start(&topic).await;
    let ctx = Context::new();

    let blocked: Vec<_> = (0..SYNC_POOL)
        .map(|_| {
            let (client, ctx) = (client.clone(), ctx.clone());
            tokio::spawn(async move { client.block(&ctx).await })
        })
        .collect();
    sync_gauge.wait_until("every sync slot is held", |g| g.running() == SYNC_POOL).await;

    // Every blocking slot is taken and nothing has been released: async calls still answer.
    for _ in 0..5 {
        assert_eq!(client.ping(&ctx).await.unwrap(), "pong");
    }
    assert_eq!(sync_gauge.running(), SYNC_POOL, "the sync calls must still be blocked");

    gate.open();
    for call in blocked {
        assert_eq!(call.await.unwrap().unwrap(), "unblocked");
    }
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_flood_does_not_push_sync_work_past_its_bound() {
    let topic = unique("flood");
    let (server, gate, sync_gauge, async_gauge, client) = start(&topic).await;
    let ctx = Context::new();

    // The pool and its waiting queue fill up; one more sync message would make the server stop
    // taking messages (by design: the broker then holds the rest).
    const SYNC_CALLS: usize = SYNC_POOL + SYNC_QUEUE;
    const ASYNC_CALLS: usize = 200;
    let sync_calls: Vec<_> = (0..SYNC_CALLS)
        .map(|_| {
            let (client, ctx) = (client.clone(), ctx.clone());
            tokio::spawn(async move { client.block(&ctx).await })
        })
        .collect();
    sync_gauge.wait_until("the sync pool is full", |g| g.running() == SYNC_POOL).await;
    let flood: Vec<_> = (0..ASYNC_CALLS)
        .map(|_| {
            let (client, ctx) = (client.clone(), ctx.clone());
            tokio::spawn(async move { client.ping(&ctx).await })
        })
        .collect();
    for call in flood {
        assert_eq!(call.await.unwrap().unwrap(), "pong");
    }
    assert_eq!(async_gauge.finished(), ASYNC_CALLS);
    assert_eq!(sync_gauge.running(), SYNC_POOL, "the flood must not start more sync work");

    gate.open();
    for call in sync_calls {
        assert_eq!(call.await.unwrap().unwrap(), "unblocked");
    }
    assert_eq!(sync_gauge.peak(), SYNC_POOL, "never more than the bound ran at once");
    assert_eq!(sync_gauge.finished(), SYNC_CALLS);
    server.wait().await;
}

struct Careless;

#[rpc_endpoint]
impl Careless {
    /// Blocks its runtime thread: what the watchdog is for.
    async fn hog(&self) {
        std::thread::sleep(std::time::Duration::from_millis(60));
    }

    /// Waits without blocking.
    async fn nap(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
}

/// The blocking watchdog (on by default in debug builds, at 10 ms) names an async method that
/// blocks its thread, with the poll's length; one that awaits is not named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_watchdog_names_an_async_method_that_blocks() {
    let logs = courier_test_support::logs::capture_process("courier_runtime=warn");
    let topic = unique("watchdog");
    let transport = courier::fake::connect(courier::transport::TransportConfig::default());
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Careless)
        .with_executor(ExecutorConfig::default())
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE);
    client.call(&Context::new(), "nap", serde_json::Map::new()).await.unwrap();
    assert!(!logs.contains("blocked its runtime thread"), "{}", logs.text());
    client.call(&Context::new(), "hog", serde_json::Map::new()).await.unwrap();
    assert!(logs.contains("the async method hog blocked its runtime thread for"), "{}", logs.text());
    assert!(logs.contains("make blocking work a sync `fn`"), "{}", logs.text());
    server.wait().await;
}
