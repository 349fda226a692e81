//! Opening connections: host failover, credentials, vhost, TLS, heartbeats, and the reconnect
//! backoff oslo uses.
//!
//! Failover follows oslo: with several hosts the list is shuffled once when the transport is
//! built, then `kombu_failover_strategy=round-robin` (the default) tries the hosts in that order,
//! one after the other, while `shuffle` picks a random host for every attempt.
//!
//! TLS (`ssl=true`) goes through rustls and always verifies the broker's certificate and host
//! name: against the system's trust store plus the CA in `ssl_ca_file` when given. (oslo skips
//! verification when `ssl_ca_file` is empty; courier does not.) `ssl_cert_file` and
//! `ssl_key_file` (PEM, PKCS#8 key) present a client certificate.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use courier_runtime::{error::TransportError, url::TransportUrl};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo, SASLMechanism};
use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::options::{FailoverStrategy, LoginMethod, RabbitOptions, random_u32};

/// How long one TCP + TLS + AMQP handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// One broker address with its credentials.
#[derive(Clone, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    username: String,
    password: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.username, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.username, self.host, self.port)
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

/// Everything needed to open a connection to one of the transport's brokers.
pub(crate) struct Broker {
    endpoints: Vec<Endpoint>,
    vhost: String,
    options: RabbitOptions,
    tls: Option<OwnedTLSConfig>,
    next: AtomicUsize,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("endpoints", &self.endpoints)
            .field("vhost", &self.vhost)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

fn read_file(option: &str, path: &std::path::Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path)
        .map_err(|e| TransportError::InvalidUrl(format!("cannot read {option} `{}`: {e}", path.display())))
}

/// Shuffles in place (Fisher-Yates).
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = random_u32() as usize % (i + 1);
        items.swap(i, j);
    }
}

impl Broker {
    /// Reads hosts, credentials, vhost and TLS files. No hosts means
    /// `guest:guest@localhost:5672`; no vhost (or an empty one) means `/`.
    pub(crate) fn new(url: &TransportUrl, options: RabbitOptions) -> Result<Self, TransportError> {
        let mut endpoints: Vec<Endpoint> = url
            .hosts
            .iter()
            .map(|host| Endpoint {
                host: if host.hostname.is_empty() { "localhost".to_owned() } else { host.hostname.clone() },
                port: host.port.unwrap_or(5672),
                username: host.username.clone().unwrap_or_else(|| "guest".to_owned()),
                password: host.password.clone().unwrap_or_else(|| "guest".to_owned()),
            })
            .collect();
        if endpoints.is_empty() {
            endpoints.push(Endpoint {
                host: "localhost".into(),
                port: 5672,
                username: "guest".into(),
                password: "guest".into(),
            });
        }
        shuffle(&mut endpoints);
        let vhost = match url.virtual_host.as_deref() {
            None | Some("") => "/".to_owned(),
            Some(vhost) => vhost.to_owned(),
        };
        let tls = if options.ssl {
            // The CA file is added to the system's trust store (rustls-native-certs).
            let cert_chain = match &options.ssl_ca_file {
                Some(path) => Some(String::from_utf8(read_file("ssl_ca_file", path)?).map_err(|_| {
                    TransportError::InvalidUrl(format!("ssl_ca_file `{}` is not a PEM file", path.display()))
                })?),
                None => None,
            };
            let identity = match (&options.ssl_cert_file, &options.ssl_key_file) {
                (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
                    pem: read_file("ssl_cert_file", cert)?,
                    key: read_file("ssl_key_file", key)?,
                }),
                _ => None,
            };
            Some(OwnedTLSConfig { identity, cert_chain })
        } else {
            None
        };
        Ok(Self { endpoints, vhost, options, tls, next: AtomicUsize::new(0) })
    }

    /// The options the transport was built with.
    pub(crate) fn options(&self) -> &RabbitOptions {
        &self.options
    }

    fn pick(&self) -> &Endpoint {
        let index = match self.options.kombu_failover_strategy {
            FailoverStrategy::Shuffle => random_u32() as usize,
            _ => self.next.fetch_add(1, Ordering::Relaxed),
        };
        &self.endpoints[index % self.endpoints.len()]
    }

    fn uri(&self, endpoint: &Endpoint) -> AMQPUri {
        let auth_mechanism = match self.options.rabbit_login_method {
            LoginMethod::Plain => SASLMechanism::Plain,
            LoginMethod::External => SASLMechanism::External,
            LoginMethod::RabbitCrDemo => SASLMechanism::RabbitCrDemo,
            _ => SASLMechanism::AMQPlain,
        };
        AMQPUri {
            scheme: if self.tls.is_some() { AMQPScheme::AMQPS } else { AMQPScheme::AMQP },
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: endpoint.username.clone(),
                    password: endpoint.password.clone(),
                },
                host: endpoint.host.clone(),
                port: endpoint.port,
            },
            vhost: self.vhost.clone(),
            query: AMQPQueryString {
                heartbeat: Some(self.options.heartbeat_timeout_threshold),
                connection_timeout: Some(CONNECT_TIMEOUT.as_millis() as u64),
                auth_mechanism: Some(auth_mechanism),
                ..AMQPQueryString::default()
            },
        }
    }

    async fn connect_endpoint(&self, endpoint: &Endpoint, purpose: &str) -> Result<Connection, String> {
        let name = format!(
            "{}:{}:{}",
            std::env::args()
                .next()
                .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "courier".into()),
            std::process::id(),
            uuid::Uuid::new_v4()
        );
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
        let uri = self.uri(endpoint);
        let tls = self.tls.clone().unwrap_or_default();
        match tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri_with_config(uri, properties, tls, runtime),
        )
        .await
        {
            Ok(Ok(connection)) => {
                tracing::debug!(broker = %endpoint, vhost = %self.vhost, purpose, "connected to the broker");
                Ok(connection)
            }
            Ok(Err(error)) => Err(describe_connect_error(&error, self.tls.is_some())),
            Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
        }
    }

    /// One round through the hosts; the first that accepts wins.
    pub(crate) async fn connect_once(&self, purpose: &str) -> Result<Connection, TransportError> {
        let mut failures = Vec::new();
        for _ in 0..self.endpoints.len() {
            let endpoint = self.pick();
            match self.connect_endpoint(endpoint, purpose).await {
                Ok(connection) => return Ok(connection),
                Err(why) => {
                    tracing::warn!(broker = %endpoint, purpose, "cannot connect to the broker: {why}");
                    failures.push(format!(
                        "{}://{endpoint}/ ({why})",
                        if self.tls.is_some() { "amqps" } else { "amqp" }
                    ));
                }
            }
        }
        Err(TransportError::Connection {
            reason: format!("cannot connect to any broker (vhost `{}`): {}", self.vhost, failures.join("; ")),
            source: None,
        })
    }

    /// Connects, retrying with oslo's backoff until it works, `closing` turns true (then
    /// [`TransportError::Closed`]) or `deadline` passes (then the last connection error).
    pub(crate) async fn connect_retrying(
        &self,
        purpose: &str,
        closing: &mut watch::Receiver<bool>,
        deadline: Option<Instant>,
    ) -> Result<Connection, TransportError> {
        let mut attempt = 0;
        loop {
            if *closing.borrow() {
                return Err(TransportError::Closed);
            }
            let error = match self.connect_once(purpose).await {
                Ok(connection) => return Ok(connection),
                Err(error) => error,
            };
            let delay = self.options.reconnect_delay(attempt);
            attempt = attempt.saturating_add(1);
            let wake = Instant::now() + delay;
            if deadline.is_some_and(|deadline| wake >= deadline) {
                return Err(error);
            }
            tracing::info!(purpose, ?delay, "will reconnect to the broker");
            if wait_or_closing(closing, delay).await {
                return Err(TransportError::Closed);
            }
        }
    }
}

/// Sleeps for `delay`; returns `true` early if `closing` turns true (or its sender is gone).
pub(crate) async fn wait_or_closing(closing: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = until_closing(closing) => true,
    }
}

/// Resolves once `closing` turns true or its sender (the transport) is gone.
pub(crate) async fn until_closing(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

fn describe_connect_error(error: &lapin::Error, tls: bool) -> String {
    let text = error.to_string();
    let lower = text.to_lowercase();
    if tls
        && let lapin::ErrorKind::IOError(io) = error.kind()
        && matches!(io.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof)
    {
        // A TLS listener that requires a client certificate drops the connection after the
        // handshake (TLS 1.3) instead of failing it: say what is most likely wrong.
        format!(
            "the broker closed the TLS connection during the handshake: {text} (does it require a \
             client certificate? set ssl_cert_file and ssl_key_file)"
        )
    } else if tls && (lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")) {
        format!(
            "TLS handshake failed: {text} (is the broker's certificate signed by the CA in ssl_ca_file, \
             and issued for this host name?)"
        )
    } else if lower.contains("access_refused") || lower.contains("authentication") {
        format!("authentication failed: {text} (check the user name and password in the transport URL)")
    } else if lower.contains("not_allowed") || lower.contains("vhost") {
        format!("the broker refused the virtual host: {text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(url: &str) -> Broker {
        let url: TransportUrl = url.parse().unwrap();
        let options = RabbitOptions::from_url(&url).unwrap();
        Broker::new(&url, options).unwrap()
    }

    #[test]
    fn no_hosts_means_guest_on_localhost() {
        let b = broker("rabbit://");
        assert_eq!(
            b.endpoints,
            [Endpoint {
                host: "localhost".into(),
                port: 5672,
                username: "guest".into(),
                password: "guest".into()
            }]
        );
        assert_eq!(b.vhost, "/");
        assert_eq!(broker("rabbit://h/").vhost, "/");
        assert_eq!(broker("rabbit://h//").vhost, "/");
        assert_eq!(broker("rabbit://h/my%2Fvhost").vhost, "my/vhost");
    }

    #[test]
    fn uri_carries_credentials_vhost_and_heartbeat() {
        let b =
            broker("rabbit://me:s3cret@h1:5673/v?heartbeat_timeout_threshold=20&rabbit_login_method=PLAIN");
        let uri = b.uri(&b.endpoints[0]);
        assert_eq!(uri.authority.userinfo.username, "me");
        assert_eq!(uri.authority.userinfo.password, "s3cret");
        assert_eq!((uri.authority.host.as_str(), uri.authority.port), ("h1", 5673));
        assert_eq!(uri.vhost, "v");
        assert_eq!(uri.query.heartbeat, Some(20));
        assert_eq!(uri.query.auth_mechanism, Some(SASLMechanism::Plain));
        assert_eq!(uri.scheme, AMQPScheme::AMQP);
        assert_eq!(
            broker("rabbit://h/")
                .uri(&Endpoint { host: "h".into(), port: 1, username: "u".into(), password: "p".into() })
                .query
                .auth_mechanism,
            Some(SASLMechanism::AMQPlain)
        );
    }

    #[test]
    fn round_robin_visits_every_host() {
        let b = broker("rabbit://a:1@h1,b:2@h2,h3:5674/");
        let mut seen: Vec<String> = (0..3).map(|_| b.pick().host.clone()).collect();
        seen.sort();
        assert_eq!(seen, ["h1", "h2", "h3"]);
        let h3 = b.endpoints.iter().find(|e| e.host == "h3").unwrap();
        assert_eq!((h3.port, h3.username.as_str()), (5674, "guest"));
    }

    #[test]
    fn debug_hides_passwords() {
        let b = broker("rabbit://me:hunter2@h1,you:hunter3@h2/");
        let shown = format!("{b:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("me@"), "{shown}");
    }

    #[test]
    fn ssl_ca_file_must_be_readable() {
        let url: TransportUrl = "rabbit://h/?ssl=true".parse().unwrap();
        let b = Broker::new(&url, RabbitOptions::from_url(&url).unwrap()).unwrap();
        assert_eq!(b.uri(&b.endpoints[0]).scheme, AMQPScheme::AMQPS);
        let url: TransportUrl = "rabbit://h/?ssl=true&ssl_ca_file=/nonexistent/ca.pem".parse().unwrap();
        let err = Broker::new(&url, RabbitOptions::from_url(&url).unwrap()).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
