//! Broker faults under load, on a private RabbitMQ node (never the shared broker): a courier
//! server serves a courier client (several callers, and a caster publishing durable casts with
//! confirms) and a Python oslo.messaging `RPCClient`, while the node goes through
//! `stop_app`/`start_app`, `close_all_connections`, and SIGKILL with a restart. For each fault
//! the calls are counted ok / failed with a clear error / timed out / hung past their timeout:
//! hung stays 0, both callers get answers again without a process restart, and no cast the
//! broker confirmed is lost (`amqp_durable_queues=true`, persistent messages). The figures are
//! printed (`--nocapture` shows them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use courier::{RpcClient, RpcServer, Target};
use courier_test_support::faults::{Load, Outcome, Recording, Tally, wait_until};
use courier_test_support::node::PrivateBroker;
use courier_test_support::paths::interop_env;
use courier_test_support::process::Peer;
use courier_test_support::watchdog::Watchdog;
use courier_test_support::{PATIENCE, unique, within};
use serde_json::json;
use tokio::time::Instant;

/// Each call's timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A call neither answered nor failed this long after it started counts as hung. The Python
/// caller's bound also covers its publish retries (`retry=2`: oslo waits 1 s, then 3 s).
const HUNG_AFTER: Duration = Duration::from_secs(20);
/// Answered calls each caller needs after a fault to count as recovered.
const ANSWERED_AFTER: usize = 5;
const COURIER_CALLERS: usize = 2;
/// The whole test takes 20-30 s here; past this it is hung somewhere no bound reaches.
const WATCHDOG: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug)]
enum Fault {
    StopStartApp,
    CloseAllConnections,
    KillAndRestart,
}

impl Fault {
    async fn inject(self, broker: &mut PrivateBroker) {
        match self {
            Fault::StopStartApp => {
                broker.stop_app().await;
                broker.start_app().await;
            }
            Fault::CloseAllConnections => broker.close_all_connections().await,
            Fault::KillAndRestart => {
                broker.kill().await;
                broker.restart().await;
            }
        }
    }
}

/// Calls `echo` from the Python client until `stop`, one at a time, counting each outcome.
async fn python_calls(mut peer: Peer, tally: Arc<Tally>, stop: Arc<AtomicBool>) -> Peer {
    let mut n = 0_u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let command = json!({"op": "call", "method": "echo", "args": {"value": n},
                             "timeout": CALL_TIMEOUT.as_secs(), "retry": 2});
        let id = peer.submit(command).await;
        // The peer runs commands one at a time: after a hung call it is of no more use.
        let Ok(answer) = tokio::time::timeout(HUNG_AFTER, peer.answer(id, HUNG_AFTER + PATIENCE)).await
        else {
            tally.add(Outcome::Hung);
            break;
        };
        let outcome = match (&answer["ok"], answer["error"]["type"].as_str()) {
            (serde_json::Value::Bool(true), _) => {
                assert_eq!(answer["result"], json!(n), "the Python caller got another call's answer");
                Outcome::Ok
            }
            (_, Some("MessagingTimeout")) => Outcome::TimedOut,
            _ => Outcome::Failed,
        };
        tally.add(outcome);
        if outcome != Outcome::Ok {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_durable_casts_survive_stop_app_closed_connections_and_a_kill() {
    let Some(env) = interop_env("amqp_broker_faults") else { return };
    let watchdog = Watchdog::start("amqp_broker_faults", WATCHDOG);
    watchdog.step("booting the private node");
    let Some(mut broker) = PrivateBroker::start().await else { return };
    watchdog.step("connecting, starting the server and the Python client");
    let url = broker.url_with(
        "amqp_durable_queues=true&rabbit_retry_interval=1&rabbit_retry_backoff=1&rabbit_interval_max=2\
         &kombu_reconnect_delay=0.1",
    );
    let topic = unique("faults");
    // Server and client on transports of their own, as in two processes.
    let server_transport = courier::connect(&url).await.expect("the private broker");
    let client_transport = courier::connect(&url).await.expect("the private broker");
    let (service, casts) = Recording::new();
    let server = RpcServer::builder(server_transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(service)
        .with_drain_timeout(PATIENCE)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(client_transport.clone(), Target::new(&topic)).with_timeout(CALL_TIMEOUT);
    // oslo reads driver options from the URL's query too (its ConfigOptsProxy).
    let python_url = broker.url_with("amqp_durable_queues=true");
    let mut python = Peer::python(&env, "rpc_client.py", &["--url", &python_url, "--topic", &topic]);
    python.ready().await;

    let load = Load::start(&client, None, COURIER_CALLERS, HUNG_AFTER);
    let (courier_tally, sent_casts) = (load.calls.clone(), load.sent_casts.clone());
    let python_tally = Arc::new(Tally::default());
    let python_task = tokio::spawn(python_calls(python, python_tally.clone(), load.stop_flag()));

    let mut report = Vec::new();
    for fault in [Fault::StopStartApp, Fault::CloseAllConnections, Fault::KillAndRestart] {
        watchdog.step(format!("waiting for answers before {fault:?}"));
        let (courier_ok, python_ok) = (courier_tally.ok(), python_tally.ok());
        let flowing =
            wait_until(PATIENCE, || courier_tally.ok() > courier_ok && python_tally.ok() > python_ok);
        assert!(
            flowing.await,
            "calls are not answered before {fault:?}: courier {}; python {}",
            courier_tally.counts(),
            python_tally.counts()
        );
        let (courier_before, python_before) = (courier_tally.counts(), python_tally.counts());
        let casts_before = sent_casts.lock().unwrap().len();
        let started = Instant::now();
        watchdog.step(format!("injecting {fault:?}"));
        fault.inject(&mut broker).await;
        watchdog.step(format!("waiting for answers after {fault:?}"));
        let broker_back = started.elapsed();
        let (courier_ok, python_ok) = (courier_tally.ok(), python_tally.ok());
        let hung = || courier_tally.counts().hung + python_tally.counts().hung;
        let recovered = wait_until(PATIENCE * 3, || {
            hung() > 0
                || courier_tally.ok() >= courier_ok + ANSWERED_AFTER
                    && python_tally.ok() >= python_ok + ANSWERED_AFTER
        });
        assert!(
            recovered.await && hung() == 0,
            "the callers did not get {ANSWERED_AFTER} answers each after {fault:?} without a hung call: \
             courier {}; python {}",
            courier_tally.counts(),
            python_tally.counts()
        );
        report.push(format!(
            "{fault:?}: the broker was back after {broker_back:.1?}, {ANSWERED_AFTER} answers to each caller \
             after {:.1?}; courier {}; python {}; casts confirmed during it {}",
            started.elapsed(),
            courier_tally.counts() - courier_before,
            python_tally.counts() - python_before,
            sent_casts.lock().unwrap().len() - casts_before,
        ));
    }
    watchdog.step("stopping the load");
    // Each call and cast of the load is bounded (a cast by its 60 s publish deadline).
    tokio::time::timeout(Duration::from_secs(90), load.finish()).await.expect("the load stops");
    let mut python = within("the Python caller", python_task).await.expect("the Python caller");
    python.close_stdin();
    watchdog.step("checking the casts");

    let sent_casts = sent_casts.lock().unwrap().clone();
    let all_run = wait_until(PATIENCE, || sent_casts.is_subset(&casts.lock().unwrap())).await;
    let lost: Vec<_> = sent_casts.difference(&casts.lock().unwrap()).copied().collect();
    assert!(all_run, "casts the broker confirmed were lost: {lost:?}");
    for line in &report {
        eprintln!("broker faults: {line}");
    }
    let (courier_total, python_total) = (courier_tally.counts(), python_tally.counts());
    eprintln!(
        "broker faults, in all: courier {courier_total}; python {python_total}; casts confirmed {}, lost 0",
        sent_casts.len()
    );
    assert_eq!(courier_total.hung + python_total.hung, 0, "no call hung past its timeout");
    watchdog.step("draining the server");
    let drained =
        tokio::time::timeout(PATIENCE * 2, server.wait()).await.expect("the server stops and drains");
    assert_eq!(drained.abandoned, 0, "requests still unfinished {PATIENCE:?} after the stop");
    watchdog.step("closing the transports");
    within("the client transport's cleanup", client_transport.cleanup()).await;
    within("the server transport's cleanup", server_transport.cleanup()).await;
}
