//! Helpers for tests of services built on courier: fixtures of real oslo.messaging messages,
//! as captured from oslo.messaging 18.3.1 on RabbitMQ, and [`NotificationTap`], a notification
//! endpoint that hands what it receives to a channel.
//!
//! ```
//! use courier_runtime::testing::OSLO_CALL_BODY;
//! use courier_runtime::wire::{Request, decode_body};
//!
//! let request = Request::from_message(decode_body(OSLO_CALL_BODY.as_bytes()).unwrap()).unwrap();
//! assert_eq!(request.method, "echo");
//! assert_eq!(request.context.user(), Some("alice"));
//! ```

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::endpoint::MethodKind;
use crate::notification_endpoint::{
    NotificationEndpoint, NotificationEndpointInfo, NotificationError, NotificationInvocation,
    NotificationMessage, NotificationResult, PriorityMethod,
};
use crate::notify::Priority;

/// The body of a call as a Python `RPCClient` publishes it (envelope 2.0, double-encoded).
pub const OSLO_CALL_BODY: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"echo\", \"args\": {\"value\": [1, \"two\", {\"three\": 3.0}]}, \"_msg_id\": \"3f0916369bd04475b2eb5ca177d85354\", \"_reply_q\": \"reply_8845ac724b524fb3b63b99350a696cd9\", \"_timeout\": null, \"_unique_id\": \"379b6f474992456da4b61e3a0b19ecd6\", \"_context_user\": \"alice\", \"_context_request_id\": \"req-1\"}"}"#;

/// The body of the reply a Python `RPCServer` sends for [`OSLO_CALL_BODY`].
pub const OSLO_REPLY_BODY: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"result\": {\"value\": [1, \"two\", {\"three\": 3.0}], \"ctx_user\": \"alice\"}, \"failure\": null, \"ending\": true, \"_msg_id\": \"3f0916369bd04475b2eb5ca177d85354\", \"_unique_id\": \"d299a3be08ea48879918a63ee7901f27\"}"}"#;

/// The `failure` field of a reply for `raise ValueError('bad things', 42)`.
pub const OSLO_FAILURE_VALUE_ERROR: &str = r#"{"class": "ValueError", "module": "builtins", "message": "('bad things', 42)", "tb": ["Traceback (most recent call last):\n", "ValueError: ('bad things', 42)\n"], "args": ["bad things", 42], "kwargs": {}}"#;

/// A notification as the `messagingv2` driver publishes it.
pub const OSLO_NOTIFICATION_V2_BODY: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"470bbc99-f9bd-40e2-a43b-b194a904e159\", \"publisher_id\": \"compute.host1\", \"event_type\": \"compute.instance.create.end\", \"priority\": \"INFO\", \"payload\": {\"instance_id\": 12, \"state\": \"active\"}, \"timestamp\": \"2026-11-23 07:02:47.787110\", \"_unique_id\": \"c90d7441683c4f22b013ddf417447411\"}"}"#;

/// A notification as the `messaging` (1.0, unenveloped) driver publishes it.
pub const OSLO_NOTIFICATION_V1_BODY: &str = r#"{"message_id": "8a2e9c1e-6f1b-4a53-9d2e-3c1f2b7a0d11", "publisher_id": "compute.host1", "event_type": "compute.instance.delete.start", "priority": "WARN", "payload": {"instance_id": 13}, "timestamp": "2026-11-23 07:02:47.787110", "_unique_id": "46df0c0e8b1e4d0f9a3f5b1c2d3e4f50"}"#;

/// A notification endpoint for one priority that hands each notification to a channel, and
/// finishes only once the receiver [acknowledges](Tapped::ack) it: what `courier listen` prints
/// from, and what tests capture notifications with. A notification dropped unacknowledged (or
/// a receiver gone) fails the invocation, so a listener in a pool requeues it.
///
/// ```
/// use courier_runtime::testing::NotificationTap;
/// use courier_runtime::{notification_listener::NotificationListener, notify::Priority, target::Target};
/// # async fn example(transport: std::sync::Arc<dyn courier_runtime::transport::Transport>) {
/// let (taps, mut tapped) = NotificationTap::channel(&Priority::ALL, 16);
/// let mut builder = NotificationListener::builder(transport).target(Target::new("notifications"));
/// for tap in taps {
///     builder = builder.endpoint(tap);
/// }
/// let listener = builder.build().unwrap();
/// listener.start().await.unwrap();
/// let message = tapped.recv().await.unwrap().ack(); // the listener may acknowledge it now
/// println!("{} {}", message.priority.as_str(), message.event_type);
/// # }
/// ```
pub struct NotificationTap {
    priority: Priority,
    sender: mpsc::Sender<Tapped>,
}

/// A notification a [`NotificationTap`] took; [`ack`](Self::ack) it once it is dealt with.
#[derive(Debug)]
pub struct Tapped {
    /// The notification.
    pub message: NotificationMessage,
    acked: oneshot::Sender<()>,
}

impl Tapped {
    /// Lets the listener acknowledge the notification; returns it.
    pub fn ack(self) -> NotificationMessage {
        let _ = self.acked.send(());
        self.message
    }
}

macro_rules! tap_tables {
    ($($priority:ident),*) => {
        [$(NotificationEndpointInfo {
            type_name: "NotificationTap",
            batch: false,
            methods: &[PriorityMethod { priority: Priority::$priority, kind: MethodKind::Async }],
        }),*]
    };
}

/// One table per priority, in the order of [`Priority::ALL`].
static TAP_TABLES: [NotificationEndpointInfo; 7] =
    tap_tables!(Audit, Debug, Info, Warn, Error, Critical, Sample);

impl NotificationTap {
    /// A tap for `priority` sending into `sender`.
    pub fn new(priority: Priority, sender: mpsc::Sender<Tapped>) -> Self {
        Self { priority, sender }
    }

    /// One tap per priority of `priorities`, all feeding one channel of `capacity` (at least 1).
    pub fn channel(priorities: &[Priority], capacity: usize) -> (Vec<Self>, mpsc::Receiver<Tapped>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (priorities.iter().map(|priority| Self::new(*priority, sender.clone())).collect(), receiver)
    }
}

impl NotificationEndpoint for NotificationTap {
    fn endpoint_info(&self) -> &'static NotificationEndpointInfo {
        let index = Priority::ALL.iter().position(|p| *p == self.priority).unwrap_or_default();
        &TAP_TABLES[index]
    }

    fn invoke(
        self: Arc<Self>,
        _priority: Priority,
        messages: Vec<NotificationMessage>,
    ) -> NotificationInvocation {
        NotificationInvocation::Async(Box::pin(async move {
            for message in messages {
                let (acked, done) = oneshot::channel();
                let failed = |why: &str| NotificationError::Endpoint(why.into());
                self.sender
                    .send(Tapped { message, acked })
                    .await
                    .map_err(|_| failed("the notification tap's receiver is gone"))?;
                done.await.map_err(|_| failed("the tapped notification was dropped unacknowledged"))?;
            }
            Ok(NotificationResult::Handled)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Failure, Notification, Reply, Request, decode_body, encode_bare};
    use serde_json::json;

    fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn every_fixture_decodes() {
        let reply = Reply::from_message(decode_body(OSLO_REPLY_BODY.as_bytes()).unwrap()).unwrap();
        assert!(reply.ending && reply.failure.is_none());
        assert_eq!(reply.result["ctx_user"], "alice");
        assert_eq!(Failure::from_json_str(OSLO_FAILURE_VALUE_ERROR).unwrap().class, "ValueError");
        for body in [OSLO_NOTIFICATION_V2_BODY, OSLO_NOTIFICATION_V1_BODY] {
            let n = Notification::from_message(decode_body(body.as_bytes()).unwrap()).unwrap();
            assert_eq!(n.publisher_id, "compute.host1");
        }
    }

    #[test]
    fn decodes_a_captured_oslo_call() {
        let request = Request::from_message(decode_body(OSLO_CALL_BODY.as_bytes()).unwrap()).unwrap();
        assert_eq!(request.method, "echo");
        assert_eq!(request.args["value"], json!([1, "two", {"three": 3.0}]));
        assert_eq!(request.msg_id.as_deref(), Some("3f0916369bd04475b2eb5ca177d85354"));
        assert_eq!(request.reply_q.as_deref(), Some("reply_8845ac724b524fb3b63b99350a696cd9"));
        assert_eq!(request.call_monitor_timeout, None);
        assert_eq!(request.context.user(), Some("alice"));
        assert_eq!(request.context.request_id(), Some("req-1"));
        assert!(request.is_call());
    }

    #[test]
    fn decodes_a_python_failure_reply() {
        let message = object(
            json!({"result": null, "failure": OSLO_FAILURE_VALUE_ERROR, "ending": true, "_msg_id": "m"}),
        );
        let reply = Reply::from_message(message).unwrap();
        let failure = reply.failure.unwrap();
        assert_eq!(failure.class, "ValueError");
        assert_eq!(failure.module, "builtins");
        assert_eq!(failure.args, vec![json!("bad things"), json!(42)]);
        assert_eq!(failure.tb.len(), 2);
    }

    #[test]
    fn decodes_a_captured_notification() {
        let n =
            Notification::from_message(decode_body(OSLO_NOTIFICATION_V2_BODY.as_bytes()).unwrap()).unwrap();
        assert_eq!(n.publisher_id, "compute.host1");
        assert_eq!(n.priority, "INFO");
        assert_eq!(n.payload["instance_id"], 12);
        assert_eq!(n.timestamp, "2026-11-23 07:02:47.787110");
        let round = Notification::from_message(decode_body(&encode_bare(&n.to_message())).unwrap()).unwrap();
        assert_eq!(round, n);
    }
    #[test]
    fn each_priority_has_its_own_table() {
        let (taps, _tapped) = NotificationTap::channel(&Priority::ALL, 1);
        for (tap, priority) in taps.iter().zip(Priority::ALL) {
            let info = tap.endpoint_info();
            assert_eq!(info.methods.len(), 1);
            assert_eq!(info.method(priority).map(|m| m.priority), Some(priority));
            assert!(!info.batch);
        }
    }

    #[tokio::test]
    async fn a_tap_finishes_only_once_the_notification_is_acknowledged() {
        let (mut taps, mut tapped) = NotificationTap::channel(&[Priority::Info], 1);
        let tap = Arc::new(taps.remove(0));
        let message = NotificationMessage::new(Priority::Info, "p", "e", serde_json::json!(null));
        let NotificationInvocation::Async(handled) = Arc::clone(&tap).invoke(Priority::Info, vec![message])
        else {
            panic!("taps are async")
        };
        let handled = tokio::spawn(handled);
        let received = tapped.recv().await.unwrap();
        assert_eq!(received.message.event_type, "e");
        assert!(!handled.is_finished());
        assert_eq!(received.ack().event_type, "e");
        assert_eq!(handled.await.unwrap().unwrap(), NotificationResult::Handled);

        // Dropped unacknowledged: the invocation fails, so a pool requeues the message.
        let message = NotificationMessage::new(Priority::Info, "p", "dropped", serde_json::json!(null));
        let NotificationInvocation::Async(handled) = Arc::clone(&tap).invoke(Priority::Info, vec![message])
        else {
            panic!("taps are async")
        };
        let handled = tokio::spawn(handled);
        drop(tapped.recv().await.unwrap());
        assert!(handled.await.unwrap().is_err());

        // A receiver that went away makes the tap fail too.
        drop(tapped);
        let message = NotificationMessage::new(Priority::Info, "p", "e", serde_json::json!(null));
        let NotificationInvocation::Async(handled) = tap.invoke(Priority::Info, vec![message]) else {
            panic!("taps are async")
        };
        assert!(handled.await.is_err());
    }
}
