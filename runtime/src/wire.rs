//! oslo.messaging's wire model: the 2.0 envelope, requests, replies, failures and
//! notifications, as both transports put them on (and take them off) the wire.
//!
//! Every message is a JSON object. On RabbitMQ it travels inside the "RPC envelope 2.0",
//! `{"oslo.version": "2.0", "oslo.message": "<the object, JSON-encoded again>"}`; an
//! unenveloped object is accepted too, as oslo does.
//!
//! JSON limits: integers within `i64`/`u64` round-trip exactly, other numbers as `f64`.
//! `NaN` and `Infinity` (which Python's `json` module emits) are not JSON: a body holding them
//! is a [`WireError::InvalidJson`], as is any other undecodable body; decoding never panics.
//!
//! ```
//! use courier_runtime::wire::{self, Request};
//! use courier_runtime::Context;
//!
//! let request = Request::new("echo", serde_json::json!({"value": 1}).as_object().unwrap().clone())
//!     .with_context(Context::new().with_user("alice"));
//! let body = wire::encode_envelope(&request.to_message());
//! let decoded = Request::from_message(wire::decode_body(&body).unwrap()).unwrap();
//! assert_eq!(decoded.method, "echo");
//! assert_eq!(decoded.context.user(), Some("alice"));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Context;

/// A JSON object, the shape of every oslo message.
pub type Message = Map<String, Value>;

/// The envelope version courier writes.
pub const ENVELOPE_VERSION: &str = "2.0";
const VERSION_KEY: &str = "oslo.version";
const MESSAGE_KEY: &str = "oslo.message";
const CONTEXT_PREFIX: &str = "_context_";

/// The Python module oslo's dispatcher exceptions live in.
pub const DISPATCHER_MODULE: &str = "oslo_messaging.rpc.dispatcher";

/// Why a body could not be decoded (or a value encoded).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The body is not valid JSON (this includes `NaN` and `Infinity`).
    #[error("message body is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("message body is not a JSON object")]
    NotAnObject,
    /// The envelope's version is not one courier understands (major 2, minor 0).
    #[error("unsupported RPC envelope version {0}; expected {ENVELOPE_VERSION}")]
    UnsupportedEnvelope(String),
    /// A required field is missing or has the wrong type.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Decodes a message body: the 2.0 envelope, or a bare JSON object.
///
/// # Errors
/// [`WireError`] when the body is not JSON, not an object, or has a bad envelope.
pub fn decode_body(body: &[u8]) -> Result<Message, WireError> {
    let value: Value = serde_json::from_slice(body).map_err(WireError::InvalidJson)?;
    let Value::Object(mut outer) = value else {
        return Err(WireError::NotAnObject);
    };
    if !(outer.contains_key(VERSION_KEY) && outer.contains_key(MESSAGE_KEY)) {
        return Ok(outer);
    }
    let version = outer.get(VERSION_KEY).cloned().unwrap_or(Value::Null);
    if !envelope_version_supported(&version) {
        return Err(WireError::UnsupportedEnvelope(version.to_string()));
    }
    match outer.shift_remove(MESSAGE_KEY) {
        Some(Value::String(inner)) => match serde_json::from_str(&inner).map_err(WireError::InvalidJson)? {
            Value::Object(message) => Ok(message),
            _ => Err(WireError::NotAnObject),
        },
        _ => Err(WireError::Malformed(format!("`{MESSAGE_KEY}` must be a JSON string"))),
    }
}

fn envelope_version_supported(version: &Value) -> bool {
    let Some(text) = version.as_str() else { return false };
    let mut parts = text.split('.').map(str::parse::<u32>);
    matches!((parts.next(), parts.next()), (Some(Ok(2)), Some(Ok(0)) | None))
}

/// Encodes a message inside the 2.0 envelope (double-encoded, as oslo does).
#[must_use]
pub fn encode_envelope(message: &Message) -> Vec<u8> {
    let inner = to_json(message);
    // Written directly rather than through a `Map` and `Value`'s `Display`: the same bytes
    // (`{"oslo.version":"2.0","oslo.message":"..."}`) without hashing the two keys, copying
    // the inner text or going through `fmt`.
    let mut out = Vec::with_capacity(inner.len() + inner.len() / 4 + 40);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(VERSION_KEY.as_bytes());
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(ENVELOPE_VERSION.as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(MESSAGE_KEY.as_bytes());
    out.extend_from_slice(b"\":");
    // Serializing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut out, inner.as_str());
    out.push(b'}');
    out
}

/// Encodes a message without an envelope (oslo's `messaging` 1.0 notification driver).
#[must_use]
pub fn encode_bare(message: &Message) -> Vec<u8> {
    to_json(message).into_bytes()
}

/// Serializes a message in place (no copy of a possibly large payload).
fn to_json(message: &Message) -> String {
    // A map of JSON values with string keys always serializes.
    serde_json::to_string(message).unwrap_or_default()
}

/// A fresh `_unique_id` / `_msg_id`: 32 hex characters (uuid4 hex).
#[must_use]
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn flatten_context(context: &Context, message: &mut Message) {
    for (key, value) in context.as_map() {
        message.insert(format!("{CONTEXT_PREFIX}{key}"), value.clone());
    }
}

fn take_context(message: &mut Message) -> Context {
    let keys: Vec<String> = message.keys().filter(|k| k.starts_with(CONTEXT_PREFIX)).cloned().collect();
    let mut context = Map::new();
    for key in keys {
        if let Some(value) = message.shift_remove(&key) {
            context.insert(key[CONTEXT_PREFIX.len()..].to_owned(), value);
        }
    }
    Context::from_map(context)
}

fn take_string(message: &mut Message, key: &str) -> Result<Option<String>, WireError> {
    match message.shift_remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(WireError::Malformed(format!("`{key}` must be a string, not {other}"))),
    }
}

fn insert_opt(message: &mut Message, key: &str, value: Option<&String>) {
    if let Some(value) = value {
        message.insert(key.into(), value.clone().into());
    }
}

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
fn seconds_to_json(seconds: f64) -> Value {
    if seconds.fract() == 0.0 && seconds >= 0.0 && seconds < u64::MAX as f64 {
        Value::from(seconds as u64)
    } else {
        Value::from(seconds)
    }
}

/// An RPC reply: a final reply (`ending: true`) or a call-monitor heartbeat.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Reply {
    /// The method's result (null for failures and heartbeats).
    pub result: Value,
    /// The failure, when the method failed.
    pub failure: Option<Failure>,
    /// `true` on the final reply, `false` on a heartbeat.
    pub ending: bool,
    /// The `_msg_id` of the call this answers.
    pub msg_id: Option<String>,
    /// Per-publish id.
    pub unique_id: Option<String>,
}

impl Reply {
    /// A final reply carrying a result.
    #[must_use]
    pub fn success(result: Value) -> Self {
        Self { result, failure: None, ending: true, msg_id: None, unique_id: None }
    }

    /// A final reply carrying a failure.
    #[must_use]
    pub fn failure(failure: Failure) -> Self {
        Self { result: Value::Null, failure: Some(failure), ending: true, msg_id: None, unique_id: None }
    }

    /// A call-monitor heartbeat.
    #[must_use]
    pub fn heartbeat() -> Self {
        Self { result: Value::Null, failure: None, ending: false, msg_id: None, unique_id: None }
    }

    /// Whether this is a heartbeat rather than an answer.
    #[must_use]
    pub fn is_heartbeat(&self) -> bool {
        !self.ending && self.result.is_null() && self.failure.is_none()
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn with_msg_id(mut self, msg_id: impl Into<String>) -> Self {
        self.msg_id = Some(msg_id.into());
        self
    }

    /// The object to encode: `result`, `failure` and `ending` are always present.
    #[must_use]
    pub fn to_message(&self) -> Message {
        self.clone().into_message()
    }

    /// As [`Reply::to_message`], moving the result instead of copying it.
    #[must_use]
    pub fn into_message(self) -> Message {
        let mut message = Map::new();
        message.insert("result".into(), self.result);
        let failure = self.failure.as_ref().map_or(Value::Null, |f| Value::String(f.to_json_string()));
        message.insert("failure".into(), failure);
        message.insert("ending".into(), self.ending.into());
        insert_opt(&mut message, "_msg_id", self.msg_id.as_ref());
        insert_opt(&mut message, "_unique_id", self.unique_id.as_ref());
        message
    }

    /// Reads a decoded reply. A missing `ending` means `false`; `failure` may be a JSON string
    /// (oslo) or an object.
    ///
    /// # Errors
    /// [`WireError::Malformed`] when the failure cannot be read.
    pub fn from_message(mut message: Message) -> Result<Self, WireError> {
        let failure = match message.shift_remove("failure") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(Failure::from_json_str(&text)?),
            Some(value @ Value::Object(_)) => Some(Failure::from_value(value)?),
            Some(other) => {
                return Err(WireError::Malformed(format!("`failure` must be a string, not {other}")));
            }
        };
        Ok(Self {
            result: message.shift_remove("result").unwrap_or(Value::Null),
            failure,
            ending: message.shift_remove("ending").and_then(|v| v.as_bool()).unwrap_or(false),
            msg_id: take_string(&mut message, "_msg_id")?,
            unique_id: take_string(&mut message, "_unique_id")?,
        })
    }
}

/// oslo's failure JSON: what a Python caller rebuilds an exception from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Failure {
    /// Exception class name.
    pub class: String,
    /// Exception module.
    pub module: String,
    /// Exception message.
    #[serde(default)]
    pub message: String,
    /// Traceback lines.
    #[serde(default)]
    pub tb: Vec<String>,
    /// Exception positional arguments.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Exception keyword arguments.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
}

impl Failure {
    /// A failure whose only argument is its message (how a Python caller rebuilds it).
    #[must_use]
    pub fn new(class: impl Into<String>, module: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            class: class.into(),
            module: module.into(),
            args: vec![Value::String(message.clone())],
            message,
            tb: Vec::new(),
            kwargs: Map::new(),
        }
    }

    /// oslo's `NoSuchMethod`, worded as oslo words it.
    #[must_use]
    pub fn no_such_method(method: &str) -> Self {
        Self::new(
            "NoSuchMethod",
            DISPATCHER_MODULE,
            format!("{}{method}", crate::error::NO_SUCH_METHOD_PREFIX),
        )
    }

    /// oslo's `UnsupportedVersion`, worded as oslo words it.
    #[must_use]
    pub fn unsupported_version(version: &str, method: &str) -> Self {
        let message = format!(
            "{}{version}{}{method}",
            crate::error::UNSUPPORTED_VERSION_PREFIX,
            crate::error::UNSUPPORTED_VERSION_METHOD
        );
        Self::new("UnsupportedVersion", DISPATCHER_MODULE, message)
    }

    /// A Python `TypeError` (how Python reports bad keyword arguments).
    #[must_use]
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::new("TypeError", "builtins", message)
    }

    /// A Python `RuntimeError`.
    #[must_use]
    pub fn runtime_error(message: impl Into<String>) -> Self {
        Self::new("RuntimeError", "builtins", message)
    }

    /// The JSON string that travels in a reply's `failure` field.
    #[must_use]
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            // Unreachable in practice: every field is plain JSON already.
            format!(r#"{{"class": "RuntimeError", "module": "builtins", "message": {:?}}}"#, self.message)
        })
    }

    /// Reads the JSON string of a reply's `failure` field.
    ///
    /// # Errors
    /// [`WireError`] when it is not a failure object.
    pub fn from_json_str(text: &str) -> Result<Self, WireError> {
        let value: Value = serde_json::from_str(text).map_err(WireError::InvalidJson)?;
        Self::from_value(value)
    }

    fn from_value(value: Value) -> Result<Self, WireError> {
        serde_json::from_value(value).map_err(|e| WireError::Malformed(format!("bad failure: {e}")))
    }
}

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
    use crate::testing::{OSLO_CALL_BODY, OSLO_FAILURE_VALUE_ERROR, OSLO_NOTIFICATION_V2_BODY};
    use serde_json::json;

    fn obj(value: Value) -> Message {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn envelope_fast_path_writes_what_the_generic_encoding_writes() {
        let message = obj(json!({"method": "m", "args": {"s": "quote \" slash \\ line \n é \u{1} ☃"}}));
        let mut outer = Map::new();
        outer.insert(VERSION_KEY.into(), ENVELOPE_VERSION.into());
        outer.insert(MESSAGE_KEY.into(), serde_json::to_string(&message).unwrap().into());
        assert_eq!(String::from_utf8(encode_envelope(&message)).unwrap(), Value::Object(outer).to_string());
        assert_eq!(decode_body(&encode_envelope(&message)).unwrap(), message);
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
    fn envelope_is_double_encoded() {
        let body = encode_envelope(&obj(json!({"method": "m"})));
        let outer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(outer["oslo.version"], "2.0");
        assert!(outer["oslo.message"].is_string());
    }

    #[test]
    fn unenveloped_messages_are_accepted() {
        let message = decode_body(br#"{"method": "echo", "args": {}}"#).unwrap();
        assert_eq!(message["method"], "echo");
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        for body in [&b"not json"[..], b"[1,2]", br#"{"x": NaN}"#, br#"{"x": Infinity}"#, b"\xff\xfe", b""] {
            assert!(decode_body(body).is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        let wrong_version = br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#;
        assert!(matches!(decode_body(wrong_version), Err(WireError::UnsupportedEnvelope(_))));
        let not_string = br#"{"oslo.version": "2.0", "oslo.message": 5}"#;
        assert!(matches!(decode_body(not_string), Err(WireError::Malformed(_))));
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

    #[test]
    fn replies_always_carry_result_failure_and_ending() {
        let message = Reply::success(Value::Null).with_msg_id("m").to_message();
        assert_eq!(message["result"], Value::Null);
        assert_eq!(message["failure"], Value::Null);
        assert_eq!(message["ending"], true);
        assert_eq!(message["_msg_id"], "m");
        assert!(Reply::heartbeat().is_heartbeat());
        assert!(!Reply::success(json!(1)).is_heartbeat());
    }

    #[test]
    fn decodes_a_python_failure_reply() {
        let message =
            obj(json!({"result": null, "failure": OSLO_FAILURE_VALUE_ERROR, "ending": true, "_msg_id": "m"}));
        let reply = Reply::from_message(message).unwrap();
        let failure = reply.failure.unwrap();
        assert_eq!(failure.class, "ValueError");
        assert_eq!(failure.module, "builtins");
        assert_eq!(failure.args, vec![json!("bad things"), json!(42)]);
        assert_eq!(failure.tb.len(), 2);
    }

    #[test]
    fn failure_json_has_oslo_keys() {
        let text = Failure::no_such_method("nope").to_json_string();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["class"], "NoSuchMethod");
        assert_eq!(value["module"], "oslo_messaging.rpc.dispatcher");
        assert_eq!(value["message"], "Endpoint does not support RPC method nope");
        for key in ["tb", "args", "kwargs"] {
            assert!(value.get(key).is_some(), "{key}");
        }
        let version = Failure::unsupported_version("2.5", "nsmethod");
        assert_eq!(version.message, "Endpoint does not support RPC version 2.5. Attempted method: nsmethod");
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
        assert!(Notification::from_message(obj(json!({"priority": "INFO"}))).is_err());
    }
}
