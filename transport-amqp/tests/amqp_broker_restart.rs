//! Recovery after a broker restart (`rabbitmqctl stop_app` / `start_app`). In its own test
//! binary, with a single test, because it takes the shared broker down for a few seconds.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use courier_runtime::wire::Reply;
use courier_runtime::{CallOptions, ListenOptions, Listener, SendOptions, Target, Transport, TransportError};
use serde_json::json;

fn rabbitmqctl(args: &[&str]) {
    let status = Command::new("rabbitmqctl").args(args).status().expect("run rabbitmqctl");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

/// Starts the broker's application again if the test ends early, so the broker is never left
/// stopped for the other tests.
struct Restart {
    stopped: bool,
}

impl Restart {
    async fn stop() -> Self {
        tokio::task::spawn_blocking(|| rabbitmqctl(&["stop_app"])).await.unwrap();
        Self { stopped: true }
    }

    async fn start(&mut self) {
        tokio::task::spawn_blocking(|| {
            rabbitmqctl(&["start_app"]);
            rabbitmqctl(&["await_startup"]);
            restore_tls_listener();
        })
        .await
        .unwrap();
        self.stopped = false;
    }
}

impl Drop for Restart {
    fn drop(&mut self) {
        if self.stopped {
            let _ = Command::new("rabbitmqctl").arg("start_app").status();
            restore_tls_listener();
        }
    }
}

/// `scripts/test-env.sh` may have added the TLS listener to the running broker only; a restart
/// of the application drops such a listener, so add it again as that script does.
fn restore_tls_listener() {
    if std::net::TcpStream::connect("127.0.0.1:5671").is_ok() {
        return;
    }
    let dir = "/etc/rabbitmq/courier-test-tls";
    if !std::path::Path::new(dir).exists() {
        return;
    }
    let expr = format!(
        "rabbit_networking:start_ssl_listener({{\"127.0.0.1\", 5671}}, [{{cacertfile, \"{dir}/ca.pem\"}}, \
         {{certfile, \"{dir}/server.pem\"}}, {{keyfile, \"{dir}/server-key.pem\"}}, {{verify, verify_none}}, \
         {{fail_if_no_peer_cert, false}}], 1)."
    );
    let _ = Command::new("rabbitmqctl").args(["eval", &expr]).status();
}

async fn round_trip(transport: &dyn Transport, listener: &mut Box<dyn Listener>, topic: &str, value: i64) {
    let mut pending = transport
        .call(
            &Target::new(topic),
            call_request("echo", json!({"v": value})),
            &CallOptions::new(Duration::from_secs(60)),
        )
        .await
        .expect("call");
    let (request, incoming) = next_request(listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(request.args["v"], value);
    transport
        .reply(
            request.reply_q.as_deref().unwrap(),
            Reply::success(json!(value)).with_msg_id(request.msg_id.unwrap()),
        )
        .await
        .expect("reply");
    let reply = within("the reply", pending.recv()).await.expect("a reply").expect("not an error");
    assert_eq!(reply.result, json!(value));
}

#[tokio::test(flavor = "multi_thread")]
async fn listeners_publishers_and_replies_recover_after_a_broker_restart() {
    // Reconnect every second while the broker is away.
    let (transport, _) =
        transport_with("rabbit_retry_interval=1&rabbit_retry_backoff=0&kombu_reconnect_delay=0").await;
    let topic = unique("restart");
    let mut listener =
        transport.listen(&Target::new(&topic).with_server("s"), &ListenOptions::default()).await.unwrap();
    round_trip(transport.as_ref(), &mut listener, &topic, 1).await;

    // A call the server took but has not answered when the broker goes away.
    let mut in_flight = transport
        .call(
            &Target::new(&topic),
            call_request("slow", json!({})),
            &CallOptions::new(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    let (_, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();

    let mut restart = Restart::stop().await;
    let ended = within("the in-flight call to fail", in_flight.recv()).await;
    match ended {
        Some(Err(TransportError::Connection { reason, .. })) => {
            assert!(reason.contains("lost"), "{reason}");
        }
        other => panic!("expected a connection error for the in-flight call, got {other:?}"),
    }
    restart.start().await;

    // Casts go through once the listener has declared its queues again; until then the broker
    // returns them (mandatory), which is the signal we wait on.
    let target = Target::new(&topic);
    within("the listener to declare its queues again", async {
        loop {
            match transport
                .cast(&target, request("after", json!({})), &SendOptions::default().with_mandatory(true))
                .await
            {
                Ok(()) => break,
                Err(TransportError::Undeliverable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(other) => panic!("cast after the restart failed: {other}"),
            }
        }
    })
    .await;
    let (received, incoming) = next_request(&mut listener).await;
    incoming.delivery.ack().await.unwrap();
    assert_eq!(received.method, "after", "the same listener keeps yielding after the reconnect");

    // Calls work again: the reply queue and its consumer were declared again.
    round_trip(transport.as_ref(), &mut listener, &topic, 2).await;
    listener.close().await;
    transport.cleanup().await;
}
