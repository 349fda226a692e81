//! The RPC server: consumes a target's requests, dispatches them to endpoints through the
//! mixed executor, and replies. It is a [`Handler`](crate::consume) over the consume engine:
//! requests are acknowledged on admission, and every reply, failure replies included, is sent
//! from a task the drain waits for.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Span;

use crate::cancellation::Cancellation;
use crate::consume::{
    AckPolicy, ConsumeOptions, Core, DrainReport, Engine, Handler, Settlement, Work, consume_options_methods,
    consumer_span,
};
use crate::context::CLIENT_TIMEOUT;
use crate::context::Context;
use crate::dispatch::{Dispatcher, Route, Served};
use crate::endpoint::{Endpoint, Invocation, MethodKind};
use crate::error::{Error, TransportError};
use crate::executor::Admission;
use crate::hook::{Hook, RequestInfo};
use crate::metrics::{self, Outcome, Rejection};
use crate::reply_cache::{DEFAULT_REPLY_CACHE_AGE, DEFAULT_REPLY_CACHE_ENTRIES, ReplyCache, Seen};
use crate::serializer::Serializer;
use crate::target::Target;
use crate::transport::Transport;
use crate::transport::{Delivery, Incoming, ListenOptions, Origin};
use crate::wire::{Failure, Reply, Request, seconds_to_json};

/// Chosen with [`RpcServerBuilder::with_access_policy`]; lives with the dispatcher, which applies it.
pub use crate::dispatch::AccessPolicy;

/// How many requests the broker may push ahead of admission (they stay unacknowledged,
/// so the broker can redeliver them if the server goes away). Requests are acked on
/// admission, so this bounds only the backlog the executor has not taken yet; with a small
/// value the broker waits for each ack's round trip before it sends more, which capped
/// throughput (4: about 1 500 calls/s at 64 outstanding here, 64: about 2 000–2 900, with a
/// third less broker CPU per call).
pub const DEFAULT_PREFETCH: u16 = 64;

/// Builds an [`RpcServer`].
///
/// ```
/// # fn demo(transport: std::sync::Arc<dyn courier_runtime::transport::Transport>, ep: impl courier_runtime::endpoint::Endpoint) -> Result<(), courier_runtime::error::Error> {
/// use courier_runtime::{executor::ExecutorConfig, server::RpcServer, target::Target};
///
/// let server = RpcServer::builder(transport, Target::new("compute").with_server("host1"))
///     .endpoint(ep)
///     .with_executor(ExecutorConfig::default().with_sync_pool(16))
///     .build()?;
/// # let _ = server; Ok(()) }
/// ```
#[must_use]
pub struct RpcServerBuilder {
    transport: Arc<dyn Transport>,
    target: Target,
    endpoints: Vec<Served>,
    options: ConsumeOptions,
    ping: bool,
    access_policy: AccessPolicy,
    hooks: Vec<Arc<dyn Hook>>,
    reply_cache: (usize, Duration),
}

impl RpcServerBuilder {
    /// Adds an endpoint; endpoints are tried in the order they were added.
    pub fn endpoint(mut self, endpoint: impl Endpoint) -> Self {
        self.endpoints.push(Served::new(Arc::new(endpoint)));
        self
    }

    /// Adds a shared endpoint.
    pub fn endpoint_arc(mut self, endpoint: Arc<dyn Endpoint>) -> Self {
        self.endpoints.push(Served::new(endpoint));
        self
    }

    /// Adds an endpoint that serves the namespace and version of `target` instead of those of
    /// its `#[rpc_endpoint(...)]` arguments (oslo's `endpoint.target`), e.g. one type serving
    /// two namespaces, or a version read from configuration. Like oslo's, the target replaces
    /// both: a target without a namespace serves the null namespace, one without a version
    /// serves `1.0`. Its other fields (topic, server, ...) are not used.
    ///
    /// ```
    /// # fn demo(builder: courier_runtime::server::RpcServerBuilder, endpoint: impl courier_runtime::endpoint::Endpoint) {
    /// use courier_runtime::target::{Target, Version};
    ///
    /// let builder = builder.endpoint_with_target(
    ///     endpoint,
    ///     Target::default().with_namespace("baremetal").with_version(Version::new(1, 4)),
    /// );
    /// # let _ = builder; }
    /// ```
    pub fn endpoint_with_target(mut self, endpoint: impl Endpoint, target: Target) -> Self {
        self.endpoints.push(Served::at(Arc::new(endpoint), &target));
        self
    }

    consume_options_methods!();

    /// Adds a [`Hook`] around every routed request: it may refuse a request (the caller gets
    /// its failure) and sees every outcome. Hooks run in the order they were added.
    pub fn with_hook(mut self, hook: impl Hook) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Serves oslo's `oslo_rpc_server_ping` → `"pong"` (oslo's `rpc_ping_enabled`).
    pub fn with_ping(mut self, enabled: bool) -> Self {
        self.ping = enabled;
        self
    }

    /// Bounds the reply cache: the replies of the last `max_entries` calls, each kept up to
    /// `max_age` (defaults [`DEFAULT_REPLY_CACHE_ENTRIES`], [`DEFAULT_REPLY_CACHE_AGE`]). A call
    /// the broker delivers again (flagged redelivered: its acknowledgement was lost, e.g. with
    /// a connection) is answered with the kept reply, or not at all while its first run is
    /// still going, instead of running twice. Methods marked `#[rpc(idempotent)]` are not
    /// kept: their redeliveries run again. `0` entries turn the cache off.
    ///
    /// ```
    /// # fn demo(builder: courier_runtime::server::RpcServerBuilder) {
    /// use std::time::Duration;
    ///
    /// let builder = builder.with_reply_cache(4096, Duration::from_secs(120));
    /// # let _ = builder; }
    /// ```
    pub fn with_reply_cache(mut self, max_entries: usize, max_age: Duration) -> Self {
        self.reply_cache = (max_entries, max_age);
        self
    }

    /// Which methods requests may call (oslo's `access_policy`); default
    /// [`AccessPolicy::Default`]: all but `_`-prefixed names. A hidden method is answered with
    /// `NoSuchMethod`, as oslo does.
    pub fn with_access_policy(mut self, policy: AccessPolicy) -> Self {
        self.access_policy = policy;
        self
    }

    /// Builds the server (not started).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] when the target lacks a topic or a server.
    pub fn build(self) -> Result<RpcServer, Error> {
        self.target.validate_for_server()?;
        let mut dispatcher = Dispatcher::new(self.endpoints).with_access_policy(self.access_policy);
        if self.ping {
            dispatcher = dispatcher.with_ping();
        }
        let handler = RpcHandler {
            client_timeout_in_context: self.transport.messaging_system() == "rabbitmq",
            transport: self.transport,
            target: self.target,
            dispatcher,
            serializer: self.options.serializer,
            hooks: self.hooks,
            prefetch: self.options.prefetch.unwrap_or(DEFAULT_PREFETCH),
            replies: Arc::new(ReplyCache::new(self.reply_cache.0, self.reply_cache.1)),
        };
        Ok(RpcServer { engine: Engine::new(handler, self.options.executor, self.options.drain_timeout) })
    }
}

/// An RPC server: oslo's `get_rpc_server` with start / stop / wait.
///
/// Requests are acknowledged when the executor admits them (oslo's ack on receipt); replies
/// are sent from each request's own task.
pub struct RpcServer {
    engine: Engine<RpcHandler>,
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let handler = self.engine.handler();
        f.debug_struct("RpcServer")
            .field("target", &handler.target)
            .field("endpoints", &handler.dispatcher)
            .finish_non_exhaustive()
    }
}

impl RpcServer {
    /// Starts building a server for `target` (topic and server required).
    pub fn builder(transport: Arc<dyn Transport>, target: Target) -> RpcServerBuilder {
        RpcServerBuilder {
            transport,
            target,
            endpoints: Vec::new(),
            options: ConsumeOptions::default(),
            ping: false,
            access_policy: AccessPolicy::Default,
            hooks: Vec::new(),
            reply_cache: (DEFAULT_REPLY_CACHE_ENTRIES, DEFAULT_REPLY_CACHE_AGE),
        }
    }

    /// The target served.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.engine.handler().target
    }

    /// Messages admitted and unfinished, per kind: `(sync, async)`.
    #[must_use]
    pub fn in_flight(&self) -> (usize, usize) {
        self.engine.in_flight()
    }

    /// Declares the queues and starts consuming. Starting a running server does nothing.
    ///
    /// # Errors
    /// [`Error::Transport`] when the transport cannot listen.
    pub async fn start(&self) -> Result<(), Error> {
        let handler = self.engine.handler();
        let options = ListenOptions::default().with_prefetch(handler.prefetch);
        if self.engine.start(|| handler.transport.listen(&handler.target, &options)).await? {
            tracing::info!(target = ?handler.target, "rpc server consuming");
        } else {
            tracing::warn!(target = ?handler.target, "the server is already running");
        }
        Ok(())
    }

    /// Stops taking messages and closes the consumer. Work already admitted goes on; see
    /// [`wait`](Self::wait).
    pub async fn stop(&self) {
        self.engine.stop().await;
    }

    /// Stops (if needed), then waits for in-flight work to finish and reply (failure replies
    /// too), up to the drain timeout. The server can be started again afterwards.
    pub async fn wait(&self) -> DrainReport {
        self.engine.wait().await
    }
}

/// The RPC consumer: decodes, routes, runs and replies.
struct RpcHandler {
    transport: Arc<dyn Transport>,
    target: Target,
    dispatcher: Dispatcher,
    serializer: Arc<dyn Serializer>,
    hooks: Vec<Arc<dyn Hook>>,
    prefetch: u16,
    /// Whether requests' `_timeout` is added to the context as `client_timeout` (on RabbitMQ).
    client_timeout_in_context: bool,
    /// The replies of recent calls, for their redeliveries.
    replies: Arc<ReplyCache>,
}

/// A routed request.
struct Call {
    route: Route,
    request: Request,
    delivery: Box<dyn Delivery>,
    /// Where its acknowledgement is recorded: a call whose reply is kept for redeliveries.
    cached: Option<Arc<ReplyCache>>,
    /// When its caller gives up (a call's timeout, as the transport read it); `None` for a
    /// cast, which nobody waits for and which runs whenever it is admitted.
    deadline: Option<Instant>,
}

impl Work for Call {
    fn kind(&self) -> Option<MethodKind> {
        Some(self.route.kind())
    }

    fn method(&self) -> &'static str {
        self.route.method.name
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn log_expired(&self) {
        log_expired(self.request.msg_id.as_deref(), &self.request.method);
    }

    /// Settles a request that does not run (expired, or requeued at a stop); one that runs is
    /// acknowledged by [`RpcHandler::handle`].
    async fn settle(&self, how: Settlement) -> Result<(), TransportError> {
        how.apply(&*self.delivery).await?;
        if how == Settlement::Ack
            && let (Some(cache), Some(msg_id)) = (&self.cached, &self.request.msg_id)
        {
            cache.running(msg_id);
        }
        Ok(())
    }
}

impl Handler for RpcHandler {
    type Taken = Call;
    type Work = Call;

    const ACK: AckPolicy = AckPolicy::OnAdmission;

    fn consumer(&self) -> String {
        let part = |p: &Option<String>| p.clone().unwrap_or_default();
        format!("{}.{}", part(&self.target.topic), part(&self.target.server))
    }

    fn span(&self, origin: Option<&Origin>) -> Span {
        consumer_span!(
            "rpc.receive",
            origin,
            "messaging.message.id" = tracing::field::Empty,
            "rpc.method" = tracing::field::Empty,
            "courier.method.kind" = tracing::field::Empty,
            request_id = tracing::field::Empty,
            global_request_id = tracing::field::Empty,
        )
    }

    /// Decodes and routes a message. Everything that cannot run is settled and answered here.
    async fn take(core: &Arc<Core<Self>>, incoming: Incoming) -> Option<Call> {
        let Incoming { message, delivery, redelivered, deadline, .. } = incoming;
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "rejecting an undecodable message");
                metrics::rejected(&core.consumer, metrics::UNKNOWN_METHOD, Rejection::Undecodable);
                Settlement::Reject.settle(&*delivery).await;
                return None;
            }
        };
        let request = match Request::read(message) {
            Ok(request) => request,
            Err((error, reply_to)) => {
                if let Some((_, msg_id)) = &reply_to {
                    Span::current().record("messaging.message.id", msg_id.as_str());
                }
                tracing::warn!(%error, "rejecting a malformed request");
                metrics::rejected(&core.consumer, metrics::UNKNOWN_METHOD, Rejection::Malformed);
                Settlement::Reject.settle(&*delivery).await;
                if let Some((reply_q, msg_id)) = reply_to {
                    let failure =
                        Failure::new("ValueError", "builtins", format!("malformed request: {error}"));
                    reply_later(core, reply_q, Reply::failure(failure).with_msg_id(msg_id));
                }
                return None;
            }
        };
        record_request(&request);
        match core.handler.dispatcher.route(&request) {
            Ok(route) => {
                Span::current().record("courier.method.kind", route.kind().as_str());
                let is_call = request.reply_q.is_some();
                let replies = &core.handler.replies;
                let cached =
                    (is_call && replies.enabled() && !route.method.idempotent).then(|| Arc::clone(replies));
                if redelivered
                    && cached.is_some()
                    && answered_before(core, &route, &request, &*delivery).await
                {
                    return None;
                }
                let deadline = deadline.filter(|_| is_call);
                Some(Call { route, request, delivery, cached, deadline })
            }
            Err(failure) => {
                tracing::info!(class = %failure.class, "{}", failure.message);
                // The method name came off the wire: not a label (unbounded).
                let reason = match failure.class.as_str() {
                    "UnsupportedVersion" => Rejection::UnsupportedVersion,
                    _ => Rejection::NoSuchMethod,
                };
                metrics::rejected(&core.consumer, metrics::UNKNOWN_METHOD, reason);
                Settlement::Ack.settle(&*delivery).await;
                if let Some((reply_q, msg_id)) = reply_address(&request) {
                    reply_later(core, reply_q, Reply::failure(failure).with_msg_id(msg_id));
                }
                None
            }
        }
    }

    fn plan(&self, call: Call) -> Call {
        call
    }

    /// Acknowledges the request first, as oslo does on receipt, then runs it and replies.
    ///
    /// The ack is sent before the method starts, and a failure known at once (its channel is
    /// gone) means the method does not run: the broker delivers it again. Its completion is
    /// not awaited before running, though: on RabbitMQ that is a round trip through lapin's
    /// I/O thread (about 50 µs of every call, measured), so the ack completes beside the
    /// method. One that fails only then is logged; the broker delivers the request again, and
    /// a call's redelivery to this server is answered from the reply cache.
    async fn handle(
        core: Arc<Core<Self>>,
        call: Call,
        admission: Admission,
        stopping: watch::Receiver<bool>,
    ) {
        let Call { route, request, delivery, cached, deadline } = call;
        let mut ack = delivery.ack();
        let in_flight = match std::future::poll_fn(|cx| Poll::Ready(ack.as_mut().poll(cx))).await {
            Poll::Ready(Err(error)) => {
                tracing::error!(%error, "could not acknowledge a message; skipping it");
                return;
            }
            Poll::Ready(Ok(())) => None,
            Poll::Pending => Some(ack),
        };
        // Recorded once the ack is out: a call whose ack failed at once is skipped, and its
        // redelivery must run.
        if let (Some(cache), Some(msg_id)) = (&cached, &request.msg_id) {
            cache.running(msg_id);
        }
        let respond = Self::respond(core, route, request, cached, deadline, admission, stopping);
        let Some(ack) = in_flight else { return respond.await };
        // Boxed: the run holds the method's future (several KiB), which `join` would move.
        let (acked, ()) = tokio::join!(ack, Box::pin(respond));
        if let Err(error) = acked {
            tracing::warn!(
                %error,
                "the acknowledgement of a message already running failed; the broker will deliver \
                 it again"
            );
        }
    }
}

/// Counts a call its caller gave up on, and stops its heartbeats: it gets no reply.
fn unanswered(consumer: &str, method: &str, heartbeats: Option<JoinHandle<()>>) {
    metrics::rejected(consumer, method, Rejection::Expired);
    if let Some(heartbeats) = heartbeats {
        heartbeats.abort();
    }
}

fn log_expired(msg_id: Option<&str>, method: &str) {
    tracing::warn!(
        msg_id = msg_id.unwrap_or_default(),
        method,
        "not running a call whose caller has given up (its timeout passed before it could run)"
    );
}

/// Records a decoded request's ids and method in the current (message) span.
fn record_request(request: &Request) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    if let Some(id) = request.msg_id.as_deref().or(request.unique_id.as_deref()) {
        span.record("messaging.message.id", id);
    }
    span.record("rpc.method", request.method.as_str());
    if let Some(id) = request.context.request_id() {
        span.record("request_id", id);
    }
    if let Some(id) = request.context.global_request_id() {
        span.record("global_request_id", id);
    }
}

/// For a redelivered call already seen: acknowledges it and answers with the kept reply (none
/// while the first run still goes on; that run replies). False when the call is not known.
async fn answered_before(
    core: &Arc<Core<RpcHandler>>,
    route: &Route,
    request: &Request,
    delivery: &dyn Delivery,
) -> bool {
    let Some((reply_q, msg_id)) = reply_address(request) else { return false };
    let Some(seen) = core.handler.replies.get(&msg_id) else { return false };
    metrics::rejected(&core.consumer, route.method.name, Rejection::Redelivered);
    Settlement::Ack.settle(delivery).await;
    match seen {
        Seen::Running => {
            tracing::info!(%msg_id, "a redelivered call is still running; its run will reply");
        }
        Seen::Replied(reply) => {
            tracing::info!(%msg_id, "answering a redelivered call with the reply it already got");
            reply_later(core, reply_q, reply);
        }
    }
    true
}

/// Sends a reply from a task of its own that the drain waits for.
fn reply_later(core: &Arc<Core<RpcHandler>>, reply_q: String, reply: Reply) {
    let task_core = Arc::clone(core);
    core.spawn(async move { task_core.handler.send_reply(&reply_q, reply).await });
}

impl RpcHandler {
    /// Runs an acknowledged request and replies to it.
    async fn respond(
        core: Arc<Core<Self>>,
        route: Route,
        request: Request,
        call_cache: Option<Arc<ReplyCache>>,
        deadline: Option<Instant>,
        admission: Admission,
        stopping: watch::Receiver<bool>,
    ) {
        let cancellation = Cancellation::new(deadline, stopping);
        let handler = &core.handler;
        let reply_to = reply_address(&request);
        let heartbeats = reply_to.as_ref().and_then(|(q, id)| handler.start_heartbeats(&request, q, id));
        let mut raw_context = request.context;
        if handler.client_timeout_in_context {
            // oslo's rabbit driver (`amqp.unpack_context`) hands endpoints the caller's
            // `_timeout` as `client_timeout`, null when absent; its fake driver does not.
            let timeout = request.call_monitor_timeout.map_or(Value::Null, seconds_to_json);
            raw_context.insert(CLIENT_TIMEOUT, timeout);
        }
        let context = handler.serializer.deserialize_context(raw_context);
        // Only a server with hooks keeps a copy of the context for them; one `run` await
        // point keeps the task's future small.
        let (run_context, hook_context) =
            if handler.hooks.is_empty() { (context, None) } else { (context.clone(), Some(context)) };
        let info = hook_context.as_ref().map(|context| RequestInfo {
            target: &handler.target,
            method: &request.method,
            namespace: request.namespace.as_deref(),
            version: request.version.as_deref(),
            kind: route.kind(),
            context,
            is_call: reply_to.is_some(),
        });
        let refusal =
            info.as_ref().and_then(|info| handler.hooks.iter().try_for_each(|h| h.before(info)).err());
        let (label, stopwatch) = (route.method.name, metrics::Stopwatch::start());
        let result = match refusal {
            // Bound synchronously so only the invocation lives across the await.
            None => match handler.bind(&route, &request.method, request.args, run_context, cancellation) {
                Ok(invocation) => {
                    // A call still waiting for its slot at its deadline is not run: its
                    // caller gave up.
                    let run = admission.run_before(invocation, &request.method, deadline);
                    // An async method marked `drop_at_deadline` is dropped there, unanswered.
                    let ran = match deadline.filter(|_| route.method.drop_at_deadline) {
                        Some(at) => match tokio::time::timeout_at(at, run).await {
                            Ok(ran) => ran,
                            Err(_) => {
                                tracing::warn!(
                                    msg_id = request.msg_id.as_deref().unwrap_or_default(),
                                    method = %request.method,
                                    "dropped a running method at its caller's deadline (drop_at_deadline)"
                                );
                                unanswered(&core.consumer, label, heartbeats);
                                return;
                            }
                        },
                        None => run.await,
                    };
                    let Some(ran) = ran else {
                        log_expired(request.msg_id.as_deref(), &request.method);
                        unanswered(&core.consumer, label, heartbeats);
                        return;
                    };
                    let (result, outcome) = match ran {
                        Ok(Ok(value)) => (Ok(value), Outcome::Completed),
                        Ok(Err(failure)) => (Err(failure), Outcome::Failed),
                        Err(panicked) => (Err(panicked.to_failure(&request.method)), Outcome::Panicked),
                    };
                    metrics::handled(&core.consumer, label, outcome, stopwatch);
                    result
                }
                Err(failure) => {
                    metrics::rejected(&core.consumer, label, Rejection::BadArguments);
                    Err(failure)
                }
            },
            Some(failure) => {
                tracing::debug!(class = %failure.class, "a hook refused the request");
                metrics::rejected(&core.consumer, label, Rejection::RefusedByHook);
                Err(failure)
            }
        };
        if let Some(info) = &info {
            for hook in &handler.hooks {
                hook.after(info, &result);
            }
        }
        if let Some(heartbeats) = heartbeats {
            heartbeats.abort();
        }
        if let Err(failure) = &result {
            tracing::debug!(class = %failure.class, message = %failure.message, "method failed");
        }
        if let Some((reply_q, msg_id)) = reply_to {
            let reply = match result {
                Ok(value) => Reply::success(value),
                Err(failure) => Reply::failure(failure),
            }
            .with_msg_id(msg_id);
            if let Some(cache) = &call_cache
                && let Some(msg_id) = reply.msg_id.as_deref()
            {
                cache.replied(msg_id, &reply);
            }
            handler.send_reply(&reply_q, reply).await;
        }
        // Released only now, so `wait()` also waits for the reply to go out.
        drop(admission);
    }

    /// Deserializes the arguments and binds them (with the serializer applied to the result).
    fn bind(
        &self,
        route: &Route,
        method: &str,
        mut args: Map<String, Value>,
        context: Context,
        cancellation: Cancellation,
    ) -> Result<Invocation, Failure> {
        // In place: rebuilding the map hashed every name again.
        for (name, value) in &mut args {
            *value = self
                .serializer
                .deserialize_entity(&context, std::mem::take(value))
                .map_err(|e| Failure::type_error(format!("{method}() argument '{name}': {e}")))?;
        }
        Ok(self.wrap(route.invoke(context.clone(), args), context, cancellation))
    }

    /// Runs the method with its [`Cancellation`] as the current one, and applies the
    /// serializer to the result (one wrapper for both: each costs a box per call).
    fn wrap(&self, invocation: Invocation, context: Context, cancellation: Cancellation) -> Invocation {
        let serializer = Arc::clone(&self.serializer);
        let serialize = move |value: Value| {
            serializer.serialize_entity(&context, value).map_err(|e| {
                Failure::new("ValueError", "builtins", format!("the result did not serialize: {e}"))
            })
        };
        match invocation {
            Invocation::Sync(call) => {
                Invocation::Sync(Box::new(move || cancellation.run_sync(call).and_then(serialize)))
            }
            Invocation::Async(future) => Invocation::Async(Box::pin(async move {
                cancellation.run_async(future).await.and_then(serialize)
            })),
        }
    }

    /// Sends call-monitor heartbeats every `whole seconds / 2` while the method runs, as oslo.
    fn start_heartbeats(&self, request: &Request, reply_q: &str, msg_id: &str) -> Option<JoinHandle<()>> {
        let seconds = request.call_monitor_timeout?;
        let interval = Duration::from_secs_f64((seconds.trunc() / 2.0).max(0.0));
        if interval < Duration::from_secs(1) {
            tracing::warn!(seconds, "call-monitor timeout below 2 s; sending no heartbeats");
            return None;
        }
        let (transport, reply_q, msg_id) =
            (Arc::clone(&self.transport), reply_q.to_owned(), msg_id.to_owned());
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                ticks.tick().await;
                if let Err(error) =
                    transport.reply(&reply_q, Reply::heartbeat().with_msg_id(msg_id.as_str())).await
                {
                    tracing::debug!(%error, "heartbeat failed; stopping heartbeats");
                    return;
                }
            }
        }))
    }

    async fn send_reply(&self, reply_q: &str, reply: Reply) {
        if let Err(error) = self.transport.reply(reply_q, reply).await {
            tracing::warn!(%error, %reply_q, "could not send a reply");
            metrics::reply_failed(&self.consumer());
        }
    }
}

fn reply_address(request: &Request) -> Option<(String, String)> {
    Some((request.reply_q.clone()?, request.msg_id.clone()?))
}
