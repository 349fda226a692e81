//! The notification listener's handler over the consume engine: decoding, the plan of
//! endpoint calls per priority group, running the chain through the executor, and settling
//! (ack, requeue) once the endpoints are done.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{Instrument, Span};

use crate::consume::{AckPolicy, BatchHandler, Core, Handler, Settlement, Work, consumer_span};
use crate::endpoint::MethodKind;
use crate::error::TransportError;
use crate::executor::Admission;
use crate::metrics::{self, Outcome, Rejection};
use crate::notification_endpoint::{
    Metadata, NotificationEndpoint, NotificationError, NotificationMessage, NotificationResult,
};
use crate::notification_filter::NotificationFilter;
use crate::notify::Priority;
use crate::serializer::Serializer;
use crate::target::Target;
use crate::transport::Transport;
use crate::transport::{Delivery, Incoming, ListenOptions, Origin};
use crate::wire::Notification;

/// One endpoint method for one priority.
#[derive(Clone)]
pub(crate) struct Callback {
    pub(crate) endpoint: Arc<dyn NotificationEndpoint>,
    pub(crate) filter: Option<Arc<NotificationFilter>>,
    pub(crate) kind: MethodKind,
    pub(crate) name: String,
}

/// The notification consumer.
pub(crate) struct NotificationHandler {
    pub(crate) transport: Arc<dyn Transport>,
    /// Indexed by `Priority as usize`.
    pub(crate) callbacks: Vec<Vec<Callback>>,
    pub(crate) serializer: Arc<dyn Serializer>,
    pub(crate) allow_requeue: bool,
    pub(crate) subscriptions: Vec<(Target, Priority)>,
    pub(crate) pool: Option<String>,
    pub(crate) options: ListenOptions,
}

/// A notification decoded and ready for its endpoints.
pub(crate) struct Taken {
    message: NotificationMessage,
    delivery: Box<dyn Delivery>,
}

/// The messages of one priority, the endpoint calls to make, and how to settle them.
struct Group {
    priority: Priority,
    deliveries: Vec<Box<dyn Delivery>>,
    steps: Vec<(Callback, Vec<NotificationMessage>)>,
}

/// The groups of a message or a batch, run one after the other in one task.
pub(crate) struct Plan(Vec<Group>);

impl Work for Plan {
    fn kind(&self) -> Option<MethodKind> {
        self.0.iter().find_map(|g| g.steps.first()).map(|(c, _)| c.kind)
    }

    fn method(&self) -> &'static str {
        self.0.first().map_or(metrics::UNKNOWN_METHOD, |g| g.priority.as_str())
    }

    async fn settle(&self, how: Settlement) -> Result<(), TransportError> {
        let mut result = Ok(());
        for delivery in self.0.iter().flat_map(|g| &g.deliveries) {
            let settled = how.apply(&**delivery).await;
            if result.is_ok() {
                result = settled;
            }
        }
        result
    }
}

impl Handler for NotificationHandler {
    type Taken = Taken;
    type Work = Plan;

    const ACK: AckPolicy = AckPolicy::AfterHandling;

    /// The pool, or the topics listened to.
    fn consumer(&self) -> String {
        if let Some(pool) = &self.pool {
            return pool.clone();
        }
        let mut topics: Vec<&str> =
            self.subscriptions.iter().filter_map(|(t, _)| t.topic.as_deref()).collect();
        topics.dedup();
        topics.join(",")
    }

    fn span(&self, origin: Option<&Origin>) -> Span {
        consumer_span!(
            "notification.receive",
            origin,
            "messaging.message.id" = tracing::field::Empty,
            event_type = tracing::field::Empty,
            priority = tracing::field::Empty,
            request_id = tracing::field::Empty,
            global_request_id = tracing::field::Empty,
        )
    }

    async fn take(core: &Arc<Core<Self>>, incoming: Incoming) -> Option<Taken> {
        let taken = take(&core.handler, incoming).await;
        if let Err(reason) = &taken {
            metrics::rejected(&core.consumer, metrics::UNKNOWN_METHOD, *reason);
        }
        taken.ok()
    }

    fn plan(&self, taken: Taken) -> Plan {
        self.plan_batch(vec![taken])
    }

    async fn handle(core: Arc<Core<Self>>, plan: Plan, admission: Admission, _: watch::Receiver<bool>) {
        let mut admission = Some(admission);
        for group in plan.0 {
            // Fields are evaluated only when the span is enabled (the copies showed in
            // profiles with tracing off).
            let span = tracing::info_span!(
                "notification.dispatch",
                priority = %group.priority,
                messages = group.deliveries.len(),
                first = ?group.steps.first().map(|(c, m)| (&c.name, m.first().map(|m| &m.event_type))),
            );
            run_group(&core, group, &mut admission).instrument(span).await;
        }
    }
}

impl BatchHandler for NotificationHandler {
    /// Groups messages by priority and picks, for each group, the endpoints to call with the
    /// messages passing their filters, in order.
    fn plan_batch(&self, taken: Vec<Taken>) -> Plan {
        let mut groups: Vec<(Priority, Vec<Taken>)> = Vec::new();
        for item in taken {
            match groups.iter_mut().find(|(p, _)| *p == item.message.priority) {
                Some((_, items)) => items.push(item),
                None => groups.push((item.message.priority, vec![item])),
            }
        }
        groups.sort_by_key(|(p, _)| *p);
        Plan(
            groups
                .into_iter()
                .map(|(priority, items)| {
                    let (messages, deliveries): (Vec<_>, Vec<_>) =
                        items.into_iter().map(|t| (t.message, t.delivery)).unzip();
                    let callbacks = &self.callbacks[priority as usize];
                    // The last endpoint takes the messages themselves, the others copies (a
                    // copy for every message showed in profiles).
                    let mut messages = Some(messages);
                    let steps = callbacks
                        .iter()
                        .enumerate()
                        .filter_map(|(index, callback)| {
                            let filter = callback.filter.as_ref();
                            let passing: Vec<NotificationMessage> = if index + 1 == callbacks.len() {
                                let owned = messages.take().unwrap_or_default();
                                match filter {
                                    Some(filter) => owned.into_iter().filter(|m| filter.matches(m)).collect(),
                                    None => owned,
                                }
                            } else {
                                let shared = messages.as_deref().unwrap_or_default();
                                match filter {
                                    Some(filter) => {
                                        shared.iter().filter(|m| filter.matches(m)).cloned().collect()
                                    }
                                    None => shared.to_vec(),
                                }
                            };
                            (!passing.is_empty()).then(|| (callback.clone(), passing))
                        })
                        .collect();
                    Group { priority, deliveries, steps }
                })
                .collect(),
        )
    }
}

/// Decodes a message; what cannot be handled is settled here, and why is returned.
async fn take(handler: &NotificationHandler, incoming: Incoming) -> Result<Taken, Rejection> {
    let Incoming { message, delivery, .. } = incoming;
    let notification =
        match message.map_err(TransportError::from).and_then(|m| Ok(Notification::from_message(m)?)) {
            Ok(notification) => notification,
            Err(error) => {
                tracing::warn!(%error, "rejecting an undecodable notification");
                Settlement::Reject.settle(&*delivery).await;
                return Err(Rejection::Undecodable);
            }
        };
    record_notification(&notification);
    let Some(priority) = Priority::from_wire(&notification.priority) else {
        tracing::warn!(priority = %notification.priority, "unknown notification priority; dropping the message");
        Settlement::Ack.settle(&*delivery).await;
        return Err(Rejection::Malformed);
    };
    let context = handler.serializer.deserialize_context(notification.context);
    let payload = match handler.serializer.deserialize_entity(&context, notification.payload) {
        Ok(payload) => payload,
        Err(error) => {
            // As oslo: a dispatch error counts as handled.
            tracing::error!(%error, event_type = %notification.event_type, "the serializer refused a notification payload; dropping it");
            Settlement::Ack.settle(&*delivery).await;
            return Err(Rejection::Malformed);
        }
    };
    let message =
        NotificationMessage::new(priority, notification.publisher_id, notification.event_type, payload)
            .with_context(context)
            .with_metadata(Metadata::new(notification.message_id, notification.timestamp));
    Ok(Taken { message, delivery })
}

/// Runs a group's endpoint chain, then acknowledges or requeues its messages.
async fn run_group(core: &Core<NotificationHandler>, group: Group, admission: &mut Option<Admission>) {
    let mut requeue = false;
    for (callback, messages) in group.steps {
        let admitted = match admission.take() {
            Some(admitted) if admitted.kind() == callback.kind => admitted,
            other => {
                drop(other);
                core.executor.admit(callback.kind).await
            }
        };
        let invocation = Arc::clone(&callback.endpoint).invoke(group.priority, messages);
        let stopwatch = metrics::Stopwatch::start();
        let ran = admitted.run(invocation, &callback.name).await;
        let how = match &ran {
            Ok(Ok(_)) => Outcome::Completed,
            Ok(Err(_)) => Outcome::Failed,
            Err(_) => Outcome::Panicked,
        };
        metrics::handled(&core.consumer, group.priority.as_str(), how, stopwatch);
        let outcome = ran.unwrap_or_else(|panic| {
            Err(NotificationError::Panicked { method: callback.name.clone(), message: panic.message })
        });
        match outcome {
            Ok(NotificationResult::Handled) => {}
            Ok(NotificationResult::Requeue) => {
                tracing::debug!(endpoint = %callback.name, "the endpoint asked for a requeue");
                requeue = true;
                break;
            }
            Err(error) => {
                let error = crate::error::chain(&error);
                tracing::error!(endpoint = %callback.name, %error, "the notification endpoint failed");
                requeue = true;
                break;
            }
        }
    }
    let allow_requeue = core.handler.allow_requeue;
    if requeue && !allow_requeue {
        tracing::warn!(
            priority = %group.priority,
            "requeue asked but this listener does not allow requeueing; acknowledging"
        );
    }
    let how = if requeue && allow_requeue { Settlement::Requeue } else { Settlement::Ack };
    for delivery in &group.deliveries {
        how.settle(&**delivery).await;
    }
}

/// Records a decoded notification's ids in the current (message) span.
fn record_notification(notification: &Notification) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    span.record("messaging.message.id", notification.message_id.as_str());
    span.record("event_type", notification.event_type.as_str());
    span.record("priority", notification.priority.as_str());
    if let Some(id) = notification.context.request_id() {
        span.record("request_id", id);
    }
    if let Some(id) = notification.context.global_request_id() {
        span.record("global_request_id", id);
    }
}
