//! The RPC request, call or cast: the inner `oslo.message` object a client sends.

use serde_json::{Map, Value};

use super::{Message, WireError, flatten_context, insert_opt, take_context, take_string};
use crate::context::Context;

/// An RPC request, call or cast: the inner `oslo.message` object.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Request {
    /// The endpoint method.
    pub method: String,
    /// Keyword arguments.
    pub args: Message,
    /// Endpoint namespace (absent = null namespace).
    pub namespace: Option<String>,
    /// Requested version (absent = `1.0` on the server).
    pub version: Option<String>,
    /// Correlation id; present for calls only.
    pub msg_id: Option<String>,
    /// The caller's reply queue; present for calls only.
    pub reply_q: Option<String>,
    /// `_timeout`: the call-monitor timeout in seconds the caller asked heartbeats for.
    pub call_monitor_timeout: Option<f64>,
    /// Per-publish id for duplicate detection.
    pub unique_id: Option<String>,
    /// The request context.
    pub context: Context,
}

impl Request {
    /// A cast-shaped request (no `_msg_id`); transports fill in the routing fields.
    #[must_use]
    pub fn new(method: impl Into<String>, args: Message) -> Self {
        Self {
            method: method.into(),
            args,
            namespace: None,
            version: None,
            msg_id: None,
            reply_q: None,
            call_monitor_timeout: None,
            unique_id: None,
            context: Context::new(),
        }
    }

    /// Sets the context.
    #[must_use]
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// Whether the caller waits for a reply.
    #[must_use]
    pub fn is_call(&self) -> bool {
        self.msg_id.is_some()
    }

    /// The object to encode, keys in oslo's order.
    #[must_use]
    pub fn to_message(&self) -> Message {
        self.clone().into_message()
    }

    /// As [`Request::to_message`], moving the arguments instead of copying them.
    #[must_use]
    pub fn into_message(self) -> Message {
        let mut message = Map::new();
        message.insert("method".into(), self.method.into());
        message.insert("args".into(), Value::Object(self.args));
        insert_opt(&mut message, "namespace", self.namespace.as_ref());
        insert_opt(&mut message, "version", self.version.as_ref());
        if let Some(msg_id) = self.msg_id {
            message.insert("_msg_id".into(), msg_id.into());
            insert_opt(&mut message, "_reply_q", self.reply_q.as_ref());
            let timeout = self.call_monitor_timeout.map_or(Value::Null, seconds_to_json);
            message.insert("_timeout".into(), timeout);
        }
        insert_opt(&mut message, "_unique_id", self.unique_id.as_ref());
        flatten_context(&self.context, &mut message);
        message
    }

    /// Reads a decoded object; unknown keys are ignored, as oslo does.
    ///
    /// # Errors
    /// [`WireError::Malformed`] when `method` is missing or a field has the wrong type.
    pub fn from_message(mut message: Message) -> Result<Self, WireError> {
        let method = take_string(&mut message, "method")?
            .ok_or_else(|| WireError::Malformed("the request has no `method`".into()))?;
        let args = match message.shift_remove("args") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(args)) => args,
            Some(other) => {
                return Err(WireError::Malformed(format!("`args` must be an object, not {other}")));
            }
        };
        let call_monitor_timeout = match message.shift_remove("_timeout") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(other) => {
                return Err(WireError::Malformed(format!("`_timeout` must be a number, not {other}")));
            }
        };
        Ok(Self {
            method,
            args,
            namespace: take_string(&mut message, "namespace")?,
            version: take_string(&mut message, "version")?,
            msg_id: take_string(&mut message, "_msg_id")?,
            reply_q: take_string(&mut message, "_reply_q")?,
            call_monitor_timeout,
            unique_id: take_string(&mut message, "_unique_id")?,
            context: take_context(&mut message),
        })
    }
}

/// Seconds as JSON: an integer when whole (as Python's `int` would be sent).
pub(crate) fn seconds_to_json(seconds: f64) -> Value {
    if seconds.fract() == 0.0 && seconds >= 0.0 && seconds < u64::MAX as f64 {
        Value::from(seconds as u64)
    } else {
        Value::from(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::obj;
    use crate::wire::{decode_body, encode_envelope};
    use serde_json::json;

    #[test]
    fn encodes_requests_in_oslo_key_order() {
        let mut request = Request::new("nsmethod", obj(json!({"x": 21})));
        request.namespace = Some("ns1".into());
        request.version = Some("2.1".into());
        request.msg_id = Some("m".into());
        request.reply_q = Some("reply_q".into());
        request.call_monitor_timeout = Some(2.0);
        request.unique_id = Some("u".into());
        request.context = Context::new().with_user("alice");
        let keys: Vec<_> = request.to_message().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "method",
                "args",
                "namespace",
                "version",
                "_msg_id",
                "_reply_q",
                "_timeout",
                "_unique_id",
                "_context_user"
            ]
        );
        assert_eq!(request.to_message()["_timeout"], json!(2));
        let round =
            Request::from_message(decode_body(&encode_envelope(&request.to_message())).unwrap()).unwrap();
        assert_eq!(round, request);
    }

    #[test]
    fn casts_have_no_call_fields() {
        let message = Request::new("echo", Map::new()).to_message();
        assert!(!message.contains_key("_msg_id") && !message.contains_key("_timeout"));
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert!(Request::from_message(obj(json!({"args": {}}))).is_err());
        assert!(Request::from_message(obj(json!({"method": "m", "args": [1]}))).is_err());
        assert!(Request::from_message(obj(json!({"method": 5}))).is_err());
    }

    #[test]
    fn large_integers_round_trip_exactly() {
        let args = obj(json!({"big": u64::MAX, "neg": i64::MIN}));
        let body = encode_envelope(&Request::new("m", args.clone()).to_message());
        let decoded = Request::from_message(decode_body(&body).unwrap()).unwrap();
        assert_eq!(decoded.args, args);
    }
}
