//! The notification listener's dispatch: the consuming loops (one message at a time, or
//! batches), decoding, the plan of endpoint calls per priority group, admission through the
//! mixed executor, and settling (ack, requeue, reject) once the endpoints are done.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use crate::endpoint::{Invocation, MethodKind};
use crate::executor::{Admission, Executor};
use crate::notification_endpoint::{
    Metadata, NotificationEndpoint, NotificationInvocation, NotificationMessage, NotificationOutcome,
    NotificationResult,
};
use crate::notification_filter::NotificationFilter;
use crate::notify::Priority;
use crate::serializer::Serializer;
use crate::server::{settle, stop_requested};
use crate::transport::{Delivery, Incoming, Listener};
use crate::wire::{Failure, Notification};
use crate::{Transport, TransportError};

/// One endpoint method for one priority.
#[derive(Clone)]
pub(crate) struct Callback {
    pub(crate) endpoint: Arc<dyn NotificationEndpoint>,
    pub(crate) filter: Option<Arc<NotificationFilter>>,
    pub(crate) kind: MethodKind,
    pub(crate) name: String,
}

/// What the dispatch loop and the work tasks share.
pub(crate) struct Shared {
    pub(crate) transport: Arc<dyn Transport>,
    /// Indexed by `Priority as usize`.
    pub(crate) callbacks: Vec<Vec<Callback>>,
    pub(crate) executor: Executor,
    pub(crate) serializer: Arc<dyn Serializer>,
    pub(crate) allow_requeue: bool,
    /// Messages (or batches) taken and not yet settled.
    pub(crate) in_flight: watch::Sender<usize>,
}

/// A notification decoded and ready for its endpoints.
struct Taken {
    message: NotificationMessage,
    delivery: Box<dyn Delivery>,
}

/// The messages of one priority, the endpoint calls to make, and how to settle them.
struct Group {
    priority: Priority,
    deliveries: Vec<Box<dyn Delivery>>,
    steps: Vec<(Callback, Vec<NotificationMessage>)>,
}

pub(crate) async fn dispatch_loop(
    shared: Arc<Shared>,
    mut listener: Box<dyn Listener>,
    mut stopped: watch::Receiver<bool>,
) -> Box<dyn Listener> {
    loop {
        let incoming = tokio::select! {
            biased;
            _ = stop_requested(&mut stopped) => break,
            next = listener.next() => match next {
                Some(incoming) => incoming,
                None => {
                    tracing::warn!("the transport closed the notification listener");
                    break;
                }
            },
        };
        let Some(taken) = take(&shared, incoming).await else { continue };
        let groups = plan(&shared, vec![taken]);
        if !submit(&shared, groups, &mut stopped).await {
            break;
        }
    }
    listener
}

pub(crate) async fn batch_loop(
    shared: Arc<Shared>,
    mut listener: Box<dyn Listener>,
    mut stopped: watch::Receiver<bool>,
    size: usize,
    timeout: Option<Duration>,
) -> Box<dyn Listener> {
    let mut stopping = false;
    while !stopping {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size {
            let incoming = tokio::select! {
                biased;
                _ = stop_requested(&mut stopped) => {
                    stopping = true;
                    break;
                }
                () = sleep_until(deadline) => break,
                next = listener.next() => match next {
                    Some(incoming) => incoming,
                    None => {
                        tracing::warn!("the transport closed the notification listener");
                        stopping = true;
                        break;
                    }
                },
            };
            batch.extend(take(&shared, incoming).await);
        }
        if stopping {
            for taken in batch {
                settle(taken.delivery.requeue().await, "requeue");
            }
            break;
        }
        if !batch.is_empty() && !submit(&shared, plan(&shared, batch), &mut stopped).await {
            break;
        }
    }
    listener
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Decodes a message; what cannot be handled is settled here.
async fn take(shared: &Shared, incoming: Incoming) -> Option<Taken> {
    let Incoming { message, delivery, .. } = incoming;
    let notification =
        match message.map_err(TransportError::from).and_then(|m| Ok(Notification::from_message(m)?)) {
            Ok(notification) => notification,
            Err(error) => {
                tracing::warn!(%error, "rejecting an undecodable notification");
                settle(delivery.reject().await, "reject");
                return None;
            }
        };
    let Some(priority) = Priority::from_wire(&notification.priority) else {
        tracing::warn!(priority = %notification.priority, "unknown notification priority; dropping the message");
        settle(delivery.ack().await, "ack");
        return None;
    };
    let context = shared.serializer.deserialize_context(notification.context);
    let payload = match shared.serializer.deserialize_entity(&context, notification.payload) {
        Ok(payload) => payload,
        Err(error) => {
            // As oslo: a dispatch error counts as handled.
            tracing::error!(%error, event_type = %notification.event_type, "the serializer refused a notification payload; dropping it");
            settle(delivery.ack().await, "ack");
            return None;
        }
    };
    let message =
        NotificationMessage::new(priority, notification.publisher_id, notification.event_type, payload)
            .with_context(context)
            .with_metadata(Metadata::new(notification.message_id, notification.timestamp));
    Some(Taken { message, delivery })
}

/// Groups messages by priority and picks, for each group, the endpoints to call with the
/// messages passing their filters, in order.
fn plan(shared: &Shared, taken: Vec<Taken>) -> Vec<Group> {
    let mut groups: Vec<(Priority, Vec<Taken>)> = Vec::new();
    for item in taken {
        match groups.iter_mut().find(|(p, _)| *p == item.message.priority) {
            Some((_, items)) => items.push(item),
            None => groups.push((item.message.priority, vec![item])),
        }
    }
    groups.sort_by_key(|(p, _)| *p);
    groups
        .into_iter()
        .map(|(priority, items)| {
            let (messages, deliveries): (Vec<_>, Vec<_>) =
                items.into_iter().map(|t| (t.message, t.delivery)).unzip();
            let steps = shared.callbacks[priority as usize]
                .iter()
                .filter_map(|callback| {
                    let passing: Vec<NotificationMessage> = match &callback.filter {
                        Some(filter) => messages.iter().filter(|m| filter.matches(m)).cloned().collect(),
                        None => messages.clone(),
                    };
                    (!passing.is_empty()).then(|| (callback.clone(), passing))
                })
                .collect();
            Group { priority, deliveries, steps }
        })
        .collect()
}

/// Admits the work (waiting for a slot of its first step's kind: back-pressure) and spawns
/// it. Returns false when a stop came first (the messages are then requeued).
async fn submit(shared: &Arc<Shared>, groups: Vec<Group>, stopped: &mut watch::Receiver<bool>) -> bool {
    let Some(kind) = groups.iter().find_map(|g| g.steps.first()).map(|(c, _)| c.kind) else {
        // No endpoint wants these messages: done with them.
        for delivery in groups.iter().flat_map(|g| &g.deliveries) {
            settle(delivery.ack().await, "ack");
        }
        return true;
    };
    let admission = tokio::select! {
        biased;
        _ = stop_requested(stopped) => {
            for delivery in groups.iter().flat_map(|g| &g.deliveries) {
                settle(delivery.requeue().await, "requeue");
            }
            return false;
        }
        admission = shared.executor.admit(kind) => admission,
    };
    shared.in_flight.send_modify(|n| *n += 1);
    let guard = InFlight(Arc::clone(shared));
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let mut admission = Some(admission);
        for group in groups {
            let first =
                group.steps.first().map(|(c, m)| (c.name.clone(), m.first().map(|m| m.event_type.clone())));
            let span = tracing::info_span!(
                "notification.dispatch",
                priority = %group.priority,
                messages = group.deliveries.len(),
                first = ?first,
            );
            run_group(&shared, group, &mut admission).instrument(span).await;
        }
        drop(guard);
    });
    true
}

/// Counts a unit of work in flight until dropped.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Runs a group's endpoint chain, then acknowledges or requeues its messages.
async fn run_group(shared: &Shared, group: Group, admission: &mut Option<Admission>) {
    let mut requeue = false;
    for (callback, messages) in group.steps {
        let admitted = match admission.take() {
            Some(admitted) if admitted.kind() == callback.kind => admitted,
            other => {
                drop(other);
                shared.executor.admit(callback.kind).await
            }
        };
        let invocation = Arc::clone(&callback.endpoint).invoke(group.priority, messages);
        let outcome = from_method_result(admitted.run(to_invocation(invocation), &callback.name).await);
        match outcome {
            Ok(NotificationResult::Handled) => {}
            Ok(NotificationResult::Requeue) => {
                tracing::debug!(endpoint = %callback.name, "the endpoint asked for a requeue");
                requeue = true;
                break;
            }
            Err(error) => {
                tracing::error!(endpoint = %callback.name, %error, "the notification endpoint failed");
                requeue = true;
                break;
            }
        }
    }
    if requeue && !shared.allow_requeue {
        tracing::warn!(
            priority = %group.priority,
            "requeue asked but this listener does not allow requeueing; acknowledging"
        );
    }
    for delivery in &group.deliveries {
        if requeue && shared.allow_requeue {
            settle(delivery.requeue().await, "requeue");
        } else {
            settle(delivery.ack().await, "ack");
        }
    }
}

/// Runs a notification call through the executor's invocation type (so panics are caught the
/// same way): `true` stands for a requeue.
fn to_invocation(invocation: NotificationInvocation) -> Invocation {
    let encode = |outcome: NotificationOutcome| match outcome {
        Ok(result) => Ok(Value::Bool(result == NotificationResult::Requeue)),
        Err(error) => Err(Failure::runtime_error(error)),
    };
    match invocation {
        NotificationInvocation::Sync(call) => Invocation::Sync(Box::new(move || encode(call()))),
        NotificationInvocation::Async(future) => {
            Invocation::Async(Box::pin(async move { encode(future.await) }))
        }
    }
}

fn from_method_result(result: Result<Value, Failure>) -> NotificationOutcome {
    match result {
        Ok(Value::Bool(true)) => Ok(NotificationResult::Requeue),
        Ok(_) => Ok(NotificationResult::Handled),
        Err(failure) => Err(failure.message),
    }
}
