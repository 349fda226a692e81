//! Python oslo.messaging peers (`tests/python/*.py`) on the shared broker, ready for commands,
//! and payloads that are awkward to carry through two JSON codecs.

use serde_json::{Value, json};

use crate::broker;
use crate::paths::InteropEnv;
use crate::process::Peer;

/// A Python oslo.messaging RPC client on `topic`, ready for commands.
pub async fn client(env: &InteropEnv, topic: &str, extra: &[&str]) -> Peer {
    let mut args = vec!["--url", broker::URL, "--topic", topic];
    args.extend_from_slice(extra);
    let mut peer = Peer::python(env, "rpc_client.py", &args);
    peer.ready().await;
    peer
}

/// A Python oslo.messaging RPC server on `topic` as `server`, consuming.
pub async fn server(env: &InteropEnv, topic: &str, server: &str) -> Peer {
    let mut peer =
        Peer::python(env, "rpc_server.py", &["--url", broker::URL, "--topic", topic, "--server", server]);
    peer.ready().await;
    peer
}

/// `tests/python/<script> args... --url <the shared broker>`, started but not waited for.
pub fn peer(env: &InteropEnv, script: &str, args: &[&str]) -> Peer {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--url", broker::URL]);
    Peer::python(env, script, &all)
}

/// Payloads that are awkward to carry through two JSON codecs and oslo's envelope.
pub fn awkward_payloads() -> Vec<(&'static str, Value)> {
    vec![
        ("non-ASCII text", json!("héllo wörld ✓ 日本語 🦀 \u{0}\u{1f} \"quoted\" \\ back")),
        ("nested objects", json!({"a": {"b": {"c": [1, {"d": [[], {}, [null]]}]}}, "list": [1, "two", 3.5]})),
        ("i64 and u64 edges", json!([i64::MIN, i64::MAX, u64::MAX, 0, -1])),
        ("floats", json!([0.1, -2.5, 1e300, -1e-300, 123456.789, f64::MAX, f64::MIN_POSITIVE])),
        ("null", Value::Null),
        ("empty object", json!({})),
        ("empty containers", json!({"list": [], "map": {}, "text": ""})),
        ("1 MB of text", json!("x".repeat(1 << 20))),
    ]
}
