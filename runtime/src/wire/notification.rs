//! Notifications: the inner object oslo's `messaging` and `messagingv2` drivers send.

use serde_json::{Map, Value};

use super::{Message, WireError, flatten_context, insert_opt, take_context, take_string};
use crate::context::Context;

/// A notification: the inner object oslo's `messaging`/`messagingv2` drivers send.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Notification {
    /// uuid4 with dashes.
    pub message_id: String,
    /// Who sent it, e.g. `compute.host1`.
    pub publisher_id: String,
    /// What happened, e.g. `compute.instance.create.end`.
    pub event_type: String,
    /// Priority as sent (oslo sends upper case, e.g. `INFO`).
    pub priority: String,
    /// The payload.
    pub payload: Value,
    /// `str(utcnow())`, e.g. `2026-11-23 07:02:47.787110`.
    pub timestamp: String,
    /// Per-publish id.
    pub unique_id: Option<String>,
    /// The (redacted) context.
    pub context: Context,
}

impl Notification {
    /// The object to encode.
    #[must_use]
    pub fn to_message(&self) -> Message {
        let mut message = Map::new();
        message.insert("message_id".into(), self.message_id.clone().into());
        message.insert("publisher_id".into(), self.publisher_id.clone().into());
        message.insert("event_type".into(), self.event_type.clone().into());
        message.insert("priority".into(), self.priority.clone().into());
        message.insert("payload".into(), self.payload.clone());
        message.insert("timestamp".into(), self.timestamp.clone().into());
        insert_opt(&mut message, "_unique_id", self.unique_id.as_ref());
        flatten_context(&self.context, &mut message);
        message
    }

    /// Reads a decoded notification.
    ///
    /// # Errors
    /// [`WireError::Malformed`] when `event_type`, `priority` or `payload` is missing, or a field
    /// has the wrong type.
    pub fn from_message(mut message: Message) -> Result<Self, WireError> {
        let required = |name: &str, value: Option<String>| {
            value.ok_or_else(|| WireError::Malformed(format!("the notification has no `{name}`")))
        };
        let event_type = required("event_type", take_string(&mut message, "event_type")?)?;
        let priority = required("priority", take_string(&mut message, "priority")?)?;
        let payload = message
            .shift_remove("payload")
            .ok_or_else(|| WireError::Malformed("the notification has no `payload`".into()))?;
        Ok(Self {
            message_id: take_string(&mut message, "message_id")?.unwrap_or_default(),
            publisher_id: take_string(&mut message, "publisher_id")?.unwrap_or_default(),
            event_type,
            priority,
            payload,
            timestamp: take_string(&mut message, "timestamp")?.unwrap_or_default(),
            unique_id: take_string(&mut message, "_unique_id")?,
            context: take_context(&mut message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::obj;
    use serde_json::json;

    #[test]
    fn a_notification_needs_its_fields() {
        assert!(Notification::from_message(obj(json!({"priority": "INFO"}))).is_err());
    }
}
