//! oslo's `NotificationFilter`: which notifications an endpoint wants.

use std::fmt;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::notification_endpoint::NotificationMessage;

/// Regular expressions a notification must match to reach an endpoint (oslo's
/// `NotificationFilter`).
///
/// Every pattern is matched like Python's `re.match`: anchored at the start of the value only
/// (`compute` matches `compute.instance.create`). For `context`, `metadata` and `payload`
/// keys, a missing key or a value that is not a string is no match. Every given rule must
/// match. The syntax is the `regex` crate's (no look-around or back-references).
///
/// ```
/// use courier_runtime::notification_endpoint::NotificationMessage;
/// use courier_runtime::notification_filter::NotificationFilter;
/// use courier_runtime::notify::Priority;
///
/// # fn main() -> Result<(), courier_runtime::error::Error> {
/// let filter = NotificationFilter::new()
///     .with_event_type(r"compute\.instance\.")?
///     .with_payload("state", "active|error")?;
/// let message = NotificationMessage::new(
///     Priority::Info,
///     "compute.host1",
///     "compute.instance.create.end",
///     serde_json::json!({"state": "active"}),
/// );
/// assert!(filter.matches(&message));
/// let other = NotificationMessage::new(Priority::Info, "x", "image.upload", serde_json::json!({}));
/// assert!(!filter.matches(&other));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct NotificationFilter {
    event_type: Option<Pattern>,
    publisher_id: Option<Pattern>,
    context: Vec<(String, Pattern)>,
    metadata: Vec<(String, Pattern)>,
    payload: Vec<(String, Pattern)>,
}

/// A pattern as written, and compiled anchored at the start.
#[derive(Clone)]
struct Pattern {
    source: String,
    regex: Regex,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

impl Pattern {
    fn new(what: &str, source: &str) -> Result<Self, Error> {
        let regex = Regex::new(&format!(r"\A(?:{source})"))
            .map_err(|e| Error::config(format!("the {what} filter `{source}` is not a valid regex"), e))?;
        Ok(Self { source: source.to_owned(), regex })
    }

    fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl NotificationFilter {
    /// A filter that lets everything through.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires the event type to match.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad regex.
    pub fn with_event_type(mut self, pattern: &str) -> Result<Self, Error> {
        self.event_type = Some(Pattern::new("event_type", pattern)?);
        Ok(self)
    }

    /// Requires the publisher id to match.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad regex.
    pub fn with_publisher_id(mut self, pattern: &str) -> Result<Self, Error> {
        self.publisher_id = Some(Pattern::new("publisher_id", pattern)?);
        Ok(self)
    }

    /// Requires the context key `key` to be a string matching `pattern`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad regex.
    pub fn with_context(mut self, key: impl Into<String>, pattern: &str) -> Result<Self, Error> {
        let key = key.into();
        self.context.push((key.clone(), Pattern::new(&format!("context `{key}`"), pattern)?));
        Ok(self)
    }

    /// Requires the metadata key `key` (`message_id` or `timestamp`) to match `pattern`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad regex.
    pub fn with_metadata(mut self, key: impl Into<String>, pattern: &str) -> Result<Self, Error> {
        let key = key.into();
        self.metadata.push((key.clone(), Pattern::new(&format!("metadata `{key}`"), pattern)?));
        Ok(self)
    }

    /// Requires the payload (a JSON object) to hold a string at `key` matching `pattern`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad regex.
    pub fn with_payload(mut self, key: impl Into<String>, pattern: &str) -> Result<Self, Error> {
        let key = key.into();
        self.payload.push((key.clone(), Pattern::new(&format!("payload `{key}`"), pattern)?));
        Ok(self)
    }

    /// Whether a message passes every rule.
    #[must_use]
    pub fn matches(&self, message: &NotificationMessage) -> bool {
        let single =
            |pattern: &Option<Pattern>, value: &str| pattern.as_ref().is_none_or(|p| p.matches(value));
        single(&self.event_type, &message.event_type)
            && single(&self.publisher_id, &message.publisher_id)
            && keys_match(&self.context, |key| message.context.get(key))
            && self.metadata.iter().all(|(key, p)| message.metadata.get(key).is_some_and(|v| p.matches(v)))
            && keys_match(&self.payload, |key| {
                message.payload.as_object().and_then(|o: &Map<String, Value>| o.get(key))
            })
    }
}

fn keys_match<'a>(rules: &[(String, Pattern)], get: impl Fn(&str) -> Option<&'a Value>) -> bool {
    rules.iter().all(|(key, pattern)| get(key).and_then(Value::as_str).is_some_and(|v| pattern.matches(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::notification_endpoint::Metadata;
    use crate::notify::Priority;
    use serde_json::json;

    fn message() -> NotificationMessage {
        NotificationMessage::new(
            Priority::Info,
            "compute.host1",
            "compute.instance.create.end",
            json!({"state": "active", "n": 1}),
        )
        .with_context(Context::new().with_user("alice").with("flag", true))
        .with_metadata(Metadata::new("470bbc99-f9bd-40e2-a43b-b194a904e159", "2026-11-23 07:02:47.787110"))
    }

    #[test]
    fn anchored_at_the_start_only() {
        let ok = |f: NotificationFilter| f.matches(&message());
        assert!(ok(NotificationFilter::new()));
        assert!(ok(NotificationFilter::new().with_event_type("compute").unwrap()));
        assert!(!ok(NotificationFilter::new().with_event_type("instance").unwrap()));
        assert!(ok(NotificationFilter::new().with_event_type(".*create").unwrap()));
        assert!(!ok(NotificationFilter::new().with_event_type("x|instance").unwrap()));
        assert!(ok(NotificationFilter::new().with_publisher_id(r"compute\.host\d").unwrap()));
        assert!(!ok(NotificationFilter::new().with_publisher_id("host1").unwrap()));
    }

    #[test]
    fn keyed_rules_need_a_string_value() {
        let ok = |f: Result<NotificationFilter, Error>| f.unwrap().matches(&message());
        assert!(ok(NotificationFilter::new().with_context("user", "ali")));
        assert!(!ok(NotificationFilter::new().with_context("user", "bob")));
        assert!(!ok(NotificationFilter::new().with_context("missing", ".*")));
        assert!(!ok(NotificationFilter::new().with_context("flag", ".*")));
        assert!(ok(NotificationFilter::new().with_metadata("timestamp", "2026-")));
        assert!(!ok(NotificationFilter::new().with_metadata("nope", ".*")));
        assert!(ok(NotificationFilter::new().with_payload("state", "act")));
        assert!(!ok(NotificationFilter::new().with_payload("n", ".*")));
        assert!(!ok(NotificationFilter::new()
            .with_payload("state", "act")
            .and_then(|f| f.with_payload("x", ""))));
    }

    #[test]
    fn bad_regexes_name_the_field() {
        let err = NotificationFilter::new().with_payload("state", "(").unwrap_err();
        assert!(err.to_string().contains("payload `state`"), "{err}");
    }
}
