//! oslo.messaging's wire model, one module a concept: this module holds the 2.0 envelope
//! codec; `request` the RPC request, `reply` replies and oslo's failure format (formatting
//! and parsing of the dispatcher's wording live only there), `notification` notifications.
//! Everything is re-exported here, so `wire::Request`, `wire::Failure` and so on are the paths
//! to use.
//!
//! Every message is a JSON object. On RabbitMQ it travels inside the "RPC envelope 2.0",
//! `{"oslo.version": "2.0", "oslo.message": "<the object, JSON-encoded again>"}`; an
//! unenveloped object is accepted too, as oslo does.
//!
//! JSON limits: integers within `i64`/`u64` round-trip exactly, other numbers as `f64`.
//! `NaN` and `Infinity` (which Python's `json` module emits) are not JSON: a body holding them
//! is a [`WireError::InvalidJson`], as is any other undecodable body; decoding never panics.
//! Nesting deeper than [`MAX_JSON_DEPTH`] is refused the same way (serde_json's recursion
//! limit), so a hostile body cannot exhaust the stack; transports may also cap the body size
//! ([`WireError::TooLarge`]).
//!
//! ```
//! use courier_runtime::wire::{self, Request};
//! use courier_runtime::context::Context;
//!
//! let request = Request::new("echo", serde_json::json!({"value": 1}).as_object().unwrap().clone())
//!     .with_context(Context::new().with_user("alice"));
//! let body = wire::encode_envelope(&request.to_message());
//! let decoded = Request::from_message(wire::decode_body(&body).unwrap()).unwrap();
//! assert_eq!(decoded.method, "echo");
//! assert_eq!(decoded.context.user(), Some("alice"));
//! ```

mod notification;
mod reply;
mod request;

pub use notification::Notification;
pub use reply::{DISPATCHER_MODULE, DispatcherFailure, Failure, Reply};
pub use request::Request;
pub(crate) use request::seconds_to_json;

use serde_json::{Map, Value};

use crate::context::Context;

/// A JSON object, the shape of every oslo message.
pub type Message = Map<String, Value>;

/// How deeply arrays and objects may nest in a body (serde_json's fixed recursion limit);
/// deeper bodies are [`WireError::InvalidJson`].
pub const MAX_JSON_DEPTH: usize = 128;

/// The envelope version courier writes.
pub const ENVELOPE_VERSION: &str = "2.0";
const VERSION_KEY: &str = "oslo.version";
const MESSAGE_KEY: &str = "oslo.message";
const CONTEXT_PREFIX: &str = "_context_";

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
    /// The body is larger than the listener accepts (it was not decoded).
    #[error("message body of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The body's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A JSON object literal as a [`Message`], for the tests of every wire module.
    pub(super) fn obj(value: Value) -> Message {
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
    fn floats_survive_a_decode_and_re_encode_exactly() {
        // Found by fuzz/fuzz_targets/envelope.rs: without correctly rounded parsing, this
        // number changed on every hop.
        let body = br#"{"method": "echo", "args": {"v": 184467440368523189520, "w": 0.30000000000000004}}"#;
        let message = decode_body(body).unwrap();
        assert_eq!(decode_body(&encode_envelope(&message)).unwrap(), message);
        assert_eq!(message["args"]["v"].as_f64(), Some(184_467_440_368_523_189_520.0));
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
    }
}
