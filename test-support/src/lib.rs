//! What courier's own tests share, each helper once (after tokio-test and tracing-mock: a
//! `publish = false` crate the test files depend on, instead of `mod common;` copies).
//!
//! | helper | what it is for |
//! | --- | --- |
//! | [`unique`] | a name no other test uses (`prefix-<uuid hex>`), so parallel runs share one broker |
//! | [`PATIENCE`], [`STARTUP`] | bounds on waits; only a failing test waits this long |
//! | [`within`] | fails the test if a future does not finish within [`PATIENCE`] |
//! | [`broker`] | the shared test broker: [`broker::URL`], [`broker::available`] (the probe), transports on exchanges of their own, [`broker::Raw`] (a lapin connection to publish odd bodies and look at queues) |
//! | [`node`] | [`node::PrivateBroker`]: a RabbitMQ node of the test's own, to stop, kill and restart without touching the shared broker |
//! | [`cluster`] | [`cluster::PrivateCluster`]: three (or more) private nodes joined into one RabbitMQ cluster, for failover tests |
//! | [`faults`] | load under broker faults: [`faults::Tally`] of calls ok / failed / timed out / hung, [`faults::bounded_call`], [`faults::wait_until`] |
//! | [`cli`] | the `courier` binary through assert_cmd: [`cli::command`], [`cli::run`], [`cli::stdout_json`], [`cli::stderr_json`], [`cli::spawn`] for `courier listen` |
//! | [`paths`] | the workspace root, the Python virtualenv ([`paths::interop_env`]), `tests/python` scripts, the test TLS files ([`paths::tls_file`]) |
//! | [`process`] | [`process::Peer`]: a subprocess spoken to in lines (Python peers, `courier listen`) |
//! | [`python`] | Python oslo.messaging peers ready on a topic, payloads awkward for two JSON codecs |
//! | [`watchdog`] | [`watchdog::Watchdog`]: ends a long test that stops making progress (its last step and the end of each private node's log printed, the nodes and peers it started killed) instead of letting it hang |
//! | [`wire`] | transport-level requests and notifications, and the next request of a listener |
//! | [`gauge`] | [`gauge::Gate`] and [`gauge::Gauge`]: block methods until the test opens, count methods running |
//! | [`logs`] | [`logs::Captured`]: the text of every log event of a thread or the process, to search |
//! | [`demo`] | the endpoints of `examples/server.rs`, served in-process |
//! | [`transports`] | one scenario on every transport: [`transports::TransportEnv`], [`on_every_transport!`] |
//! | [`conformance`] | the transport conformance suite: [`transport_conformance!`] instantiates every RPC and notification scenario for one transport |
//!
//! ```
//! use courier_test_support::{unique, within};
//!
//! # tokio_test_block_on(async {
//! let topic = unique("doc");
//! assert!(topic.starts_with("doc-"));
//! assert_eq!(within("an answer", async { 42 }).await, 42);
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
#![deny(missing_docs)]

use std::future::Future;
use std::time::Duration;

pub mod broker;
pub mod cli;
pub mod cluster;
pub mod conformance;
pub mod demo;
pub mod faults;
pub mod gauge;
pub mod logs;
pub mod node;
pub mod paths;
pub mod process;
pub mod python;
pub mod transports;
pub mod watchdog;
pub mod wire;

/// Bounds how long a test waits for something that should happen soon; only a failure waits
/// this long.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How long a Python peer may take to import oslo.messaging and connect (slow on a busy
/// two-core machine, where cargo may be compiling beside the tests).
pub const STARTUP: Duration = Duration::from_secs(90);

/// A name no other test uses (`prefix-<uuid hex>`), so tests can share one broker.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Fails the test if `future` does not finish within [`PATIENCE`].
///
/// # Panics
/// With "timed out waiting for `what`" when it does not.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
