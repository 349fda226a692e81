//! Messages for tests that drive a [`Transport`](courier::Transport) directly: requests,
//! calls and notifications as oslo peers send them, and the next request of a listener.

use courier::transport::{Incoming, Listener};
use courier::wire::{self, Message, Notification, Request};
use serde_json::{Value, json};

use crate::within;

/// A JSON object as a wire message (method arguments, say).
///
/// # Panics
/// When `value` is not an object.
pub fn args(value: Value) -> Message {
    value.as_object().expect("an object").clone()
}

/// A cast request of `method` with `args`.
pub fn request(method: &str, value: Value) -> Request {
    Request::new(method, args(value))
}

/// A call request (it has a fresh `_msg_id`) of `method` with `args`.
pub fn call_request(method: &str, value: Value) -> Request {
    let mut request = request(method, value);
    request.msg_id = Some(wire::new_id());
    request
}

/// An INFO notification from `compute.host1`.
pub fn notification(event_type: &str, payload: Value) -> Notification {
    Notification::from_message(args(json!({
        "message_id": uuid::Uuid::new_v4().to_string(),
        "publisher_id": "compute.host1",
        "event_type": event_type,
        "priority": "INFO",
        "payload": payload,
        "timestamp": "2026-11-23 07:02:47.787110",
    })))
    .expect("a valid notification")
}

/// The next message of a listener, decoded as a request (within [`PATIENCE`](crate::PATIENCE)).
pub async fn next_request(listener: &mut Box<dyn Listener>) -> (Request, Incoming) {
    let incoming = within("a request", listener.next()).await.expect("the listener ended");
    let message = incoming.message.as_ref().expect("a decodable message").clone();
    (Request::from_message(message).expect("a request"), incoming)
}
