//! `connection.blocked`: a memory alarm on a private node blocks publishing. A cast with a short
//! timeout then fails with an error that names the block; a call already waiting completes once
//! the alarm clears; nothing needs a restart.

use std::time::Duration;

use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::node::PrivateBroker;
use courier_test_support::watchdog::Watchdog;
use courier_test_support::{PATIENCE, unique};

struct Echo;

#[rpc_endpoint]
impl Echo {
    async fn echo(&self, n: u64) -> u64 {
        n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_alarm_blocks_publishing_until_it_clears() {
    // Ends the test process with a report if something no bound reaches hangs.
    let _watchdog = Watchdog::start("amqp_connection_blocked", Duration::from_secs(300));
    let Some(broker) = PrivateBroker::start().await else { return };
    let topic = unique("blocked");
    let server_transport = courier::connect(&broker.url()).await.expect("the private broker");
    let server = RpcServer::builder(server_transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Echo)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let transport = courier::connect(&broker.url()).await.expect("the private broker");
    let client =
        EchoClient::new(RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE));
    let ctx = Context::new();
    assert_eq!(client.echo(&ctx, 1).await.unwrap(), 1);

    // Any memory use is above a watermark of one byte: the alarm goes off at once.
    let alarm = broker.ctl(&["set_vm_memory_high_watermark", "absolute", "1"]).await;
    assert!(alarm.status.success(), "{}", String::from_utf8_lossy(&alarm.stderr));
    let short = EchoClient::new(
        RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(Duration::from_secs(3)),
    );
    let started = std::time::Instant::now();
    let error = short.cast_echo(&ctx, 2).await.expect_err("a publish while blocked cannot be confirmed");
    assert!(error.to_string().contains("blocked"), "the error should name the block: {error}");
    // The client's timeout bounds the cast's publish (not the transport's 60 s default); PATIENCE
    // is far above 3 s and far below 60 s, so a noisy machine cannot make this flaky.
    assert!(started.elapsed() < PATIENCE, "the cast hung for {:?}", started.elapsed());

    // A call that waits longer than the alarm lasts gets its answer once the alarm clears.
    let waiting = {
        let (client, ctx) = (client.clone(), ctx.clone());
        tokio::spawn(async move { client.echo(&ctx, 3).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let clear = broker.ctl(&["set_vm_memory_high_watermark", "0.4"]).await;
    assert!(clear.status.success(), "{}", String::from_utf8_lossy(&clear.stderr));
    assert_eq!(waiting.await.unwrap().expect("the call completes after the alarm cleared"), 3);
    assert_eq!(client.echo(&ctx, 4).await.expect("publishing works again"), 4);

    server.wait().await;
    transport.cleanup().await;
    server_transport.cleanup().await;
}
