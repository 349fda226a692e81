//! Where a message goes: oslo.messaging's `Target`.

use crate::error::Error;

/// The address of a message, as oslo.messaging's `Target`.
///
/// On RabbitMQ, `exchange` is the topic exchange (the transport's control exchange when unset),
/// `server` selects the `<topic>.<server>` queue, `fanout` the `<topic>_fanout` exchange, and
/// `namespace`/`version` travel inside the message body.
///
/// ```
/// use courier_runtime::target::{Target, Version};
///
/// let target = Target::new("compute").with_server("host1").with_version(Version::new(1, 3));
/// assert_eq!(target.topic.as_deref(), Some("compute"));
/// assert_eq!(target.server.as_deref(), Some("host1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Target {
    /// Topic exchange name; `None` means the transport's control exchange.
    pub exchange: Option<String>,
    /// Topic: required to send and to serve.
    pub topic: Option<String>,
    /// Endpoint namespace; `None` is oslo's null namespace.
    pub namespace: Option<String>,
    /// Interface version; `None` means `1.0` on servers, no version on clients.
    pub version: Option<Version>,
    /// One server of the topic; required for RPC servers.
    pub server: Option<String>,
    /// Send to every server of the topic (casts only).
    pub fanout: bool,
}

impl Target {
    /// A target for `topic`.
    #[must_use]
    pub fn new(topic: impl Into<String>) -> Self {
        Self { topic: Some(topic.into()), ..Self::default() }
    }

    /// Sets the topic exchange.
    #[must_use]
    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = Some(exchange.into());
        self
    }

    /// Sets the topic.
    #[must_use]
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Sets the namespace.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the version (parse text with `"1.3".parse::<Version>()`).
    #[must_use]
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = Some(version);
        self
    }

    /// Addresses one server of the topic.
    #[must_use]
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Sends to every server of the topic.
    #[must_use]
    pub fn with_fanout(mut self, fanout: bool) -> Self {
        self.fanout = fanout;
        self
    }

    /// The topic, or `InvalidTarget` naming what it was needed for.
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] when the topic is missing or empty.
    pub(crate) fn require_topic(&self, purpose: &str) -> Result<&str, Error> {
        match self.topic.as_deref() {
            Some(topic) if !topic.is_empty() => Ok(topic),
            _ => Err(Error::InvalidTarget(format!("a topic is required {purpose}"))),
        }
    }

    /// Checks the target can be sent to (cast, notification).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] without a topic.
    pub(crate) fn validate_for_send(&self) -> Result<(), Error> {
        self.require_topic("to send")?;
        Ok(())
    }

    /// Checks the target can be called (no fanout).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] as [`validate_for_send`](Self::validate_for_send), or with fanout.
    pub(crate) fn validate_for_call(&self) -> Result<(), Error> {
        self.validate_for_send()?;
        if self.fanout {
            return Err(Error::InvalidTarget("a call cannot be used with fanout".into()));
        }
        Ok(())
    }

    /// Checks the target can be served by an RPC server (topic and server).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] without a topic or a server.
    pub(crate) fn validate_for_server(&self) -> Result<(), Error> {
        self.require_topic("to listen")?;
        match self.server.as_deref() {
            Some(server) if !server.is_empty() => Ok(()),
            _ => Err(Error::InvalidTarget(
                "a server's target must have topic and server names specified".into(),
            )),
        }
    }
}

/// An RPC interface version, `X.Y` or `X.Y.Z`, parsed once (from a target, an endpoint's
/// `#[rpc_endpoint(version = "...")]`, or a received request).
///
/// ```
/// use courier_runtime::target::Version;
///
/// let implemented: Version = "1.3".parse().unwrap();
/// assert_eq!(implemented, Version::new(1, 3));
/// assert!(implemented.accepts(Version::new(1, 0)));
/// assert!(!implemented.accepts(Version::new(1, 4)));
/// assert_eq!(Version::new(1, 3).with_revision(2).to_string(), "1.3.2");
/// assert!("1".parse::<Version>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major: must match exactly.
    pub major: u64,
    /// Minor: the requested one must not exceed the implemented one.
    pub minor: u64,
    /// Revision: compared only when the minors are equal.
    pub revision: u64,
}

impl Version {
    /// The version of an endpoint, and of a request, that names none: `1.0`.
    pub const DEFAULT: Self = Self::new(1, 0);

    /// `major.minor`.
    #[must_use]
    pub const fn new(major: u64, minor: u64) -> Self {
        Self { major, minor, revision: 0 }
    }

    /// `major.minor.revision`.
    #[must_use]
    pub const fn with_revision(mut self, revision: u64) -> Self {
        self.revision = revision;
        self
    }

    /// oslo's `version_is_compatible(self, requested)`: same major, requested minor not above
    /// this one, and the revision compared only when the minors are equal.
    #[must_use]
    pub fn accepts(self, requested: Self) -> bool {
        self.major == requested.major
            && (requested.minor < self.minor
                || (requested.minor == self.minor && requested.revision <= self.revision))
    }
}

/// `X.Y`, or `X.Y.Z` when the revision is not 0 (oslo compares `1.3` and `1.3.0` as equal).
impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.revision != 0 {
            write!(f, ".{}", self.revision)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Version {
    type Err = Error;

    /// `X.Y` or `X.Y.Z` made of integers.
    fn from_str(version: &str) -> Result<Self, Error> {
        parse_version(version)
    }
}

/// Parses `X.Y` or `X.Y.Z` made of integers (what `str::parse::<Version>` does).
///
/// # Errors
/// [`Error::InvalidTarget`] naming the bad version.
fn parse_version(version: &str) -> Result<Version, Error> {
    let bad =
        || Error::InvalidTarget(format!("version `{version}` is not of the form X.Y or X.Y.Z (integers)"));
    let mut parts = version.split('.');
    let mut next = |required: bool| -> Result<u64, Error> {
        match parts.next() {
            Some(part) => part.trim().parse().map_err(|_| bad()),
            None if required => Err(bad()),
            None => Ok(0),
        }
    };
    let parsed = Version { major: next(true)?, minor: next(true)?, revision: next(false)? };
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_with_fanout_is_invalid() {
        let err = Target::new("t").with_fanout(true).validate_for_call().unwrap_err();
        assert!(err.to_string().contains("fanout"), "{err}");
    }

    #[test]
    fn server_needs_topic_and_server() {
        assert!(Target::new("t").validate_for_server().is_err());
        assert!(Target::default().with_server("s").validate_for_server().is_err());
        assert!(Target::new("t").with_server("s").validate_for_server().is_ok());
    }

    #[test]
    fn versions_parse_like_oslo() {
        assert_eq!(parse_version("1.2").unwrap(), Version { major: 1, minor: 2, revision: 0 });
        assert_eq!(parse_version("1.2.3").unwrap().revision, 3);
        for bad in ["1", "a.b", "1.2.3.4", "", "1."] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
        for text in ["1.0", "2.5", "1.3.2"] {
            assert_eq!(text.parse::<Version>().unwrap().to_string(), text);
        }
        assert_eq!(Version::DEFAULT.to_string(), "1.0");
        // oslo's version_is_compatible(implemented, requested).
        let v = |text: &str| text.parse::<Version>().unwrap();
        assert!(v("1.3").accepts(v("1.0")));
        assert!(!v("1.3").accepts(v("1.4")));
        assert!(!v("2.0").accepts(v("1.0")));
        assert!(v("1.3.2").accepts(v("1.3.1")));
        assert!(!v("1.3").accepts(v("1.3.1")));
    }
}
