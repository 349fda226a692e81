//! courier's runtime: targets, contexts, the wire model, the dispatcher, the mixed executor,
//! RPC servers and clients, notifications, and the [`Transport`](transport::Transport) trait.
//! No broker code lives here; transports are separate crates that implement it.
//!
//! Services and clients depend on the facade crate `courier`, which re-exports what they use
//! together with the `#[rpc_endpoint]` macro and the built-in transports, and documents that
//! public API. This crate is what the facade and the transport crates build on: each public
//! item has one path, `courier_runtime::<module>::<Item>`, and the modules are:
//!
//! | module | for | main items |
//! |---|---|---|
//! | [`transport`] | transport authors | `Transport`, `Listener`, `Incoming`, `Delivery`, `PendingReply`, the option types, `register_transport` |
//! | [`wire`] | transport and test authors | oslo's messages (`Request`, `Reply`, `Failure`, `Notification`) and the envelope codec |
//! | [`url`] | transport authors | `TransportUrl`, `TransportHost` |
//! | [`error`] | everyone | `Error`, `TransportError`, `BoxError` |
//! | [`target`], [`context`] | everyone | `Target`, `Version`, `Context` |
//! | [`client`], [`server`], [`hook`], [`reply_cache`] | client and service authors | `RpcClient`, `RpcServer`, `AccessPolicy`, `Hook`, the reply cache's defaults |
//! | [`cancellation`] | method authors | `Cancellation`: the caller gave up, or the server stops |
//! | [`endpoint`] | hand-written endpoints, generated code | `Endpoint`, `EndpointInfo`, `MethodInfo`, `RemoteException` |
//! | [`notify`], [`notification_listener`], [`notification_endpoint`], [`notification_filter`] | notification senders and consumers | `Notifier`, `Priority`, `NotificationListener`, `NotificationMessage` |
//! | [`executor`], [`consume`], [`serializer`] | tuning servers and listeners | `ExecutorConfig`, `ConsumeOptions`, `DrainReport`, `Serializer` |
//! | [`metrics`], [`telemetry`] | operators | metric names, W3C trace context |
//! | [`testing`] | test authors | oslo message fixtures, `NotificationTap` |
//!
//! The dispatcher, the executor's admission and the consume engine are internal.
#![deny(missing_docs)]

pub mod cancellation;
pub mod client;
pub mod consume;
pub mod context;
mod dispatch;
pub mod endpoint;
pub mod error;
pub mod executor;
pub mod hook;
pub mod metrics;
mod notification_dispatch;
pub mod notification_endpoint;
pub mod notification_filter;
pub mod notification_listener;
pub mod notify;
mod priority;
pub mod reply_cache;
mod secrets;
pub mod serializer;
pub mod server;
pub mod target;
pub mod telemetry;
pub mod testing;
pub mod transport;
pub mod url;
pub mod wire;

/// Internals stay internal (each block must fail to compile with the error code it names):
///
/// ```compile_fail,E0603
/// use courier_runtime::executor::Executor;
/// ```
///
/// ```compile_fail,E0603
/// use courier_runtime::executor::Admission;
/// ```
///
/// ```compile_fail,E0603
/// use courier_runtime::dispatch::Dispatcher;
/// ```
///
/// ```compile_fail,E0603
/// use courier_runtime::consume::Engine;
/// ```
///
/// and each public item has one path: the crate root re-exports nothing.
///
/// ```compile_fail,E0432
/// use courier_runtime::Context;
/// ```
///
/// ```
/// use courier_runtime::context::Context;
/// use courier_runtime::executor::ExecutorConfig;
/// use courier_runtime::server::AccessPolicy;
/// ```
#[cfg(doctest)]
pub struct PublicSurface;
