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

use serde::Serialize;
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
    if let Some(inner) = canonical_envelope(body) {
        return object(&inner);
    }
    // Fast path for what every oslo peer sends: exactly the two envelope keys, read into a
    // struct instead of a map (no key allocations or hashing). Anything else (a bare message,
    // an odd or bad envelope) takes the general path below, which decides the result and the
    // error as before.
    if let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(body)
        && envelope_version_supported_str(&envelope.version)
    {
        return inner_message(&envelope.message);
    }
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
        Some(Value::String(inner)) => inner_message(&inner),
        _ => Err(WireError::Malformed(format!("`{MESSAGE_KEY}` must be a JSON string"))),
    }
}

/// Decodes a reply body: what [`decode_body`] then [`Reply::from_message`] give, with the
/// common shape (oslo's envelope around an object) read straight into the reply, without a map
/// of its keys (their allocations and hashing showed in profiles of the caller).
///
/// ```
/// use courier_runtime::wire::{self, Reply};
///
/// let body = wire::encode_envelope(&Reply::success("pong".into()).with_msg_id("a1"));
/// let reply = wire::decode_reply(&body).unwrap();
/// assert_eq!(reply.result, "pong");
/// assert_eq!(reply.msg_id.as_deref(), Some("a1"));
/// ```
///
/// # Errors
/// As [`decode_body`] and [`Reply::from_message`].
pub fn decode_reply(body: &[u8]) -> Result<Reply, WireError> {
    if let Some(inner) = canonical_envelope(body) {
        let mut deserializer = serde_json::Deserializer::from_slice(&inner);
        let read = serde::Deserializer::deserialize_map(&mut deserializer, reply::ReplyFields::default())
            .and_then(|fields| deserializer.end().map(|()| fields));
        // Anything else (not an object, not JSON) takes the map path, which says which error.
        if let Ok(fields) = read {
            return fields.into_reply();
        }
    }
    decode_body(body).and_then(Reply::from_message)
}

/// The inner text of an envelope exactly as courier (compact) or Python oslo (`json.dumps`
/// spacing) writes it, unescaped: the common case, read without a JSON parser's general
/// string handling (whose per-escape cost showed in profiles: the inner text escapes every
/// quote). `None` for anything else (spacing, key order, `\u` escapes, trailing bytes, an
/// invalid string), which the general paths decide.
fn canonical_envelope(body: &[u8]) -> Option<Vec<u8>> {
    const COMPACT: &[u8] = b"{\"oslo.version\":\"2.0\",\"oslo.message\":\"";
    const SPACED: &[u8] = b"{\"oslo.version\": \"2.0\", \"oslo.message\": \"";
    let escaped = body.strip_prefix(COMPACT).or_else(|| body.strip_prefix(SPACED))?.strip_suffix(b"\"}")?;
    // A control character is invalid in a JSON string: not JSON, which the general path reports.
    // Found as the smallest byte, a reduction that compiles to vector instructions.
    if escaped.iter().fold(u8::MAX, |smallest, &byte| smallest.min(byte)) < 0x20 {
        return None;
    }
    let mut inner = Vec::with_capacity(escaped.len());
    let mut rest = escaped;
    // memchr's vector search between escapes, then a byte at a time only at each escape.
    while let Some(at) = memchr::memchr2(b'\\', b'"', rest) {
        inner.extend_from_slice(&rest[..at]);
        // A quote ends the string early: not this shape; the general path decides.
        if rest[at] == b'"' {
            return None;
        }
        inner.push(match rest.get(at + 1)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            // `\u` (rare here: the inner text is ASCII-escaped JSON) and invalid escapes.
            _ => return None,
        });
        rest = &rest[at + 2..];
    }
    inner.extend_from_slice(rest);
    Some(inner)
}

/// The 2.0 envelope as oslo writes it; any other key, or a key twice, is not this shape.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(rename = "oslo.version", borrow)]
    version: std::borrow::Cow<'a, str>,
    #[serde(rename = "oslo.message", borrow)]
    message: std::borrow::Cow<'a, str>,
}

/// Parses the envelope's inner text, which must be a JSON object.
fn inner_message(inner: &str) -> Result<Message, WireError> {
    object(inner.as_bytes())
}

/// Parses a JSON object into a [`Message`] allocated for a dozen keys up front (grown from
/// empty, a request's map was rehashed three times); anything else is parsed again as a
/// [`Value`] to tell which error it is.
fn object(json: &[u8]) -> Result<Message, WireError> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let parsed = serde::Deserializer::deserialize_map(&mut deserializer, MessageVisitor)
        .and_then(|message| deserializer.end().map(|()| message));
    if let Ok(message) = parsed {
        return Ok(message);
    }
    match serde_json::from_slice(json).map_err(WireError::InvalidJson)? {
        Value::Object(message) => Ok(message),
        _ => Err(WireError::NotAnObject),
    }
}

struct MessageVisitor;

impl<'de> serde::de::Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<Message, A::Error> {
        // As `Value`'s own visitor: a repeated key keeps its place and takes the last value.
        let mut message = Map::with_capacity(entries.size_hint().unwrap_or(0).max(12));
        while let Some((key, value)) = entries.next_entry::<String, Value>()? {
            message.insert(key, value);
        }
        Ok(message)
    }
}

fn envelope_version_supported(version: &Value) -> bool {
    version.as_str().is_some_and(envelope_version_supported_str)
}

fn envelope_version_supported_str(text: &str) -> bool {
    let mut parts = text.split('.').map(str::parse::<u32>);
    matches!((parts.next(), parts.next()), (Some(Ok(2)), Some(Ok(0)) | None))
}

/// Encodes a message inside the 2.0 envelope (double-encoded, as oslo does). `message` is a
/// [`Message`], or a [`Request`] or [`Reply`] (encoded as their `to_message()`, without
/// building it).
#[must_use]
pub fn encode_envelope<M: Serialize + ?Sized>(message: &M) -> Vec<u8> {
    // Written directly rather than through a `Map` and `Value`'s `Display`: the same bytes
    // (`{"oslo.version":"2.0","oslo.message":"..."}`), the inner JSON escaped as it is
    // written, in one pass, instead of being built as a `String` first and escaped again.
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(VERSION_KEY.as_bytes());
    out.extend_from_slice(b"\":\"");
    out.extend_from_slice(ENVELOPE_VERSION.as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(MESSAGE_KEY.as_bytes());
    out.extend_from_slice(b"\":\"");
    // Messages of JSON values with string keys always serialize, and writing to a `Vec`
    // cannot fail.
    let _ = message.serialize(&mut serde_json::Serializer::with_formatter(&mut out, Embedded));
    out.extend_from_slice(b"\"}");
    out
}

/// Writes JSON already escaped as the contents of a JSON string, in one pass: the bytes
/// escaping the serialized text again would give. Only quotes and escapes change (`"` is
/// written `\"`, an escape `\n` is written `\\n`); punctuation, numbers and the unescaped
/// fragments of strings hold no character that needs escaping in a string.
struct Embedded;

impl serde_json::ser::Formatter for Embedded {
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b"\\\"")
    }

    fn end_string<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b"\\\"")
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape;
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\\\\\"",
            CharEscape::ReverseSolidus => b"\\\\\\\\",
            CharEscape::Solidus => b"\\\\/",
            CharEscape::Backspace => b"\\\\b",
            CharEscape::FormFeed => b"\\\\f",
            CharEscape::LineFeed => b"\\\\n",
            CharEscape::CarriageReturn => b"\\\\r",
            CharEscape::Tab => b"\\\\t",
            CharEscape::AsciiControl(byte) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]];
                writer.write_all(b"\\\\u00")?;
                return writer.write_all(&hex);
            }
        };
        writer.write_all(text)
    }
}

/// Encodes a message without an envelope (oslo's `messaging` 1.0 notification driver);
/// `message` is a [`Message`] or a [`Notification`] (as its `to_message()`).
#[must_use]
pub fn encode_bare<M: Serialize + ?Sized>(message: &M) -> Vec<u8> {
    // Messages of JSON values with string keys always serialize.
    serde_json::to_vec(message).unwrap_or_default()
}

/// A fresh `_unique_id` / `_msg_id`: 32 hex characters (uuid4 hex).
#[must_use]
pub fn new_id() -> String {
    // Encoded into a buffer: `to_string()` went through `fmt`, which showed in profiles.
    let mut text = [0; uuid::fmt::Simple::LENGTH];
    uuid::Uuid::new_v4().simple().encode_lower(&mut text).to_owned()
}

/// Ends a request's or a notification's map as its message does: `_unique_id` when set, then
/// the context as `_context_<key>` entries.
fn serialize_unique_id_and_context<M: serde::ser::SerializeMap>(
    map: &mut M,
    unique_id: Option<&String>,
    context: &Context,
) -> Result<(), M::Error> {
    if let Some(unique_id) = unique_id {
        map.serialize_entry("_unique_id", unique_id)?;
    }
    for (key, value) in context.as_map() {
        map.serialize_entry(&format_args!("{CONTEXT_PREFIX}{key}"), value)?;
    }
    Ok(())
}

fn flatten_context(context: &Context, message: &mut Message) {
    for (key, value) in context.as_map() {
        message.insert(format!("{CONTEXT_PREFIX}{key}"), value.clone());
    }
}

/// A string field's value: absent or null is `None`.
fn string_field(value: Option<Value>, key: &str) -> Result<Option<String>, WireError> {
    match value {
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
        let controls: String = (0u8..0x20).map(char::from).chain("/\\\"".chars()).collect();
        let message = obj(json!({controls.clone(): controls, "n": [1.5, -2, null, true]}));
        let mut outer = Map::new();
        outer.insert(VERSION_KEY.into(), ENVELOPE_VERSION.into());
        outer.insert(MESSAGE_KEY.into(), serde_json::to_string(&message).unwrap().into());
        assert_eq!(String::from_utf8(encode_envelope(&message)).unwrap(), Value::Object(outer).to_string());
    }

    #[test]
    fn envelopes_of_another_shape_take_the_general_path() {
        let extra = br#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\"}", "x": 1}"#;
        assert_eq!(decode_body(extra).unwrap(), obj(json!({"method": "m"})));
        let twice = br#"{"oslo.version": "2.0", "oslo.message": "{}", "oslo.message": "{\"a\": 1}"}"#;
        assert_eq!(decode_body(twice).unwrap(), obj(json!({"a": 1})));
        let minor = br#"{"oslo.version": "2.1", "oslo.message": "{}"}"#;
        assert!(matches!(decode_body(minor), Err(WireError::UnsupportedEnvelope(_))));
        let spaced = br#"{"oslo.version": "2.0", "oslo.message": "{\"a\": \"\\\\ \\n \\u00e9\"}"}"#;
        assert_eq!(decode_body(spaced).unwrap(), obj(json!({"a": "\\ \n é"})));
        let trailing = br#"{"oslo.version":"2.0","oslo.message":"{}"} x"#;
        assert!(matches!(decode_body(trailing), Err(WireError::InvalidJson(_))));
        let early_quote = br#"{"oslo.version":"2.0","oslo.message":"{}","x":"{}"}"#;
        assert_eq!(decode_body(early_quote).unwrap(), Map::new());
        let raw_control = b"{\"oslo.version\":\"2.0\",\"oslo.message\":\"{\n}\"}";
        assert!(matches!(decode_body(raw_control), Err(WireError::InvalidJson(_))));
        let bad_escape = br#"{"oslo.version":"2.0","oslo.message":"{\q}"}"#;
        assert!(matches!(decode_body(bad_escape), Err(WireError::InvalidJson(_))));
        let array = br#"{"oslo.version": "2", "oslo.message": "[1]"}"#;
        assert!(matches!(decode_body(array), Err(WireError::NotAnObject)));
    }

    #[test]
    fn decode_reply_reads_what_the_map_path_reads() {
        let envelope =
            |inner: &str| serde_json::to_vec(&json!({"oslo.version": "2.0", "oslo.message": inner})).unwrap();
        let failure = Failure::new("ValueError", "builtins", "bad \"x\"").to_json_string();
        let mut bodies: Vec<Vec<u8>> = [
            r#"{"result": {"a": [1, 2.5, "é"]}, "failure": null, "ending": true, "_msg_id": "m", "_unique_id": "u"}"#,
            r#"{"result": null, "ending": false, "_msg_id": "m"}"#,
            r#"{"failure": {"class": "E", "module": "m", "message": "x"}, "ending": true}"#,
            r#"{"result": 1, "result": 2, "ending": true}"#,
            r#"[1, null, true, "m", "u"]"#,
            r#" {"result": 3, "extra": {"deep": [1]}, "ending": 1}"#,
            r#"{"_msg_id": 5}"#,
            r#"{"failure": 7}"#,
            r#"{"failure": "not json"}"#,
            r#"{"result": 1} trailing"#,
            "{}",
        ]
        .iter()
        .map(|inner| envelope(inner))
        .collect();
        bodies.push(envelope(&serde_json::to_string(&json!({"failure": failure, "ending": true})).unwrap()));
        bodies.push(encode_envelope(&Reply::success(json!("pong")).with_msg_id("m")));
        bodies.push(br#"{"result": "bare", "ending": true}"#.to_vec());
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/reply");
        for seed in std::fs::read_dir(seeds).unwrap() {
            bodies.push(std::fs::read(seed.unwrap().path()).unwrap());
        }
        for body in &bodies {
            let direct = decode_reply(body).map_err(|e| e.to_string());
            let mapped = decode_body(body).and_then(Reply::from_message).map_err(|e| e.to_string());
            assert_eq!(direct, mapped, "{}", String::from_utf8_lossy(body));
        }
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
