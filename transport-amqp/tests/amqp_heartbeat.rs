//! The heartbeat the broker agreed to, as the broker reports it (`rabbitmqctl list_connections
//! timeout`): `heartbeat_timeout_threshold=0` turns heartbeats off as oslo does (a Python
//! oslo.messaging peer with the same option shows the same), plain and over TLS, and other
//! values are honoured.

use std::process::Command;

use courier_runtime::target::Target;
use courier_runtime::transport::ListenOptions;
use courier_test_support::process::Peer;
use courier_test_support::{broker, paths, unique, within};

/// The prefix of this process's connection names (`<argv0>:<pid>:<uuid>`).
fn our_prefix() -> String {
    let argv0 = std::env::args().next().unwrap();
    let name = std::path::Path::new(&argv0).file_name().unwrap().to_string_lossy().into_owned();
    format!("{name}:{}:", std::process::id())
}

/// The open connections whose client properties contain `needle`, as the broker lists them:
/// `(timeout, client properties)` lines, the timeout being the heartbeat in seconds.
fn connections_with(needle: &str) -> Vec<String> {
    let output = Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "timeout", "client_properties"])
        .output()
        .expect("run rabbitmqctl");
    assert!(output.status.success(), "rabbitmqctl list_connections failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

fn timeout_of(line: &str) -> u32 {
    line.split('\t').next().unwrap().trim().parse().expect("a timeout in seconds")
}

/// This process's open connections as the broker lists them.
fn our_connections() -> Vec<String> {
    connections_with(&our_prefix())
}

/// Opens a transport with `query` on `url`, starts a listener (a second connection), and
/// returns the heartbeats the broker has for the connections that opened, before closing them.
async fn heartbeats_with(url: &str, query: &str) -> Vec<u32> {
    let before = our_connections();
    let separator = if url.contains('?') { '&' } else { '?' };
    let transport = broker::transport_on(&format!("{url}{separator}{query}"), &unique("heartbeat")).await;
    let mut listener = transport
        .listen(&Target::new(unique("heartbeat")).with_server("s"), &ListenOptions::default())
        .await
        .expect("listen");
    let heartbeats = our_connections()
        .into_iter()
        .filter(|line| !before.contains(line))
        .map(|line| timeout_of(&line))
        .collect();
    within("the listener to close", listener.close()).await;
    within("the transport to close", transport.cleanup()).await;
    heartbeats
}

#[tokio::test]
async fn heartbeat_timeout_threshold_is_what_the_broker_agrees_to() {
    if !broker::available("heartbeat_timeout_threshold_is_what_the_broker_agrees_to") {
        return;
    }
    assert_eq!(heartbeats_with(broker::URL, "heartbeat_timeout_threshold=7").await, [7, 7]);
    // lapin alone would follow the broker's 60 here.
    assert_eq!(heartbeats_with(broker::URL, "heartbeat_timeout_threshold=0").await, [0, 0]);
    // Over TLS the frames are rewritten above the TLS session.
    let tls = paths::tls_url("ca.pem");
    assert_eq!(heartbeats_with(&tls, "heartbeat_timeout_threshold=0").await, [0, 0]);
    assert_eq!(heartbeats_with(broker::URL, "").await, [60, 60], "the default is oslo's 60 s");
}

/// What courier matches: oslo.messaging (py-amqp answers the broker's tune with a heartbeat of
/// 0 when its own is 0) has its connection's heartbeat off with the same option.
#[tokio::test]
async fn python_oslo_messaging_turns_heartbeats_off_the_same_way() {
    let Some(env) = paths::interop_env("python_oslo_messaging_turns_heartbeats_off_the_same_way") else {
        return;
    };
    let url = format!("{}?heartbeat_timeout_threshold=0", broker::URL);
    let topic = unique("heartbeat-py");
    let mut server =
        Peer::python(&env, "rpc_server.py", &["--url", &url, "--topic", &topic, "--server", "py"]);
    server.ready().await;
    // oslo names its connections `<argv0>:<pid>:<uuid>`.
    let timeouts: Vec<u32> = connections_with(&format!("rpc_server.py:{}:", server.id()))
        .iter()
        .map(|line| timeout_of(line))
        .collect();
    assert!(!timeouts.is_empty(), "the Python server's connections are listed");
    assert!(timeouts.iter().all(|t| *t == 0), "{timeouts:?}");
}
