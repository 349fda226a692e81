//! The `routing` notification driver: oslo's routing notifier, which sends each notification on
//! to other drivers chosen by its event type and priority.
//!
//! oslo reads the rules from the YAML file named by `[oslo_messaging_notifications]
//! routing_config`: groups of drivers, each driver with optional `accepted_events` and
//! `accepted_priorities` lists of shell-style patterns (Python's `fnmatch`: `*`, `?`, `[seq]`,
//! `[!seq]`). A driver gets a notification when every list it has matches; a driver with no
//! list gets every notification; a driver accepted by several groups gets it once.
//!
//! ```
//! # #[cfg(feature = "yaml")] {
//! use courier_runtime::notify::{NotifierDriver, Priority, RoutingConfig};
//!
//! let config = RoutingConfig::from_yaml(
//!     "
//! group_1:
//!   messagingv2:
//!     accepted_events:
//!       - compute.instance.exists
//!       - compute.instance.delete.*
//!     accepted_priorities:
//!       - info
//!       - error
//!   log:
//!     accepted_priorities: [error, critical]
//! ",
//! )
//! .unwrap();
//! let names = |event, priority| -> Vec<&str> {
//!     config.drivers_for(event, priority).into_iter().map(NotifierDriver::as_str).collect()
//! };
//! assert_eq!(names("compute.instance.delete.end", Priority::Info), ["messagingv2"]);
//! assert_eq!(names("compute.instance.delete.end", Priority::Error), ["messagingv2", "log"]);
//! assert!(names("compute.instance.create.end", Priority::Info).is_empty());
//! # }
//! ```

use glob::Pattern;

use super::{NotifierDriver, Priority};
use crate::error::Error;

/// Which notifications a route accepts: each list present must have a matching pattern.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingRule {
    accepted_events: Option<Vec<Pattern>>,
    accepted_priorities: Option<Vec<Pattern>>,
}

impl RoutingRule {
    /// A rule accepting every notification.
    #[must_use]
    pub fn any() -> Self {
        Self::default()
    }

    /// Accepts only event types matching one of `patterns` (`fnmatch` style, case-sensitive).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a malformed pattern (e.g. an unclosed `[`).
    pub fn with_accepted_events<I, S>(mut self, patterns: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.accepted_events = Some(compile(patterns, "accepted_events", |p| p.to_owned())?);
        Ok(self)
    }

    /// Accepts only priorities matching one of `patterns` (`fnmatch` style, case-insensitive as
    /// oslo lower-cases both sides).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a malformed pattern.
    pub fn with_accepted_priorities<I, S>(mut self, patterns: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.accepted_priorities = Some(compile(patterns, "accepted_priorities", str::to_lowercase)?);
        Ok(self)
    }

    /// Whether a notification of this event type and priority is accepted.
    #[must_use]
    pub fn accepts(&self, event_type: &str, priority: Priority) -> bool {
        let any_match = |patterns: &Option<Vec<Pattern>>, text: &str| {
            patterns.as_ref().is_none_or(|patterns| patterns.iter().any(|p| p.matches(text)))
        };
        any_match(&self.accepted_events, event_type)
            && any_match(&self.accepted_priorities, priority.as_str())
    }
}

fn compile<I, S>(patterns: I, key: &str, normalize: impl Fn(&str) -> String) -> Result<Vec<Pattern>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    patterns
        .into_iter()
        .map(|p| {
            let p = normalize(p.as_ref());
            Pattern::new(&p).map_err(|e| Error::config(format!("bad pattern `{p}` in `{key}`"), e))
        })
        .collect()
}

/// A routing notifier's configuration: routes `(group, driver, rule)` in the file's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingConfig {
    routes: Vec<(String, NotifierDriver, RoutingRule)>,
}

impl RoutingConfig {
    /// A configuration with no routes (notifications go nowhere, as oslo with an empty file).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route: `driver` gets the notifications `rule` accepts.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `driver` is itself a routing driver.
    pub fn with_route(
        mut self,
        group: impl Into<String>,
        driver: NotifierDriver,
        rule: RoutingRule,
    ) -> Result<Self, Error> {
        if matches!(driver, NotifierDriver::Routing(_)) {
            return Err(Error::bad_config("a routing notifier cannot route to another routing notifier"));
        }
        self.routes.push((group.into(), driver, rule));
        Ok(self)
    }

    /// The drivers a notification goes to, each once, in the order of the configuration.
    #[must_use]
    pub fn drivers_for(&self, event_type: &str, priority: Priority) -> Vec<&NotifierDriver> {
        let mut drivers: Vec<&NotifierDriver> = Vec::new();
        for (_, driver, rule) in &self.routes {
            if rule.accepts(event_type, priority) && !drivers.contains(&driver) {
                drivers.push(driver);
            }
        }
        drivers
    }

    /// Reads oslo's routing YAML; driver names are resolved with [`NotifierDriver`]'s `FromStr`
    /// (so `test` records into [`TestNotifications::global`](super::TestNotifications::global)).
    ///
    /// # Errors
    /// As [`RoutingConfig::from_yaml_with`].
    #[cfg(feature = "yaml")]
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        Self::from_yaml_with(text, str::parse)
    }

    /// Reads oslo's routing YAML from a file (`routing_config`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the file cannot be read, or as [`RoutingConfig::from_yaml`].
    #[cfg(feature = "yaml")]
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read the routing notifier config {}", path.display()), e)
        })?;
        Self::from_yaml(&text)
    }

    /// Reads oslo's routing YAML, turning driver names into drivers with `resolve`.
    ///
    /// An empty document is an empty configuration. A driver with no rules (`log:` or `log: {}`)
    /// gets every notification.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the YAML is malformed, a group is not a mapping of drivers
    /// to rules, a rule key is not `accepted_events` or `accepted_priorities` (oslo ignores such
    /// keys, which would silently route everything), a list is not of strings, a pattern is
    /// malformed, or `resolve` refuses a name.
    #[cfg(feature = "yaml")]
    pub fn from_yaml_with(
        text: &str,
        mut resolve: impl FnMut(&str) -> Result<NotifierDriver, Error>,
    ) -> Result<Self, Error> {
        use serde_json::Value;

        let bad = |why: String| Error::bad_config(format!("routing notifier config: {why}"));
        // Into JSON values: their maps keep the file's order.
        let document: Value = serde_norway::from_str(text)
            .map_err(|e| Error::config("routing notifier config: not YAML", e))?;
        let groups = match document {
            Value::Null => return Ok(Self::new()),
            Value::Object(groups) => groups,
            _ => return Err(bad("the top level must map group names to groups".into())),
        };
        let mut config = Self::new();
        for (group, drivers) in groups {
            let drivers = match drivers {
                Value::Null => continue,
                Value::Object(drivers) => drivers,
                _ => return Err(bad(format!("group `{group}` must map driver names to rules"))),
            };
            for (name, rules) in drivers {
                let rules = match rules {
                    Value::Null => serde_json::Map::new(),
                    Value::Object(rules) => rules,
                    _ => return Err(bad(format!("the rules of `{group}.{name}` must be a mapping"))),
                };
                let mut rule = RoutingRule::any();
                for (key, patterns) in rules {
                    let patterns: Vec<String> = serde_json::from_value(patterns)
                        .map_err(|_| bad(format!("`{group}.{name}.{key}` must be a list of strings")))?;
                    rule = match key.as_str() {
                        "accepted_events" => rule.with_accepted_events(patterns)?,
                        "accepted_priorities" => rule.with_accepted_priorities(patterns)?,
                        _ => {
                            return Err(bad(format!(
                                "unknown key `{key}` in `{group}.{name}`; expected accepted_events or \
                                 accepted_priorities"
                            )));
                        }
                    };
                }
                let driver = resolve(&name).map_err(|e| bad(format!("group `{group}`: {e}")))?;
                config = config.with_route(group.clone(), driver, rule)?;
            }
        }
        Ok(config)
    }
}

#[cfg(all(test, feature = "yaml"))]
mod tests {
    use super::*;

    fn names(config: &RoutingConfig, event: &str, priority: Priority) -> Vec<&'static str> {
        config.drivers_for(event, priority).into_iter().map(NotifierDriver::as_str).collect()
    }

    #[test]
    fn groups_are_unioned_and_drivers_deduplicated() {
        let config = RoutingConfig::from_yaml(
            "
a:
  log:
    accepted_events: ['compute.*']
b:
  log:
    accepted_priorities: [ERROR]
  messaging:
  noop: {}
",
        )
        .unwrap();
        assert_eq!(names(&config, "compute.x", Priority::Error), ["log", "messaging", "noop"]);
        assert_eq!(names(&config, "image.x", Priority::Info), ["messaging", "noop"]);
        assert_eq!(names(&config, "image.x", Priority::Error), ["log", "messaging", "noop"]);
    }

    #[test]
    fn fnmatch_patterns() {
        let rule = RoutingRule::any()
            .with_accepted_events(["compute.instance.?.end", "image.[!x]*"])
            .unwrap()
            .with_accepted_priorities(["WARN", "crit*"])
            .unwrap();
        assert!(rule.accepts("compute.instance.a.end", Priority::Warn));
        assert!(rule.accepts("image.upload", Priority::Critical));
        assert!(!rule.accepts("image.xyz", Priority::Warn));
        assert!(!rule.accepts("compute.instance.ab.end", Priority::Warn));
        assert!(!rule.accepts("Image.upload", Priority::Warn), "event types are case-sensitive");
        assert!(!rule.accepts("image.upload", Priority::Info));
    }

    #[test]
    fn empty_documents_route_nowhere() {
        for text in ["", "# nothing\n", "group: \n"] {
            let config = RoutingConfig::from_yaml(text).unwrap();
            assert!(config.drivers_for("x", Priority::Info).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        for (text, expected) in [
            ("g: [log]", "group `g`"),
            ("g:\n  log: [1]", "`g.log` must be a mapping"),
            ("g:\n  log:\n    accepted_event: [x]", "unknown key `accepted_event`"),
            ("g:\n  log:\n    accepted_events: x", "must be a list of strings"),
            ("g:\n  log:\n    accepted_events: ['[x']", "bad pattern `[x`"),
            ("g:\n  smtp: {}", "unknown notification driver `smtp`"),
            ("g:\n  routing: {}", "needs its configuration"),
            ("g: {a: [}", "not YAML"),
            ("- a", "top level"),
        ] {
            let err = RoutingConfig::from_yaml(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        // The YAML and glob errors are kept as sources.
        for text in ["g: {a: [}", "g:\n  log:\n    accepted_events: ['[x']"] {
            let err = RoutingConfig::from_yaml(text).unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig { source: Some(_), .. }), "{text:?}: {err}");
        }
    }
}
