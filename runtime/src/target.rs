//! Where a message goes: oslo.messaging's `Target`.

use crate::error::Error;

/// The address of a message, as oslo.messaging's `Target`.
///
/// On RabbitMQ, `exchange` is the topic exchange (the transport's control exchange when unset),
/// `server` selects the `<topic>.<server>` queue, `fanout` the `<topic>_fanout` exchange, and
/// `namespace`/`version` travel inside the message body.
///
/// ```
/// use courier_runtime::Target;
///
/// let target = Target::new("compute").with_server("host1").with_version("1.3");
/// assert_eq!(target.topic.as_deref(), Some("compute"));
/// assert!(target.validate_for_server().is_ok());
/// assert!(Target::default().validate_for_send().is_err());
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
    /// Interface version `X.Y[.Z]`; `None` means `1.0` on servers, no version on clients.
    pub version: Option<String>,
    /// One server of the topic; required for RPC servers.
    pub server: Option<String>,
    /// Send to every server of the topic (casts only).
    pub fanout: bool,
    /// Older namespace names an endpoint still accepts during rolling upgrades.
    pub legacy_namespaces: Vec<String>,
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

    /// Sets the version (`X.Y` or `X.Y.Z`).
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
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

    /// Adds a legacy namespace accepted by an endpoint.
    #[must_use]
    pub fn with_legacy_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.legacy_namespaces.push(namespace.into());
        self
    }

    /// The topic, or `InvalidTarget` naming what it was needed for.
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] when the topic is missing or empty.
    pub fn require_topic(&self, purpose: &str) -> Result<&str, Error> {
        match self.topic.as_deref() {
            Some(topic) if !topic.is_empty() => Ok(topic),
            _ => Err(Error::InvalidTarget(format!("a topic is required {purpose}"))),
        }
    }

    /// Checks the target can be sent to (cast, notification).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] without a topic, or with a version that is not `X.Y[.Z]`.
    pub fn validate_for_send(&self) -> Result<(), Error> {
        self.require_topic("to send")?;
        if let Some(version) = &self.version {
            parse_version(version)?;
        }
        Ok(())
    }

    /// Checks the target can be called (no fanout).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] as [`validate_for_send`](Self::validate_for_send), or with fanout.
    pub fn validate_for_call(&self) -> Result<(), Error> {
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
    pub fn validate_for_server(&self) -> Result<(), Error> {
        self.require_topic("to listen")?;
        match self.server.as_deref() {
            Some(server) if !server.is_empty() => Ok(()),
            _ => Err(Error::InvalidTarget(
                "a server's target must have topic and server names specified".into(),
            )),
        }
    }

    /// The namespaces an endpoint with this target accepts: its own and the legacy ones.
    pub fn accepted_namespaces(&self) -> impl Iterator<Item = Option<&str>> {
        std::iter::once(self.namespace.as_deref())
            .chain(self.legacy_namespaces.iter().map(|n| Some(n.as_str())))
    }
}

/// A parsed `X.Y[.Z]` version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major: must match exactly.
    pub major: u64,
    /// Minor: the requested one must not exceed the implemented one.
    pub minor: u64,
    /// Revision: compared only when the minors are equal.
    pub revision: u64,
}

/// Parses `X.Y` or `X.Y.Z` made of integers.
///
/// # Errors
/// [`Error::InvalidTarget`] naming the bad version.
pub fn parse_version(version: &str) -> Result<Version, Error> {
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

/// oslo's `version_is_compatible(implemented, requested)`: same major, requested minor not
/// above the implemented one, and the revision compared only when the minors are equal.
/// Versions that do not parse are incompatible.
///
/// ```
/// use courier_runtime::version_is_compatible;
/// assert!(version_is_compatible("1.3", "1.0"));
/// assert!(!version_is_compatible("1.3", "1.4"));
/// assert!(!version_is_compatible("2.0", "1.0"));
/// assert!(version_is_compatible("1.3.2", "1.3.1"));
/// assert!(!version_is_compatible("1.3", "1.3.1"));
/// ```
#[must_use]
pub fn version_is_compatible(implemented: &str, requested: &str) -> bool {
    let (Ok(imp), Ok(req)) = (parse_version(implemented), parse_version(requested)) else {
        return false;
    };
    imp.major == req.major
        && (req.minor < imp.minor || (req.minor == imp.minor && req.revision <= imp.revision))
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
        assert!(!version_is_compatible("1.0", "garbage"));
    }

    #[test]
    fn accepted_namespaces_include_legacy() {
        let t = Target::new("t").with_namespace("new").with_legacy_namespace("old");
        let names: Vec<_> = t.accepted_namespaces().collect();
        assert_eq!(names, vec![Some("new"), Some("old")]);
    }
}
