//! A broker restart in the middle of traffic (`rabbitmqctl stop_app` / `start_app`): the server
//! and the client recover without a process restart, and every call meanwhile either succeeds
//! or fails within its timeout. On a private broker node, never the shared one.

use std::time::{Duration, Instant};

use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::node::PrivateBroker;
use courier_test_support::unique;
use courier_test_support::watchdog::Watchdog;

struct Echo;

#[rpc_endpoint]
impl Echo {
    async fn echo(&self, n: u64) -> u64 {
        n
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(4);
/// Scheduling slack on a shared, 2-core machine; a hung call would exceed it by far.
const SLACK: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_client_recover_from_a_broker_restart() {
    // Ends the test process with a report if something no bound reaches hangs.
    let _watchdog = Watchdog::start("amqp_broker_restart", Duration::from_secs(300));
    let Some(broker) = PrivateBroker::start().await else { return };
    let url = broker.url_with("rabbit_retry_interval=1&rabbit_interval_max=2&kombu_reconnect_delay=0.1");
    let topic = unique("restart");
    let transport = courier::connect(&url).await.expect("the private broker");
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Echo)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client =
        EchoClient::new(RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(CALL_TIMEOUT));
    let ctx = Context::new();
    assert_eq!(client.echo(&ctx, 1).await.unwrap(), 1);

    const CALLS: u64 = 40;
    let (outcome_tx, mut outcome_rx) = tokio::sync::mpsc::channel(CALLS as usize);
    {
        let (client, ctx) = (client.clone(), ctx.clone());
        tokio::spawn(async move {
            for n in 0..CALLS {
                let started = Instant::now();
                let result = client.echo(&ctx, n).await;
                let _ = outcome_tx.send((n, started.elapsed(), result.map_err(|e| e.to_string()))).await;
                // Paces the traffic so it spans the restart.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let mut outcomes = Vec::new();
    while outcomes.len() < 3 {
        outcomes.push(outcome_rx.recv().await.expect("traffic flows before the restart"));
    }
    broker.stop_app().await;
    broker.start_app().await;
    while let Some(outcome) = outcome_rx.recv().await {
        outcomes.push(outcome);
    }
    assert_eq!(outcomes.len(), CALLS as usize);
    for (n, took, result) in &outcomes {
        assert!(
            *took <= CALL_TIMEOUT + SLACK,
            "call {n} took {took:?} ({result:?}): longer than its timeout"
        );
        if let Ok(value) = result {
            assert_eq!(value, n);
        }
    }

    // Recovered without a process restart: calls succeed again.
    let recovered = async {
        loop {
            if let Ok(n) = client.echo(&ctx, 99).await {
                return n;
            }
        }
    };
    let n = tokio::time::timeout(Duration::from_secs(60), recovered).await.expect("calls never recovered");
    assert_eq!(n, 99);
    for n in 100..110 {
        assert_eq!(client.echo(&ctx, n).await.unwrap(), n);
    }
    server.wait().await;
    transport.cleanup().await;
}
