//! The RPC server: consumes a target's requests, dispatches them to endpoints through the
//! mixed executor, and replies.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::dispatch::{Dispatcher, Route};
use crate::endpoint::Endpoint;
use crate::executor::{Executor, ExecutorConfig};
use crate::serializer::{NoOpSerializer, Serializer};
use crate::transport::{Delivery, Incoming, ListenOptions, Listener};
use crate::wire::{self, Failure, Reply, Request};
use crate::{Error, Target, Transport};

/// How many requests the broker may push ahead of admission (they stay unacknowledged,
/// so the broker can redeliver them if the server goes away).
pub const DEFAULT_PREFETCH: u16 = 4;

/// Builds an [`RpcServer`].
///
/// ```
/// # fn demo(transport: std::sync::Arc<dyn courier_runtime::Transport>, ep: impl courier_runtime::Endpoint) -> Result<(), courier_runtime::Error> {
/// use courier_runtime::{Target, executor::ExecutorConfig, server::RpcServer};
///
/// let server = RpcServer::builder(transport, Target::new("compute").with_server("host1"))
///     .endpoint(ep)
///     .executor(ExecutorConfig::default().with_sync_pool(16))
///     .build()?;
/// # let _ = server; Ok(()) }
/// ```
#[must_use]
pub struct RpcServerBuilder {
    transport: Arc<dyn Transport>,
    target: Target,
    endpoints: Vec<Arc<dyn Endpoint>>,
    executor: ExecutorConfig,
    serializer: Arc<dyn Serializer>,
    ping: bool,
    drain_timeout: Option<Duration>,
    prefetch: u16,
}

impl RpcServerBuilder {
    /// Adds an endpoint; endpoints are tried in the order they were added.
    pub fn endpoint(mut self, endpoint: impl Endpoint) -> Self {
        self.endpoints.push(Arc::new(endpoint));
        self
    }

    /// Adds a shared endpoint.
    pub fn endpoint_arc(mut self, endpoint: Arc<dyn Endpoint>) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Sets the executor's mode and bounds.
    pub fn executor(mut self, config: ExecutorConfig) -> Self {
        self.executor = config;
        self
    }

    /// Sets the serializer.
    pub fn serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Serves oslo's `oslo_rpc_server_ping` → `"pong"` (oslo's `rpc_ping_enabled`).
    pub fn with_ping(mut self, enabled: bool) -> Self {
        self.ping = enabled;
        self
    }

    /// Bounds how long [`RpcServer::wait`] waits for in-flight work; what is unfinished then is
    /// reported and abandoned. Unbounded by default, as oslo.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// How many requests the broker may push ahead of admission.
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Builds the server (not started).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] when the target lacks a topic or a server.
    pub fn build(self) -> Result<RpcServer, Error> {
        self.target.validate_for_server()?;
        let mut dispatcher = Dispatcher::new(self.endpoints);
        if self.ping {
            dispatcher = dispatcher.with_ping();
        }
        Ok(RpcServer {
            shared: Arc::new(Shared {
                transport: self.transport,
                target: self.target,
                dispatcher,
                executor: Executor::new(self.executor),
                serializer: self.serializer,
            }),
            prefetch: self.prefetch,
            drain_timeout: self.drain_timeout,
            state: Mutex::new(State::Idle),
        })
    }
}

/// What the dispatch loop and the work tasks share.
struct Shared {
    transport: Arc<dyn Transport>,
    target: Target,
    dispatcher: Dispatcher,
    executor: Executor,
    serializer: Arc<dyn Serializer>,
}

enum State {
    Idle,
    Running { stop: watch::Sender<bool>, dispatch: JoinHandle<Box<dyn Listener>> },
    Stopped,
}

/// What [`RpcServer::wait`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Messages still running or waiting when the drain timeout passed, abandoned.
    pub abandoned: usize,
}

/// An RPC server: oslo's `get_rpc_server` with start / stop / wait.
///
/// Requests are acknowledged when the executor admits them (oslo's ack on receipt); replies
/// are sent from each request's own task.
pub struct RpcServer {
    shared: Arc<Shared>,
    prefetch: u16,
    drain_timeout: Option<Duration>,
    state: Mutex<State>,
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServer")
            .field("target", &self.shared.target)
            .field("endpoints", &self.shared.dispatcher)
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
            executor: ExecutorConfig::default(),
            serializer: Arc::new(NoOpSerializer),
            ping: false,
            drain_timeout: None,
            prefetch: DEFAULT_PREFETCH,
        }
    }

    /// The target served.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.shared.target
    }

    /// Messages admitted and unfinished, per kind: `(sync, async)`.
    #[must_use]
    pub fn in_flight(&self) -> (usize, usize) {
        self.shared.executor.in_flight()
    }

    /// Declares the queues and starts consuming. Starting a running server does nothing.
    ///
    /// # Errors
    /// [`Error::Transport`] when the transport cannot listen.
    pub async fn start(&self) -> Result<(), Error> {
        let mut state = self.state.lock().await;
        if let State::Running { .. } = *state {
            tracing::warn!(target = ?self.shared.target, "the server is already running");
            return Ok(());
        }
        let options = ListenOptions::default().with_prefetch(self.prefetch);
        let listener = self.shared.transport.listen(&self.shared.target, &options).await?;
        let (stop, stopped) = watch::channel(false);
        let dispatch = tokio::spawn(dispatch_loop(Arc::clone(&self.shared), listener, stopped));
        *state = State::Running { stop, dispatch };
        tracing::info!(target = ?self.shared.target, "rpc server consuming");
        Ok(())
    }

    /// Stops taking messages. Work already admitted goes on; see [`wait`](Self::wait).
    pub async fn stop(&self) {
        let mut state = self.state.lock().await;
        if let State::Running { stop, dispatch } = std::mem::replace(&mut *state, State::Stopped) {
            let _ = stop.send(true);
            match dispatch.await {
                Ok(mut listener) => listener.close().await,
                Err(error) => tracing::error!(%error, "the dispatch loop failed"),
            }
        }
    }

    /// Stops (if needed), then waits for in-flight work to finish and reply, up to the drain
    /// timeout. The server can be started again afterwards.
    pub async fn wait(&self) -> DrainReport {
        self.stop().await;
        let abandoned = self.shared.executor.drain(self.drain_timeout).await;
        if abandoned > 0 {
            tracing::warn!(abandoned, "drain timeout passed; abandoning unfinished requests");
        }
        *self.state.lock().await = State::Idle;
        DrainReport { abandoned }
    }
}

async fn dispatch_loop(
    shared: Arc<Shared>,
    mut listener: Box<dyn Listener>,
    mut stopped: watch::Receiver<bool>,
) -> Box<dyn Listener> {
    loop {
        let mut incoming = tokio::select! {
            biased;
            _ = stop_requested(&mut stopped) => break,
            next = listener.next() => match next {
                Some(incoming) => incoming,
                None => {
                    tracing::warn!("the transport closed the listener");
                    break;
                }
            },
        };
        let headers = std::mem::take(&mut incoming.headers);
        let Some((route, request, delivery)) = route_incoming(&shared, incoming).await else { continue };
        let admission = tokio::select! {
            biased;
            _ = stop_requested(&mut stopped) => {
                settle(delivery.requeue().await, "requeue");
                break;
            }
            admission = shared.executor.admit(route.kind()) => admission,
        };
        if let Err(error) = delivery.ack().await {
            // As oslo: a request whose ack failed is not run (the broker will redeliver it).
            tracing::error!(%error, method = %request.method, "could not acknowledge a request; skipping it");
            continue;
        }
        let span = tracing::info_span!(
            "rpc.dispatch",
            method = %request.method,
            msg_id = request.msg_id.as_deref().unwrap_or("-"),
            kind = route.kind().as_str(),
        );
        crate::telemetry::extract_parent(&span, &headers);
        let shared = Arc::clone(&shared);
        tokio::spawn(
            async move {
                let method = request.method.clone();
                let reply_to = reply_address(&request);
                let heartbeats =
                    reply_to.as_ref().and_then(|(q, id)| start_heartbeats(&shared, &request, q, id));
                let result = match invocation_for(&shared, &route, request) {
                    Ok(invocation) => admission.run(invocation, &method).await,
                    Err(failure) => Err(failure),
                };
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
                    };
                    send_reply(&shared, &reply_q, reply.with_msg_id(msg_id)).await;
                }
                // Released only now, so `wait()` also waits for the reply to go out.
                drop(admission);
            }
            .instrument(span),
        );
    }
    listener
}

/// Decodes and routes a message. Everything that cannot run is settled and answered here.
async fn route_incoming(
    shared: &Arc<Shared>,
    incoming: Incoming,
) -> Option<(Route, Request, Box<dyn Delivery>)> {
    let Incoming { message, delivery, .. } = incoming;
    let message = match message {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "rejecting an undecodable message");
            settle(delivery.reject().await, "reject");
            return None;
        }
    };
    let reply_to = raw_reply_address(&message);
    let request = match Request::from_message(message) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%error, "rejecting a malformed request");
            settle(delivery.reject().await, "reject");
            if let Some((reply_q, msg_id)) = reply_to {
                let failure = Failure::new("ValueError", "builtins", format!("malformed request: {error}"));
                spawn_reply(shared, reply_q, Reply::failure(failure).with_msg_id(msg_id));
            }
            return None;
        }
    };
    match shared.dispatcher.route(&request) {
        Ok(route) => Some((route, request, delivery)),
        Err(failure) => {
            tracing::info!(method = %request.method, class = %failure.class, "{}", failure.message);
            settle(delivery.ack().await, "ack");
            if let Some((reply_q, msg_id)) = reply_address(&request) {
                spawn_reply(shared, reply_q, Reply::failure(failure).with_msg_id(msg_id));
            }
            None
        }
    }
}

/// Deserializes the context and arguments and binds them.
fn invocation_for(
    shared: &Shared,
    route: &Route,
    request: Request,
) -> Result<crate::endpoint::Invocation, Failure> {
    let context = shared.serializer.deserialize_context(request.context);
    let mut args = Map::new();
    for (name, value) in request.args {
        let value = shared
            .serializer
            .deserialize_entity(&context, value)
            .map_err(|e| Failure::type_error(format!("{}() argument '{name}': {e}", request.method)))?;
        args.insert(name, value);
    }
    let invocation = route.invoke(context.clone(), args);
    Ok(wrap_result(shared, invocation, context))
}

/// Applies the serializer to the result.
fn wrap_result(
    shared: &Shared,
    invocation: crate::endpoint::Invocation,
    context: crate::Context,
) -> crate::endpoint::Invocation {
    use crate::endpoint::Invocation;
    let serializer = Arc::clone(&shared.serializer);
    let serialize = move |value: Value| {
        serializer
            .serialize_entity(&context, value)
            .map_err(|e| Failure::new("ValueError", "builtins", format!("the result did not serialize: {e}")))
    };
    match invocation {
        Invocation::Sync(call) => Invocation::Sync(Box::new(move || call().and_then(serialize))),
        Invocation::Async(future) => {
            Invocation::Async(Box::pin(async move { future.await.and_then(serialize) }))
        }
    }
}

fn reply_address(request: &Request) -> Option<(String, String)> {
    Some((request.reply_q.clone()?, request.msg_id.clone()?))
}

fn raw_reply_address(message: &wire::Message) -> Option<(String, String)> {
    let field = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_owned);
    Some((field("_reply_q")?, field("_msg_id")?))
}

/// Sends call-monitor heartbeats every `whole seconds / 2` while the method runs, as oslo.
fn start_heartbeats(
    shared: &Arc<Shared>,
    request: &Request,
    reply_q: &str,
    msg_id: &str,
) -> Option<JoinHandle<()>> {
    let seconds = request.call_monitor_timeout?;
    let interval = Duration::from_secs_f64((seconds.trunc() / 2.0).max(0.0));
    if interval < Duration::from_secs(1) {
        tracing::warn!(seconds, "call-monitor timeout below 2 s; sending no heartbeats");
        return None;
    }
    let (shared, reply_q, msg_id) = (Arc::clone(shared), reply_q.to_owned(), msg_id.to_owned());
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            ticks.tick().await;
            if let Err(error) =
                shared.transport.reply(&reply_q, Reply::heartbeat().with_msg_id(msg_id.as_str())).await
            {
                tracing::debug!(%error, "heartbeat failed; stopping heartbeats");
                return;
            }
        }
    }))
}

fn spawn_reply(shared: &Arc<Shared>, reply_q: String, reply: Reply) {
    let shared = Arc::clone(shared);
    tokio::spawn(async move { send_reply(&shared, &reply_q, reply).await });
}

async fn send_reply(shared: &Shared, reply_q: &str, reply: Reply) {
    if let Err(error) = shared.transport.reply(reply_q, reply).await {
        tracing::warn!(%error, %reply_q, "could not send a reply");
    }
}

/// Logs a failed ack, requeue or reject: the broker redelivers or drops the message on its own.
pub(crate) fn settle(result: Result<(), crate::TransportError>, what: &str) {
    if let Err(error) = result {
        tracing::warn!(%error, "could not {what} a message");
    }
}

/// Resolves once the server (or notification listener) is told to stop.
pub(crate) async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stopped.wait_for(|stop| *stop).await;
}
