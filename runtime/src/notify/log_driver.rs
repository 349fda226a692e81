//! The `log` notification driver: each notification as a `tracing` event.

use serde_json::{Map, Value};

use super::Priority;
use crate::secrets::mask_secrets;

/// The `tracing` target of the `log` driver's events (oslo's logger base name; oslo appends the
/// event type to it, courier puts the event type in a field since targets are static).
pub const LOG_DRIVER_TARGET: &str = "oslo.messaging.notification";

/// Emits one event for `message` (oslo's notification fields) at the level of `priority`:
/// `debug` -> DEBUG, `info` and `audit` -> INFO, `warn` -> WARN, `error` and `critical` -> ERROR,
/// `sample` -> TRACE. The JSON goes in the `notification` field with secrets masked as
/// `oslo_utils.strutils.mask_dict_password` masks keys.
pub(crate) fn emit(priority: Priority, message: &Map<String, Value>) {
    let masked = mask_secrets(message);
    let json = Value::Object(masked).to_string();
    let event_type = message.get("event_type").and_then(Value::as_str).unwrap_or_default();
    let publisher_id = message.get("publisher_id").and_then(Value::as_str).unwrap_or_default();
    macro_rules! event {
        ($level:expr) => {
            tracing::event!(
                target: LOG_DRIVER_TARGET,
                $level,
                event_type,
                publisher_id,
                priority = priority.as_wire(),
                notification = %json,
                "notification"
            )
        };
    }
    match priority {
        Priority::Sample => event!(tracing::Level::TRACE),
        Priority::Debug => event!(tracing::Level::DEBUG),
        Priority::Info | Priority::Audit => event!(tracing::Level::INFO),
        Priority::Warn => event!(tracing::Level::WARN),
        Priority::Error | Priority::Critical => event!(tracing::Level::ERROR),
    }
}
