//! Masking secret-looking values (passwords, tokens, keys) wherever courier prints a message:
//! the `log` notification driver and the `Debug` of a received message.

use serde_json::{Map, Value};

/// oslo_utils' `_SANITIZE_KEYS`: a key containing any of these (case-insensitively) has its
/// value masked.
const SANITIZE_KEYS: &[&str] = &[
    "adminpass",
    "admin_pass",
    "password",
    "admin_password",
    "auth_token",
    "new_pass",
    "auth_password",
    "secret_uuid",
    "secret",
    "sys_pswd",
    "token",
    "configdrive",
    "chappassword",
    "encrypted_key",
    "private_key",
    "fernetkey",
    "sslkey",
    "passphrase",
    "cephclusterfsid",
    "octaviaheartbeatkey",
    "rabbitcookie",
    "cephmanilaclientkey",
    "pacemakerremoteauthkey",
    "designaterndckey",
    "cephadminkey",
    "heatauthencryptionkey",
    "cephclientkey",
    "keystonecredential",
    "barbicansimplecryptokek",
    "cephrgwkey",
    "swifthashsuffix",
    "migrationsshkey",
    "cephmdskey",
    "cephmonkey",
    "chapsecret",
];

const MASK: &str = "***";

/// A copy of `map` where every value under a secret-looking key, at any depth (inside objects
/// and arrays), is `***`.
#[must_use]
pub(crate) fn mask_secrets(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(key, value)| {
            let value = match value {
                Value::Object(inner) => Value::Object(mask_secrets(inner)),
                _ if is_secret_key(key) => Value::from(MASK),
                other => mask_nested(other),
            };
            (key.clone(), value)
        })
        .collect()
}

fn mask_nested(value: &Value) -> Value {
    match value {
        Value::Object(inner) => Value::Object(mask_secrets(inner)),
        Value::Array(items) => Value::Array(items.iter().map(mask_nested).collect()),
        other => other.clone(),
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_lowercase();
    SANITIZE_KEYS.iter().any(|secret| key.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth_like_oslo() {
        let Value::Object(message) = json!({
            "event_type": "identity.user.updated",
            "payload": {
                "user": "alice",
                "Admin_Password": "hunter2",
                "nested": {"auth_token": "t0k3n", "home": "/home/alice"},
                "keys": [{"private_key": "-----BEGIN"}, "plain"],
                // oslo checks the key before recursing only for non-mappings: a mapping under a
                // secret key is recursed into, not replaced.
                "secret": {"inner": 1},
            },
        }) else {
            unreachable!()
        };
        let masked = Value::Object(mask_secrets(&message));
        assert_eq!(
            masked,
            json!({
                "event_type": "identity.user.updated",
                "payload": {
                    "user": "alice",
                    "Admin_Password": "***",
                    "nested": {"auth_token": "***", "home": "/home/alice"},
                    "keys": [{"private_key": "***"}, "plain"],
                    "secret": {"inner": 1},
                },
            })
        );
    }
}
