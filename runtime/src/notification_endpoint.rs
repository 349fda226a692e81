//! What `#[notification_endpoint]` generates code against: the [`NotificationEndpoint`] trait,
//! its static table of priorities, the messages endpoints receive and what they answer.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::Context;
use crate::endpoint::{Invocation, MethodKind};
use crate::error::BoxError;
use crate::notify::Priority;

/// oslo's notification `metadata`: the message's id and when it was sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// The sender's `message_id` (uuid4 with dashes).
    pub message_id: String,
    /// The sender's `timestamp`, e.g. `2026-11-23 07:02:47.787110` (naive UTC).
    pub timestamp: String,
}

impl Metadata {
    /// Metadata with these values.
    #[must_use]
    pub fn new(message_id: impl Into<String>, timestamp: impl Into<String>) -> Self {
        Self { message_id: message_id.into(), timestamp: timestamp.into() }
    }

    /// A metadata field by oslo's key (`message_id`, `timestamp`), for filters.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "message_id" => Some(&self.message_id),
            "timestamp" => Some(&self.timestamp),
            _ => None,
        }
    }
}

/// One received notification, as endpoints see it (oslo's `ctxt, publisher_id, event_type,
/// payload, metadata`), with its payload as JSON (`P = Value`) or decoded into `P`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NotificationMessage<P = Value> {
    /// The sender's (redacted) context.
    pub context: Context,
    /// Who sent it, e.g. `compute.host1`.
    pub publisher_id: String,
    /// What happened, e.g. `compute.instance.create.end`.
    pub event_type: String,
    /// Its priority.
    pub priority: Priority,
    /// The payload.
    pub payload: P,
    /// Message id and timestamp.
    pub metadata: Metadata,
}

impl NotificationMessage<Value> {
    /// A message (for tests and hand-written dispatch).
    #[must_use]
    pub fn new(
        priority: Priority,
        publisher_id: impl Into<String>,
        event_type: impl Into<String>,
        payload: Value,
    ) -> Self {
        Self {
            context: Context::new(),
            publisher_id: publisher_id.into(),
            event_type: event_type.into(),
            priority,
            payload,
            metadata: Metadata::default(),
        }
    }

    /// Decodes the payload into `P` with serde.
    ///
    /// # Errors
    /// The serde error when the payload does not fit `P`.
    pub fn decode_payload<P: DeserializeOwned>(self) -> Result<NotificationMessage<P>, serde_json::Error> {
        let payload = serde_json::from_value(self.payload)?;
        Ok(NotificationMessage {
            context: self.context,
            publisher_id: self.publisher_id,
            event_type: self.event_type,
            priority: self.priority,
            payload,
            metadata: self.metadata,
        })
    }
}

impl<P> NotificationMessage<P> {
    /// Sets the context.
    #[must_use]
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// Sets the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// What an endpoint answers for a notification (oslo's `NotificationResult`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NotificationResult {
    /// Done: the message is acknowledged (once every endpoint of the chain is done).
    #[default]
    Handled,
    /// Deliver it again later; stops the chain. Honoured only by listeners built with
    /// `allow_requeue(true)`; otherwise the message is acknowledged and a warning logged.
    Requeue,
}

/// What running an endpoint method gave: a result, or an error (which a listener treats as
/// [`NotificationResult::Requeue`], as oslo treats an exception).
pub type NotificationOutcome = Result<NotificationResult, NotificationError>;

/// Why a notification endpoint method did not handle its notifications; the listener logs it
/// (with its sources) and requeues, as oslo does for an exception.
///
/// ```
/// use courier_runtime::notification_endpoint::{IntoNotificationOutcome, NotificationError};
///
/// let failed: Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
/// let error = failed.into_outcome().unwrap_err();
/// assert!(matches!(error, NotificationError::Endpoint(_)));
/// assert_eq!(std::error::Error::source(&error).unwrap().to_string(), "disk full");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// The method returned an `Err`: that error, as the source.
    #[error("the endpoint returned an error")]
    Endpoint(#[source] BoxError),
    /// A payload did not decode into the method's payload type.
    #[error("{method}(): the payload of `{event_type}` does not decode into {payload_type}")]
    Payload {
        /// The endpoint method (`Type.priority`).
        method: String,
        /// The notification's event type.
        event_type: String,
        /// The Rust type the method takes.
        payload_type: &'static str,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// A plain (one-at-a-time) endpoint was handed a batch.
    #[error(
        "{method}() takes one notification at a time, not {count}; mark the endpoint \
         `#[notification_endpoint(batch)]` to receive batches"
    )]
    NotABatchEndpoint {
        /// The endpoint method.
        method: String,
        /// How many notifications it was handed.
        count: usize,
    },
    /// The endpoint has no method for the notification's priority.
    #[error("{type_name} has no `{priority}` method")]
    NoSuchPriority {
        /// The endpoint's type.
        type_name: String,
        /// The priority asked for.
        priority: Priority,
    },
    /// The method panicked.
    #[error("method {method} panicked: {message}")]
    Panicked {
        /// The endpoint method.
        method: String,
        /// The panic's message.
        message: String,
    },
}

/// One row of a notification endpoint's table: a priority it implements and how it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityMethod {
    /// The priority (and method name).
    pub priority: Priority,
    /// Sync (`fn`, on the blocking pool) or async (`async fn`, a task).
    pub kind: MethodKind,
}

/// The static description of a notification endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationEndpointInfo {
    /// The Rust type's name.
    pub type_name: &'static str,
    /// Whether its methods take a batch (`Vec`) of messages rather than one at a time.
    pub batch: bool,
    /// The priorities it implements.
    pub methods: &'static [PriorityMethod],
}

impl NotificationEndpointInfo {
    /// The row of a priority, if implemented.
    #[must_use]
    pub fn method(&self, priority: Priority) -> Option<&'static PriorityMethod> {
        self.methods.iter().find(|m| m.priority == priority)
    }
}

/// A ready-to-run endpoint method call: an [`Invocation`] producing a [`NotificationOutcome`].
pub type NotificationInvocation = Invocation<NotificationOutcome>;

/// A notification endpoint: the priorities it implements and a way to invoke them.
///
/// Implemented by `#[notification_endpoint]`; write it by hand only for dynamic endpoints.
/// `invoke` receives one message for a plain endpoint, and the messages of one priority for a
/// batch endpoint ([`NotificationEndpointInfo::batch`]).
///
/// ```
/// use std::sync::Arc;
/// use courier_runtime::endpoint::MethodKind;
/// use courier_runtime::notification_endpoint::*;
/// use courier_runtime::notify::Priority;
///
/// struct Counter(std::sync::atomic::AtomicUsize);
///
/// impl NotificationEndpoint for Counter {
///     fn endpoint_info(&self) -> &'static NotificationEndpointInfo {
///         static INFO: NotificationEndpointInfo = NotificationEndpointInfo {
///             type_name: "Counter",
///             batch: false,
///             methods: &[PriorityMethod { priority: Priority::Info, kind: MethodKind::Async }],
///         };
///         &INFO
///     }
///
///     fn invoke(self: Arc<Self>, _priority: Priority, messages: Vec<NotificationMessage>) -> NotificationInvocation {
///         NotificationInvocation::Async(Box::pin(async move {
///             self.0.fetch_add(messages.len(), std::sync::atomic::Ordering::Relaxed);
///             Ok(NotificationResult::Handled)
///         }))
///     }
/// }
/// ```
pub trait NotificationEndpoint: Send + Sync + 'static {
    /// The endpoint's priorities and whether it takes batches. (Not `info`: that name belongs
    /// to the `INFO` priority's method.)
    fn endpoint_info(&self) -> &'static NotificationEndpointInfo;

    /// Binds messages of `priority` into a runnable call. Payload decoding errors are
    /// reported when the invocation runs, as an error outcome naming the method.
    fn invoke(
        self: Arc<Self>,
        priority: Priority,
        messages: Vec<NotificationMessage>,
    ) -> NotificationInvocation;
}

/// What a notification method may return: `()` or [`NotificationResult`], or a `Result` of
/// either whose error (any `Display`) counts as a requeue request.
pub trait IntoNotificationOutcome {
    /// The outcome.
    fn into_outcome(self) -> NotificationOutcome;
}

impl IntoNotificationOutcome for () {
    fn into_outcome(self) -> NotificationOutcome {
        Ok(NotificationResult::Handled)
    }
}

impl IntoNotificationOutcome for NotificationResult {
    fn into_outcome(self) -> NotificationOutcome {
        Ok(self)
    }
}

/// Any error a method returns (an error type, a `String`, a `&str`) is kept as the source.
impl<T: IntoNotificationOutcome, E: Into<BoxError>> IntoNotificationOutcome for Result<T, E> {
    fn into_outcome(self) -> NotificationOutcome {
        match self {
            Ok(value) => value.into_outcome(),
            Err(error) => Err(NotificationError::Endpoint(error.into())),
        }
    }
}

/// Helpers the generated code calls; not a stable API.
#[doc(hidden)]
pub mod support {
    use super::*;

    /// The one message of a plain endpoint's invocation, its payload decoded.
    pub fn single<P: DeserializeOwned>(
        messages: Vec<NotificationMessage>,
        method: &str,
    ) -> Result<NotificationMessage<P>, NotificationError> {
        let count = messages.len();
        let mut messages = messages.into_iter();
        match (messages.next(), messages.next()) {
            (Some(message), None) => decode(message, method),
            _ => Err(NotificationError::NotABatchEndpoint { method: method.to_owned(), count }),
        }
    }

    /// Every message of a batch endpoint's invocation, payloads decoded.
    pub fn batch<P: DeserializeOwned>(
        messages: Vec<NotificationMessage>,
        method: &str,
    ) -> Result<Vec<NotificationMessage<P>>, NotificationError> {
        messages.into_iter().map(|m| decode(m, method)).collect()
    }

    fn decode<P: DeserializeOwned>(
        message: NotificationMessage,
        method: &str,
    ) -> Result<NotificationMessage<P>, NotificationError> {
        let event_type = message.event_type.clone();
        message.decode_payload().map_err(|source| NotificationError::Payload {
            method: method.to_owned(),
            event_type,
            payload_type: std::any::type_name::<P>(),
            source,
        })
    }

    /// Wraps a sync call.
    pub fn sync_invocation(
        f: impl FnOnce() -> NotificationOutcome + Send + 'static,
    ) -> NotificationInvocation {
        NotificationInvocation::Sync(Box::new(f))
    }

    /// Wraps an async call; the bound shows up on the user's method when the future is not
    /// `Send`.
    pub fn async_invocation<F>(future: F) -> NotificationInvocation
    where
        F: std::future::Future<Output = NotificationOutcome> + Send + 'static,
    {
        NotificationInvocation::Async(Box::pin(future))
    }

    /// An invocation for a priority the endpoint does not implement.
    pub fn unsupported(type_name: &str, priority: Priority) -> NotificationInvocation {
        let error = NotificationError::NoSuchPriority { type_name: type_name.to_owned(), priority };
        NotificationInvocation::Async(Box::pin(std::future::ready(Err(error))))
    }

    /// Turns a method's return value into an outcome.
    pub fn outcome<T: IntoNotificationOutcome>(value: T) -> NotificationOutcome {
        value.into_outcome()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn return_values_become_outcomes() {
        assert_eq!(().into_outcome().unwrap(), NotificationResult::Handled);
        assert_eq!(NotificationResult::Requeue.into_outcome().unwrap(), NotificationResult::Requeue);
        assert_eq!(Ok::<(), String>(()).into_outcome().unwrap(), NotificationResult::Handled);
        let error = Err::<NotificationResult, _>("db down").into_outcome().unwrap_err();
        assert!(matches!(&error, NotificationError::Endpoint(source) if source.to_string() == "db down"));
    }

    #[test]
    fn payloads_decode_or_name_the_method() {
        let message = NotificationMessage::new(Priority::Info, "p", "e.t", json!({"id": 3}));
        #[derive(Deserialize)]
        struct P {
            id: u32,
        }
        let decoded: NotificationMessage<P> = support::single(vec![message.clone()], "info").unwrap();
        assert_eq!(decoded.payload.id, 3);
        let err = support::single::<String>(vec![message.clone()], "info").unwrap_err();
        assert!(
            matches!(&err, NotificationError::Payload { event_type, .. } if event_type == "e.t"),
            "{err}"
        );
        assert_eq!(
            crate::error::chain(&err),
            "info(): the payload of `e.t` does not decode into alloc::string::String: invalid type: \
             map, expected a string"
        );
        let err = support::single::<Value>(vec![message.clone(), message], "info").unwrap_err();
        assert!(matches!(err, NotificationError::NotABatchEndpoint { count: 2, .. }), "{err}");
    }
}
