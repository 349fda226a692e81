//! RPC replies and oslo's failure format: the one place that formats and parses the wording
//! of oslo's dispatcher exceptions.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Message, WireError, insert_opt, string_field};

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
    pub fn from_message(message: Message) -> Result<Self, WireError> {
        // One pass, moving each value out; checked afterwards in the order errors were found.
        let mut fields = ReplyFields::default();
        for (key, value) in message {
            fields.set(ReplyKey::named(&key), value);
        }
        fields.into_reply()
    }
}

/// A reply's fields as they are on the wire: what [`Reply::from_message`] picks from a map, or
/// what [`decode_reply`](super::decode_reply) reads straight from the JSON object, without a
/// map: every value is still parsed (and so checked) as the map path parses it, other keys'
/// too, and a repeated key takes the last value.
#[derive(Default)]
pub(super) struct ReplyFields {
    result: Option<Value>,
    failure: Option<Value>,
    ending: Option<Value>,
    msg_id: Option<Value>,
    unique_id: Option<Value>,
}

/// A reply key, read without allocating it.
#[derive(Clone, Copy)]
enum ReplyKey {
    Result,
    Failure,
    Ending,
    MsgId,
    UniqueId,
    /// A key replies do not have (skipped).
    Other,
}

impl ReplyKey {
    fn named(name: &str) -> Self {
        match name {
            "result" => Self::Result,
            "failure" => Self::Failure,
            "ending" => Self::Ending,
            "_msg_id" => Self::MsgId,
            "_unique_id" => Self::UniqueId,
            _ => Self::Other,
        }
    }
}

impl<'de> Deserialize<'de> for ReplyKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = ReplyKey;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<ReplyKey, E> {
                Ok(ReplyKey::named(name))
            }
        }
        deserializer.deserialize_identifier(Name)
    }
}

impl<'de> serde::de::Visitor<'de> for ReplyFields {
    type Value = Self;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut entries: A) -> Result<Self, A::Error> {
        while let Some(key) = entries.next_key::<ReplyKey>()? {
            // Parsed even when skipped, so a bad value fails here as it fails in a map.
            let value = entries.next_value::<Value>()?;
            self.set(key, value);
        }
        Ok(self)
    }
}

impl ReplyFields {
    /// Keeps `value` as the field `key` names (the last one wins); other keys are skipped.
    fn set(&mut self, key: ReplyKey, value: Value) {
        let slot = match key {
            ReplyKey::Result => &mut self.result,
            ReplyKey::Failure => &mut self.failure,
            ReplyKey::Ending => &mut self.ending,
            ReplyKey::MsgId => &mut self.msg_id,
            ReplyKey::UniqueId => &mut self.unique_id,
            ReplyKey::Other => return,
        };
        *slot = Some(value);
    }

    /// A missing `ending` means `false`; `failure` may be a JSON string (oslo) or an object.
    pub(super) fn into_reply(self) -> Result<Reply, WireError> {
        let failure = match self.failure {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(Failure::from_json_str(&text)?),
            Some(value @ Value::Object(_)) => Some(Failure::from_value(value)?),
            Some(other) => {
                return Err(WireError::Malformed(format!("`failure` must be a string, not {other}")));
            }
        };
        Ok(Reply {
            result: self.result.unwrap_or(Value::Null),
            failure,
            ending: self.ending.and_then(|v| v.as_bool()).unwrap_or(false),
            msg_id: string_field(self.msg_id, "_msg_id")?,
            unique_id: string_field(self.unique_id, "_unique_id")?,
        })
    }
}

/// Serializes as [`Reply::to_message`] would, without building it: what transports encode.
impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("result", &self.result)?;
        map.serialize_entry("failure", &self.failure.as_ref().map(Failure::to_json_string))?;
        map.serialize_entry("ending", &self.ending)?;
        if let Some(msg_id) = &self.msg_id {
            map.serialize_entry("_msg_id", msg_id)?;
        }
        if let Some(unique_id) = &self.unique_id {
            map.serialize_entry("_unique_id", unique_id)?;
        }
        map.end()
    }
}

/// The Python module oslo's dispatcher exceptions live in.
pub const DISPATCHER_MODULE: &str = "oslo_messaging.rpc.dispatcher";
const NO_SUCH_METHOD: &str = "NoSuchMethod";
const UNSUPPORTED_VERSION: &str = "UnsupportedVersion";
/// oslo's wording of `NoSuchMethod`, followed by the method name (rpc/dispatcher.py).
const NO_SUCH_METHOD_PREFIX: &str = "Endpoint does not support RPC method ";
/// oslo's wording of `UnsupportedVersion`: prefix, version, separator, method.
const UNSUPPORTED_VERSION_PREFIX: &str = "Endpoint does not support RPC version ";
const UNSUPPORTED_VERSION_METHOD: &str = ". Attempted method: ";

/// One of oslo's dispatcher exceptions, read from a [`Failure`] by
/// [`Failure::dispatcher_failure`]; borrows the failure's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatcherFailure<'a> {
    /// `NoSuchMethod`: no endpoint of a compatible namespace and version has the method.
    NoSuchMethod {
        /// The method that was asked for.
        method: &'a str,
    },
    /// `UnsupportedVersion`: no endpoint serves the namespace and version.
    UnsupportedVersion {
        /// The version that was asked for.
        version: &'a str,
        /// The method that was asked for.
        method: &'a str,
    },
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
    ///
    /// ```
    /// use courier_runtime::wire::{DispatcherFailure, Failure};
    ///
    /// let failure = Failure::no_such_method("resize");
    /// assert_eq!(failure.message, "Endpoint does not support RPC method resize");
    /// assert_eq!(failure.dispatcher_failure(), Some(DispatcherFailure::NoSuchMethod { method: "resize" }));
    /// ```
    #[must_use]
    pub fn no_such_method(method: &str) -> Self {
        Self::new(NO_SUCH_METHOD, DISPATCHER_MODULE, format!("{NO_SUCH_METHOD_PREFIX}{method}"))
    }

    /// oslo's `UnsupportedVersion`, worded as oslo words it.
    #[must_use]
    pub fn unsupported_version(version: &str, method: &str) -> Self {
        let message = format!("{UNSUPPORTED_VERSION_PREFIX}{version}{UNSUPPORTED_VERSION_METHOD}{method}");
        Self::new(UNSUPPORTED_VERSION, DISPATCHER_MODULE, message)
    }

    /// Reads back one of oslo's dispatcher exceptions (from any peer, courier or Python): its
    /// class and module, and the method and version out of oslo's wording. `None` for any other
    /// failure, or a dispatcher failure worded otherwise.
    ///
    /// ```
    /// use courier_runtime::wire::{DispatcherFailure, Failure};
    ///
    /// let failure = Failure::unsupported_version("2.5", "resize");
    /// assert_eq!(
    ///     failure.dispatcher_failure(),
    ///     Some(DispatcherFailure::UnsupportedVersion { version: "2.5", method: "resize" })
    /// );
    /// assert_eq!(Failure::type_error("bad").dispatcher_failure(), None);
    /// ```
    #[must_use]
    pub fn dispatcher_failure(&self) -> Option<DispatcherFailure<'_>> {
        if self.module != DISPATCHER_MODULE {
            return None;
        }
        match self.class.as_str() {
            NO_SUCH_METHOD => self
                .message
                .strip_prefix(NO_SUCH_METHOD_PREFIX)
                .map(|method| DispatcherFailure::NoSuchMethod { method }),
            UNSUPPORTED_VERSION => self
                .message
                .strip_prefix(UNSUPPORTED_VERSION_PREFIX)
                .and_then(|rest| rest.split_once(UNSUPPORTED_VERSION_METHOD))
                .map(|(version, method)| DispatcherFailure::UnsupportedVersion { version, method }),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::obj;
    use serde_json::json;

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
    fn serializes_as_its_message() {
        let mut failed = Reply::failure(Failure::type_error("bad \"x\"")).with_msg_id("m");
        failed.unique_id = Some("u".into());
        for reply in
            [Reply::success(json!({"a": [1, 2.5, null]})).with_msg_id("m"), Reply::heartbeat(), failed]
        {
            let message = reply.to_message();
            assert_eq!(serde_json::to_string(&reply).unwrap(), serde_json::to_string(&message).unwrap());
            assert_eq!(crate::wire::encode_envelope(&reply), crate::wire::encode_envelope(&message));
        }
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
    fn dispatcher_failures_parse_back_only_from_oslo_wording() {
        let reply = Reply::from_message(obj(json!({
            "failure": Failure::no_such_method("a. Attempted method: b").to_json_string(),
            "ending": true,
        })))
        .unwrap();
        let failure = reply.failure.unwrap();
        assert_eq!(
            failure.dispatcher_failure(),
            Some(DispatcherFailure::NoSuchMethod { method: "a. Attempted method: b" })
        );
        let odd = Failure::new("NoSuchMethod", DISPATCHER_MODULE, "reworded by a newer oslo");
        assert_eq!(odd.dispatcher_failure(), None);
        let elsewhere = Failure::new("NoSuchMethod", "mymodule", "Endpoint does not support RPC method m");
        assert_eq!(elsewhere.dispatcher_failure(), None);
        let version = Failure::new(
            "UnsupportedVersion",
            DISPATCHER_MODULE,
            "Endpoint does not support RPC version 2.5",
        );
        assert_eq!(version.dispatcher_failure(), None);
    }
}
