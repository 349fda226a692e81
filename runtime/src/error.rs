//! The errors a caller can see, one enum per boundary.
//!
//! [`Error`] is what RPC clients, servers and notifiers return. [`TransportError`] is what a
//! [`Transport`](crate::Transport) returns; it converts into [`Error::Transport`].

use std::time::Duration;

/// A boxed error from a broker library, kept as the source of a [`TransportError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong when calling, casting or notifying, as a caller can act on it.
///
/// ```
/// use courier_runtime::Error;
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

    /// The endpoint raised an exception (or returned an error); oslo's failure format.
    #[error("remote error: {class} {message}")]
    Remote {
        /// Exception class name, e.g. `ValueError`.
        class: String,
        /// Exception module, e.g. `builtins`.
        module: String,
        /// The exception message.
        message: String,
        /// The traceback lines the server sent (may be empty).
        traceback: Vec<String>,
    },

    /// No endpoint of a compatible namespace and version has that method (or it is private).
    #[error("endpoint does not support RPC method {method}")]
    NoSuchMethod {
        /// The method that was asked for.
        method: String,
    },

    /// No endpoint serves the requested namespace and version.
    #[error("endpoint does not support RPC version {version}. Attempted method: {method}")]
    UnsupportedVersion {
        /// The version that was asked for.
        version: String,
        /// The method that was asked for.
        method: String,
    },

    /// An argument (or a result) could not be converted to or from JSON.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

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
    /// Builds the error a caller sees for a failure reply, mapping oslo's dispatcher exceptions
    /// to their own variants (their fields are parsed back from oslo's message wording).
    #[must_use]
    pub fn from_failure(failure: crate::wire::Failure) -> Self {
        if failure.module == crate::wire::DISPATCHER_MODULE {
            match failure.class.as_str() {
                "NoSuchMethod" => {
                    if let Some(method) = failure.message.strip_prefix(NO_SUCH_METHOD_PREFIX) {
                        return Self::NoSuchMethod { method: method.to_owned() };
                    }
                }
                "UnsupportedVersion" => {
                    let parsed = failure
                        .message
                        .strip_prefix(UNSUPPORTED_VERSION_PREFIX)
                        .and_then(|rest| rest.split_once(UNSUPPORTED_VERSION_METHOD));
                    if let Some((version, method)) = parsed {
                        return Self::UnsupportedVersion {
                            version: version.to_owned(),
                            method: method.to_owned(),
                        };
                    }
                }
                _ => {}
            }
        }
        Self::Remote {
            class: failure.class,
            module: failure.module,
            message: failure.message,
            traceback: failure.tb,
        }
    }
}

/// oslo's wording of `NoSuchMethod`, followed by the method name.
pub(crate) const NO_SUCH_METHOD_PREFIX: &str = "Endpoint does not support RPC method ";
/// oslo's wording of `UnsupportedVersion`: prefix, version, separator, method.
pub(crate) const UNSUPPORTED_VERSION_PREFIX: &str = "Endpoint does not support RPC version ";
pub(crate) const UNSUPPORTED_VERSION_METHOD: &str = ". Attempted method: ";

/// What a [`Transport`](crate::Transport) reports.
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

    /// The broker refused an operation (e.g. a declaration with different arguments).
    #[error("the broker refused the operation: {0}")]
    Refused(String),

    /// A message body could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),

    /// The transport was cleaned up or its listener closed.
    #[error("the transport is closed")]
    Closed,
}

impl TransportError {
    /// A [`TransportError::Connection`] with a source.
    pub fn connection(reason: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Connection { reason: reason.into(), source: Some(source.into()) }
    }
}

impl From<crate::wire::WireError> for Error {
    fn from(error: crate::wire::WireError) -> Self {
        Self::Transport(TransportError::Wire(error))
    }
}
