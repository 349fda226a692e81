//! # courier
//!
//! RPC and notifications over a message broker for Rust services, wire-compatible with
//! OpenStack's oslo.messaging: a courier server answers Python `RPCClient`s, and a courier
//! client calls Python `RPCServer`s, over the same RabbitMQ topics.
//!
//! ## Core concepts
//!
//! - An **endpoint** is an `impl` block marked `#[rpc_endpoint]`. Each method is a row of a
//!   dispatch table generated at compile time, marked `Sync` (a plain `fn`) or `Async` (an
//!   `async fn`); a typed client (`<Type>Client`) is generated beside it.
//! - The **mixed executor** runs async methods as tokio tasks and sync methods on the blocking
//!   pool, each kind with its own bound, so a blocking method never stalls the others and a
//!   service can move from blocking to async code one method at a time.
//! - A [`Target`] addresses messages (topic, server, namespace, version, fanout); a
//!   [`Context`] travels with each of them.
//! - An [`RpcServer`] serves endpoints on a target; an [`RpcClient`] calls or casts to one.
//! - A [`Transport`] carries it all: `fake://` (in memory) or `rabbit://` (RabbitMQ, oslo's
//!   wire format), chosen by URL with [`connect`].
//!
//! ## Quick start
//!
//! ```
//! use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
//!
//! struct Calculator;
//!
//! #[rpc_endpoint]
//! impl Calculator {
//!     /// Sync: runs on the blocking pool.
//!     fn add(&self, a: i64, b: i64) -> i64 {
//!         a + b
//!     }
//!
//!     /// Async: runs as a tokio task.
//!     async fn greet(&self, ctx: &Context, name: String) -> String {
//!         format!("hello {name}, from {}", ctx.user().unwrap_or("nobody"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), courier::Error> {
//! let transport = courier::connect("fake://").await?;
//! let server = RpcServer::builder(transport.clone(), Target::new("calc").with_server("host1"))
//!     .endpoint(Calculator)
//!     .build()?;
//! server.start().await?;
//!
//! let client = CalculatorClient::new(RpcClient::new(transport, Target::new("calc")));
//! let ctx = Context::new().with_user("alice");
//! assert_eq!(client.add(&ctx, 2, 3).await?, 5);
//! assert_eq!(client.greet(&ctx, "bob".into()).await?, "hello bob, from alice");
//!
//! server.wait().await;
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `fake` | yes | the `fake://` in-memory transport ([`fake`]) |
//! | `amqp` | yes | the `rabbit://` / `amqp://` RabbitMQ transport ([`amqp`]) |
//! | `yaml` | yes | `RoutingConfig::from_yaml` / `from_file`: the routing notifier's YAML |
//! | `metrics` | no | counters, gauges and histograms through the `metrics` facade ([`metrics`]) |
//! | `opentelemetry` | no | W3C `traceparent` in message headers, linking producer and consumer spans ([`telemetry`]) |
//!
//! The `courier` command-line tool (`courier call`, `cast`, `notify`, `listen`) is a package of
//! its own, `courier-cli`, so services depending on this crate compile no CLI dependencies.
#![deny(missing_docs)]

use std::sync::{Arc, Once};

pub use courier_macros::{notification_endpoint, rpc_endpoint};
pub use courier_runtime::cancellation::Cancellation;
pub use courier_runtime::client::{DEFAULT_CALL_TIMEOUT, RpcClient, to_args};
pub use courier_runtime::consume::ConsumeOptions;
pub use courier_runtime::executor::{
    DEFAULT_POOL_SIZE, DEFAULT_QUEUE_SIZE, ExecutorConfig, ExecutorMode, Panicked,
};
pub use courier_runtime::hook::{Hook, RequestInfo};
pub use courier_runtime::notification_listener::{NotificationListener, NotificationListenerBuilder};
pub use courier_runtime::notify::{
    DEFAULT_NOTIFICATION_TOPIC, DEFAULT_TEST_NOTIFICATIONS_CAPACITY, LOG_DRIVER_TARGET, Notifier,
    NotifierDriver, Priority, RoutingConfig, RoutingRule, SentNotification, TestNotifications,
    python_utc_timestamp,
};
pub use courier_runtime::serializer::{NoOpSerializer, Serializer};
pub use courier_runtime::server::{DrainReport, RpcServer, RpcServerBuilder};
pub use courier_runtime::{
    AccessPolicy, BoxError, CallOptions, Connector, Context, DEFAULT_CONTROL_EXCHANGE, Delivery, Dispatcher,
    Endpoint, EndpointInfo, Error, Headers, Incoming, Invocation, ListenOptions, Listener, MethodInfo,
    MethodKind, MethodResult, NotifyOptions, PendingReply, RemoteException, SendOptions, Target, Transport,
    TransportConfig, TransportError, TransportHost, TransportUrl, Version, parse_version, register_transport,
    version_is_compatible,
};
pub use courier_runtime::{
    Metadata, NotificationEndpoint, NotificationEndpointInfo, NotificationError, NotificationFilter,
    NotificationInvocation, NotificationMessage, NotificationOutcome, NotificationResult, PriorityMethod,
};
pub use courier_runtime::{dispatch, hook, metrics, telemetry, testing, wire};

/// The in-memory transport (`fake://`).
#[cfg(feature = "fake")]
pub use courier_fake as fake;

/// The RabbitMQ transport (`rabbit://`, `amqp://`).
#[cfg(feature = "amqp")]
pub use courier_amqp as amqp;

/// Registers the transports this build includes (`fake`, `rabbit`/`amqp`) with the runtime's
/// registry. [`connect`] calls it; call it yourself before using
/// `<dyn Transport>::from_url` directly.
pub fn register_builtin_transports() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        #[cfg(feature = "fake")]
        courier_fake::register();
        #[cfg(feature = "amqp")]
        courier_amqp::register();
    });
}

/// Builds the transport a URL names (`fake://`, `rabbit://user:pass@host:5672/vhost`, several
/// hosts comma-separated for failover) with the default control exchange `openstack`.
///
/// # Errors
/// [`Error::Transport`] for a bad URL, an unknown scheme, or a broker that cannot be reached.
pub async fn connect(url: &str) -> Result<Arc<dyn Transport>, Error> {
    connect_with(url, TransportConfig::default()).await
}

/// [`connect`] with a configuration (e.g. another control exchange).
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(url: &str, config: TransportConfig) -> Result<Arc<dyn Transport>, Error> {
    register_builtin_transports();
    Ok(courier_runtime::connect(url, config).await?)
}

/// [`connect_with`] for a parsed [`TransportUrl`], e.g. one a program added options to; no
/// string splicing or percent-encoding needed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), courier::Error> {
/// let mut url: courier::TransportUrl = "fake://".parse()?;
/// url.query.entry("heartbeat_timeout_threshold".into()).or_insert_with(|| "30".into());
/// let transport = courier::connect_url(url, courier::TransportConfig::default()).await?;
/// transport.cleanup().await;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`connect`].
pub async fn connect_url(url: TransportUrl, config: TransportConfig) -> Result<Arc<dyn Transport>, Error> {
    register_builtin_transports();
    Ok(courier_runtime::connect_url(url, config).await?)
}

/// Code generated by courier's macros refers only to these paths.
#[doc(hidden)]
pub mod __private {
    pub use courier_runtime::cancellation::Cancellation;
    pub use courier_runtime::client::RpcClient;
    pub use courier_runtime::endpoint::support::*;
    pub use courier_runtime::notification_endpoint::IntoNotificationOutcome;
    pub use courier_runtime::notification_endpoint::support as notification;
    pub use courier_runtime::notify::Priority;
    pub use courier_runtime::target::Version;
    pub use courier_runtime::wire::Failure;
    pub use courier_runtime::{
        Context, Endpoint, EndpointInfo, Error, Invocation, MethodInfo, MethodKind, MethodResult,
        RemoteException,
    };
    pub use courier_runtime::{
        NotificationEndpoint, NotificationEndpointInfo, NotificationError, NotificationInvocation,
        NotificationMessage, NotificationOutcome, PriorityMethod,
    };
    pub use serde;
    pub use serde_json;
    pub use std::boxed::Box;
    pub use std::clone::Clone;
    pub use std::fmt::Debug;
    pub use std::future::Future;
    pub use std::marker::{Send, Sized};
    pub use std::option::Option;
    pub use std::pin::Pin;
    pub use std::result::Result;
    pub use std::string::String;
    pub use std::sync::Arc;
    pub use std::vec::Vec;
}

/// The porting guide (`docs/porting.md`): its Rust blocks are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/porting.md")]
pub struct PortingGuide;
