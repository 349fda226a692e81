//! The errors a caller can see, one enum per boundary.
//!
//! [`Error`] is what RPC clients, servers and notifiers return. [`TransportError`] is what a
//! [`Transport`](crate::transport::Transport) returns; it converts into [`Error::Transport`].

use std::time::Duration;

use crate::wire::{DispatcherFailure, Failure, WireError};

/// A boxed error from a broker library, kept as the source of a [`TransportError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong when calling, casting or notifying, as a caller can act on it.
///
/// ```
/// use courier_runtime::error::Error;
///
/// fn explain(error: &Error) -> &'static str {
///     match error {
///         Error::Timeout { .. } => "the server did not answer in time",
///         Error::Remote { .. } => "the endpoint failed",
///         Error::NoSuchMethod { .. } | Error::UnsupportedVersion { .. } => "wrong method or version",
///         _ => "something else",
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No final reply arrived within the call's timeout (or no heartbeat within the
    /// call-monitor timeout).
    #[error(
        "timed out after {timeout:?} waiting for a reply to message ID {msg_id} on topic `{topic}`; \
         check that a server consumes that topic and that it is not overloaded"
    )]
    Timeout {
        /// The `_msg_id` of the call.
        msg_id: String,
        /// The topic the call was sent to.
        topic: String,
        /// How long the caller waited.
        timeout: Duration,
    },

    /// The endpoint raised an exception (or returned an error): the failure as it arrived, in
    /// oslo's format (class, module, message, traceback, arguments).
    #[error("remote error: {} {}", .0.class, .0.message)]
    Remote(Failure),

    /// No endpoint of a compatible namespace and version has that method (or it is private):
    /// oslo's `NoSuchMethod`.
    #[error("endpoint does not support RPC method {method}")]
    NoSuchMethod {
        /// The method that was asked for.
        method: String,
        /// The failure as it arrived.
        failure: Failure,
    },

    /// No endpoint serves the requested namespace and version: oslo's `UnsupportedVersion`.
    #[error("endpoint does not support RPC version {version}. Attempted method: {method}")]
    UnsupportedVersion {
        /// The version that was asked for.
        version: String,
        /// The method that was asked for.
        method: String,
        /// The failure as it arrived.
        failure: Failure,
    },

    /// A call's arguments are unusable as given: not a JSON object (keyword arguments).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A value (an argument, a payload) could not be encoded as JSON.
    #[error("cannot encode {what} as JSON")]
    Encode {
        /// What was being encoded, e.g. "argument 'flavor'".
        what: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },

    /// A value (a call's result) could not be decoded from JSON into the type asked for.
    #[error("cannot decode {what} from JSON")]
    Decode {
        /// What was being decoded, e.g. "the result of resize()".
        what: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },

    /// The [`Serializer`](crate::serializer::Serializer) refused an entity.
    #[error("the serializer refused {what}")]
    Serializer {
        /// What was being converted, e.g. "the notification payload".
        what: String,
        /// The serializer's error.
        #[source]
        source: BoxError,
    },

    /// A configuration is invalid: a filter's regex, a routing notifier's YAML or patterns, a
    /// driver name, a builder given contradicting or missing parts (a listener without
    /// endpoints).
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong, for a person.
        reason: String,
        /// The underlying error (regex, YAML, I/O), if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The target cannot be used for this operation (e.g. no topic, or a call with fanout).
    #[error("invalid target: {0}")]
    InvalidTarget(String),

    /// The client's version cap forbids the requested version.
    #[error(
        "requested message version {version} is incompatible with the version cap {cap}: it must \
         have the same major version and a minor version no higher than the cap"
    )]
    VersionCap {
        /// The version of the message.
        version: String,
        /// The client's cap.
        cap: String,
    },

    /// The broker or the transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl Error {
    /// An [`Error::InvalidConfig`] with the error behind it.
    pub(crate) fn config(reason: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::InvalidConfig { reason: reason.into(), source: Some(source.into()) }
    }

    /// An [`Error::InvalidConfig`] found by courier itself.
    pub(crate) fn bad_config(reason: impl Into<String>) -> Self {
        Self::InvalidConfig { reason: reason.into(), source: None }
    }

    /// Builds the error a caller sees for a failure reply: oslo's dispatcher exceptions get
    /// their own variants (read by [`Failure::dispatcher_failure`]), everything else is
    /// [`Error::Remote`]. Each keeps the failure as it arrived.
    #[must_use]
    pub fn from_failure(failure: Failure) -> Self {
        match failure.dispatcher_failure() {
            Some(DispatcherFailure::NoSuchMethod { method }) => {
                Self::NoSuchMethod { method: method.to_owned(), failure }
            }
            Some(DispatcherFailure::UnsupportedVersion { version, method }) => {
                Self::UnsupportedVersion { version: version.to_owned(), method: method.to_owned(), failure }
            }
            None => Self::Remote(failure),
        }
    }

    /// The failure the server answered with, for the three errors that carry one.
    ///
    /// ```
    /// use courier_runtime::error::Error;
    /// use courier_runtime::wire::Failure;
    ///
    /// let error = Error::from_failure(Failure::no_such_method("resize"));
    /// assert!(matches!(&error, Error::NoSuchMethod { method, .. } if method == "resize"));
    /// assert_eq!(error.failure().map(|f| f.class.as_str()), Some("NoSuchMethod"));
    /// ```
    #[must_use]
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Remote(failure)
            | Self::NoSuchMethod { failure, .. }
            | Self::UnsupportedVersion { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

/// What a [`Transport`](crate::transport::Transport) reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The transport URL could not be parsed or names an unsupported option.
    #[error("invalid transport URL: {0}")]
    InvalidUrl(String),

    /// No transport is registered for the URL's scheme.
    #[error(
        "no transport is registered for the URL scheme `{0}`; enable the matching courier feature \
         (`fake` or `amqp`) or register one with `courier::register_transport`"
    )]
    UnknownScheme(String),

    /// The broker could not be reached or the connection broke.
    #[error("broker connection failed: {reason}")]
    Connection {
        /// What happened, for a person.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A message published with mandatory delivery was returned: no queue is bound.
    #[error(
        "message to exchange `{exchange}` with routing key `{routing_key}` was undeliverable: no \
         queue is bound to it (is any server consuming?)"
    )]
    Undeliverable {
        /// The exchange the message was published to.
        exchange: String,
        /// Its routing key.
        routing_key: String,
    },

    /// The broker refused an operation (e.g. a declaration with different arguments, a
    /// nacked publish).
    #[error("the broker refused the operation: {reason}")]
    Refused {
        /// What was refused, for a person.
        reason: String,
        /// The broker client's error (with the broker's reply code), if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The target cannot be used for this operation (e.g. no topic to send to, no server name
    /// for an RPC server's queue, a call with fanout); found before anything reached the broker.
    #[error("invalid target: {0}")]
    InvalidTarget(String),

    /// The message cannot be sent as given (e.g. a call without a `_msg_id`); found before
    /// anything reached the broker.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A message body could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] WireError),

    /// The transport was cleaned up or its listener closed.
    #[error("the transport is closed")]
    Closed,

    /// The operation's deadline passed while the broker was slow but nothing had failed (e.g.
    /// the reply queue was still being declared). [`RpcClient::call`](crate::client::RpcClient::call)
    /// reports it as [`Error::Timeout`].
    #[error("the deadline passed before {0}")]
    TimedOut(String),
}

impl TransportError {
    /// A [`TransportError::Refused`] with the broker client's error as its source.
    pub fn refused(reason: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Refused { reason: reason.into(), source: Some(source.into()) }
    }

    /// A [`TransportError::Connection`] with a source.
    pub fn connection(reason: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Connection { reason: reason.into(), source: Some(source.into()) }
    }
}

impl From<WireError> for Error {
    fn from(error: WireError) -> Self {
        Self::Transport(TransportError::Wire(error))
    }
}

/// `error` and its sources on one line (`a: b: c`), for logs and terminals: `Display` (and
/// tracing's `%error`) shows only the top one. A cause whose text the line already holds is not
/// repeated.
///
/// ```
/// use courier_runtime::error::{TransportError, chain};
///
/// let error = TransportError::connection("cannot connect", std::io::Error::other("refused"));
/// assert_eq!(chain(&error), "broker connection failed: cannot connect: refused");
/// ```
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}
