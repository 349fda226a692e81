//! Notifications: the inner object oslo's `messaging` and `messagingv2` drivers send.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::{
    CONTEXT_PREFIX, Message, WireError, flatten_context, insert_opt, serialize_unique_id_and_context,
    string_field,
};
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
    pub fn from_message(message: Message) -> Result<Self, WireError> {
        // One pass, moving each value out; checked afterwards in the order errors were found.
        let (mut event_type, mut priority, mut payload, mut message_id) = (None, None, None, None);
        let (mut publisher_id, mut timestamp, mut unique_id) = (None, None, None);
        let mut context = Map::new();
        for (mut key, value) in message {
            let slot = match key.as_str() {
                "event_type" => &mut event_type,
                "priority" => &mut priority,
                "payload" => &mut payload,
                "message_id" => &mut message_id,
                "publisher_id" => &mut publisher_id,
                "timestamp" => &mut timestamp,
                "_unique_id" => &mut unique_id,
                _ => {
                    if key.starts_with(CONTEXT_PREFIX) {
                        key.drain(..CONTEXT_PREFIX.len());
                        context.insert(key, value);
                    }
                    continue;
                }
            };
            *slot = Some(value);
        }
        let required = |name: &str, value: Option<String>| {
            value.ok_or_else(|| WireError::Malformed(format!("the notification has no `{name}`")))
        };
        let event_type = required("event_type", string_field(event_type, "event_type")?)?;
        let priority = required("priority", string_field(priority, "priority")?)?;
        let payload =
            payload.ok_or_else(|| WireError::Malformed("the notification has no `payload`".into()))?;
        Ok(Self {
            message_id: string_field(message_id, "message_id")?.unwrap_or_default(),
            publisher_id: string_field(publisher_id, "publisher_id")?.unwrap_or_default(),
            event_type,
            priority,
            payload,
            timestamp: string_field(timestamp, "timestamp")?.unwrap_or_default(),
            unique_id: string_field(unique_id, "_unique_id")?,
            context: Context::from_map(context),
        })
    }
}

/// Serializes as [`Notification::to_message`] would, without building it: what transports
/// encode.
impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("message_id", &self.message_id)?;
        map.serialize_entry("publisher_id", &self.publisher_id)?;
        map.serialize_entry("event_type", &self.event_type)?;
        map.serialize_entry("priority", &self.priority)?;
        map.serialize_entry("payload", &self.payload)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        serialize_unique_id_and_context(&mut map, self.unique_id.as_ref(), &self.context)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::obj;
    use serde_json::json;

    #[test]
    fn serializes_as_its_message() {
        let notification = Notification::from_message(obj(json!({
            "message_id": "id", "publisher_id": "p", "event_type": "e", "priority": "INFO",
            "payload": {"a": [1, "\"x\""]}, "timestamp": "t", "_unique_id": "u",
            "_context_user": "alice", "_context_roles": ["admin"],
        })))
        .unwrap();
        assert_eq!(notification.context.user(), Some("alice"));
        let message = notification.to_message();
        assert_eq!(serde_json::to_string(&notification).unwrap(), serde_json::to_string(&message).unwrap());
        assert_eq!(crate::wire::encode_envelope(&notification), crate::wire::encode_envelope(&message));
        assert_eq!(crate::wire::encode_bare(&notification), crate::wire::encode_bare(&message));
    }

    #[test]
    fn a_notification_needs_its_fields() {
        assert!(Notification::from_message(obj(json!({"priority": "INFO"}))).is_err());
    }
}
