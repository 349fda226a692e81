//! The mixed executor over a real RabbitMQ: blocking methods do not delay async ones, and when
//! both pools and their waiting queues are full, further requests stay in the broker's queue,
//! not in courier's memory. Also: a URL whose first host is dead fails over to the second.

use std::sync::Arc;

use courier::{Context, RpcClient, RpcServer, Target, executor::ExecutorConfig, rpc_endpoint};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::{PATIENCE, unique};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

const BROKER_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

struct Work {
    gate: Arc<Gate>,
    sync_gauge: Arc<Gauge>,
    async_gauge: Arc<Gauge>,
}

#[rpc_endpoint]
impl Work {
    fn block(&self) -> u32 {
        let _running = self.sync_gauge.enter();
        self.gate.wait_blocking();
        1
    }

    async fn wait_async(&self) -> u32 {
        let _running = self.async_gauge.enter();
        self.gate.wait().await;
        2
    }

    async fn ping(&self) -> &'static str {
        "pong"
    }
}

const POOL: usize = 2;
const QUEUE: usize = 1;
const PREFETCH: u16 = 4;

struct Setup {
    server: RpcServer,
    client: WorkClient,
    gate: Arc<Gate>,
    sync_gauge: Arc<Gauge>,
    async_gauge: Arc<Gauge>,
}

async fn setup(url: &str, topic: &str) -> Setup {
    let transport = courier::connect(url).await.expect("the test broker on 127.0.0.1:5672");
    let (gate, sync_gauge, async_gauge) = (Gate::new(), Gauge::new(), Gauge::new());
    let work = Work { gate: gate.clone(), sync_gauge: sync_gauge.clone(), async_gauge: async_gauge.clone() };
    let config = ExecutorConfig::default()
        .with_sync_pool(POOL)
        .with_sync_queue(QUEUE)
        .with_async_pool(POOL)
        .with_async_queue(QUEUE);
    let server = RpcServer::builder(transport.clone(), Target::new(topic).with_server("s1"))
        .endpoint(work)
        .with_executor(config)
        .with_prefetch(PREFETCH)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = WorkClient::new(RpcClient::new(transport, Target::new(topic)).with_timeout(PATIENCE));
    Setup { server, client, gate, sync_gauge, async_gauge }
}

/// Messages ready in a queue, as the broker counts them.
async fn ready_in_queue(queue: &str) -> usize {
    let connection = lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default())
        .await
        .expect("a raw connection to the test broker");
    let channel = connection.create_channel().await.unwrap();
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let declared = channel.queue_declare(queue.into(), passive, FieldTable::default()).await.unwrap();
    let _ = connection.close(200, "done".into()).await;
    declared.message_count() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_methods_do_not_delay_async_ones_over_rabbitmq() {
    let topic = unique("amqp-isolation");
    let s = setup(BROKER_URL, &topic).await;
    let ctx = Context::new();
    let blocked: Vec<_> = (0..POOL)
        .map(|_| {
            let (client, ctx) = (s.client.clone(), ctx.clone());
            tokio::spawn(async move { client.block(&ctx).await })
        })
        .collect();
    s.sync_gauge.wait_until("every sync slot is held", |g| g.running() == POOL).await;
    for _ in 0..10 {
        assert_eq!(s.client.ping(&ctx).await.unwrap(), "pong");
    }
    assert_eq!(s.sync_gauge.running(), POOL, "the blocking calls are still blocked");
    s.gate.open();
    for call in blocked {
        assert_eq!(call.await.unwrap().unwrap(), 1);
    }
    s.server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_pools_full_requests_stay_in_the_broker() {
    let topic = unique("amqp-backpressure");
    let s = setup(BROKER_URL, &topic).await;
    let ctx = Context::new();
    for _ in 0..POOL + QUEUE {
        s.client.cast_wait_async(&ctx).await.unwrap();
    }
    s.async_gauge.wait_until("the async pool is full", |g| g.running() == POOL).await;
    const SYNC_CASTS: usize = 20;
    for _ in 0..SYNC_CASTS {
        s.client.cast_block(&ctx).await.unwrap();
    }
    s.sync_gauge.wait_until("the sync pool is full", |g| g.running() == POOL).await;

    // Courier holds at most each pool's slots and waiting queue, plus the unacknowledged
    // prefetch window; everything else must be ready in the broker's queue.
    let ready = ready_in_queue(&topic).await;
    let most_courier_holds = POOL + QUEUE + usize::from(PREFETCH);
    assert!(
        ready >= SYNC_CASTS - most_courier_holds,
        "only {ready} of {SYNC_CASTS} casts are ready in the broker"
    );
    assert_eq!(s.sync_gauge.started(), POOL);
    assert_eq!(s.async_gauge.started(), POOL);

    s.gate.open();
    s.sync_gauge.wait_until("every sync cast ran", |g| g.finished() == SYNC_CASTS).await;
    s.async_gauge.wait_until("every async cast ran", |g| g.finished() == POOL + QUEUE).await;
    assert_eq!(s.sync_gauge.peak(), POOL);
    assert_eq!(ready_in_queue(&topic).await, 0);
    s.server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_host_fails_over_to_the_second() {
    let topic = unique("amqp-failover");
    let url = "rabbit://guest:guest@127.0.0.1:1,guest:guest@127.0.0.1:5672/";
    let s = setup(url, &topic).await;
    assert_eq!(s.client.ping(&Context::new()).await.unwrap(), "pong");
    s.gate.open();
    s.server.wait().await;
}
