//! Consumers of RPC servers and notification listeners.
//!
//! Each listener has its own connection and channel (oslo: one listen connection per server),
//! with `basic.qos` prefetch so the broker, not lapin, holds what courier has not taken. A
//! supervisor task owns the connection: when it breaks (broker restart, cut connection,
//! consumer cancelled by the broker) it reconnects with oslo's backoff, declares the topology
//! again and resumes consuming, so [`Listener::next`] keeps yielding; it returns `None` only
//! after [`Listener::close`] or when the transport is cleaned up.
//!
//! Duplicate detection on `_unique_id` uses a window of the last [`DEDUPE_WINDOW`] ids: RPC
//! listeners record an id on receipt (a duplicate is acked, logged and dropped, unless the broker
//! flags it redelivered: then the server decides, with its reply cache), notification
//! listeners only when the message is acked.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_runtime::transport::Origin;
use courier_runtime::wire::{self, Message};
use courier_runtime::{
    error::TransportError,
    transport::{Delivery, Headers, Incoming, Listener},
};
use futures::StreamExt;
use futures::stream::SelectAll;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions,
    QueueDeleteOptions,
};
use lapin::types::AMQPValue;
use lapin::{Acker, Channel, Connection, Consumer};
use tokio::sync::{mpsc, oneshot, watch};

use crate::connection::{Broker, until_closing};
use crate::publisher::connection_error;
use crate::supervisor::{Lost, Served, Session, StopSignal, supervise};
use crate::topology::{self, StreamOffset, Subscription, Topology};

/// How many `_unique_id`s a listener remembers (oslo remembers 16).
pub const DEDUPE_WINDOW: usize = 256;

/// How long [`Listener::close`] waits for the supervisor to cancel the consumers (one
/// `basic.cancel` round trip each, plus handing back what lapin buffered): long enough for a
/// slow broker, short enough that a dead one does not hold up a server's shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long messages lapin buffered after a `basic.cancel` are drained and requeued; what is
/// left after that the broker redelivers anyway once the channel closes.
const CANCEL_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long deleting a fanout queue on close may take; oslo deletes them on graceful close, but
/// they also expire on their own (`x-expires`), so a slow broker is not waited for.
const QUEUE_DELETE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a listener consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// RPC requests: dedupe on receipt.
    Rpc,
    /// Notifications: dedupe when acked.
    Notification,
}

/// The last `_unique_id`s seen.
#[derive(Debug, Default)]
pub(crate) struct DedupeWindow {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl DedupeWindow {
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Records `id`; returns `false` if it was already there.
    pub(crate) fn record(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == DEDUPE_WINDOW
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.ids.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

/// Settles one message on the channel it came from.
struct AmqpDelivery {
    acker: Acker,
    /// Notifications: the id to record in the dedupe window once acked.
    record_on_ack: Option<(Arc<Mutex<DedupeWindow>>, String)>,
}

fn settle_result(what: &str, result: lapin::Result<bool>) -> Result<(), TransportError> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(TransportError::Connection {
            reason: format!(
                "cannot {what} the message: the channel it arrived on is gone (the connection was \
                 re-established); the broker delivers it again"
            ),
            source: None,
        }),
        Err(error) => Err(connection_error(&format!("cannot {what} the message"), error)),
    }
}

#[async_trait::async_trait]
impl Delivery for AmqpDelivery {
    async fn ack(&self) -> Result<(), TransportError> {
        settle_result("ack", self.acker.ack(BasicAckOptions::default()).await)?;
        if let Some((window, id)) = &self.record_on_ack {
            window.lock().unwrap_or_else(|e| e.into_inner()).record(id);
        }
        Ok(())
    }

    async fn requeue(&self) -> Result<(), TransportError> {
        settle_result("requeue", self.acker.reject(BasicRejectOptions { requeue: true }).await)
    }

    async fn reject(&self) -> Result<(), TransportError> {
        settle_result("reject", self.acker.reject(BasicRejectOptions { requeue: false }).await)
    }
}

/// An open listening connection: its channel and consumers.
pub(crate) struct Consuming {
    connection: Connection,
    channel: Channel,
    consumers: SelectAll<Consumer>,
    tags: Vec<String>,
}

/// Connects and declares; the first error is returned as is (a 406 is not retried).
pub(crate) async fn open(
    broker: &Broker,
    topology: &Topology,
    subscriptions: &[Subscription],
    prefetch: u16,
) -> Result<Consuming, TransportError> {
    let connection = broker.connect_once("listen").await?;
    match setup(&connection, topology, subscriptions, prefetch).await {
        Ok((channel, consumers, tags)) => Ok(Consuming { connection, channel, consumers, tags }),
        Err(error) => {
            let _ = connection.close(200, "setup failed".into()).await;
            Err(if error.is_amqp_soft_error() {
                // The reply text stays in the message (what a person reads); the lapin error,
                // with its reply code, is the source.
                TransportError::refused(format!("declaring the listener's queues failed: {error}"), error)
            } else {
                connection_error("cannot set up the listener", error)
            })
        }
    }
}

async fn setup(
    connection: &Connection,
    topology: &Topology,
    subscriptions: &[Subscription],
    prefetch: u16,
) -> lapin::Result<(Channel, SelectAll<Consumer>, Vec<String>)> {
    let open_channel = || async {
        let channel = connection.create_channel().await?;
        channel.basic_qos(prefetch.max(1), BasicQosOptions::default()).await?;
        lapin::Result::Ok(channel)
    };
    let mut channel = open_channel().await?;
    let mut consumers = SelectAll::new();
    let mut tags = Vec::new();
    let mut consumed = HashSet::new();
    for subscription in subscriptions {
        match topology::declare_subscription(&channel, subscription).await {
            Err(error)
                if topology::is_durable_mismatch(&error) && subscription.non_durable() != *subscription =>
            {
                // oslo's fallback: the exchange or queue exists non-durable (another service
                // declared it first); declare both non-durable, on a fresh channel since the
                // broker closed this one.
                tracing::warn!(
                    queue = %subscription.queue.name,
                    exchange = %subscription.exchange.name,
                    "the queue could not be declared, probably because of conflicting configurations \
                     ({error}); declaring it and its exchange non-durable"
                );
                channel = open_channel().await?;
                topology::declare_subscription(&channel, &subscription.non_durable()).await?;
            }
            result => result?,
        }
    }
    for subscription in subscriptions {
        if !consumed.insert(subscription.queue.name.clone()) {
            continue;
        }
        let tag = (tags.len() + 1).to_string();
        let consumer = channel
            .basic_consume(
                subscription.queue.name.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                topology.consumer_arguments(subscription.stream_offset),
            )
            .await?;
        consumers.push(consumer);
        tags.push(tag);
    }
    Ok((channel, consumers, tags))
}

/// Everything a listener needs to connect again.
pub(crate) struct ListenSetup {
    pub(crate) broker: Arc<Broker>,
    pub(crate) topology: Topology,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) prefetch: u16,
    /// The transport is closing.
    pub(crate) closing: watch::Receiver<bool>,
}

enum Stop {
    /// `Listener::close`: cancel consumers, then wait for the listener to go away.
    Close(oneshot::Sender<()>),
}

/// What stops a listener's supervisor besides the transport's closing: [`Listener::close`]
/// (through `control`) and dropping the listener (`alive`).
pub(crate) struct ListenerStop {
    control: mpsc::Receiver<Stop>,
    alive: watch::Receiver<bool>,
}

impl StopSignal for ListenerStop {
    /// While no connection is open there is nothing to cancel: a close is confirmed at once,
    /// then the supervisor waits for the listener to go away (it may still settle messages
    /// taken earlier, which fail as their channel is gone).
    async fn stopped(&mut self) {
        tokio::select! {
            _ = self.alive.changed() => {}
            Some(Stop::Close(done)) = self.control.recv() => {
                let _ = done.send(());
                let _ = self.alive.changed().await;
            }
        }
    }
}

/// The consumer of an RPC server or a notification listener.
pub(crate) struct AmqpListener {
    kind: Kind,
    deliveries: mpsc::Receiver<lapin::message::Delivery>,
    dedupe: Arc<Mutex<DedupeWindow>>,
    control: mpsc::Sender<Stop>,
    closed: bool,
    /// Larger bodies are not decoded (`courier_max_message_size`).
    max_message_size: usize,
    /// Dropped with the listener: tells the supervisor to close the connection.
    _alive: watch::Sender<bool>,
}

impl AmqpListener {
    /// Starts the supervisor on an open session.
    pub(crate) fn start(
        kind: Kind,
        setup: ListenSetup,
        first: Consuming,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, deliveries) = mpsc::channel(usize::from(setup.prefetch.max(1)));
        let max_message_size = setup.broker.options().courier_max_message_size;
        let (control, control_rx) = mpsc::channel(1);
        let (alive, alive_rx) = watch::channel(true);
        let stop = ListenerStop { control: control_rx, alive: alive_rx };
        let task = tokio::spawn(async move {
            let broker = setup.broker.clone();
            let closing = setup.closing.clone();
            let session = Listening { setup, sender };
            supervise("listener", broker.options(), closing, session, stop, Some(first)).await;
        });
        let listener = Self {
            kind,
            deliveries,
            dedupe: Arc::default(),
            control,
            closed: false,
            max_message_size,
            _alive: alive,
        };
        (listener, task)
    }
}

/// The string-valued AMQP headers (trace context); others are not the runtime's business.
fn string_headers(table: Option<&lapin::types::FieldTable>) -> Headers {
    let Some(table) = table else { return Headers::new() };
    table
        .inner()
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                AMQPValue::LongString(text) => std::str::from_utf8(text.as_bytes()).ok()?.to_owned(),
                AMQPValue::ShortString(text) => text.as_str().to_owned(),
                _ => return None,
            };
            Some((key.as_str().to_owned(), text))
        })
        .collect()
}

/// When the sender of a message with this `expiration` (milliseconds, as oslo sets a call's
/// timeout) gives up, counted from now (its receipt): AMQP carries no send time.
fn expiration_deadline(expiration: Option<&lapin::types::ShortString>) -> Option<tokio::time::Instant> {
    let millis: u64 = expiration?.as_str().trim().parse().ok()?;
    tokio::time::Instant::now().checked_add(std::time::Duration::from_millis(millis))
}

fn unique_id(message: &Message) -> Option<String> {
    message.get("_unique_id").and_then(|v| v.as_str()).map(str::to_owned)
}

#[async_trait::async_trait]
impl Listener for AmqpListener {
    async fn next(&mut self) -> Option<Incoming> {
        loop {
            if self.closed {
                return None;
            }
            let delivery = self.deliveries.recv().await?;
            let size = delivery.data.len();
            let message = if size > self.max_message_size {
                Err(wire::WireError::TooLarge { size, limit: self.max_message_size })
            } else {
                wire::decode_body(&delivery.data)
            };
            let id = message.as_ref().ok().and_then(unique_id);
            let mut record_on_ack = None;
            if let Some(id) = id {
                let duplicate = {
                    let mut window = self.dedupe.lock().unwrap_or_else(|e| e.into_inner());
                    match self.kind {
                        // A redelivery is the broker handing back what was never acknowledged
                        // (or whose ack was lost): it must reach the server, which runs it, or
                        // answers it from its reply cache if it ran already.
                        Kind::Rpc => !window.record(&id) && !delivery.redelivered,
                        Kind::Notification => window.contains(&id),
                    }
                };
                if duplicate {
                    tracing::info!(unique_id = %id, "found duplicate message; skipping it");
                    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                        tracing::warn!(%error, "cannot ack a duplicate message");
                    }
                    continue;
                }
                if self.kind == Kind::Notification {
                    record_on_ack = Some((self.dedupe.clone(), id));
                }
            }
            if let Err(error) = &message {
                tracing::debug!(%error, routing_key = %delivery.routing_key, "undecodable message");
            }
            let headers = string_headers(delivery.properties.headers().as_ref());
            let origin = Origin::new("rabbitmq", delivery.exchange.as_str(), delivery.routing_key.as_str());
            let redelivered = delivery.redelivered;
            let deadline = expiration_deadline(delivery.properties.expiration().as_ref());
            let settle = AmqpDelivery { acker: delivery.acker, record_on_ack };
            return Some(
                Incoming::new(message, Box::new(settle))
                    .with_headers(headers)
                    .with_origin(origin)
                    .with_redelivered(redelivered)
                    .with_deadline(deadline),
            );
        }
    }

    async fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let (done, cancelled) = oneshot::channel();
        if self.control.send(Stop::Close(done)).await.is_ok() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, cancelled).await;
        }
        // Whatever was taken off the queue but not handed up goes back now.
        self.deliveries.close();
        while let Ok(delivery) = self.deliveries.try_recv() {
            let _ = delivery.acker.reject(BasicRejectOptions { requeue: true }).await;
        }
    }
}

/// A listener's [`Session`]: consumes and hands deliveries to the [`AmqpListener`].
struct Listening {
    setup: ListenSetup,
    sender: mpsc::Sender<lapin::message::Delivery>,
}

impl Session for Listening {
    type Connected = Consuming;
    type Stop = ListenerStop;

    async fn connect(&mut self) -> Result<Consuming, TransportError> {
        let setup = &self.setup;
        open(&setup.broker, &setup.topology, &setup.subscriptions, setup.prefetch).await
    }

    async fn serve(
        &mut self,
        mut current: Consuming,
        closing: &mut watch::Receiver<bool>,
        stop: &mut ListenerStop,
    ) -> Served {
        let lost = loop {
            tokio::select! {
                () = until_closing(closing) => break None,
                _ = stop.alive.changed() => break None,
                Some(Stop::Close(done)) = stop.control.recv() => {
                    self.setup.close_and_wait(&mut current, done, &mut stop.alive, closing).await;
                    break None;
                }
                delivery = current.consumers.next() => match delivery {
                    Some(Ok(delivery)) => {
                        self.setup.track_stream_offset(&delivery);
                        // Reserve first so a close while the listener is full can still
                        // hand this delivery back.
                        let permit = tokio::select! {
                            permit = self.sender.reserve() => match permit {
                                Ok(permit) => permit,
                                Err(_) => break None,
                            },
                            _ = stop.alive.changed() => break None,
                            Some(Stop::Close(done)) = stop.control.recv() => {
                                let _ = delivery.acker.reject(BasicRejectOptions { requeue: true }).await;
                                self.setup.close_and_wait(&mut current, done, &mut stop.alive, closing).await;
                                break None;
                            }
                        };
                        permit.send(delivery);
                    }
                    Some(Err(error)) => break Some(Lost::by(error)),
                    None => {
                        // oslo starts over at the stream's last chunk after a cancel (the
                        // stream may have been deleted and made anew).
                        self.setup.reset_stream_offsets();
                        break Some(Lost::because("the broker cancelled a consumer (queue deleted?)"));
                    }
                },
            }
        };
        match lost {
            None => {
                self.setup.shutdown(current).await;
                Served::Stopped
            }
            Some(lost) => {
                let _ = current.connection.close(200, "reconnecting".into()).await;
                Served::Lost(lost)
            }
        }
    }
}

impl ListenSetup {
    /// A stream delivery (`rabbit_stream_fanout`) moves its subscription's next offset past it,
    /// from the `x-stream-offset` header the broker adds, as oslo's consumer does.
    fn track_stream_offset(&mut self, delivery: &lapin::message::Delivery) {
        let Some(subscription) = self
            .subscriptions
            .iter_mut()
            .find(|s| s.stream_offset.is_some() && s.exchange.name == delivery.exchange.as_str())
        else {
            return;
        };
        let offset = delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|headers| headers.inner().get("x-stream-offset"))
            .and_then(|value| match value {
                AMQPValue::LongLongInt(n) => Some(*n),
                AMQPValue::LongInt(n) => Some(i64::from(*n)),
                AMQPValue::LongUInt(n) => Some(i64::from(*n)),
                _ => None,
            });
        if let Some(offset) = offset {
            subscription.stream_offset = Some(StreamOffset::Next(offset.saturating_add(1)));
        }
    }

    fn reset_stream_offsets(&mut self) {
        for subscription in &mut self.subscriptions {
            if subscription.stream_offset.is_some() {
                subscription.stream_offset = Some(StreamOffset::Last);
            }
        }
    }

    /// `Listener::close`: cancel the consumers, tell the listener, then keep the channel open
    /// (so messages already handed up can still be acked) until the listener or the transport
    /// goes away.
    async fn close_and_wait(
        &self,
        session: &mut Consuming,
        done: oneshot::Sender<()>,
        alive: &mut watch::Receiver<bool>,
        closing: &mut watch::Receiver<bool>,
    ) {
        self.cancel(session).await;
        let _ = done.send(());
        tokio::select! {
            _ = alive.changed() => {}
            () = until_closing(closing) => {}
        }
    }

    /// `basic.cancel` every consumer and hand back what lapin had buffered.
    async fn cancel(&self, session: &mut Consuming) {
        for tag in &session.tags {
            if let Err(error) =
                session.channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await
            {
                tracing::debug!(%error, tag, "cannot cancel a consumer");
            }
        }
        let drain = async {
            while let Some(delivery) = session.consumers.next().await {
                if let Ok(delivery) = delivery {
                    let _ = delivery.acker.reject(BasicRejectOptions { requeue: true }).await;
                }
            }
        };
        let _ = tokio::time::timeout(CANCEL_DRAIN_TIMEOUT, drain).await;
    }

    /// Deletes this listener's fanout queues (oslo does on graceful close) and closes.
    async fn shutdown(&self, session: Consuming) {
        for subscription in self.subscriptions.iter().filter(|s| s.delete_on_close) {
            let deleted = session
                .channel
                .queue_delete(subscription.queue.name.as_str().into(), QueueDeleteOptions::default());
            if let Ok(Err(error)) = tokio::time::timeout(QUEUE_DELETE_TIMEOUT, deleted).await {
                tracing::debug!(%error, queue = %subscription.queue.name, "cannot delete the fanout queue");
            }
        }
        let _ = session.connection.close(200, "listener closed".into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_close_while_disconnected_is_confirmed_then_waits_for_the_listener() {
        let (control, control_rx) = mpsc::channel(1);
        let (alive, alive_rx) = watch::channel(true);
        let mut stop = ListenerStop { control: control_rx, alive: alive_rx };
        let stopped = tokio::spawn(async move { stop.stopped().await });
        let (done, confirmed) = oneshot::channel();
        control.send(Stop::Close(done)).await.unwrap();
        tokio::time::timeout(CLOSE_TIMEOUT, confirmed).await.expect("confirmed at once").unwrap();
        assert!(!stopped.is_finished(), "the listener may still settle messages");
        drop(alive);
        tokio::time::timeout(CLOSE_TIMEOUT, stopped).await.expect("stops once the listener is gone").unwrap();
    }

    #[test]
    fn dedupe_window_forgets_the_oldest() {
        let mut window = DedupeWindow::default();
        assert!(window.record("a"));
        assert!(!window.record("a"));
        for n in 0..DEDUPE_WINDOW {
            assert!(window.record(&n.to_string()));
        }
        assert!(!window.contains("a"), "the oldest id falls out of the window");
        assert!(window.contains(&(DEDUPE_WINDOW - 1).to_string()));
        assert!(window.record("a"));
    }
}
