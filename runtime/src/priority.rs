//! A notification's priority: its own module so the transport trait can use it without
//! importing the notifier (no import cycle); published as `notify::Priority`.

use std::fmt;
use std::str::FromStr;

/// A notification's priority (oslo's notification levels).
///
/// Upper case in the message body ([`as_wire`](Self::as_wire)), lower case in routing keys,
/// queue names and endpoint method names ([`as_str`](Self::as_str)).
///
/// ```
/// use courier_runtime::notify::Priority;
///
/// let priority: Priority = "INFO".parse().unwrap();
/// assert_eq!(priority, Priority::Info);
/// assert_eq!((priority.as_str(), priority.as_wire()), ("info", "INFO"));
/// // A name a person gives: oslo's `Notifier.warning` is its `warn`.
/// assert_eq!("warning".parse::<Priority>(), Ok(Priority::Warn));
/// // What a message says: oslo's listeners know only `warn`.
/// assert_eq!(Priority::from_wire("WARNING"), None);
/// assert_eq!(Priority::from_wire("WARN"), Some(Priority::Warn));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// `AUDIT`
    Audit,
    /// `DEBUG`
    Debug,
    /// `INFO`
    Info,
    /// `WARN`
    Warn,
    /// `ERROR`
    Error,
    /// `CRITICAL`
    Critical,
    /// `SAMPLE`
    Sample,
}

impl Priority {
    /// Every priority, in oslo's order.
    pub const ALL: [Self; 7] =
        [Self::Audit, Self::Debug, Self::Info, Self::Warn, Self::Error, Self::Critical, Self::Sample];

    /// Lower case: the routing-key suffix and the endpoint method name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Sample => "sample",
        }
    }

    /// Reads the `priority` field of a received message as oslo's dispatcher does: lower-cased,
    /// one of its seven names (`WARNING` is not one; oslo's notifiers never send it).
    #[must_use]
    pub fn from_wire(priority: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(priority))
    }

    /// Upper case, as the `priority` field of a message.
    #[must_use]
    pub fn as_wire(self) -> &'static str {
        match self {
            Self::Audit => "AUDIT",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Critical => "CRITICAL",
            Self::Sample => "SAMPLE",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A priority name that is none of oslo's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown notification priority `{0}`; expected one of audit, debug, info, warn (or warning), error, \
     critical, sample"
)]
pub struct UnknownPriority(pub String);

impl FromStr for Priority {
    type Err = UnknownPriority;

    /// A priority a person names (a command line, a configuration): case-insensitive, and
    /// `warning` is `warn`, as oslo's `Notifier` has both methods (`warning = warn`). For the
    /// `priority` field of a received message use [`Priority::from_wire`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("warning") {
            return Ok(Self::Warn);
        }
        Self::from_wire(s).ok_or_else(|| UnknownPriority(s.to_owned()))
    }
}
