//! Deadline-aware serving: a call whose caller has certainly given up (its timeout, as the
//! message carries it, passed since the server received it) is not run, gets no reply and is
//! counted; a running method reads its `Cancellation`, which flips at that deadline or when
//! the server stops, and can end long work early. On `fake://` (the deadline comes from the
//! message's expiry) and on RabbitMQ (its per-message `expiration`, as oslo's caller sets it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier::executor::ExecutorConfig;
use courier::rpc::Cancellation;
use courier::transport::TransportConfig;
use courier::{Context, Error, RpcClient, RpcServer, Target, Transport, rpc_endpoint};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::logs::capture_process;
use courier_test_support::{PATIENCE, broker, unique, within};
use serde_json::json;

struct Service {
    gate: Arc<Gate>,
    gauge: Arc<Gauge>,
    ran: Arc<Mutex<Vec<&'static str>>>,
}

#[rpc_endpoint]
impl Service {
    async fn hold(&self) {
        let _running = self.gauge.enter();
        self.gate.wait().await;
        self.ran.lock().unwrap().push("hold");
    }

    async fn quick(&self) {
        self.ran.lock().unwrap().push("quick");
    }

    /// Blocking work in steps, until done or cancelled: how many steps it made.
    fn crunch(&self, steps: u32, cancel: Cancellation) -> (u32, bool) {
        let _running = self.gauge.enter();
        let mut done = 0;
        while done < steps && !cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(10));
            done += 1;
        }
        let cancelled = cancel.is_cancelled();
        if cancelled {
            // Cleaning up takes a moment: the reply comes after the caller's timeout, never in
            // the same tick (on fake:// both deadlines are the same instant).
            std::thread::sleep(Duration::from_millis(50));
        }
        self.ran.lock().unwrap().push("crunch");
        (done, cancelled)
    }

    /// Never ends on its own; dropped at its caller's deadline.
    #[rpc(drop_at_deadline)]
    async fn endless(&self) {
        let _running = self.gauge.enter();
        std::future::pending::<()>().await;
    }

    /// Waits for its cancellation (read without a parameter).
    async fn until_cancelled(&self) -> bool {
        let _running = self.gauge.enter();
        let cancel = Cancellation::current();
        let has_deadline = cancel.deadline().is_some();
        cancel.cancelled().await;
        self.ran.lock().unwrap().push("until_cancelled");
        has_deadline
    }
}

struct Env {
    server: RpcServer,
    client: RpcClient,
    gate: Arc<Gate>,
    gauge: Arc<Gauge>,
    ran: Arc<Mutex<Vec<&'static str>>>,
}

async fn env(server_transport: Arc<dyn Transport>, client_transport: Arc<dyn Transport>, topic: &str) -> Env {
    let (gate, gauge, ran) = (Gate::new(), Gauge::new(), Arc::new(Mutex::new(Vec::new())));
    let service = Service { gate: gate.clone(), gauge: gauge.clone(), ran: Arc::clone(&ran) };
    let server = RpcServer::builder(server_transport, Target::new(topic).with_server("s1"))
        .endpoint(service)
        // One async method at a time, so a second call waits for admission.
        .with_executor(ExecutorConfig::default().with_async_pool(1))
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(client_transport, Target::new(topic)).with_timeout(PATIENCE);
    Env { server, client, gate, gauge, ran }
}

async fn fake_env() -> Env {
    let config = TransportConfig::default().with_control_exchange(unique("deadlines"));
    let transport = courier::fake::connect(config);
    env(Arc::clone(&transport), transport, &unique("deadlines")).await
}

async fn call(client: &RpcClient, method: &str, args: serde_json::Value) -> Result<serde_json::Value, Error> {
    client.call(&Context::new(), method, args.as_object().unwrap().clone()).await
}

/// Waits until `text` was logged (the log line follows the event it reports by a moment).
async fn logged(logs: &courier_test_support::logs::Captured, text: &str) {
    let seen = tokio::time::timeout(PATIENCE, async {
        while !logs.contains(text) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "`{text}` was never logged: {}", logs.text());
}

/// The second call waits for the only slot longer than its caller waits: when the slot frees,
/// it is acknowledged and dropped, with no reply; the next one runs.
async fn a_call_past_its_deadline_is_not_run(env: Env) {
    let logs = capture_process("courier_runtime=warn");
    let holder = env.client.clone();
    let held = tokio::spawn(async move { call(&holder, "hold", json!({})).await });
    env.gauge.wait_until("the slot is taken", |g| g.started() == 1).await;
    let impatient = env.client.clone().with_timeout(Duration::from_millis(300));
    let error = call(&impatient, "quick", json!({})).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    // The server's deadline counts from its receipt, a moment after the caller's clock started:
    // let it pass too before the slot frees.
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.gate.open();
    within("the held call", held).await.unwrap().unwrap();
    call(&env.client, "quick", json!({})).await.unwrap();
    assert_eq!(*env.ran.lock().unwrap(), ["hold", "quick"], "the expired call never ran");
    logged(&logs, "not running a call whose caller has given up").await;
    env.server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_a_call_past_its_deadline_is_not_run() {
    a_call_past_its_deadline_is_not_run(fake_env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbit_a_call_past_its_deadline_is_not_run() {
    if !broker::available("rabbit_a_call_past_its_deadline_is_not_run") {
        return;
    }
    let exchange = unique("deadlines");
    let (server, client) = (
        broker::transport_on(broker::URL, &exchange).await,
        broker::transport_on(broker::URL, &exchange).await,
    );
    a_call_past_its_deadline_is_not_run(env(server, client, &unique("deadlines")).await).await;
}

/// A blocking method polling its cancellation stops soon after its caller's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_method_sees_its_callers_deadline() {
    let env = fake_env().await;
    let impatient = env.client.clone().with_timeout(Duration::from_millis(200));
    // 100 000 steps of 10 ms: over 15 minutes unless cancelled.
    let error = call(&impatient, "crunch", json!({"steps": 100_000})).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    env.gauge.wait_until("the method returns early", |g| g.finished() == 1).await;
    assert_eq!(*env.ran.lock().unwrap(), ["crunch"]);
    // A patient caller gets every step, the token never flipped.
    let value = call(&env.client, "crunch", json!({"steps": 3})).await.unwrap();
    assert_eq!(value, json!([3, false]));
    env.server.wait().await;
}

/// Stopping the server cancels what runs; the method's reply still goes out in the drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_cancels_running_methods() {
    let env = fake_env().await;
    let caller = env.client.clone();
    let running = tokio::spawn(async move { call(&caller, "until_cancelled", json!({})).await });
    env.gauge.wait_until("the method runs", |g| g.started() == 1).await;
    env.server.stop().await;
    let report = within("the drain", env.server.wait()).await;
    assert_eq!(report.abandoned, 0);
    assert_eq!(within("the reply", running).await.unwrap().unwrap(), json!(true), "it had a deadline");
}

/// An async method marked `drop_at_deadline` is dropped when its caller gives up: its future
/// ends (the gauge's guard drops), no reply is sent, and the slot is free for the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_marked_drop_at_deadline_is_dropped_when_its_caller_gives_up() {
    let logs = capture_process("courier_runtime=warn");
    let env = fake_env().await;
    let impatient = env.client.clone().with_timeout(Duration::from_millis(200));
    let error = call(&impatient, "endless", json!({})).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    env.gauge.wait_until("the method's future is dropped", |g| g.finished() == 1).await;
    logged(&logs, "dropped a running method at its caller's deadline").await;
    // The only async slot is free again.
    call(&env.client, "quick", json!({})).await.unwrap();
    assert_eq!(within("the drain", env.server.wait()).await.abandoned, 0);
}
