//! Publishing: one connection and one confirm-mode channel for every publish of a transport
//! (requests, casts, replies, heartbeats, notifications), separate from all consumers so a busy
//! listener never holds up a publish.
//!
//! Every publish waits for the broker's confirm. A `mandatory` publish the broker returns
//! (`basic.return`, e.g. 312 NO_ROUTE) ends at once with [`TransportError::Undeliverable`]. A
//! broken connection is re-opened with oslo's backoff until the publish's deadline; a deadline
//! passing while the broker has blocked the connection (`connection.blocked`, a resource alarm)
//! says so. A publish the broker nacks is sent again on a fresh channel, with the same backoff
//! and deadline, and fails with the nack only when they run out.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_runtime::{error::TransportError, transport::Headers};
use futures::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, Event};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::connection::Broker;
use crate::supervisor::{Backoff, Failed, NoStop, Schedule, retrying};
use crate::topology::{self, ExchangeSpec, QueueSpec};

/// How long a publishing channel replaced after a nack may wait for the confirms of the
/// publishes still outstanding on it before it closes (their own deadlines are shorter).
const RETIRED_CHANNEL_CONFIRMS: Duration = Duration::from_secs(60);

/// What to publish and where.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// Declared (once per channel) before publishing; `None` for the default exchange.
    pub(crate) exchange: Option<ExchangeSpec>,
    /// A queue declared and bound with the routing key before publishing (notifications).
    pub(crate) default_queue: Option<QueueSpec>,
    pub(crate) exchange_name: String,
    pub(crate) routing_key: String,
    pub(crate) body: Vec<u8>,
    /// Per-message TTL in milliseconds (calls).
    pub(crate) expiration: Option<String>,
    pub(crate) mandatory: bool,
    /// AMQP headers (trace context); none on the wire when empty.
    pub(crate) headers: Headers,
}

/// The open connection and its publishing channel.
struct Session {
    connection: Connection,
    channel: Channel,
    /// Exchanges and queues declared on `channel`.
    declared: Arc<Mutex<HashSet<String>>>,
    _events: oneshot::Sender<()>,
}

enum Failure {
    /// Retry on a fresh connection.
    Broken(lapin::Error),
    /// The broker nacked the publish: retry on a fresh channel (see [`Publisher::replace_channel`]).
    Nacked(TransportError),
    /// A durable exchange exists non-durable (`inequivalent arg 'durable'`): declare it
    /// non-durable on a fresh channel and publish, as oslo's `_publish` does. (A non-durable
    /// one that exists durable stays a conflict: declaring it again would change nothing.)
    DurableMismatch(lapin::Error),
    /// Final.
    Final(TransportError),
    /// No broker answered one round of connection attempts (retried only under a retry count).
    Unreachable(TransportError),
}

/// The transport's publisher.
pub(crate) struct Publisher {
    broker: Arc<Broker>,
    session: tokio::sync::Mutex<Option<Session>>,
    blocked: Arc<Mutex<Option<String>>>,
    closing: watch::Receiver<bool>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

fn properties(expiration: Option<&str>, headers: &Headers) -> BasicProperties {
    let mut table = lapin::types::FieldTable::default();
    for (key, value) in headers {
        // AMQP header names are short strings (at most 255 bytes).
        match lapin::types::ShortString::try_new(key.as_str()) {
            Ok(key) => {
                table.insert(key, lapin::types::AMQPValue::LongString(value.as_str().into()));
            }
            Err(error) => tracing::debug!(%error, "leaving out a header with too long a name"),
        }
    }
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(2)
        .with_priority(0)
        .with_headers(table);
    match expiration {
        Some(ms) => properties.with_expiration(ms.into()),
        None => properties,
    }
}

impl Publisher {
    pub(crate) fn new(broker: Arc<Broker>, closing: watch::Receiver<bool>) -> Self {
        Self { broker, session: tokio::sync::Mutex::new(None), blocked: Arc::default(), closing }
    }

    /// Opens the publishing connection now (one round through the hosts), so a bad URL or an
    /// unreachable broker is reported when the transport is built.
    pub(crate) async fn connect(&self) -> Result<(), TransportError> {
        let connection = self.broker.connect_once("publish").await?;
        let session =
            self.open_session(connection).await.map_err(|e| connection_error("cannot open a channel", e))?;
        *self.session.lock().await = Some(session);
        Ok(())
    }

    async fn open_session(&self, connection: Connection) -> lapin::Result<Session> {
        let channel = match open_channel(&connection).await {
            Ok(channel) => channel,
            Err(error) => {
                let _ = connection.close(200, "cannot open a channel".into()).await;
                return Err(error);
            }
        };
        let (guard, stopped) = oneshot::channel();
        tokio::spawn(watch_blocked(connection.events_listener(), self.blocked.clone(), stopped));
        Ok(Session { connection, channel, declared: Arc::default(), _events: guard })
    }

    /// The current channel, reconnecting (or reopening the channel) when needed.
    async fn channel(
        &self,
        deadline: Instant,
        reconnect_until_deadline: bool,
    ) -> Result<(Channel, Arc<Mutex<HashSet<String>>>), TransportError> {
        let mut guard = self.session.lock().await;
        if let Some(session) = guard.as_ref()
            && session.channel.status().connected()
        {
            return Ok((session.channel.clone(), session.declared.clone()));
        }
        if let Some(session) = guard.as_mut()
            && session.connection.status().connected()
        {
            match open_channel(&session.connection).await {
                Ok(channel) => {
                    session.channel = channel;
                    session.declared = Arc::default();
                    return Ok((session.channel.clone(), session.declared.clone()));
                }
                Err(error) => tracing::debug!(%error, "cannot reopen the publishing channel; reconnecting"),
            }
        }
        if let Some(session) = guard.take() {
            let _ = session.connection.close(200, "reconnecting".into()).await;
        }
        let connection = if reconnect_until_deadline {
            self.broker.connect_retrying("publish", self.closing.clone(), Some(deadline)).await?
        } else {
            self.broker.connect_once("publish").await?
        };
        let session =
            self.open_session(connection).await.map_err(|e| connection_error("cannot open a channel", e))?;
        let pair = (session.channel.clone(), session.declared.clone());
        *guard = Some(session);
        Ok(pair)
    }

    /// Publishes and waits for the broker's confirm, reconnecting until `deadline`.
    pub(crate) async fn publish(&self, message: &Outgoing, deadline: Instant) -> Result<(), TransportError> {
        self.publish_with_retry(message, deadline, None).await
    }

    /// As [`Publisher::publish`], giving up after `retry` retries when it is `Some` (oslo's
    /// `retry`): each attempt then makes one round through the hosts.
    pub(crate) async fn publish_with_retry(
        &self,
        message: &Outgoing,
        deadline: Instant,
        retry: Option<u32>,
    ) -> Result<(), TransportError> {
        let started = Instant::now();
        let mut backoff = Backoff::new("publish", self.broker.options(), self.closing.clone())
            .with_schedule(Schedule::ImmediateFirst)
            .with_deadline(Some(deadline))
            .with_retries(retry);
        let attempt = || async {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = tokio::time::timeout(remaining, async {
                let channel = || async {
                    self.channel(deadline, retry.is_none()).await.map_err(|error| match error {
                        TransportError::Connection { .. } if retry.is_some() => Failure::Unreachable(error),
                        error => Failure::Final(error),
                    })
                };
                let (mut current, mut declared) = channel().await?;
                let mut result = attempt_publish(&current, &declared, message).await;
                if let (Err(Failure::DurableMismatch(error)), Some(exchange)) = (&result, &message.exchange) {
                    tracing::warn!(
                        exchange = %exchange.name,
                        "force creating a non durable exchange: {error}"
                    );
                    // The broker closed the channel with its 406; the next one is fresh.
                    (current, declared) = channel().await?;
                    let non_durable = ExchangeSpec { durable: false, ..exchange.clone() };
                    topology::declare_exchange(&current, &non_durable).await.map_err(classify)?;
                    declared
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(format!("exchange:{}", exchange.name));
                    result = attempt_publish(&current, &declared, message).await;
                }
                match &result {
                    Err(Failure::Broken(_)) => declared.lock().unwrap_or_else(|e| e.into_inner()).clear(),
                    Err(Failure::Nacked(_)) => self.replace_channel(&current).await,
                    _ => {}
                }
                result
            })
            .await;
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(Failure::Final(error))) => Err(Failed::Final(error)),
                Ok(Err(Failure::DurableMismatch(error))) => {
                    Err(Failed::Final(TransportError::refused(error.to_string(), error)))
                }
                Ok(Err(Failure::Broken(error))) => Err(Failed::Retry(connection_error(
                    &format!(
                        "cannot publish to exchange `{}` with routing key `{}`",
                        message.exchange_name, message.routing_key
                    ),
                    error,
                ))),
                Ok(Err(Failure::Unreachable(error) | Failure::Nacked(error))) => Err(Failed::Retry(error)),
                Err(_) => Err(Failed::Final(self.timed_out(message, started.elapsed()))),
            }
        };
        retrying(&mut backoff, &mut NoStop, attempt).await
    }

    /// Replaces the publishing channel after the broker nacked a publish on it. A RabbitMQ
    /// channel keeps its own view of the queues it publishes to (a quorum queue's leader, for
    /// one); after a cluster node is lost that view can go stale, and then the broker nacks every
    /// later publish on the channel while a fresh channel publishes fine. The old channel
    /// closes once its outstanding confirms are in, so other publishes on it still get theirs.
    async fn replace_channel(&self, nacked: &Channel) {
        let mut guard = self.session.lock().await;
        let Some(session) = guard.as_mut() else { return };
        // Another publish nacked on the same channel may have replaced it already.
        if session.channel.id() != nacked.id() || !session.connection.status().connected() {
            return;
        }
        match open_channel(&session.connection).await {
            Ok(fresh) => {
                tracing::info!("the broker nacked a publish; publishing on a fresh channel");
                let retired = std::mem::replace(&mut session.channel, fresh);
                session.declared = Arc::default();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(RETIRED_CHANNEL_CONFIRMS, retired.wait_for_confirms()).await;
                    let _ = retired.close(200, "replaced after a nack".into()).await;
                });
            }
            // The next attempt reconnects.
            Err(error) => tracing::debug!(%error, "cannot open a fresh publishing channel"),
        }
    }

    /// A blocked connection is a broker failure worth naming; a confirm that was only slow is a
    /// timeout.
    fn timed_out(&self, message: &Outgoing, waited: Duration) -> TransportError {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (exchange, routing_key) = (&message.exchange_name, &message.routing_key);
        match blocked {
            Some(why) => TransportError::Connection {
                reason: format!(
                    "the broker blocked publishing on this connection ({why}; usually a memory or \
                     disk alarm), so the publish to exchange `{exchange}` with routing key \
                     `{routing_key}` timed out after {waited:?}"
                ),
                source: None,
            },
            None => TransportError::TimedOut(format!(
                "the broker confirmed the publish to exchange `{exchange}` with routing key \
                 `{routing_key}` (waited {waited:?})"
            )),
        }
    }

    /// Closes the publishing connection.
    pub(crate) async fn close(&self) {
        if let Some(session) = self.session.lock().await.take() {
            let _ = session.connection.close(200, "transport cleanup".into()).await;
        }
    }
}

async fn open_channel(connection: &Connection) -> lapin::Result<Channel> {
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(channel)
}

fn classify(error: lapin::Error) -> Failure {
    if error.is_amqp_soft_error() {
        Failure::Final(TransportError::refused(error.to_string(), error))
    } else {
        Failure::Broken(error)
    }
}

async fn attempt_publish(
    channel: &Channel,
    declared: &Mutex<HashSet<String>>,
    message: &Outgoing,
) -> Result<(), Failure> {
    let is_declared = |key: &str| declared.lock().unwrap_or_else(|e| e.into_inner()).contains(key);
    let mark = |key: String| declared.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
    if let Some(exchange) = &message.exchange {
        let key = format!("exchange:{}", exchange.name);
        if !is_declared(&key) {
            topology::declare_exchange(channel, exchange).await.map_err(|error| {
                // Notifications declare their default queue on the exchange too, which oslo does
                // (first) without the fallback: they fail as oslo's do.
                if exchange.durable
                    && message.default_queue.is_none()
                    && topology::is_durable_mismatch(&error)
                {
                    Failure::DurableMismatch(error)
                } else {
                    classify(error)
                }
            })?;
            mark(key);
        }
        if let Some(queue) = &message.default_queue {
            let key = format!("queue:{}:{}", exchange.name, queue.name);
            if !is_declared(&key) {
                let subscription = topology::Subscription {
                    queue: queue.clone(),
                    exchange: exchange.clone(),
                    routing_keys: vec![message.routing_key.clone()],
                    delete_on_close: false,
                    stream_offset: None,
                };
                topology::declare_subscription(channel, &subscription).await.map_err(classify)?;
                mark(key);
            }
        }
    }
    let confirm = channel
        .basic_publish(
            message.exchange_name.as_str().into(),
            message.routing_key.as_str().into(),
            BasicPublishOptions { mandatory: message.mandatory, ..BasicPublishOptions::default() },
            &message.body,
            properties(message.expiration.as_deref(), &message.headers),
        )
        .await
        .map_err(classify)?
        .await
        .map_err(classify)?;
    match confirm {
        // lapin hands a `basic.return` to whichever confirm a multiple-ack completes first, not
        // necessarily the returned message's own (seen with replies to a missing queue beside
        // other publishes): a return that is not this message is not this message's failure.
        Confirmation::Ack(Some(returned)) if !is_this(&returned, message) => {
            tracing::debug!(
                routing_key = %message.routing_key,
                returned_routing_key = %returned.delivery.routing_key,
                "ignoring another message's return attached to this confirm"
            );
            Ok(())
        }
        Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
            tracing::debug!(
                exchange = %message.exchange_name,
                routing_key = %message.routing_key,
                code = returned.reply_code,
                text = %returned.reply_text,
                "the broker returned a mandatory message"
            );
            Err(Failure::Final(TransportError::Undeliverable {
                exchange: message.exchange_name.clone(),
                routing_key: message.routing_key.clone(),
            }))
        }
        Confirmation::Nack(None) => Err(Failure::Nacked(TransportError::Refused {
            reason: format!(
                "the broker did not accept (nacked) the message to exchange `{}` with routing key `{}`",
                message.exchange_name, message.routing_key
            ),
            source: None,
        })),
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
    }
}

/// Whether a returned message is `message` (same exchange, routing key and body).
fn is_this(returned: &lapin::message::BasicReturnMessage, message: &Outgoing) -> bool {
    returned.delivery.exchange.as_str() == message.exchange_name
        && returned.delivery.routing_key.as_str() == message.routing_key
        && returned.delivery.data == message.body
}

pub(crate) fn connection_error(what: &str, error: lapin::Error) -> TransportError {
    TransportError::Connection { reason: format!("{what}: {error}"), source: Some(Box::new(error)) }
}

/// Logs `connection.blocked` / `unblocked` and remembers the reason while blocked.
async fn watch_blocked(
    events: impl futures::Stream<Item = Event> + Send + 'static,
    blocked: Arc<Mutex<Option<String>>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut events = std::pin::pin!(events);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            event = events.next() => match event {
                Some(Event::ConnectionBlocked(reason)) => {
                    tracing::warn!(%reason, "the broker blocked the publishing connection");
                    *blocked.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                }
                Some(Event::ConnectionUnblocked) => {
                    tracing::info!("the broker unblocked the publishing connection");
                    *blocked.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
                Some(Event::Error(error)) => tracing::debug!(%error, "publishing connection error"),
                Some(_) => {}
                None => break,
            },
        }
    }
    *blocked.lock().unwrap_or_else(|e| e.into_inner()) = None;
}
