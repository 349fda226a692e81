//! courier's runtime: targets, contexts, the wire model, the dispatcher, the mixed executor,
//! RPC servers and clients, notifications, and the [`Transport`] trait. No broker code lives
//! here; transports are separate crates that implement [`Transport`].
//!
//! Most users depend on the facade crate `courier`, which re-exports all of this together with
//! the `#[rpc_endpoint]` macro and the built-in transports.
#![deny(missing_docs)]

pub mod cancellation;
pub mod client;
pub mod consume;
pub mod context;
pub mod dispatch;
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
pub mod reply_cache;
pub mod serializer;
pub mod server;
pub mod target;
pub mod telemetry;
pub mod testing;
pub mod transport;
pub mod url;
pub mod wire;

pub use cancellation::Cancellation;
pub use client::RpcClient;
pub use consume::ConsumeOptions;
pub use context::{CLIENT_TIMEOUT, Context};
pub use dispatch::{AccessPolicy, Dispatcher};
pub use endpoint::{
    Endpoint, EndpointInfo, Invocation, MethodInfo, MethodKind, MethodResult, RemoteException,
};
pub use error::{BoxError, Error, TransportError};
pub use executor::{ExecutorConfig, ExecutorMode, Panicked};
pub use hook::{Hook, RequestInfo};
pub use notification_endpoint::{
    Metadata, NotificationEndpoint, NotificationEndpointInfo, NotificationError, NotificationInvocation,
    NotificationMessage, NotificationOutcome, NotificationResult, PriorityMethod,
};
pub use notification_filter::NotificationFilter;
pub use notification_listener::{NotificationListener, NotificationListenerBuilder};
pub use notify::{Notifier, NotifierDriver, Priority};
pub use serializer::{NoOpSerializer, Serializer};
pub use server::{DrainReport, RpcServer, RpcServerBuilder};
pub use target::{Target, Version, parse_version, version_is_compatible};
pub use transport::{
    CallOptions, Connector, DEFAULT_CONTROL_EXCHANGE, Delivery, Headers, Incoming, ListenOptions, Listener,
    NotifyOptions, PendingReply, SendOptions, Transport, TransportConfig, connect, connect_url,
    register_transport,
};
pub use url::{TransportHost, TransportUrl};
