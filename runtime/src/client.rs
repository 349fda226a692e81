//! The RPC client: call, cast and fanout cast to a target.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::time::Instant;
use tracing::Instrument;

use crate::context::Context;
use crate::error::{Error, TransportError};
use crate::metrics;
use crate::serializer::{NoOpSerializer, Serializer};
use crate::target::Target;
use crate::target::Version;
use crate::telemetry;
use crate::transport::Transport;
use crate::transport::{CallOptions, SendOptions};
use crate::wire::{self, Request};

/// oslo's `rpc_response_timeout`: how long a call waits when no timeout is set.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls and casts methods of the servers of a target.
///
/// Cheap to clone; `prepare()` (a clone) plus `with_*` overrides a target field or an option
/// for some calls only, as oslo's `prepare()`.
///
/// ```
/// # async fn demo(transport: std::sync::Arc<dyn courier_runtime::transport::Transport>) -> Result<(), courier_runtime::error::Error> {
/// use std::time::Duration;
/// use courier_runtime::{client::RpcClient, context::Context, target::Target};
///
/// let client = RpcClient::new(transport, Target::new("compute")).with_timeout(Duration::from_secs(5));
/// let ctx = Context::new().with_user("alice");
/// let args = serde_json::json!({"payload": [1, 2]}).as_object().cloned().unwrap_or_default();
/// let echoed = client.call(&ctx, "echo", args.clone()).await?;
/// client.prepare().with_server("host1").cast(&ctx, "echo", args.clone()).await?;
/// client.prepare().with_fanout(true).cast(&ctx, "echo", args).await?;
/// # let _ = echoed; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RpcClient {
    transport: Arc<dyn Transport>,
    target: Target,
    timeout: Duration,
    call_monitor_timeout: Option<Duration>,
    version_cap: Option<Version>,
    mandatory: bool,
    retry: Option<u32>,
    serializer: Arc<dyn Serializer>,
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .field("call_monitor_timeout", &self.call_monitor_timeout)
            .field("version_cap", &self.version_cap)
            .field("mandatory", &self.mandatory)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl RpcClient {
    /// A client for `target` with oslo's defaults (60 s timeout, no version cap).
    #[must_use]
    pub fn new(transport: Arc<dyn Transport>, target: Target) -> Self {
        Self {
            transport,
            target,
            timeout: DEFAULT_CALL_TIMEOUT,
            call_monitor_timeout: None,
            version_cap: None,
            mandatory: false,
            retry: None,
            serializer: Arc::new(NoOpSerializer),
        }
    }

    /// A copy to override options for some calls (oslo's `prepare()`).
    #[must_use]
    pub fn prepare(&self) -> Self {
        self.clone()
    }

    /// The target calls go to.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The transport.
    #[must_use]
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// Sets the call timeout (also the request's expiration in the broker). It also bounds how
    /// long publishing a cast may take (reconnects and the broker's confirm included).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Asks servers for heartbeats: a call fails when neither a reply nor a heartbeat arrives
    /// for this long, while the timeout still bounds the whole call. Servers heartbeat every
    /// `whole seconds / 2`, so use at least 2 s.
    #[must_use]
    pub fn with_call_monitor_timeout(mut self, timeout: Duration) -> Self {
        self.call_monitor_timeout = Some(timeout);
        self
    }

    /// Refuses (before sending) messages whose version is not compatible with `cap`.
    #[must_use]
    pub fn with_version_cap(mut self, cap: Version) -> Self {
        self.version_cap = Some(cap);
        self
    }

    /// Asks the broker to return messages no queue is bound for, so a call to a topic nobody
    /// serves fails at once with an undeliverable error instead of timing out.
    #[must_use]
    pub fn with_mandatory(mut self, mandatory: bool) -> Self {
        self.mandatory = mandatory;
        self
    }

    /// How often publishing a call or cast is retried when the broker connection fails (oslo's
    /// `retry`): `None` (the default) reconnects until the timeout passes, `Some(0)` gives up
    /// after the first failure, `Some(n)` after `n` retries, each a round through the hosts
    /// after oslo's reconnect backoff. The timeout bounds publishing either way (oslo's
    /// `retry=None` may wait forever for a broker). The in-memory transport does not reconnect,
    /// so it ignores it (its injected publish failures are final).
    ///
    /// ```
    /// # async fn demo(transport: std::sync::Arc<dyn courier_runtime::transport::Transport>) -> Result<(), courier_runtime::error::Error> {
    /// use courier_runtime::{client::RpcClient, context::Context, target::Target};
    ///
    /// let client = RpcClient::new(transport, Target::new("compute"));
    /// // A cast that fails at once when the broker is away, instead of waiting for it.
    /// client.prepare().with_retry(Some(0)).cast(&Context::new(), "ping", Default::default()).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_retry(mut self, retry: Option<u32>) -> Self {
        self.retry = retry;
        self
    }

    /// The `retry` setting (see [`RpcClient::with_retry`]).
    #[must_use]
    pub fn retry(&self) -> Option<u32> {
        self.retry
    }

    /// Sets the serializer.
    #[must_use]
    pub fn with_serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Overrides the exchange.
    #[must_use]
    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.target.exchange = Some(exchange.into());
        self
    }

    /// Overrides the topic.
    #[must_use]
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.target.topic = Some(topic.into());
        self
    }

    /// Overrides the namespace.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.target.namespace = Some(namespace.into());
        self
    }

    /// Overrides the version.
    #[must_use]
    pub fn with_version(mut self, version: Version) -> Self {
        self.target.version = Some(version);
        self
    }

    /// Addresses one server.
    #[must_use]
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.target.server = Some(server.into());
        self
    }

    /// Sends casts to every server of the topic.
    #[must_use]
    pub fn with_fanout(mut self, fanout: bool) -> Self {
        self.target.fanout = fanout;
        self
    }

    /// oslo's `can_send_version`: whether `version` (or the target's) is allowed by the cap.
    /// Without a cap everything is; with a cap, a message without a version is not.
    #[must_use]
    pub fn can_send_version(&self, version: Option<Version>) -> bool {
        match (self.version_cap, version.or(self.target.version)) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(cap), Some(version)) => cap.accepts(version),
        }
    }

    fn check_version_cap(&self) -> Result<(), Error> {
        if self.can_send_version(None) {
            return Ok(());
        }
        Err(Error::VersionCap {
            version: self.target.version.map_or_else(|| "(none)".into(), |v| v.to_string()),
            cap: self.version_cap.map(|v| v.to_string()).unwrap_or_default(),
        })
    }

    fn build_request(
        &self,
        context: &Context,
        method: &str,
        mut args: Map<String, Value>,
    ) -> Result<Request, Error> {
        // In place: rebuilding the map hashed every name again.
        for (name, value) in &mut args {
            *value = self
                .serializer
                .serialize_entity(context, std::mem::take(value))
                .map_err(|source| Error::Serializer { what: format!("argument '{name}'"), source })?;
        }
        let mut request = Request::new(method, args).with_context(self.serializer.serialize_context(context));
        request.namespace.clone_from(&self.target.namespace);
        request.version = self.target.version.map(|v| v.to_string());
        Ok(request)
    }

    /// Calls `method` with keyword arguments and waits for its result.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no reply arrives in time; [`Error::Remote`],
    /// [`Error::NoSuchMethod`] or [`Error::UnsupportedVersion`] when the server says so;
    /// [`Error::InvalidTarget`], [`Error::VersionCap`] or [`Error::Serializer`] before
    /// sending; [`Error::Transport`] when the broker fails; [`Error::Serializer`] when the
    /// serializer refuses the result.
    pub async fn call(
        &self,
        context: &Context,
        method: &str,
        args: Map<String, Value>,
    ) -> Result<Value, Error> {
        self.target.validate_for_call()?;
        self.check_version_cap()?;
        let topic = self.target.require_topic("to send")?.to_owned();
        let mut request = self.build_request(context, method, args)?;
        let msg_id = wire::new_id();
        request.msg_id = Some(msg_id.clone());
        request.call_monitor_timeout = self.call_monitor_timeout.map(|t| t.as_secs_f64());
        let span = telemetry::call_span(&*self.transport, &self.target, &msg_id, method, context);
        let headers = telemetry::inject(&span);
        async {
            let options = CallOptions::new(self.timeout)
                .with_mandatory(self.mandatory)
                .with_retry(self.retry)
                .with_headers(headers);
            metrics::client_call(&topic, method);
            let _outstanding = metrics::OutstandingReply::new(&topic);
            // The timeout bounds the whole call, publishing (and any reconnect) included.
            let deadline = Instant::now() + self.timeout;
            let timed_out = || {
                metrics::client_timeout(&topic, method);
                Error::Timeout { msg_id: msg_id.clone(), topic: topic.clone(), timeout: self.timeout }
            };
            // One timer for publishing and waiting: each timer set costs the runtime's timer
            // driver a wake-up when it is the earliest.
            let expiry = tokio::time::sleep_until(deadline);
            tokio::pin!(expiry);
            let publish = self.transport.call(&self.target, request, &options);
            // The transport keeps a deadline of its own, a moment after ours; when the two fire
            // together its "timed out" is this call's timeout.
            let mut pending = tokio::select! {
                biased;
                published = publish => match published {
                    Err(TransportError::TimedOut(_)) => return Err(timed_out()),
                    result => result?,
                },
                () = &mut expiry => return Err(timed_out()),
            };
            let mut monitor_deadline = self.call_monitor_timeout.map(|t| Instant::now() + t);
            loop {
                let received = match monitor_deadline {
                    None => tokio::select! {
                        biased;
                        received = pending.recv() => Some(received),
                        () = &mut expiry => None,
                    },
                    Some(monitor) => {
                        tokio::time::timeout_at(monitor.min(deadline), pending.recv()).await.ok()
                    }
                };
                let reply = match received {
                    None => return Err(timed_out()),
                    Some(None) => return Err(TransportError::Closed.into()),
                    Some(Some(reply)) => reply?,
                };
                if reply.is_heartbeat() {
                    tracing::trace!("call-monitor heartbeat");
                    monitor_deadline = self.call_monitor_timeout.map(|t| Instant::now() + t);
                    continue;
                }
                if !reply.ending {
                    // The old two-message reply scheme: a result first, the ending after it.
                    continue;
                }
                if let Some(failure) = reply.failure {
                    return Err(Error::from_failure(failure));
                }
                return self.serializer.deserialize_entity(context, reply.result).map_err(|source| {
                    Error::Serializer { what: format!("the result of {method}()"), source }
                });
            }
        }
        .instrument(span)
        .await
    }

    /// Calls `method` with arguments given as any serializable map-like value, decoding the
    /// result into `R`.
    ///
    /// # Errors
    /// As [`call`](Self::call), plus [`Error::InvalidArgument`] when the arguments are not a
    /// JSON object, [`Error::Encode`] when they do not serialize and [`Error::Decode`] when the
    /// result does not decode into `R`.
    pub async fn call_as<A: Serialize, R: DeserializeOwned>(
        &self,
        context: &Context,
        method: &str,
        args: &A,
    ) -> Result<R, Error> {
        let value = self.call(context, method, to_args(args)?).await?;
        crate::endpoint::support::decode_result(value, method)
    }

    /// Casts `method` with keyword arguments: returns once the broker accepted it; no result,
    /// no server error is ever seen. With `with_fanout(true)`, every server of the topic gets it.
    ///
    /// # Errors
    /// [`Error::InvalidTarget`], [`Error::VersionCap`] or [`Error::Serializer`] before
    /// sending; [`Error::Transport`] when the broker fails or (mandatory) nobody listens.
    pub async fn cast(&self, context: &Context, method: &str, args: Map<String, Value>) -> Result<(), Error> {
        self.target.validate_for_send()?;
        self.check_version_cap()?;
        let request = self.build_request(context, method, args)?;
        let span = telemetry::cast_span(&*self.transport, &self.target, method, context);
        // The client's timeout bounds publishing a cast, too (a blocked or lost broker).
        let options = SendOptions::default()
            .with_mandatory(self.mandatory)
            .with_timeout(self.timeout)
            .with_retry(self.retry)
            .with_headers(telemetry::inject(&span));
        async {
            tracing::debug!(fanout = self.target.fanout, "sending a cast");
            self.transport.cast(&self.target, request, &options).await?;
            metrics::client_cast(self.target.topic.as_deref().unwrap_or_default(), method);
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// Turns any serializable map-like value into keyword arguments.
///
/// # Errors
/// [`Error::InvalidArgument`] when it is not a JSON object; [`Error::Encode`] when it does not
/// serialize.
pub fn to_args<A: Serialize + ?Sized>(args: &A) -> Result<Map<String, Value>, Error> {
    match serde_json::to_value(args) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(other) => Err(Error::InvalidArgument(format!("arguments must be a JSON object, not {other}"))),
        Err(source) => Err(Error::Encode { what: "the arguments".into(), source }),
    }
}
