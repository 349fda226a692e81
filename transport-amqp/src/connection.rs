//! Opening connections: host failover, credentials, vhost, TLS, heartbeats, and the reconnect
//! backoff oslo uses.
//!
//! Failover follows oslo: with several hosts the list is shuffled once when the transport is
//! built, then `kombu_failover_strategy=round-robin` (the default) tries the hosts in that order,
//! one after the other, while `shuffle` picks a random host for every attempt.
//!
//! `heartbeat_timeout_threshold` is the heartbeat courier asks for; `0` turns heartbeats off
//! on both sides, as oslo does (see `heartbeat_off`).
//!
//! TLS (`ssl=true`) goes through rustls and always verifies the broker's certificate and host
//! name: against the system's trust store plus the CA in `ssl_ca_file` when given. oslo 18.3.1
//! on py-amqp 5 verifies the chain against the system's store too when `ssl_ca_file` is empty,
//! but then checks no host name (it passes no `server_hostname`); courier always checks it.
//! `ssl_cert_file` and `ssl_key_file` (PEM, PKCS#8 key) present a client certificate.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use courier_runtime::{error::BoxError, error::TransportError, url::TransportUrl};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo, SASLMechanism};
use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::options::{FailoverStrategy, LoginMethod, RabbitOptions};
use crate::supervisor::{Backoff, Failed, NoStop, retrying};

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
        fastrand::shuffle(&mut endpoints);
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
            FailoverStrategy::Shuffle => fastrand::usize(..self.endpoints.len()),
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

    async fn connect_endpoint(&self, endpoint: &Endpoint, purpose: &str) -> Result<Connection, ConnectError> {
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
        let tls = self.tls.is_some();
        let uri = self.uri(endpoint);
        let config = self.tls.clone().unwrap_or_default();
        let connect = async {
            if self.options.heartbeat_timeout_threshold == 0 {
                crate::heartbeat_off::connect(uri, properties, config).await
            } else {
                let runtime = lapin::runtime::default_runtime()?;
                Connection::connect_uri_with_config(uri, properties, config, runtime).await
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(connection)) => {
                tracing::debug!(broker = %endpoint, vhost = %self.vhost, purpose, "connected to the broker");
                Ok(connection)
            }
            Ok(Err(error)) => Err(ConnectError::new(error, tls)),
            Err(elapsed) => Err(ConnectError {
                text: format!("no answer within {CONNECT_TIMEOUT:?}"),
                source: Box::new(elapsed),
            }),
        }
    }

    /// One round through the hosts; the first that accepts wins. The error keeps the last
    /// host's failure as its source.
    pub(crate) async fn connect_once(&self, purpose: &str) -> Result<Connection, TransportError> {
        let mut failures = Vec::new();
        let mut last = None;
        for _ in 0..self.endpoints.len() {
            let endpoint = self.pick();
            match self.connect_endpoint(endpoint, purpose).await {
                Ok(connection) => return Ok(connection),
                Err(error) => {
                    tracing::warn!(broker = %endpoint, purpose, "cannot connect to the broker: {error}");
                    failures.push(format!(
                        "{}://{endpoint}/ ({error})",
                        if self.tls.is_some() { "amqps" } else { "amqp" }
                    ));
                    last = Some(error.source);
                }
            }
        }
        Err(TransportError::Connection {
            reason: format!("cannot connect to any broker (vhost `{}`): {}", self.vhost, failures.join("; ")),
            source: last,
        })
    }

    /// Connects, retrying with oslo's backoff until it works, `closing` turns true (then
    /// [`TransportError::Closed`]) or `deadline` passes (then the last connection error).
    pub(crate) async fn connect_retrying(
        &self,
        purpose: &'static str,
        closing: watch::Receiver<bool>,
        deadline: Option<Instant>,
    ) -> Result<Connection, TransportError> {
        let mut backoff = Backoff::new(purpose, &self.options, closing).with_deadline(deadline);
        retrying(&mut backoff, &mut NoStop, || async {
            self.connect_once(purpose).await.map_err(Failed::Retry)
        })
        .await
    }
}

/// Resolves once `closing` turns true or its sender (the transport) is gone.
pub(crate) async fn until_closing(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// What went wrong connecting to one broker, told by lapin's error kind and the AMQP reply code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectFailure {
    /// 403 ACCESS_REFUSED during the handshake, or the SASL mechanism failed.
    AccessRefused,
    /// 530 NOT_ALLOWED: the virtual host does not exist or the user may not use it.
    VhostRefused,
    /// rustls did not accept the broker's certificate (unknown CA, wrong host name, expired).
    Certificate,
    /// The broker's TLS listener wants a client certificate (it said so, or dropped the
    /// connection during the handshake, as TLS 1.3 listeners do).
    ClientCertificate,
    /// Another TLS failure (protocol versions, ciphers, a plain AMQP port).
    Tls,
    /// Anything else (refused TCP connection, unknown host, ...): lapin's words suffice.
    Other,
}

impl ConnectFailure {
    fn of(error: &lapin::Error, tls: bool) -> Self {
        use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
        match error.kind() {
            lapin::ErrorKind::ProtocolError(amqp) => match amqp.kind() {
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => Self::AccessRefused,
                AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => Self::VhostRefused,
                _ => Self::Other,
            },
            lapin::ErrorKind::AuthProviderError(_) => Self::AccessRefused,
            lapin::ErrorKind::IOError(io) if tls => match rustls_error(io) {
                Some(rustls::Error::InvalidCertificate(_) | rustls::Error::UnsupportedNameType) => {
                    Self::Certificate
                }
                Some(rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)) => {
                    Self::ClientCertificate
                }
                Some(_) => Self::Tls,
                None if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) =>
                {
                    Self::ClientCertificate
                }
                None if io.kind() == std::io::ErrorKind::InvalidData => Self::Tls,
                None => Self::Other,
            },
            _ => Self::Other,
        }
    }

    /// lapin's `text` with what a person should check.
    fn describe(self, text: &str) -> String {
        match self {
            Self::AccessRefused => {
                format!(
                    "authentication failed: {text} (check the user name and password in the transport URL)"
                )
            }
            Self::VhostRefused => format!(
                "the broker refused the virtual host: {text} (does it exist, and may this user use it?)"
            ),
            Self::Certificate => format!(
                "TLS handshake failed: {text} (is the broker's certificate signed by the CA in \
                 ssl_ca_file, and issued for this host name?)"
            ),
            Self::ClientCertificate => format!(
                "the broker closed the TLS connection during the handshake: {text} (does it require a \
                 client certificate? set ssl_cert_file and ssl_key_file)"
            ),
            Self::Tls => format!("TLS handshake failed: {text} (is this the broker's TLS port?)"),
            Self::Other => text.to_owned(),
        }
    }
}

/// The rustls error inside an I/O error (futures-rustls wraps handshake failures so).
fn rustls_error(io: &std::io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// One broker's connection failure: classified, described, and the original error kept.
struct ConnectError {
    /// For a person, from [`ConnectFailure::describe`].
    text: String,
    source: BoxError,
}

impl ConnectError {
    fn new(error: lapin::Error, tls: bool) -> Self {
        let kind = ConnectFailure::of(&error, tls);
        Self { text: kind.describe(&error.to_string()), source: Box::new(error) }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
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

    fn amqp_error(kind: lapin::protocol::AMQPErrorKind) -> lapin::Error {
        lapin::ErrorKind::ProtocolError(lapin::protocol::AMQPError::new(kind, "refused".into())).into()
    }

    fn io_error(kind: std::io::ErrorKind, inner: Option<rustls::Error>) -> lapin::Error {
        match inner {
            Some(inner) => std::io::Error::new(kind, inner).into(),
            None => std::io::Error::from(kind).into(),
        }
    }

    #[test]
    fn connect_failures_are_classified_by_kind() {
        use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
        use std::io::ErrorKind as Io;
        let of = ConnectFailure::of;
        assert_eq!(
            of(&amqp_error(AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)), false),
            ConnectFailure::AccessRefused
        );
        assert_eq!(
            of(&amqp_error(AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED)), false),
            ConnectFailure::VhostRefused
        );
        assert_eq!(
            of(&amqp_error(AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)), false),
            ConnectFailure::Other
        );
        let unknown_ca = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            of(&io_error(Io::InvalidData, Some(unknown_ca.clone())), true),
            ConnectFailure::Certificate
        );
        let wants_certificate = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert_eq!(
            of(&io_error(Io::InvalidData, Some(wants_certificate)), true),
            ConnectFailure::ClientCertificate
        );
        assert_eq!(of(&io_error(Io::ConnectionReset, None), true), ConnectFailure::ClientCertificate);
        assert_eq!(
            of(&io_error(Io::InvalidData, Some(rustls::Error::DecryptError)), true),
            ConnectFailure::Tls
        );
        // Without TLS, a reset is only a reset, and nothing is read into lapin's words.
        assert_eq!(of(&io_error(Io::ConnectionReset, None), false), ConnectFailure::Other);
        assert_eq!(of(&io_error(Io::ConnectionRefused, None), true), ConnectFailure::Other);
        // A message that merely mentions a certificate is not classified by its words.
        let worded: lapin::Error = lapin::ErrorKind::AuthProviderError("certificate".into()).into();
        assert_eq!(of(&worded, true), ConnectFailure::AccessRefused);
    }

    #[test]
    fn connect_errors_keep_lapins_error_as_their_source() {
        let error = ConnectError::new(
            amqp_error(lapin::protocol::AMQPErrorKind::Soft(lapin::protocol::AMQPSoftError::ACCESSREFUSED)),
            false,
        );
        assert!(error.text.starts_with("authentication failed: "), "{}", error.text);
        assert!(error.text.contains("user name and password"), "{}", error.text);
        let source = error.source.downcast_ref::<lapin::Error>().expect("lapin's error");
        assert!(source.is_amqp_soft_error());
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
