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
//! ## The public API
//!
//! This crate is courier's one public API; every item has one path in it. The names used in
//! almost every program are at the root; everything else lives only in the module of its
//! concern. A root name that belongs to a module is listed there too, so a module's page is
//! complete.
//!
//! | path | what it is for | main items |
//! |---|---|---|
//! | root | the core of every program | [`rpc_endpoint`], [`notification_endpoint`], [`connect`], [`Context`], [`Target`], [`Version`], [`Error`], [`RpcClient`], [`RpcServer`], [`Notifier`], [`Priority`], [`NotificationListener`], [`NotificationMessage`], [`Metadata`], [`Transport`] |
//! | [`rpc`] | service and client authors: serving and calling RPC | [`RpcServerBuilder`](rpc::RpcServerBuilder), [`AccessPolicy`](rpc::AccessPolicy), [`Hook`](rpc::Hook), [`RemoteException`](rpc::RemoteException), [`to_args`](rpc::to_args), the [`Endpoint`](rpc::Endpoint) trait for hand-written endpoints |
//! | [`notify`] | sending and consuming notifications | [`NotifierDriver`](notify::NotifierDriver), [`RoutingConfig`](notify::RoutingConfig), [`NotificationFilter`](notify::NotificationFilter), [`NotificationResult`](notify::NotificationResult), [`TestNotifications`](notify::TestNotifications) |
//! | [`executor`] | how servers and listeners run what they receive | [`ExecutorConfig`](executor::ExecutorConfig), [`ConsumeOptions`](executor::ConsumeOptions), [`DrainReport`](executor::DrainReport) |
//! | [`serializer`] | oslo's serializer hook | [`Serializer`](serializer::Serializer) |
//! | [`error`] | what fails and why | [`Error`], [`TransportError`](error::TransportError), [`BoxError`](error::BoxError) |
//! | [`transport`] | choosing a broker, and transport authors | [`TransportConfig`](transport::TransportConfig), [`TransportUrl`](transport::TransportUrl), the [`Transport`] trait with [`Listener`](transport::Listener), [`Incoming`](transport::Incoming), [`Delivery`](transport::Delivery) and the option types, [`register_transport`](transport::register_transport) |
//! | [`wire`] | transport and test authors: oslo's messages and their encoding | [`Request`](wire::Request), [`Reply`](wire::Reply), [`Failure`](wire::Failure), [`Notification`](wire::Notification), [`decode_body`](wire::decode_body) |
//! | [`testing`] | test authors | fixtures of real oslo messages, [`NotificationTap`](testing::NotificationTap) |
//! | [`metrics`], [`telemetry`] | operators | metric names (feature `metrics`), W3C trace context (feature `opentelemetry`) |
//! | `fake`, `amqp` | the built-in transports (features `fake`, `amqp`) | `fake::connect_with_faults` (a fault-injecting test handle), `amqp::RabbitOptions` |
//!
//! Code generated by the macros names only `courier::__private` (hidden, not a stable API), so
//! the crate can be renamed or re-exported (`#[rpc_endpoint(crate = "...")]`). The runtime's
//! dispatcher, executor admission and consume engine are internal.
//!
#![deny(missing_docs)]

use std::sync::{Arc, Once};

// The root: the names almost every program uses. Those that belong to a module below are
// listed there too; nothing else is at two paths.
pub use courier_macros::{notification_endpoint, rpc_endpoint};
pub use courier_runtime::client::RpcClient;
pub use courier_runtime::context::Context;
pub use courier_runtime::error::Error;
pub use courier_runtime::notification_endpoint::{Metadata, NotificationMessage};
pub use courier_runtime::notification_listener::NotificationListener;
pub use courier_runtime::notify::{Notifier, Priority};
pub use courier_runtime::server::RpcServer;
pub use courier_runtime::target::{Target, Version};
pub use courier_runtime::transport::Transport;

pub mod rpc {
    //! Serving and calling RPC: the server's builder and policies, the client's helpers, hooks,
    //! the exception a Python caller sees, and the [`Endpoint`] trait `#[rpc_endpoint]`
    //! implements (write it by hand only for endpoints whose methods are known at run time).
    //!
    //! ```
    //! use courier::rpc::{AccessPolicy, RemoteException};
    //! use courier::{RpcServer, Target};
    //!
    //! #[derive(Debug)]
    //! struct QuotaExceeded;
    //!
    //! impl std::fmt::Display for QuotaExceeded {
    //!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    //!         f.write_str("quota exceeded")
    //!     }
    //! }
    //! impl RemoteException for QuotaExceeded {}
    //!
    //! struct Compute;
    //!
    //! #[courier::rpc_endpoint]
    //! impl Compute {
    //!     #[rpc(expose)]
    //!     fn resize(&self, flavor: u32) -> Result<u32, QuotaExceeded> {
    //!         if flavor > 8 { Err(QuotaExceeded) } else { Ok(flavor) }
    //!     }
    //! }
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), courier::Error> {
    //! let transport = courier::connect("fake://").await?;
    //! let server = RpcServer::builder(transport, Target::new("compute").with_server("host1"))
    //!     .endpoint(Compute)
    //!     .with_access_policy(AccessPolicy::Explicit)
    //!     .build()?;
    //! # drop(server);
    //! # Ok(()) }
    //! ```

    pub use courier_runtime::cancellation::Cancellation;
    pub use courier_runtime::client::{DEFAULT_CALL_TIMEOUT, RpcClient, to_args};
    pub use courier_runtime::endpoint::{
        Endpoint, EndpointInfo, Invocation, MethodInfo, MethodKind, MethodResult, RemoteException,
    };
    pub use courier_runtime::hook::{Hook, RequestInfo};
    pub use courier_runtime::reply_cache::{DEFAULT_REPLY_CACHE_AGE, DEFAULT_REPLY_CACHE_ENTRIES};
    pub use courier_runtime::server::{AccessPolicy, DEFAULT_PREFETCH, RpcServer, RpcServerBuilder};
}

pub mod notify {
    //! Notifications: sending them ([`Notifier`], its drivers and routing), consuming them
    //! ([`NotificationListener`], filters, the [`NotificationEndpoint`] trait
    //! `#[notification_endpoint]` implements), and capturing them in tests
    //! ([`TestNotifications`]).
    //!
    //! ```
    //! use courier::notify::{NotifierDriver, TestNotifications};
    //! use courier::{Context, Notifier, Priority};
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), courier::Error> {
    //! let sent = TestNotifications::new();
    //! let notifier = Notifier::new(courier::connect("fake://").await?, "compute.host1")
    //!     .with_driver(NotifierDriver::test(&sent));
    //! notifier.info(&Context::new(), "compute.instance.create.end", serde_json::json!({"id": 1})).await?;
    //! assert_eq!(sent.take()[0].priority, Priority::Info);
    //! # Ok(()) }
    //! ```

    pub use courier_runtime::notification_endpoint::{
        Metadata, NotificationEndpoint, NotificationEndpointInfo, NotificationError, NotificationInvocation,
        NotificationMessage, NotificationOutcome, NotificationResult, PriorityMethod,
    };
    pub use courier_runtime::notification_filter::NotificationFilter;
    pub use courier_runtime::notification_listener::{NotificationListener, NotificationListenerBuilder};
    pub use courier_runtime::notify::{
        DEFAULT_NOTIFICATION_TOPIC, DEFAULT_TEST_NOTIFICATIONS_CAPACITY, LOG_DRIVER_TARGET, Notifier,
        NotifierDriver, Priority, RoutingConfig, RoutingRule, SentNotification, TestNotifications,
        UnknownPriority, python_utc_timestamp,
    };
}

pub mod executor {
    //! How RPC servers and notification listeners run what they receive: the mixed executor's
    //! mode and bounds ([`ExecutorConfig`]), the options both builders share
    //! ([`ConsumeOptions`]), and what a graceful stop reports ([`DrainReport`]).
    //!
    //! ```
    //! use courier::executor::ExecutorConfig;
    //!
    //! // 8 blocking methods at a time, 4 more waiting; async methods keep the defaults.
    //! let config = ExecutorConfig::default().with_sync_pool(8).with_sync_queue(4);
    //! assert_eq!(config.async_pool, courier::executor::DEFAULT_POOL_SIZE);
    //! ```

    pub use courier_runtime::consume::{ConsumeOptions, DrainReport};
    pub use courier_runtime::executor::{
        DEFAULT_POOL_SIZE, DEFAULT_QUEUE_SIZE, ExecutorConfig, ExecutorMode,
    };
}

pub mod error {
    //! The errors a caller sees: [`Error`] for every operation, [`TransportError`] for what a
    //! transport reports (wrapped in [`Error::Transport`]).
    //!
    //! ```
    //! use courier::{Error, RpcClient, Target};
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() {
    //! let transport = courier::connect("fake://").await.unwrap();
    //! let client = RpcClient::new(transport, Target::new("nobody-serves-this"))
    //!     .with_timeout(std::time::Duration::from_millis(50));
    //! match client.call(&courier::Context::new(), "ping", Default::default()).await {
    //!     Err(Error::Timeout { topic, .. }) => assert_eq!(topic, "nobody-serves-this"),
    //!     Err(Error::Transport(error)) => panic!("the transport failed: {error}"),
    //!     other => panic!("{other:?}"),
    //! }
    //! # }
    //! ```

    pub use courier_runtime::error::{BoxError, Error, TransportError, chain};
}

pub mod transport {
    //! Transports: what carries messages, chosen by URL with [`connect`](crate::connect). For
    //! users, [`TransportConfig`] and [`TransportUrl`]; for transport authors, the
    //! [`Transport`] trait with the types it takes and returns, and [`register_transport`] to
    //! make a URL scheme work with [`connect`](crate::connect). A transport crate may depend on
    //! `courier-runtime` instead, where these items live in `courier_runtime::transport` and
    //! `courier_runtime::url`.
    //!
    //! ```
    //! use courier::transport::{TransportConfig, TransportUrl};
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), courier::Error> {
    //! // Several hosts for failover; the password never shows in `Debug` or `Display`.
    //! let url: TransportUrl = "rabbit://nova:s3cret@ctl1:5672,ctl2/nova".parse()?;
    //! assert_eq!(url.hosts.len(), 2);
    //! assert!(!format!("{url:?}").contains("s3cret"));
    //!
    //! // Python's `control_exchange`: where targets without an exchange are sent.
    //! let config = TransportConfig::default().with_control_exchange("nova");
    //! let transport = courier::connect_with("fake://", config).await?;
    //! transport.cleanup().await;
    //! # Ok(()) }
    //! ```

    pub use courier_runtime::transport::{
        CallOptions, Connector, DEFAULT_CONTROL_EXCHANGE, Delivery, Headers, Incoming, ListenOptions,
        Listener, NotifyOptions, Origin, PendingReply, ReplySendError, ReplySender, SendOptions, Transport,
        TransportConfig, register_transport,
    };
    pub use courier_runtime::url::{TransportHost, TransportUrl};
}

#[doc(inline)]
pub use courier_runtime::{metrics, serializer, telemetry, testing, wire};

/// The in-memory transport (`fake://`), with a fault-injecting test handle.
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
    connect_with(url, transport::TransportConfig::default()).await
}

/// [`connect`] with a configuration (e.g. another control exchange).
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(
    url: &str,
    config: transport::TransportConfig,
) -> Result<Arc<dyn Transport>, Error> {
    register_builtin_transports();
    Ok(courier_runtime::transport::connect(url, config).await?)
}

/// [`connect_with`] for a parsed [`TransportUrl`](transport::TransportUrl), e.g. one a program added options to; no
/// string splicing or percent-encoding needed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), courier::Error> {
/// let mut url: courier::transport::TransportUrl = "fake://".parse()?;
/// url.query.entry("heartbeat_timeout_threshold".into()).or_insert_with(|| "30".into());
/// let transport = courier::connect_url(url, courier::transport::TransportConfig::default()).await?;
/// transport.cleanup().await;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`connect`].
pub async fn connect_url(
    url: transport::TransportUrl,
    config: transport::TransportConfig,
) -> Result<Arc<dyn Transport>, Error> {
    register_builtin_transports();
    Ok(courier_runtime::transport::connect_url(url, config).await?)
}

/// Code generated by courier's macros refers only to these paths.
#[doc(hidden)]
pub mod __private {
    pub use courier_runtime::cancellation::Cancellation;
    pub use courier_runtime::client::RpcClient;
    pub use courier_runtime::context::Context;
    pub use courier_runtime::endpoint::support::*;
    pub use courier_runtime::endpoint::{
        Endpoint, EndpointInfo, Invocation, MethodInfo, MethodKind, MethodResult, RemoteException,
    };
    pub use courier_runtime::error::Error;
    pub use courier_runtime::notification_endpoint::support as notification;
    pub use courier_runtime::notification_endpoint::{
        IntoNotificationOutcome, NotificationEndpoint, NotificationEndpointInfo, NotificationError,
        NotificationInvocation, NotificationMessage, NotificationOutcome, PriorityMethod,
    };
    pub use courier_runtime::notify::Priority;
    pub use courier_runtime::target::Version;
    pub use courier_runtime::wire::Failure;
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

/// One path per item: what lives in a module is not also at the root, apart from the names
/// listed at the top of this file (each block must fail with the error code it names).
///
/// ```compile_fail,E0432
/// use courier::ExecutorConfig; // courier::executor::ExecutorConfig
/// ```
///
/// ```compile_fail,E0432
/// use courier::TransportUrl; // courier::transport::TransportUrl
/// ```
///
/// ```compile_fail,E0432
/// use courier::dispatch::Dispatcher; // internal
/// ```
///
/// ```
/// use courier::executor::ExecutorConfig;
/// use courier::transport::TransportUrl;
/// use courier::{RpcServer, rpc};
/// let _: fn(RpcServer) -> rpc::RpcServer = |server| server;
/// ```
#[cfg(doctest)]
pub struct OnePathPerItem;

/// The porting guide (`docs/porting.md`): its Rust blocks are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/porting.md")]
pub struct PortingGuide;
