//! The transport's reply queue and the calls waiting on it.
//!
//! One `reply_<uuid4 hex>` queue per transport, declared lazily by the first call and consumed
//! on its own connection. Each reply is acked on receipt and routed by `_msg_id` to the waiting
//! call; a reply nobody waits for (a late reply) is logged at info and dropped. When the
//! connection breaks, every waiting call gets a [`TransportError::Connection`] (it never hangs),
//! and the queue and its consumer are declared again once the broker is back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_runtime::error::TransportError;
use courier_runtime::transport::{PendingReply, ReplySendError, ReplySender};
use courier_runtime::wire;
use futures::{FutureExt, StreamExt};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::{Acker, Connection, Consumer};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::connection::{Broker, until_closing};
use crate::publisher::connection_error;
use crate::supervisor::{Lost, NoStop, Served, Session, TASK_JOIN_TIMEOUT, supervise};
use crate::topology::{self, QueueSpec, Topology};

/// How many replies (heartbeats and the final one) may wait unread for one call.
const REPLIES_PER_CALL: usize = 16;
/// Prefetch of the reply consumer (replies are acked on receipt, so this only bounds lapin's
/// buffer).
const REPLY_PREFETCH: u16 = 64;
/// How long a call's final reply waits for room when the caller has not read its earlier
/// replies (heartbeats): the caller's own timeout normally ends it first; this bound only stops
/// a caller that never reads from keeping the reply (and a task) alive. oslo's reply wait is 60 s.
const FINAL_REPLY_HANDOFF_TIMEOUT: Duration = Duration::from_secs(60);
/// With this many calls waiting at once, a warning suggests a leak (callers that never finish).
const MANY_WAITERS: usize = 10_000;

type Waiter = ReplySender;

/// The state of the reply consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Not started: no call yet.
    Idle,
    /// Connecting or reconnecting.
    Down,
    /// Consuming.
    Ready,
    /// The transport was cleaned up.
    Closed,
}

/// The reply queue of one transport.
pub(crate) struct ReplyHub {
    broker: Arc<Broker>,
    topology: Topology,
    queue: QueueSpec,
    waiters: Mutex<HashMap<String, Waiter>>,
    state: watch::Sender<State>,
    closing: watch::Receiver<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Why the last attempt to set up the reply consumer failed.
    last_error: Mutex<Option<Arc<TransportError>>>,
    /// Failed attempts to set up the reply consumer since it last consumed.
    failures: watch::Sender<u64>,
}

impl std::fmt::Debug for ReplyHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyHub").field("queue", &self.queue.name).finish_non_exhaustive()
    }
}

impl ReplyHub {
    pub(crate) fn new(
        broker: Arc<Broker>,
        topology: Topology,
        closing: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, TransportError> {
        let queue = topology.reply_queue()?;
        Ok(Arc::new(Self {
            broker,
            topology,
            queue,
            waiters: Mutex::default(),
            state: watch::Sender::new(State::Idle),
            closing,
            task: Mutex::default(),
            last_error: Mutex::default(),
            failures: watch::Sender::new(0),
        }))
    }

    /// The reply queue's name (`reply_<uuid4 hex>`).
    pub(crate) fn queue_name(&self) -> &str {
        &self.queue.name
    }

    /// Starts the reply consumer if needed and waits until it consumes, or `deadline` passes, or
    /// (with `retry = Some(n)`, the call's oslo `retry`) `n` more attempts to set it up failed
    /// after the first: a call that may not retry does not wait for a broker that is away.
    pub(crate) async fn ready(
        self: &Arc<Self>,
        deadline: Instant,
        retry: Option<u32>,
    ) -> Result<(), TransportError> {
        {
            let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
            if task.is_none() && *self.state.borrow() == State::Idle {
                self.state.send_replace(State::Down);
                *task = Some(tokio::spawn(self.clone().run()));
            }
        }
        let mut state = self.state.subscribe();
        let mut failures = self.failures.subscribe();
        let give_up = retry.map(|n| {
            // A consumer already failing has made this call's first attempt.
            let start = *failures.borrow_and_update();
            start + u64::from(n) + u64::from(start == 0)
        });
        let out_of_retries = async {
            match give_up {
                Some(limit) => {
                    let _ = failures.wait_for(|failed| *failed >= limit).await;
                }
                None => std::future::pending().await,
            }
        };
        let ready = async {
            tokio::select! {
                state = state.wait_for(|s| matches!(s, State::Ready | State::Closed)) => {
                    Some(state.is_ok_and(|state| *state == State::Ready))
                }
                () = out_of_retries => None,
            }
        };
        let queue = &self.queue.name;
        let last_error = || self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match tokio::time::timeout_at(deadline, ready).await {
            Ok(Some(true)) => Ok(()),
            Ok(Some(false)) => Err(TransportError::Closed),
            Ok(None) => Err(TransportError::Connection {
                reason: format!(
                    "the reply queue `{queue}` could not be set up within the call's {} retries{}",
                    retry.unwrap_or_default(),
                    last_error().map(|last| format!(" ({last})")).unwrap_or_default()
                ),
                source: last_error().map(|last| Box::new(last) as _),
            }),
            // Past the deadline: a connection failure if one was seen, else the broker was
            // only slow and the call timed out.
            Err(_) => Err(match last_error() {
                Some(last) => TransportError::Connection {
                    reason: format!(
                        "the reply queue `{queue}` could not be set up before the call's timeout ({last})"
                    ),
                    source: Some(Box::new(last)),
                },
                None => TransportError::TimedOut(format!("the reply queue `{queue}` was set up")),
            }),
        }
    }

    /// Registers a call; its replies go into the returned [`PendingReply`].
    pub(crate) fn wait_for(self: &Arc<Self>, msg_id: &str) -> PendingReply {
        let hub = Arc::downgrade(self);
        let forget = msg_id.to_owned();
        let (sender, pending) = PendingReply::channel(REPLIES_PER_CALL, move || {
            if let Some(hub) = hub.upgrade() {
                hub.forget(&forget);
            }
        });
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.insert(msg_id.to_owned(), sender);
        if waiters.len() > MANY_WAITERS {
            tracing::warn!(waiting = waiters.len(), "many calls are waiting for replies; possible leak");
        }
        drop(waiters);
        pending
    }

    /// The caller stopped waiting.
    pub(crate) fn forget(&self, msg_id: &str) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(msg_id);
    }

    /// Ends every waiting call with `error`.
    fn fail_all(&self, error: impl Fn() -> TransportError) {
        let waiters: Vec<(String, Waiter)> =
            self.waiters.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        if !waiters.is_empty() {
            tracing::warn!(calls = waiters.len(), "failing the calls waiting for replies: {}", error());
        }
        for (_, waiter) in waiters {
            let _ = waiter.try_send(Err(error()));
        }
    }

    async fn setup(&self, connection: &Connection) -> lapin::Result<Consumer> {
        let channel = connection.create_channel().await?;
        channel.basic_qos(self.prefetch(), BasicQosOptions::default()).await?;
        topology::declare_queue(&channel, &self.queue).await?;
        channel
            .basic_consume(
                self.queue.name.as_str().into(),
                "1".into(),
                BasicConsumeOptions::default(),
                self.topology.consumer_arguments(None),
            )
            .await
    }

    /// Keeps the reply consumer up until the transport closes, then fails whatever still waits.
    async fn run(self: Arc<Self>) {
        let broker = self.broker.clone();
        let consumer = ReplyConsumer(self.clone());
        supervise("reply consumer", broker.options(), self.closing.clone(), consumer, NoStop, None).await;
        self.state.send_replace(State::Closed);
        self.fail_all(|| TransportError::Closed);
    }

    /// Keeps `error` as the reason calls time out with, and returns it for the backoff's log.
    fn remember(&self, error: TransportError) -> TransportError {
        let reason = match &error {
            TransportError::Connection { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        let error = Arc::new(error);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.clone());
        self.failures.send_modify(|failed| *failed += 1);
        TransportError::Connection { reason, source: Some(Box::new(error)) }
    }

    /// Routes replies until the connection is lost (`Some(why)`) or the transport closes.
    ///
    /// Replies are acked on receipt, but not one by one: the ack of the last reply of a burst
    /// (`multiple`) covers every reply before it, sent once no further reply is ready or after
    /// half the prefetch. Each ack is a frame for the broker and a round trip through lapin's
    /// I/O loop, so one per reply cost the caller latency and the broker CPU.
    async fn consume(
        &self,
        connection: &Connection,
        consumer: &mut Consumer,
        closing: &mut watch::Receiver<bool>,
    ) -> Option<Lost> {
        let batch = usize::from(self.prefetch() / 2).max(1);
        let mut unacked: Option<(Acker, usize)> = None;
        loop {
            if *closing.borrow() {
                let _ = connection.close(200, "transport cleanup".into()).await;
                return None;
            }
            let next = match consumer.next().now_or_never() {
                Some(next) => next,
                None => {
                    if let Some((acker, _)) = unacked.take() {
                        ack_through(&acker).await;
                    }
                    tokio::select! {
                        () = until_closing(closing) => continue,
                        next = consumer.next() => next,
                    }
                }
            };
            match next {
                Some(Ok(delivery)) => {
                    let lapin::message::Delivery { data, acker, .. } = delivery;
                    self.handle(&data);
                    let count = unacked.as_ref().map_or(0, |(_, n)| *n) + 1;
                    if count >= batch {
                        unacked = None;
                        ack_through(&acker).await;
                    } else {
                        unacked = Some((acker, count));
                    }
                }
                Some(Err(error)) => return Some(Lost::by(error)),
                None => return Some(Lost::because("the broker cancelled the reply consumer")),
            }
        }
    }

    fn prefetch(&self) -> u16 {
        match self.broker.options().rabbit_qos_prefetch_count {
            0 => REPLY_PREFETCH,
            n => n,
        }
    }

    fn handle(&self, data: &[u8]) {
        let reply = match wire::decode_reply(data) {
            Ok(reply) => reply,
            Err(error) => {
                tracing::warn!(%error, queue = %self.queue.name, "dropping an undecodable reply");
                return;
            }
        };
        let Some(msg_id) = reply.msg_id.clone() else {
            tracing::warn!(queue = %self.queue.name, "dropping a reply without `_msg_id`");
            return;
        };
        let ending = reply.ending;
        // A final reply takes its waiter out; a heartbeat leaves it for the reply.
        let waiter = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if ending { waiters.remove(&msg_id) } else { waiters.get(&msg_id).cloned() }
        };
        let Some(waiter) = waiter else {
            tracing::info!(%msg_id, "no call is waiting for this reply (it timed out or was dropped); discarding it");
            return;
        };
        match waiter.try_send(Ok(reply)) {
            Ok(()) => {}
            Err(ReplySendError::Full(reply)) if ending => {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(FINAL_REPLY_HANDOFF_TIMEOUT, waiter.send(reply)).await;
                });
            }
            Err(ReplySendError::Full(_)) => {
                tracing::debug!(%msg_id, "the caller is not reading its heartbeats; dropping one");
            }
            Err(ReplySendError::Closed(_)) => {
                tracing::info!(%msg_id, "the caller stopped waiting for this reply; discarding it");
            }
        }
    }

    /// Stops the consumer (the transport is closing) and waits for it, bounded.
    pub(crate) async fn join(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(TASK_JOIN_TIMEOUT, task).await;
        }
        self.state.send_replace(State::Closed);
        self.fail_all(|| TransportError::Closed);
    }
}

/// The reply queue's consumer, as the supervisor keeps it up.
struct ReplyConsumer(Arc<ReplyHub>);

impl Session for ReplyConsumer {
    type Connected = (Connection, Consumer);
    type Stop = NoStop;

    async fn connect(&mut self) -> Result<(Connection, Consumer), TransportError> {
        let hub = &self.0;
        let connection = hub.broker.connect_once("reply").await.map_err(|error| hub.remember(error))?;
        match hub.setup(&connection).await {
            Ok(consumer) => Ok((connection, consumer)),
            Err(error) => {
                let _ = connection.close(200, "setup failed".into()).await;
                Err(hub.remember(connection_error("cannot set up the reply queue", error)))
            }
        }
    }

    /// Consumes until the connection is lost, then fails every waiting call: its reply, if any,
    /// went with the connection.
    async fn serve(
        &mut self,
        (connection, mut consumer): (Connection, Consumer),
        closing: &mut watch::Receiver<bool>,
        _: &mut NoStop,
    ) -> Served {
        let hub = &self.0;
        tracing::debug!(queue = %hub.queue.name, "reply consumer ready");
        hub.failures.send_replace(0);
        hub.state.send_replace(State::Ready);
        let Some(lost) = hub.consume(&connection, &mut consumer, closing).await else {
            return Served::Stopped;
        };
        hub.state.send_replace(State::Down);
        let _ = connection.close(200, "reconnecting".into()).await;
        let reason = format!(
            "the connection carrying reply queue `{}` was lost ({lost}) while the call waited; the \
             request may or may not have been processed",
            hub.queue.name
        );
        hub.fail_all(|| TransportError::Connection {
            reason: reason.clone(),
            source: lost.source.clone().map(Into::into),
        });
        Served::Lost(lost)
    }
}

/// Acks `acker`'s reply and every unacked one before it on the channel.
async fn ack_through(acker: &Acker) {
    if let Err(error) = acker.ack(BasicAckOptions { multiple: true }).await {
        tracing::warn!(%error, "cannot ack replies");
    }
}
