//! Transport URLs, parsed with oslo.messaging's rules.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What user names and query options keep unencoded: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

use crate::error::TransportError;

/// A parsed transport URL:
/// `driver://[user:pass@]host[:port][,[user:pass@]host[:port]...]/virtual_host?query`.
///
/// The password is never shown by `Debug` or `Display`.
///
/// ```
/// use courier_runtime::url::TransportUrl;
///
/// let url: TransportUrl = "rabbit://me:p%40ss@h1:5673,h2/my%2Fvhost?ssl=true".parse().unwrap();
/// assert_eq!(url.driver(), "rabbit");
/// assert_eq!(url.hosts[0].password.as_deref(), Some("p@ss"));
/// assert_eq!(url.hosts[1].port, None);
/// assert_eq!(url.virtual_host.as_deref(), Some("my/vhost"));
/// assert_eq!(url.query.get("ssl").map(String::as_str), Some("true"));
/// assert_eq!(url.to_string(), "rabbit://me:***@h1:5673,h2/my%2Fvhost?ssl=true");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportUrl {
    /// The scheme as written (e.g. `rabbit`, `kombu+memory`).
    pub scheme: String,
    /// Hosts in the order written (a transport may shuffle them for failover).
    pub hosts: Vec<TransportHost>,
    /// The virtual host, percent-decoded, without the leading `/`; `None` when the URL has no
    /// path. `Some("")` (from `rabbit://h/`) means the broker's default.
    pub virtual_host: Option<String>,
    /// Query options; repeated keys are joined with `,`.
    pub query: BTreeMap<String, String>,
}

/// One host of a transport URL.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportHost {
    /// Host name or address (IPv6 without brackets).
    pub hostname: String,
    /// Port, when given.
    pub port: Option<u16>,
    /// User name, percent-decoded.
    pub username: Option<String>,
    /// Password, percent-decoded. Never printed.
    pub password: Option<String>,
}

impl TransportUrl {
    /// The driver: the part of the scheme before any `+` (`kombu+memory` → `kombu`).
    #[must_use]
    pub fn driver(&self) -> &str {
        self.scheme.split('+').next().unwrap_or(&self.scheme)
    }
}

fn invalid(url: &str, why: impl fmt::Display) -> TransportError {
    TransportError::InvalidUrl(format!("{}: {why}", redact_raw(url)))
}

/// Hides anything between `:` and `@` in each host of a URL that failed to parse.
fn redact_raw(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let hosts: Vec<String> = rest[..end]
                .split(',')
                .map(|host| match host.rsplit_once('@') {
                    Some((creds, addr)) => match creds.split_once(':') {
                        Some((user, _)) => format!("{user}:***@{addr}"),
                        None => host.to_owned(),
                    },
                    None => host.to_owned(),
                })
                .collect();
            format!("{scheme}://{}{}", hosts.join(","), &rest[end..])
        }
        None => "<unparseable URL>".to_owned(),
    }
}

fn decode(url: &str, text: &str) -> Result<String, TransportError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| invalid(url, "percent-encoding does not decode to UTF-8"))
}

/// `parse_qs` decoding: `+` is a space.
fn decode_query(url: &str, text: &str) -> Result<String, TransportError> {
    decode(url, &text.replace('+', " "))
}

impl FromStr for TransportUrl {
    type Err = TransportError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid(url, "expected `driver://...`"))?;
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            return Err(invalid(url, "bad scheme"));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let netloc_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (netloc, rest) = rest.split_at(netloc_end);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));

        let mut hosts = Vec::new();
        for host in netloc.split(',').filter(|h| !h.is_empty()) {
            hosts.push(parse_host(url, host)?);
        }
        let virtual_host = match path.strip_prefix('/') {
            Some(vhost) => Some(decode(url, vhost)?),
            None => None,
        };
        let mut options: BTreeMap<String, String> = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (decode_query(url, key)?, decode_query(url, value)?);
            options
                .entry(key)
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        Ok(Self { scheme: scheme.to_owned(), hosts, virtual_host, query: options })
    }
}

fn parse_host(url: &str, host: &str) -> Result<TransportHost, TransportError> {
    let (creds, address) = match host.rsplit_once('@') {
        Some((creds, address)) => (Some(creds), address),
        None => (None, host),
    };
    let (username, password) = match creds {
        Some(creds) => match creds.split_once(':') {
            Some((user, pass)) => (Some(decode(url, user)?), Some(decode(url, pass)?)),
            None => (Some(decode(url, creds)?), None),
        },
        None => (None, None),
    };
    let (hostname, port) = if let Some(v6) = address.strip_prefix('[') {
        let (name, after) = v6.split_once(']').ok_or_else(|| invalid(url, "unclosed `[` in an IPv6 host"))?;
        (name, after.strip_prefix(':'))
    } else {
        match address.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (address, None),
        }
    };
    let port = match port {
        Some(port) => Some(port.parse::<u16>().map_err(|_| invalid(url, format!("bad port `{port}`")))?),
        None => None,
    };
    Ok(TransportHost { hostname: decode(url, hostname)?, port, username, password })
}

impl fmt::Display for TransportHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.username {
            write!(f, "{}", utf8_percent_encode(user, UNRESERVED))?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        if self.hostname.contains(':') {
            write!(f, "[{}]", self.hostname)?;
        } else {
            f.write_str(&self.hostname)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TransportHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportHost({self})")
    }
}

impl fmt::Display for TransportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{host}")?;
        }
        if let Some(vhost) = &self.virtual_host {
            write!(f, "/{}", utf8_percent_encode(vhost, NON_ALPHANUMERIC))?;
        }
        // Encoded so that the shown URL parses back to the same options.
        for (i, (key, value)) in self.query.iter().enumerate() {
            let (key, value) = (utf8_percent_encode(key, UNRESERVED), utf8_percent_encode(value, UNRESERVED));
            write!(f, "{}{key}={value}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Debug for TransportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> TransportUrl {
        url.parse().unwrap()
    }

    #[test]
    fn no_hosts_and_vhost_rules() {
        let url = parse("rabbit://");
        assert!(url.hosts.is_empty());
        assert_eq!(url.virtual_host, None);
        assert_eq!(parse("rabbit://h/").virtual_host.as_deref(), Some(""));
        assert_eq!(parse("rabbit://h//").virtual_host.as_deref(), Some("/"));
        assert_eq!(parse("fake://").driver(), "fake");
        assert_eq!(parse("kombu+memory://").driver(), "kombu");
    }

    #[test]
    fn credentials_split_on_last_at_and_first_colon() {
        let url = parse("rabbit://us%3Aer:pa:ss@w@rd@host:1234/");
        let host = &url.hosts[0];
        assert_eq!(host.username.as_deref(), Some("us:er"));
        assert_eq!(host.password.as_deref(), Some("pa:ss@w@rd"));
        assert_eq!(host.hostname, "host");
        assert_eq!(host.port, Some(1234));
    }

    #[test]
    fn ipv6_hosts() {
        let url = parse("rabbit://u:p@[::1]:5672,[fe80::1]/");
        assert_eq!(url.hosts[0].hostname, "::1");
        assert_eq!(url.hosts[0].port, Some(5672));
        assert_eq!(url.hosts[1].port, None);
        assert_eq!(url.to_string(), "rabbit://u:***@[::1]:5672,[fe80::1]/");
    }

    #[test]
    fn repeated_query_keys_are_joined() {
        let url = parse("rabbit://h/?a=1&a=2&b=x+y");
        assert_eq!(url.query["a"], "1,2");
        assert_eq!(url.query["b"], "x y");
    }

    #[test]
    fn passwords_never_print() {
        let raw = "rabbit://user:hunter2@h1,other:hunter3@h2/";
        let url = parse(raw);
        for shown in [url.to_string(), format!("{url:?}"), format!("{:?}", url.hosts)] {
            assert!(!shown.contains("hunter"), "{shown}");
        }
        let err = "rabbit://user:hunter2@h1:notaport/".parse::<TransportUrl>().unwrap_err().to_string();
        assert!(!err.contains("hunter2") && err.contains("bad port"), "{err}");
    }

    #[test]
    fn shown_query_options_parse_back() {
        let mut url = parse("rabbit://h/?x=1");
        url.query.insert("odd key".into(), "a&b=c+d %/é".into());
        let shown = url.to_string();
        assert_eq!(parse(&shown).query, url.query, "{shown}");
    }

    #[test]
    fn bad_urls_are_errors() {
        for bad in ["nothing", "://h", "rabbit://h:99999/", "rabbit://[::1/"] {
            assert!(bad.parse::<TransportUrl>().is_err(), "{bad}");
        }
    }
}
