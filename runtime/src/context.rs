//! The request context that travels with every message.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// oslo's request context: a JSON object (what oslo.context's `RequestContext.to_dict()`
/// writes), with typed accessors for the well-known keys. Unknown keys are kept as they are.
///
/// On RabbitMQ each key travels as a `_context_<key>` field of the message.
/// `Debug` hides `auth_token`; use [`Context::redacted`] before logging or publishing a context.
///
/// ```
/// use courier_runtime::context::Context;
///
/// let ctx = Context::new().with_user("alice").with_request_id("req-1").with("auth_token", "s3cret");
/// assert_eq!(ctx.user(), Some("alice"));
/// assert_eq!(ctx.redacted().auth_token(), None);
/// assert!(!format!("{ctx:?}").contains("s3cret"));
/// ```
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Context(Map<String, Value>);

/// The context key of the caller's call-monitor timeout (oslo's rabbit driver adds it).
pub(crate) const CLIENT_TIMEOUT: &str = "client_timeout";

/// Keys whose values are secrets: nulled by [`Context::redacted`] and hidden by `Debug`.
const SECRET_MARKERS: [&str; 3] = ["token", "password", "secret"];

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_MARKERS.iter().any(|marker| key.contains(marker))
}

macro_rules! str_accessors {
    ($($(#[$doc:meta])* $name:ident => $key:literal, $setter:ident;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(&self) -> Option<&str> {
                self.0.get($key).and_then(Value::as_str)
            }
        )*
        $(
            #[doc = concat!("Sets `", $key, "`.")]
            #[must_use]
            pub fn $setter(self, value: impl Into<String>) -> Self {
                self.with($key, value.into())
            }
        )*
    };
}

impl Context {
    /// An empty context.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A context holding `map` as it is.
    #[must_use]
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self(map)
    }

    str_accessors! {
        /// The user id (`user`).
        user => "user", with_user;
        /// The project id (`project_id`).
        project_id => "project_id", with_project_id;
        /// The request id (`request_id`).
        request_id => "request_id", with_request_id;
        /// The global request id (`global_request_id`).
        global_request_id => "global_request_id", with_global_request_id;
        /// The auth token (`auth_token`): a secret.
        auth_token => "auth_token", with_auth_token;
        /// The user's domain (`user_domain`).
        user_domain => "user_domain", with_user_domain;
        /// The project's domain (`project_domain`).
        project_domain => "project_domain", with_project_domain;
        /// The domain (`domain`).
        domain => "domain", with_domain;
        /// The system scope (`system_scope`).
        system_scope => "system_scope", with_system_scope;
        /// The user identity string (`user_identity`).
        user_identity => "user_identity", with_user_identity;
        /// The resource uuid (`resource_uuid`).
        resource_uuid => "resource_uuid", with_resource_uuid;
    }

    /// The roles (`roles`), empty when absent.
    #[must_use]
    pub fn roles(&self) -> Vec<&str> {
        self.0
            .get("roles")
            .and_then(Value::as_array)
            .map(|roles| roles.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether `is_admin` is true.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.flag("is_admin")
    }

    /// Whether `read_only` is true.
    #[must_use]
    pub fn read_only(&self) -> bool {
        self.flag("read_only")
    }

    /// Whether `show_deleted` is true.
    #[must_use]
    pub fn show_deleted(&self) -> bool {
        self.flag("show_deleted")
    }

    fn flag(&self, key: &str) -> bool {
        self.0.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// `client_timeout`: the call-monitor timeout the caller sent (`_timeout`), which a server
    /// on RabbitMQ adds to the context as oslo's rabbit driver does (`null` when the caller set
    /// none). `None` when absent, null or not a positive number of seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use courier_runtime::context::Context;
    ///
    /// assert_eq!(Context::new().with("client_timeout", 30).client_timeout(), Some(Duration::from_secs(30)));
    /// assert_eq!(Context::new().with("client_timeout", serde_json::Value::Null).client_timeout(), None);
    /// ```
    #[must_use]
    pub fn client_timeout(&self) -> Option<std::time::Duration> {
        let seconds = self.0.get(CLIENT_TIMEOUT).and_then(Value::as_f64)?;
        std::time::Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero())
    }

    /// Sets `roles`.
    #[must_use]
    pub fn with_roles<I, S>(self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let roles: Vec<Value> = roles.into_iter().map(|r| Value::String(r.into())).collect();
        self.with("roles", roles)
    }

    /// Sets `is_admin`.
    #[must_use]
    pub fn with_is_admin(self, is_admin: bool) -> Self {
        self.with("is_admin", is_admin)
    }

    /// Sets any key.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Any key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Sets any key in place, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(key.into(), value.into())
    }

    /// Removes a key, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.shift_remove(key)
    }

    /// The context as a JSON object.
    #[must_use]
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The context as a JSON object, by value.
    #[must_use]
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Whether no key is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy with every secret (`auth_token`, and keys naming a token, password or secret)
    /// set to null, as oslo.context's `redacted_copy()`: what logs and notifications carry.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        for (key, value) in &mut copy.0 {
            if is_secret(key) && !value.is_null() {
                *value = Value::Null;
            }
        }
        copy
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.0 {
            if is_secret(key) && !value.is_null() {
                map.entry(key, &"***");
            } else {
                map.entry(key, value);
            }
        }
        map.finish()
    }
}

impl From<Map<String, Value>> for Context {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_oslo_context_keys() {
        let ctx: Context = serde_json::from_value(serde_json::json!({
            "user": "u", "project_id": "p", "roles": ["admin", "member"], "is_admin": true,
            "request_id": "req-1", "custom": {"nested": 1}
        }))
        .unwrap();
        assert_eq!(ctx.user(), Some("u"));
        assert_eq!(ctx.project_id(), Some("p"));
        assert_eq!(ctx.roles(), vec!["admin", "member"]);
        assert!(ctx.is_admin());
        assert!(!ctx.read_only());
        assert_eq!(ctx.get("custom").unwrap()["nested"], 1);
    }

    #[test]
    fn redacted_nulls_secrets_and_keeps_the_rest() {
        let ctx = Context::new().with_auth_token("t0k").with("db_password", "pw").with_user("u");
        let red = ctx.redacted();
        assert_eq!(red.get("auth_token"), Some(&Value::Null));
        assert_eq!(red.get("db_password"), Some(&Value::Null));
        assert_eq!(red.user(), Some("u"));
        let debug = format!("{ctx:?}");
        assert!(!debug.contains("t0k") && !debug.contains("pw\""), "{debug}");
    }
}
