//! Broker and network faults without a broker: `courier::fake::connect_with_faults` hands out a
//! fault handle for one in-memory transport, and servers, listeners and clients meet lost and
//! failed publishes, redeliveries, dropped connections, cancelled consumers, delayed and
//! reordered deliveries. Every test runs under tokio's paused clock, so timeouts pass at once
//! and deterministically.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier::fake::{Faults, Publish, connect_with_faults};
use courier::{
    Context, Error, Metadata, NotificationListener, Notifier, RpcClient, RpcServer, Target,
    error::TransportError,
    executor::ExecutorConfig,
    notification_endpoint,
    rpc::RpcServerBuilder,
    rpc_endpoint,
    transport::{CallOptions, TransportConfig},
};
use courier_test_support::gauge::{Gate, Gauge};
use courier_test_support::logs::capture_thread;
use courier_test_support::{unique, within};
use serde_json::{Value, json};
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Echoes, counting its calls; `slow` waits for the gate first.
struct Service {
    gauge: Arc<Gauge>,
    gate: Arc<Gate>,
    order: Arc<Mutex<Vec<u32>>>,
}

#[rpc_endpoint]
impl Service {
    async fn echo(&self, value: u32) -> u32 {
        let _running = self.gauge.enter();
        self.order.lock().unwrap().push(value);
        value
    }

    async fn slow(&self, value: u32) -> u32 {
        let _running = self.gauge.enter();
        self.gate.wait().await;
        value
    }

    /// As `echo`, but safe to run twice: its redeliveries run again.
    #[rpc(idempotent)]
    async fn touch(&self, value: u32) -> u32 {
        let _running = self.gauge.enter();
        self.order.lock().unwrap().push(value);
        value
    }
}

struct Env {
    faults: Faults,
    server: RpcServer,
    client: RpcClient,
    gauge: Arc<Gauge>,
    gate: Arc<Gate>,
    order: Arc<Mutex<Vec<u32>>>,
    exchange: String,
    topic: String,
}

/// A server on a faulty transport (on an exchange of its own) and a client on a healthy one.
async fn env(executor: ExecutorConfig) -> Env {
    env_with(|server| server.with_executor(executor)).await
}

/// As [`env`], the server built as `configure` says.
async fn env_with(configure: impl FnOnce(RpcServerBuilder) -> RpcServerBuilder) -> Env {
    let exchange = unique("faults");
    let config = TransportConfig::default().with_control_exchange(&exchange);
    let (transport, faults) = connect_with_faults(config.clone());
    let topic = unique("faults-topic");
    let (gauge, gate, order) = (Gauge::new(), Gate::new(), Arc::default());
    let service = Service { gauge: gauge.clone(), gate: gate.clone(), order: Arc::clone(&order) };
    let server =
        configure(RpcServer::builder(transport, Target::new(&topic).with_server("s1")).endpoint(service))
            .build()
            .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(courier::fake::connect(config), Target::new(&topic)).with_timeout(TIMEOUT);
    Env { faults, server, client, gauge, gate, order, exchange, topic }
}

async fn echo(client: &RpcClient, value: u32) -> Result<u32, Error> {
    client.call_as(&Context::new(), "echo", &json!({"value": value})).await
}

#[tokio::test(start_paused = true)]
async fn a_failed_reply_publish_is_logged_and_counted_and_the_caller_times_out() {
    let (_guard, logs) = capture_thread("courier=debug,courier_runtime=debug");
    let env = env(ExecutorConfig::default()).await;
    env.faults.fail_publishes(Publish::Reply, 1);
    let error = echo(&env.client, 1).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    assert_eq!(env.gauge.finished(), 1, "the method ran");
    assert_eq!(env.faults.stats().failed_publishes, 1);
    assert!(logs.contains("could not send a reply"), "{}", logs.text());
    // The server lives on: the next call is answered.
    assert_eq!(echo(&env.client, 2).await.unwrap(), 2);
    assert_eq!(env.server.wait().await.abandoned, 0);
}

#[tokio::test(start_paused = true)]
async fn the_client_times_out_cleanly_on_a_lost_reply() {
    let env = env(ExecutorConfig::default()).await;
    env.faults.drop_publishes(Publish::Reply, 1);
    let started = Instant::now();
    let error = echo(&env.client, 1).await.unwrap_err();
    match error {
        Error::Timeout { timeout, .. } => assert_eq!(timeout, TIMEOUT),
        other => panic!("expected a timeout, got {other}"),
    }
    // Virtual time: the call waited exactly its timeout, no more.
    assert_eq!(started.elapsed(), TIMEOUT);
    assert_eq!(env.faults.stats().dropped_publishes, 1);
    assert_eq!(echo(&env.client, 2).await.unwrap(), 2);
    env.server.wait().await;
}

#[tokio::test(start_paused = true)]
async fn failed_request_publishes_are_transport_errors_and_lost_casts_are_not_seen() {
    let env = env(ExecutorConfig::default()).await;
    let (client_transport, client_faults) =
        connect_with_faults(TransportConfig::default().with_control_exchange(&env.exchange));
    let client = RpcClient::new(client_transport, Target::new(&env.topic)).with_timeout(TIMEOUT);
    client_faults.fail_publishes(Publish::Call, 1);
    client_faults.fail_publishes(Publish::Cast, 1);
    let error = echo(&client, 1).await.unwrap_err();
    assert!(matches!(error, Error::Transport(TransportError::Connection { .. })), "{error}");
    let args = json!({"value": 2}).as_object().unwrap().clone();
    let error = client.cast(&Context::new(), "echo", args).await.unwrap_err();
    assert!(matches!(error, Error::Transport(TransportError::Connection { .. })), "{error}");
    // A cast the broker loses is reported as sent, and never runs.
    client_faults.drop_publishes(Publish::Cast, 1);
    client.cast(&Context::new(), "echo", json!({"value": 3}).as_object().unwrap().clone()).await.unwrap();
    assert_eq!(echo(&client, 4).await.unwrap(), 4);
    assert_eq!(*env.order.lock().unwrap(), vec![4]);
    assert_eq!(client_faults.stats().failed_publishes, 2);
    assert_eq!(client_faults.stats().dropped_publishes, 1);
    env.server.wait().await;
}

#[tokio::test(start_paused = true)]
async fn a_call_taken_back_by_a_dropped_connection_is_answered_from_its_redelivery() {
    let (_guard, logs) = capture_thread("courier=debug,courier_runtime=debug");
    // One message at a time: the second call waits unacknowledged while the first runs.
    let env = env(ExecutorConfig::blocking()).await;
    let client = env.client.clone();
    let first =
        tokio::spawn(
            async move { client.call_as::<_, u32>(&Context::new(), "slow", &json!({"value": 1})).await },
        );
    env.gauge.wait_until("the first call runs", |g| g.started() == 1).await;
    let client = env.client.clone();
    let second = tokio::spawn(async move { echo(&client, 2).await });
    // Let the server take the second call off the queue (it waits for admission, unacked).
    for _ in 0..10_000 {
        if env.faults.unsettled() == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(env.faults.unsettled(), 1, "the server holds the second call unacknowledged");
    env.faults.drop_connection();
    assert_eq!(env.faults.stats().requeued_on_drop, 1, "the unacked call went back to the queue");
    env.gate.open();
    assert_eq!(within("the first reply", first).await.unwrap().unwrap(), 1);
    assert_eq!(within("the second reply", second).await.unwrap().unwrap(), 2);
    // Run once each: the stale delivery was skipped (its ack failed), the redelivery served.
    assert_eq!(env.gauge.finished(), 2);
    assert!(logs.contains("could not acknowledge a message"), "{}", logs.text());
    env.server.wait().await;
}

/// A request is acknowledged before its method runs, but the acknowledgement's completion does
/// not hold the method up: with every ack taking a second, a call is answered at once. An ack
/// that fails only after its method started (the connection dropped while it was on its way) is
/// logged; the broker delivers the call again, and the reply cache leaves that redelivery to the
/// run under way, so the method runs once.
#[tokio::test(start_paused = true)]
async fn an_ack_in_flight_does_not_hold_up_its_call_and_one_that_fails_late_does_not_run_it_twice() {
    let (_guard, logs) = capture_thread("courier_runtime=info");
    let env = env(ExecutorConfig::default()).await;
    let ack_takes = Duration::from_secs(1);
    env.faults.delay_settles(ack_takes);
    let started = Instant::now();
    assert_eq!(echo(&env.client, 1).await.unwrap(), 1);
    assert!(started.elapsed() < ack_takes, "answered only after its ack ({:?})", started.elapsed());
    tokio::time::sleep(ack_takes * 2).await;
    assert_eq!(env.faults.unsettled(), 0, "the ack completed after the reply");

    let client = env.client.clone();
    let slow =
        tokio::spawn(
            async move { client.call_as::<_, u32>(&Context::new(), "slow", &json!({"value": 2})).await },
        );
    env.gauge.wait_until("the slow call runs", |g| g.started() == 2).await;
    env.faults.drop_connection();
    assert_eq!(env.faults.stats().requeued_on_drop, 1, "the call whose ack was on its way went back");
    // Past the ack's delay: it failed, and the redelivery was taken and answered.
    tokio::time::sleep(ack_takes * 3).await;
    env.gate.open();
    assert_eq!(within("the slow reply", slow).await.unwrap().unwrap(), 2);
    assert_eq!(env.gauge.finished(), 2, "each call ran once");
    assert!(logs.contains("acknowledgement of a message already running failed"), "{}", logs.text());
    assert!(logs.contains("a redelivered call is still running"), "{}", logs.text());
    assert_eq!(env.server.wait().await.abandoned, 0);
}

/// Sends a call through the client's transport itself, to see every reply the server sends.
async fn raw_call(env: &Env, method: &str, value: u32) -> courier::transport::PendingReply {
    let request = courier_test_support::wire::call_request(method, json!({"value": value}));
    env.client.transport().call(env.client.target(), request, &CallOptions::new(TIMEOUT)).await.unwrap()
}

async fn next_result(pending: &mut courier::transport::PendingReply, what: &str) -> Value {
    within(what, pending.recv()).await.expect("a reply").expect("not an error").result
}

/// A call the broker delivers again after its acknowledgement was lost runs once: the
/// redelivery gets the reply the call already got (a second reply to the same `_msg_id`), or
/// nothing while the call still runs (its run replies). A method marked `#[rpc(idempotent)]`
/// runs again instead.
#[tokio::test(start_paused = true)]
async fn a_call_redelivered_after_its_ack_is_answered_from_the_reply_cache() {
    let (_guard, logs) = capture_thread("courier_runtime=info");
    let env = env(ExecutorConfig::default()).await;
    // Deliveries held a moment: the redelivery arrives after the first run replied.
    env.faults.delay_deliveries(Duration::from_millis(100));
    env.faults.redeliver(1);
    let mut pending = raw_call(&env, "echo", 7).await;
    assert_eq!(next_result(&mut pending, "the reply").await, 7);
    assert_eq!(next_result(&mut pending, "the reply to the redelivery").await, 7);
    assert_eq!(*env.order.lock().unwrap(), vec![7], "it ran once");
    assert_eq!(env.faults.stats().redelivered, 1);
    assert!(logs.contains("answering a redelivered call with the reply it already got"), "{}", logs.text());

    // Redelivered while it still runs: one run, one reply.
    env.faults.delay_deliveries(Duration::ZERO);
    env.faults.redeliver(1);
    let mut pending = raw_call(&env, "slow", 8).await;
    courier_test_support::within("the redelivery while running", async {
        while !logs.contains("a redelivered call is still running") {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    env.gate.open();
    assert_eq!(next_result(&mut pending, "the slow reply").await, 8);
    assert_eq!(env.gauge.started(), 2, "echo once, slow once");
    assert!(tokio::time::timeout(TIMEOUT, pending.recv()).await.is_err(), "no second reply");

    // An idempotent method runs again, and each run replies.
    env.faults.redeliver(1);
    let mut pending = raw_call(&env, "touch", 9).await;
    assert_eq!(next_result(&mut pending, "the reply").await, 9);
    assert_eq!(next_result(&mut pending, "the rerun's reply").await, 9);
    assert_eq!(*env.order.lock().unwrap(), vec![7, 9, 9]);
    env.server.wait().await;
}

/// With the reply cache off, a redelivered call runs again (as oslo, which has none), and the
/// second reply finds no waiting caller.
#[tokio::test(start_paused = true)]
async fn without_a_reply_cache_a_redelivered_call_runs_again() {
    let env = env_with(|server| server.with_reply_cache(0, Duration::from_secs(60))).await;
    env.faults.redeliver(1);
    assert_eq!(echo(&env.client, 7).await.unwrap(), 7);
    env.gauge.wait_until("the redelivered call ran", |g| g.finished() == 2).await;
    assert_eq!(*env.order.lock().unwrap(), vec![7, 7]);
    env.server.wait().await;
}

#[tokio::test(start_paused = true)]
async fn redelivered_messages_carry_the_flag() {
    let (transport, faults) = connect_with_faults(TransportConfig::default());
    let topic = unique("faults-flag");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &Default::default()).await.unwrap();
    let cast = courier_test_support::wire::request("m", json!({"n": 1}));
    transport.cast(&Target::new(&topic), cast, &Default::default()).await.unwrap();
    faults.redeliver(1);
    let first = within("the first delivery", listener.next()).await.unwrap();
    assert!(!first.redelivered);
    first.delivery.ack().await.unwrap();
    let again = within("the redelivery", listener.next()).await.unwrap();
    assert!(again.redelivered);
    assert_eq!(again.message.as_ref().unwrap()["args"], json!({"n": 1}));
    // A requeue is a redelivery too; a delivery taken back by a dropped connection cannot be
    // settled any more.
    again.delivery.requeue().await.unwrap();
    let third = within("the requeued delivery", listener.next()).await.unwrap();
    assert!(third.redelivered);
    faults.drop_connection();
    let error = third.delivery.ack().await.unwrap_err();
    assert!(matches!(error, TransportError::Connection { .. }), "{error}");
    let fourth = within("the delivery after the drop", listener.next()).await.unwrap();
    assert!(fourth.redelivered);
    fourth.delivery.ack().await.unwrap();
    listener.close().await;
}

#[tokio::test(start_paused = true)]
async fn deliveries_delayed_past_the_timeout_time_out_unrun_and_shorter_ones_are_answered() {
    let env = env(ExecutorConfig::default()).await;
    env.faults.delay_deliveries(TIMEOUT * 2);
    let started = Instant::now();
    let error = echo(&env.client, 1).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    assert_eq!(started.elapsed(), TIMEOUT);
    // The late request arrives after its caller gave up: it is not run.
    tokio::time::sleep(TIMEOUT * 2).await;
    env.faults.delay_deliveries(TIMEOUT / 2);
    assert_eq!(echo(&env.client, 2).await.unwrap(), 2);
    env.faults.clear();
    assert_eq!(echo(&env.client, 3).await.unwrap(), 3);
    assert_eq!(*env.order.lock().unwrap(), vec![2, 3]);
    env.server.wait().await;
}

#[tokio::test(start_paused = true)]
async fn reordered_deliveries_reach_a_blocking_server_newest_first() {
    let env = env(ExecutorConfig::blocking()).await;
    env.server.stop().await;
    env.faults.reorder_deliveries(true);
    for value in 1..=3 {
        let args = json!({"value": value}).as_object().unwrap().clone();
        env.client.cast(&Context::new(), "echo", args).await.unwrap();
    }
    env.server.start().await.unwrap();
    env.gauge.wait_until("three casts ran", |g| g.finished() == 3).await;
    assert_eq!(*env.order.lock().unwrap(), vec![3, 2, 1]);
    env.server.wait().await;
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_consumer_ends_the_server_loop_without_losing_requests() {
    let (_guard, logs) = capture_thread("courier=debug,courier_runtime=debug");
    let env = env(ExecutorConfig::default()).await;
    env.faults.cancel_consumers();
    let args = json!({"value": 5}).as_object().unwrap().clone();
    env.client.cast(&Context::new(), "echo", args).await.unwrap();
    // Nobody consumes now: a call times out cleanly, the cast waits in the queue.
    let error = echo(&env.client, 6).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    assert!(logs.contains("the transport closed the consumer"), "{}", logs.text());
    assert_eq!(env.server.wait().await.abandoned, 0);
    // A new server (a new consumer) gets the cast.
    env.server.start().await.unwrap();
    env.gauge.wait_until("the queued cast ran", |g| g.finished() == 1).await;
    assert_eq!(*env.order.lock().unwrap(), vec![5]);
    env.server.wait().await;
}

/// Counts each notification it handles; waits for the gate the first time.
struct Slow {
    gauge: Arc<Gauge>,
    gate: Arc<Gate>,
    seen: Arc<Mutex<Vec<String>>>,
}

#[notification_endpoint]
impl Slow {
    async fn info(&self, _publisher_id: String, event_type: String, _payload: Value, _metadata: Metadata) {
        let _running = self.gauge.enter();
        self.gate.wait().await;
        self.seen.lock().unwrap().push(event_type);
    }
}

#[tokio::test(start_paused = true)]
async fn a_notification_requeued_by_a_dropped_connection_is_handled_again() {
    let exchange = unique("faults-notify");
    let config = TransportConfig::default().with_control_exchange(&exchange);
    let (transport, faults) = connect_with_faults(config.clone());
    let topic = unique("faults-notifications");
    let (gauge, gate, seen) = (Gauge::new(), Gate::new(), Arc::<Mutex<Vec<String>>>::default());
    let listener = NotificationListener::builder(transport)
        .target(Target::new(&topic))
        .endpoint(Slow { gauge: gauge.clone(), gate: gate.clone(), seen: Arc::clone(&seen) })
        .build()
        .unwrap();
    listener.start().await.unwrap();
    let notifier = Notifier::new(courier::fake::connect(config), "p").with_topics([topic.clone()]);
    notifier.info(&Context::new(), "e1", json!({})).await.unwrap();
    gauge.wait_until("the endpoint runs", |g| g.started() == 1).await;
    // The connection drops while the endpoint works: the broker takes the message back.
    faults.drop_connection();
    gate.open();
    gauge.wait_until("the redelivery was handled", |g| g.finished() == 2).await;
    assert_eq!(*seen.lock().unwrap(), vec!["e1", "e1"]);
    assert_eq!(listener.wait().await.abandoned, 0);
    assert_eq!(courier::fake::queued(&exchange, &format!("{topic}.info")), 0, "nothing left behind");
}
