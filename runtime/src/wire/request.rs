//! The RPC request, call or cast: the inner `oslo.message` object a client sends.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::{
    CONTEXT_PREFIX, Message, WireError, flatten_context, insert_opt, serialize_unique_id_and_context,
    string_field,
};
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
    pub fn from_message(message: Message) -> Result<Self, WireError> {
        Self::read(message).map_err(|(error, _)| error)
    }

    /// As [`Request::from_message`]; an error comes with the message's `(_reply_q, _msg_id)`
    /// when both are strings, so a malformed call can still be answered.
    pub(crate) fn read(message: Message) -> Result<Self, (WireError, Option<(String, String)>)> {
        // One pass over the object, moving each value out (no per-key lookups or removals);
        // the fields are checked afterwards, in the order the errors have always been found.
        let (mut method, mut args, mut timeout, mut namespace, mut version) = (None, None, None, None, None);
        let (mut msg_id, mut reply_q, mut unique_id) = (None, None, None);
        let mut context = Map::new();
        for (mut key, value) in message {
            let slot = match key.as_str() {
                "method" => &mut method,
                "args" => &mut args,
                "_timeout" => &mut timeout,
                "namespace" => &mut namespace,
                "version" => &mut version,
                "_msg_id" => &mut msg_id,
                "_reply_q" => &mut reply_q,
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
        // Copied only for an error: the one case it is needed.
        let address = |error: WireError| match (&reply_q, &msg_id) {
            (Some(Value::String(reply_q)), Some(Value::String(msg_id))) => {
                (error, Some((reply_q.clone(), msg_id.clone())))
            }
            _ => (error, None),
        };
        let method = match string_field(method, "method") {
            Ok(Some(method)) => method,
            Ok(None) => return Err(address(WireError::Malformed("the request has no `method`".into()))),
            Err(error) => return Err(address(error)),
        };
        let args = match args {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(args)) => args,
            Some(other) => {
                return Err(address(WireError::Malformed(format!("`args` must be an object, not {other}"))));
            }
        };
        let call_monitor_timeout = match timeout {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(other) => {
                return Err(address(WireError::Malformed(format!(
                    "`_timeout` must be a number, not {other}"
                ))));
            }
        };
        let namespace = string_field(namespace, "namespace").map_err(address)?;
        let version = string_field(version, "version").map_err(address)?;
        // Checked (not reported) before the ids move, so its error can carry them.
        let unique_id = string_field(unique_id, "_unique_id").map_err(address);
        let (msg_id, reply_q) = (string_field(msg_id, "_msg_id"), string_field(reply_q, "_reply_q"));
        Ok(Self {
            method,
            args,
            namespace,
            version,
            msg_id: msg_id.map_err(|e| (e, None))?,
            reply_q: reply_q.map_err(|e| (e, None))?,
            call_monitor_timeout,
            unique_id: unique_id?,
            context: Context::from_map(context),
        })
    }
}

/// Serializes as [`Request::to_message`] would, without building it: what transports encode.
impl Serialize for Request {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("method", &self.method)?;
        map.serialize_entry("args", &self.args)?;
        if let Some(namespace) = &self.namespace {
            map.serialize_entry("namespace", namespace)?;
        }
        if let Some(version) = &self.version {
            map.serialize_entry("version", version)?;
        }
        if let Some(msg_id) = &self.msg_id {
            map.serialize_entry("_msg_id", msg_id)?;
            if let Some(reply_q) = &self.reply_q {
                map.serialize_entry("_reply_q", reply_q)?;
            }
            let timeout = self.call_monitor_timeout.map_or(Value::Null, seconds_to_json);
            map.serialize_entry("_timeout", &timeout)?;
        }
        serialize_unique_id_and_context(&mut map, self.unique_id.as_ref(), &self.context)?;
        map.end()
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
    fn serializes_as_its_message() {
        let mut request = Request::new("m", obj(json!({"x": [1, "two"], "s": "quote \" é"})));
        request.msg_id = Some("m1".into());
        request.reply_q = Some("reply_q".into());
        request.call_monitor_timeout = Some(2.5);
        request.unique_id = Some("u".into());
        request.context = Context::new().with_user("alice").with("roles", json!(["admin"]));
        for request in [request.clone(), Request::new("cast", Map::new())] {
            let message = request.to_message();
            assert_eq!(serde_json::to_string(&request).unwrap(), serde_json::to_string(&message).unwrap());
            assert_eq!(encode_envelope(&request), encode_envelope(&message));
        }
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
