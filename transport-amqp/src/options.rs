//! The `[oslo_messaging_rabbit]` options, read from a transport URL's query.
//!
//! Every option name oslo.messaging knows in that group is accepted (plus oslo's deprecated
//! aliases). Options that mean something here are applied; options that change nothing in
//! courier (connection pools, `heartbeat_rate`, ...) are accepted with one warning; names oslo
//! does not know, and topology-changing options courier does not implement set to a
//! non-default value (`rabbit_stream_fanout`, `use_queue_manager`, `rabbit_ha_queues`,
//! `kombu_compression`), are refused: declaring a different topology than the Python peers
//! would only end in `406 PRECONDITION_FAILED` later.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use courier_runtime::error::TransportError;

/// How the next broker is picked when several hosts are given (oslo's
/// `kombu_failover_strategy`). Either way the host list is shuffled once when the transport
/// is built, as oslo does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailoverStrategy {
    /// Try the (shuffled) hosts in turn.
    #[default]
    RoundRobin,
    /// Pick a random host on every attempt.
    Shuffle,
}

/// The SASL mechanism (oslo's `rabbit_login_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoginMethod {
    /// `PLAIN`.
    Plain,
    /// `AMQPLAIN` (oslo's default).
    #[default]
    AmqPlain,
    /// `EXTERNAL` (client certificate).
    External,
    /// `RABBIT-CR-DEMO`.
    RabbitCrDemo,
}

/// The options of the `rabbit://` transport, named and defaulted as oslo's
/// `[oslo_messaging_rabbit]` group.
///
/// ```
/// use courier_amqp::RabbitOptions;
///
/// let url: courier_runtime::url::TransportUrl =
///     "rabbit://h/?rabbit_qos_prefetch_count=8&amqp_durable_queues=true".parse().unwrap();
/// let options = RabbitOptions::from_url(&url).unwrap();
/// assert_eq!(options.rabbit_qos_prefetch_count, 8);
/// assert!(options.amqp_durable_queues);
/// assert_eq!(options.heartbeat_timeout_threshold, 60);
///
/// let bad: courier_runtime::url::TransportUrl = "rabbit://h/?no_such_option=1".parse().unwrap();
/// assert!(RabbitOptions::from_url(&bad).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RabbitOptions {
    /// AMQP heartbeat timeout in seconds (60). `0` asks for no heartbeat, but lapin then
    /// follows the broker's value.
    pub heartbeat_timeout_threshold: u16,
    /// Prefetch of every consumer when > 0; overrides the listener's own prefetch (0).
    pub rabbit_qos_prefetch_count: u16,
    /// Durable topic exchange and topic/notification queues (false).
    pub amqp_durable_queues: bool,
    /// Auto-delete topic exchange and topic/notification queues (false).
    pub amqp_auto_delete: bool,
    /// Quorum topic/server/notification queues, which are durable (false).
    pub rabbit_quorum_queue: bool,
    /// Quorum reply and fanout queues, durable, with a durable fanout exchange (false).
    pub rabbit_transient_quorum_queue: bool,
    /// `x-delivery-limit` of quorum queues when > 0.
    pub rabbit_quorum_delivery_limit: u32,
    /// `x-max-in-memory-length` of quorum queues when > 0.
    pub rabbit_quorum_max_memory_length: u32,
    /// `x-max-in-memory-bytes` of quorum queues when > 0.
    pub rabbit_quorum_max_memory_bytes: u32,
    /// `x-expires` (seconds) of reply and fanout queues (1800); 0 = none.
    pub rabbit_transient_queues_ttl: u32,
    /// First reconnect interval in seconds (1).
    pub rabbit_retry_interval: u32,
    /// Seconds added to the interval on each attempt (2).
    pub rabbit_retry_backoff: u32,
    /// Cap of the reconnect interval in seconds (30).
    pub rabbit_interval_max: u32,
    /// Extra delay in seconds before each reconnect (1.0).
    pub kombu_reconnect_delay: f64,
    /// Random extra delay of up to this many seconds before each reconnect (0.0).
    pub kombu_reconnect_splay: f64,
    /// How long (seconds) a reply to a missing reply queue is retried (60).
    pub kombu_missing_consumer_retry_timeout: u32,
    /// How the next host is chosen.
    pub kombu_failover_strategy: FailoverStrategy,
    /// SASL mechanism.
    pub rabbit_login_method: LoginMethod,
    /// Connect over TLS (false).
    pub ssl: bool,
    /// PEM file of the CA that signed the broker's certificate (added to the system's trust
    /// store; the broker is always verified).
    pub ssl_ca_file: Option<PathBuf>,
    /// PEM client certificate.
    pub ssl_cert_file: Option<PathBuf>,
    /// PEM (PKCS#8) client key.
    pub ssl_key_file: Option<PathBuf>,
    /// Consumer argument `x-cancel-on-ha-failover` (false).
    pub enable_cancel_on_failover: bool,
    /// Publish replies with `mandatory` so a missing reply queue is noticed (true).
    pub direct_mandatory_flag: bool,
    /// courier's own: the largest body a listener decodes, in bytes
    /// ([`DEFAULT_MAX_MESSAGE_SIZE`]); a larger one is handed up undecoded as
    /// [`WireError::TooLarge`](courier_runtime::wire::WireError::TooLarge), which servers and
    /// notification listeners reject.
    pub courier_max_message_size: usize,
}

/// The default of [`RabbitOptions::courier_max_message_size`]: 16 MiB, RabbitMQ 4's own
/// `max_message_size`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

impl Default for RabbitOptions {
    fn default() -> Self {
        Self {
            heartbeat_timeout_threshold: 60,
            rabbit_qos_prefetch_count: 0,
            amqp_durable_queues: false,
            amqp_auto_delete: false,
            rabbit_quorum_queue: false,
            rabbit_transient_quorum_queue: false,
            rabbit_quorum_delivery_limit: 0,
            rabbit_quorum_max_memory_length: 0,
            rabbit_quorum_max_memory_bytes: 0,
            rabbit_transient_queues_ttl: 1800,
            rabbit_retry_interval: 1,
            rabbit_retry_backoff: 2,
            rabbit_interval_max: 30,
            kombu_reconnect_delay: 1.0,
            kombu_reconnect_splay: 0.0,
            kombu_missing_consumer_retry_timeout: 60,
            kombu_failover_strategy: FailoverStrategy::RoundRobin,
            rabbit_login_method: LoginMethod::AmqPlain,
            ssl: false,
            ssl_ca_file: None,
            ssl_cert_file: None,
            ssl_key_file: None,
            enable_cancel_on_failover: false,
            direct_mandatory_flag: true,
            courier_max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// What courier does with an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Applied.
    Apply,
    /// Accepted, changes nothing here (warned about once).
    Ignore(&'static str),
    /// Changes the topology in a way courier does not implement: refused unless default.
    Unsupported,
}

/// `(name, default as oslo writes it, effect)`; aliases map to their canonical name.
const OPTIONS: &[(&str, &str, Effect)] = &[
    ("rpc_conn_pool_size", "30", Effect::Ignore("courier publishes on one connection")),
    ("conn_pool_min_size", "2", Effect::Ignore("courier publishes on one connection")),
    ("conn_pool_ttl", "1200", Effect::Ignore("courier publishes on one connection")),
    ("ssl", "false", Effect::Apply),
    ("ssl_version", "", Effect::Ignore("rustls negotiates TLS 1.2 or 1.3")),
    ("ssl_key_file", "", Effect::Apply),
    ("ssl_cert_file", "", Effect::Apply),
    ("ssl_ca_file", "", Effect::Apply),
    ("ssl_enforce_hostname_verification", "true", Effect::Ignore("rustls always verifies the host name")),
    ("ssl_enforce_fips_mode", "false", Effect::Ignore("it has no effect in oslo either")),
    ("kombu_reconnect_delay", "1.0", Effect::Apply),
    ("kombu_reconnect_splay", "0.0", Effect::Apply),
    ("kombu_compression", "", Effect::Unsupported),
    ("kombu_missing_consumer_retry_timeout", "60", Effect::Apply),
    ("kombu_failover_strategy", "round-robin", Effect::Apply),
    ("rabbit_login_method", "AMQPLAIN", Effect::Apply),
    ("rabbit_retry_interval", "1", Effect::Apply),
    ("rabbit_retry_backoff", "2", Effect::Apply),
    ("rabbit_interval_max", "30", Effect::Apply),
    ("rabbit_ha_queues", "false", Effect::Unsupported),
    ("rabbit_quorum_queue", "false", Effect::Apply),
    ("rabbit_transient_quorum_queue", "false", Effect::Apply),
    ("rabbit_quorum_delivery_limit", "0", Effect::Apply),
    ("rabbit_quorum_max_memory_length", "0", Effect::Apply),
    ("rabbit_quorum_max_memory_bytes", "0", Effect::Apply),
    ("rabbit_transient_queues_ttl", "1800", Effect::Apply),
    ("courier_max_message_size", "16777216", Effect::Apply),
    ("rabbit_qos_prefetch_count", "0", Effect::Apply),
    ("heartbeat_timeout_threshold", "60", Effect::Apply),
    ("heartbeat_rate", "3", Effect::Ignore("lapin sends heartbeats from its I/O loop")),
    ("heartbeat_in_pthread", "false", Effect::Ignore("courier has no eventlet")),
    ("direct_mandatory_flag", "true", Effect::Apply),
    ("enable_cancel_on_failover", "false", Effect::Apply),
    ("use_queue_manager", "false", Effect::Unsupported),
    ("hostname", "", Effect::Ignore("only used by the queue manager")),
    ("processname", "", Effect::Ignore("only used by the queue manager")),
    ("rabbit_stream_fanout", "false", Effect::Unsupported),
    ("amqp_durable_queues", "false", Effect::Apply),
    ("amqp_auto_delete", "false", Effect::Apply),
];

/// oslo's deprecated names of the options above.
const ALIASES: &[(&str, &str)] = &[
    ("kombu_reconnect_timeout", "kombu_missing_consumer_retry_timeout"),
    ("rabbit_use_ssl", "ssl"),
    ("kombu_ssl_version", "ssl_version"),
    ("kombu_ssl_keyfile", "ssl_key_file"),
    ("kombu_ssl_certfile", "ssl_cert_file"),
    ("kombu_ssl_ca_certs", "ssl_ca_file"),
    ("rabbit_durable_queues", "amqp_durable_queues"),
];

fn invalid(why: impl std::fmt::Display) -> TransportError {
    TransportError::InvalidUrl(why.to_string())
}

fn parse_bool(name: &str, value: &str) -> Result<bool, TransportError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(format!("option `{name}` must be true or false, not `{value}`"))),
    }
}

fn parse_int<T: TryFrom<i64>>(name: &str, value: &str, min: i64) -> Result<T, TransportError> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(format!("option `{name}` must be an integer, not `{value}`")))?;
    if n < min {
        return Err(invalid(format!("option `{name}` must be at least {min}, not {n}")));
    }
    T::try_from(n).map_err(|_| invalid(format!("option `{name}` is out of range: {n}")))
}

fn parse_float(name: &str, value: &str, min: f64, max: f64) -> Result<f64, TransportError> {
    let x: f64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(format!("option `{name}` must be a number, not `{value}`")))?;
    if !(min..=max).contains(&x) {
        return Err(invalid(format!("option `{name}` must be between {min} and {max}, not {x}")));
    }
    Ok(x)
}

fn parse_path(value: &str) -> Option<PathBuf> {
    let value = value.trim();
    (!value.is_empty()).then(|| PathBuf::from(value))
}

/// Whether `value` is the option's default (so an unsupported option may still be named).
fn is_default(name: &str, default: &str, value: &str) -> bool {
    let value = value.trim();
    match default {
        "true" | "false" => parse_bool(name, value).ok() == parse_bool(name, default).ok(),
        _ => value.is_empty() || value.eq_ignore_ascii_case(default),
    }
}

fn warn_once(name: &str, why: &str) {
    static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut warned = WARNED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if warned.insert(name.to_owned()) {
        tracing::warn!(option = name, "transport URL option `{name}` has no effect in courier: {why}");
    }
}

impl RabbitOptions {
    /// Reads the options of a transport URL's query (see the module docs for the rules).
    ///
    /// # Errors
    /// [`TransportError::InvalidUrl`] for a name oslo does not know, a value of the wrong type,
    /// or an unsupported topology option set to a non-default value.
    pub fn from_url(url: &courier_runtime::url::TransportUrl) -> Result<Self, TransportError> {
        Self::from_query(&url.query)
    }

    /// Reads options from `name -> value` pairs.
    ///
    /// # Errors
    /// As [`RabbitOptions::from_url`].
    pub fn from_query(query: &BTreeMap<String, String>) -> Result<Self, TransportError> {
        let mut options = Self::default();
        for (raw_name, value) in query {
            let name =
                ALIASES.iter().find(|(alias, _)| alias == raw_name).map_or(raw_name.as_str(), |(_, n)| *n);
            let Some((_, default, effect)) = OPTIONS.iter().find(|(known, _, _)| *known == name) else {
                return Err(invalid(format!(
                    "`{raw_name}` is not an option of oslo.messaging's [oslo_messaging_rabbit] group"
                )));
            };
            match effect {
                Effect::Apply => options.apply(name, value)?,
                Effect::Ignore(why) => warn_once(name, why),
                Effect::Unsupported if is_default(name, default, value) => {}
                Effect::Unsupported => {
                    return Err(invalid(format!(
                        "option `{name}={value}` changes the broker topology in a way courier does not \
                         support; remove it (courier declares oslo's default topology)"
                    )));
                }
            }
        }
        if options.ssl_cert_file.is_some() != options.ssl_key_file.is_some() {
            return Err(invalid("`ssl_cert_file` and `ssl_key_file` must be given together"));
        }
        if options.heartbeat_timeout_threshold == 0 {
            warn_once(
                "heartbeat_timeout_threshold=0",
                "lapin cannot turn heartbeats off; the broker's heartbeat timeout is used",
            );
        }
        Ok(options)
    }

    fn apply(&mut self, name: &str, value: &str) -> Result<(), TransportError> {
        match name {
            "ssl" => self.ssl = parse_bool(name, value)?,
            "ssl_ca_file" => self.ssl_ca_file = parse_path(value),
            "ssl_cert_file" => self.ssl_cert_file = parse_path(value),
            "ssl_key_file" => self.ssl_key_file = parse_path(value),
            "kombu_reconnect_delay" => self.kombu_reconnect_delay = parse_float(name, value, 0.0, 4.5)?,
            "kombu_reconnect_splay" => self.kombu_reconnect_splay = parse_float(name, value, 0.0, 3600.0)?,
            "kombu_missing_consumer_retry_timeout" => {
                self.kombu_missing_consumer_retry_timeout = parse_int(name, value, 0)?;
            }
            "kombu_failover_strategy" => {
                self.kombu_failover_strategy = match value.trim() {
                    "round-robin" => FailoverStrategy::RoundRobin,
                    "shuffle" => FailoverStrategy::Shuffle,
                    _ => {
                        return Err(invalid(format!(
                            "option `{name}` must be `round-robin` or `shuffle`, not `{value}`"
                        )));
                    }
                };
            }
            "rabbit_login_method" => {
                self.rabbit_login_method = match value.trim() {
                    "PLAIN" => LoginMethod::Plain,
                    "AMQPLAIN" => LoginMethod::AmqPlain,
                    "EXTERNAL" => LoginMethod::External,
                    "RABBIT-CR-DEMO" => LoginMethod::RabbitCrDemo,
                    _ => {
                        return Err(invalid(format!(
                            "option `{name}` must be PLAIN, AMQPLAIN, EXTERNAL or RABBIT-CR-DEMO, not \
                             `{value}`"
                        )));
                    }
                };
            }
            "rabbit_retry_interval" => self.rabbit_retry_interval = parse_int(name, value, 1)?,
            "rabbit_retry_backoff" => self.rabbit_retry_backoff = parse_int(name, value, 0)?,
            "rabbit_interval_max" => self.rabbit_interval_max = parse_int(name, value, 1)?,
            "rabbit_quorum_queue" => self.rabbit_quorum_queue = parse_bool(name, value)?,
            "rabbit_transient_quorum_queue" => self.rabbit_transient_quorum_queue = parse_bool(name, value)?,
            "rabbit_quorum_delivery_limit" => self.rabbit_quorum_delivery_limit = parse_int(name, value, 0)?,
            "rabbit_quorum_max_memory_length" => {
                self.rabbit_quorum_max_memory_length = parse_int(name, value, 0)?;
            }
            "rabbit_quorum_max_memory_bytes" => {
                self.rabbit_quorum_max_memory_bytes = parse_int(name, value, 0)?
            }
            "rabbit_transient_queues_ttl" => self.rabbit_transient_queues_ttl = parse_int(name, value, 0)?,
            "rabbit_qos_prefetch_count" => self.rabbit_qos_prefetch_count = parse_int(name, value, 0)?,
            "courier_max_message_size" => self.courier_max_message_size = parse_int(name, value, 1)?,
            "heartbeat_timeout_threshold" => self.heartbeat_timeout_threshold = parse_int(name, value, 0)?,
            "direct_mandatory_flag" => self.direct_mandatory_flag = parse_bool(name, value)?,
            "enable_cancel_on_failover" => self.enable_cancel_on_failover = parse_bool(name, value)?,
            "amqp_durable_queues" => self.amqp_durable_queues = parse_bool(name, value)?,
            "amqp_auto_delete" => self.amqp_auto_delete = parse_bool(name, value)?,
            _ => unreachable!("option `{name}` is marked applied but has no parser"),
        }
        Ok(())
    }

    /// Whether topic exchanges and shared queues are durable (quorum queues always are).
    #[must_use]
    pub fn durable(&self) -> bool {
        self.amqp_durable_queues || self.rabbit_quorum_queue
    }

    /// The wait before reconnect attempt `attempt` (0-based): `kombu_reconnect_delay` plus
    /// `rabbit_retry_interval + attempt * rabbit_retry_backoff` capped at
    /// `rabbit_interval_max` (plus a random splay of up to `kombu_reconnect_splay`).
    #[must_use]
    pub fn reconnect_delay(&self, attempt: u32) -> Duration {
        let interval = u64::from(self.rabbit_retry_interval)
            .saturating_add(u64::from(attempt).saturating_mul(u64::from(self.rabbit_retry_backoff)))
            .min(u64::from(self.rabbit_interval_max));
        let splay = if self.kombu_reconnect_splay > 0.0 {
            self.kombu_reconnect_splay * (f64::from(random_u32()) / f64::from(u32::MAX))
        } else {
            0.0
        };
        Duration::from_secs(interval) + Duration::from_secs_f64(self.kombu_reconnect_delay + splay)
    }

    /// How long a reply to a missing reply queue is retried.
    #[must_use]
    pub fn missing_consumer_retry_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.kombu_missing_consumer_retry_timeout))
    }
}

/// A random number from the operating system's generator (through uuid v4).
pub(crate) fn random_u32() -> u32 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<RabbitOptions, TransportError> {
        let url: courier_runtime::url::TransportUrl = format!("rabbit://h/?{query}").parse().unwrap();
        RabbitOptions::from_url(&url)
    }

    #[test]
    fn defaults_are_oslos() {
        let options = parse("").unwrap();
        assert_eq!(options, RabbitOptions::default());
        assert_eq!(options.heartbeat_timeout_threshold, 60);
        assert_eq!(options.rabbit_transient_queues_ttl, 1800);
        assert_eq!(options.kombu_missing_consumer_retry_timeout, 60);
        assert_eq!(options.rabbit_login_method, LoginMethod::AmqPlain);
        assert!(options.direct_mandatory_flag && !options.durable());
    }

    #[test]
    fn applied_options_are_read() {
        let options = parse(
            "heartbeat_timeout_threshold=10&rabbit_qos_prefetch_count=7&amqp_durable_queues=True\
             &amqp_auto_delete=yes&rabbit_transient_queues_ttl=0&rabbit_retry_interval=2\
             &rabbit_retry_backoff=3&rabbit_interval_max=9&kombu_reconnect_delay=0.5\
             &kombu_missing_consumer_retry_timeout=5&ssl=1&ssl_ca_file=/tmp/ca.pem\
             &kombu_failover_strategy=shuffle&rabbit_login_method=PLAIN&rabbit_quorum_queue=true\
             &rabbit_quorum_delivery_limit=3",
        )
        .unwrap();
        assert_eq!(options.heartbeat_timeout_threshold, 10);
        assert_eq!(options.rabbit_qos_prefetch_count, 7);
        assert!(options.amqp_durable_queues && options.amqp_auto_delete && options.ssl);
        assert_eq!(options.rabbit_transient_queues_ttl, 0);
        assert_eq!(options.ssl_ca_file, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(options.kombu_failover_strategy, FailoverStrategy::Shuffle);
        assert_eq!(options.rabbit_login_method, LoginMethod::Plain);
        assert_eq!(options.rabbit_quorum_delivery_limit, 3);
        assert_eq!(options.kombu_missing_consumer_retry_timeout, 5);
        assert!((options.kombu_reconnect_delay - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn deprecated_aliases_are_accepted() {
        let options =
            parse("kombu_reconnect_timeout=7&rabbit_durable_queues=true&rabbit_use_ssl=true").unwrap();
        assert_eq!(options.kombu_missing_consumer_retry_timeout, 7);
        assert!(options.amqp_durable_queues && options.ssl);
    }

    #[test]
    fn every_oslo_name_is_accepted_at_its_default() {
        for (name, default, _) in OPTIONS {
            let query = format!("{name}={default}");
            let result = parse(&query);
            assert!(result.is_ok(), "{query}: {:?}", result.err());
        }
        // Ignored options accept any value.
        assert!(parse("rpc_conn_pool_size=5&heartbeat_rate=4&hostname=x&ssl_version=TLSv1_2").is_ok());
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = parse("rabbit_hostt=1").unwrap_err().to_string();
        assert!(err.contains("rabbit_hostt") && err.contains("oslo_messaging_rabbit"), "{err}");
        assert!(parse("heartbeat=5").is_err());
    }

    #[test]
    fn unsupported_topology_options_are_refused_unless_default() {
        for query in [
            "rabbit_stream_fanout=true",
            "use_queue_manager=true",
            "rabbit_ha_queues=true",
            "kombu_compression=gzip",
        ] {
            let err = parse(query).unwrap_err().to_string();
            assert!(err.contains("topology"), "{query}: {err}");
        }
        assert!(parse("rabbit_stream_fanout=false&use_queue_manager=0&rabbit_ha_queues=False").is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        for query in [
            "ssl=maybe",
            "rabbit_qos_prefetch_count=-1",
            "rabbit_qos_prefetch_count=70000",
            "rabbit_retry_interval=0",
            "kombu_reconnect_delay=9",
            "kombu_failover_strategy=random",
            "rabbit_login_method=KERBEROS",
            "ssl_cert_file=/tmp/c.pem",
        ] {
            assert!(parse(query).is_err(), "{query}");
        }
    }

    #[test]
    fn reconnect_delay_grows_and_is_capped() {
        let options = RabbitOptions { kombu_reconnect_delay: 0.0, ..RabbitOptions::default() };
        let secs: Vec<u64> = (0..20).map(|n| options.reconnect_delay(n).as_secs()).collect();
        assert_eq!(&secs[..4], &[1, 3, 5, 7]);
        assert_eq!(secs[19], 30);
        let with_delay = RabbitOptions::default().reconnect_delay(0);
        assert_eq!(with_delay, Duration::from_secs(2));
    }
}
