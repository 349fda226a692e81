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
//! listeners record an id on receipt (a duplicate is acked, logged and dropped), notification
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

use crate::connection::{Broker, until_closing, wait_or_closing};
use crate::publisher::connection_error;
use crate::topology::{self, Subscription, Topology};

/// How many `_unique_id`s a listener remembers (oslo remembers 16).
pub const DEDUPE_WINDOW: usize = 256;

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

/// An open listening session.
pub(crate) struct Session {
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
) -> Result<Session, TransportError> {
    let connection = broker.connect_once("listen").await?;
    match setup(&connection, topology, subscriptions, prefetch).await {
        Ok((channel, consumers, tags)) => Ok(Session { connection, channel, consumers, tags }),
        Err(error) => {
            let _ = connection.close(200, "setup failed".into()).await;
            Err(if error.is_amqp_soft_error() {
                TransportError::Refused(format!("declaring the listener's queues failed: {error}"))
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
    let channel = connection.create_channel().await?;
    channel.basic_qos(prefetch.max(1), BasicQosOptions::default()).await?;
    let mut consumers = SelectAll::new();
    let mut tags = Vec::new();
    let mut consumed = HashSet::new();
    for subscription in subscriptions {
        topology::declare_subscription(&channel, subscription).await?;
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
                topology.consumer_arguments(),
            )
            .await?;
        consumers.push(consumer);
        tags.push(tag);
    }
    Ok((channel, consumers, tags))
}

/// Everything the supervisor needs.
pub(crate) struct Supervisor {
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
        supervisor: Supervisor,
        session: Session,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, deliveries) = mpsc::channel(usize::from(supervisor.prefetch.max(1)));
        let max_message_size = supervisor.broker.options().courier_max_message_size;
        let (control, control_rx) = mpsc::channel(1);
        let (alive, alive_rx) = watch::channel(true);
        let task = tokio::spawn(supervisor.run(session, sender, control_rx, alive_rx));
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
                        Kind::Rpc => !window.record(&id),
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
            let settle = AmqpDelivery { acker: delivery.acker, record_on_ack };
            return Some(
                Incoming::new(message, Box::new(settle))
                    .with_headers(headers)
                    .with_origin(origin)
                    .with_redelivered(redelivered),
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
            let _ = tokio::time::timeout(Duration::from_secs(10), cancelled).await;
        }
        // Whatever was taken off the queue but not handed up goes back now.
        self.deliveries.close();
        while let Ok(delivery) = self.deliveries.try_recv() {
            let _ = delivery.acker.reject(BasicRejectOptions { requeue: true }).await;
        }
    }
}

impl Supervisor {
    async fn run(
        self,
        session: Session,
        sender: mpsc::Sender<lapin::message::Delivery>,
        mut control: mpsc::Receiver<Stop>,
        mut alive: watch::Receiver<bool>,
    ) {
        let mut session = Some(session);
        let mut attempt = 0u32;
        let mut closing = self.closing.clone();
        loop {
            let mut current = match session.take() {
                Some(current) => current,
                None => match open(&self.broker, &self.topology, &self.subscriptions, self.prefetch).await {
                    Ok(current) => {
                        tracing::info!("listener reconnected and consuming again");
                        current
                    }
                    Err(error) => {
                        let delay = self.broker.options().reconnect_delay(attempt);
                        attempt = attempt.saturating_add(1);
                        tracing::warn!(%error, ?delay, "listener cannot reconnect yet");
                        tokio::select! {
                            stop = wait_or_closing(&mut closing, delay) => if stop { return },
                            _ = alive.changed() => return,
                            Some(Stop::Close(done)) = control.recv() => {
                                let _ = done.send(());
                                let _ = alive.changed().await;
                                return;
                            }
                        }
                        continue;
                    }
                },
            };
            attempt = 0;
            let lost = loop {
                tokio::select! {
                    () = until_closing(&mut closing) => break None,
                    _ = alive.changed() => break None,
                    Some(Stop::Close(done)) = control.recv() => {
                        self.close_and_wait(&mut current, done, &mut alive, &mut closing).await;
                        break None;
                    }
                    delivery = current.consumers.next() => match delivery {
                        Some(Ok(delivery)) => {
                            // Reserve first so a close while the listener is full can still
                            // hand this delivery back.
                            let permit = tokio::select! {
                                permit = sender.reserve() => match permit {
                                    Ok(permit) => permit,
                                    Err(_) => break None,
                                },
                                _ = alive.changed() => break None,
                                Some(Stop::Close(done)) = control.recv() => {
                                    let _ = delivery.acker.reject(BasicRejectOptions { requeue: true }).await;
                                    self.close_and_wait(&mut current, done, &mut alive, &mut closing).await;
                                    break None;
                                }
                            };
                            permit.send(delivery);
                        }
                        Some(Err(error)) => break Some(error.to_string()),
                        None => break Some("the broker cancelled a consumer (queue deleted?)".to_owned()),
                    },
                }
            };
            match lost {
                None => {
                    self.shutdown(current).await;
                    return;
                }
                Some(why) => {
                    tracing::warn!(reason = %why, "listener lost its connection; reconnecting");
                    let _ = current.connection.close(200, "reconnecting".into()).await;
                    let delay = self.broker.options().reconnect_delay(0);
                    tokio::select! {
                        stop = wait_or_closing(&mut closing, delay) => if stop { return },
                        _ = alive.changed() => return,
                        Some(Stop::Close(done)) = control.recv() => {
                            let _ = done.send(());
                            let _ = alive.changed().await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// `Listener::close`: cancel the consumers, tell the listener, then keep the channel open
    /// (so messages already handed up can still be acked) until the listener or the transport
    /// goes away.
    async fn close_and_wait(
        &self,
        session: &mut Session,
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
    async fn cancel(&self, session: &mut Session) {
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
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    }

    /// Deletes this listener's fanout queues (oslo does on graceful close) and closes.
    async fn shutdown(&self, session: Session) {
        for subscription in self.subscriptions.iter().filter(|s| s.delete_on_close) {
            let deleted = session
                .channel
                .queue_delete(subscription.queue.name.as_str().into(), QueueDeleteOptions::default());
            if let Ok(Err(error)) = tokio::time::timeout(Duration::from_secs(5), deleted).await {
                tracing::debug!(%error, queue = %subscription.queue.name, "cannot delete the fanout queue");
            }
        }
        let _ = session.connection.close(200, "listener closed".into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
