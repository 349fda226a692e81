//! The `[oslo_messaging_rabbit]` options, read from a transport URL's query.
//!
//! Every option name oslo.messaging knows in that group is accepted (plus oslo's deprecated
//! aliases). Options that mean something here are applied; options that change nothing in
//! courier (connection pools, `heartbeat_rate`, ...) are accepted with one warning; names oslo
//! does not know, and topology-changing options courier does not implement set to a
//! non-default value (`rabbit_ha_queues`, `kombu_compression`), are refused: declaring a
//! different topology than the Python peers would only end in `406 PRECONDITION_FAILED` later.

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

/// What courier does with an option.
#[derive(Clone, Copy)]
enum Effect {
    /// Parsed into its [`RabbitOptions`] field.
    Apply(fn(&mut RabbitOptions, &str, &str) -> Result<(), TransportError>),
    /// Accepted, changes nothing here (warned about once).
    Ignore(&'static str),
    /// Changes the topology in a way courier does not implement: refused unless default.
    Unsupported,
}

/// One option of oslo's group.
struct OptionSpec {
    name: &'static str,
    /// The default as oslo writes it (an unsupported option may be given with it).
    default: &'static str,
    effect: Effect,
}

/// Declares every `[oslo_messaging_rabbit]` option once. An applied option is a line
/// `name: Type = default, oslo "default as oslo writes it", parser;` and becomes a field of
/// [`RabbitOptions`], its default and its row in [`OPTIONS`] (whose setter runs the parser, a
/// `fn(name, value) -> Result<Type, _>`); ignored and unsupported options are rows only.
macro_rules! rabbit_options {
    (
        $(#[$struct_meta:meta])*
        pub struct RabbitOptions {
            $(
                $(#[$field_meta:meta])*
                $field:ident: $ty:ty = $default:expr, oslo $oslo_default:literal, $parse:expr;
            )*
        }
        ignored {
            $($ignored:ident = $ignored_default:literal: $why:literal,)*
        }
        unsupported {
            $($unsupported:ident = $unsupported_default:literal,)*
        }
    ) => {
        $(#[$struct_meta])*
        pub struct RabbitOptions {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl Default for RabbitOptions {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        /// Every option name oslo knows in the group (aliases map to these).
        const OPTIONS: &[OptionSpec] = &[
            $(
                OptionSpec {
                    name: stringify!($field),
                    default: $oslo_default,
                    effect: Effect::Apply(|options, name, value| {
                        options.$field = ($parse)(name, value)?;
                        Ok(())
                    }),
                },
            )*
            $(
                OptionSpec {
                    name: stringify!($ignored),
                    default: $ignored_default,
                    effect: Effect::Ignore($why),
                },
            )*
            $(
                OptionSpec {
                    name: stringify!($unsupported),
                    default: $unsupported_default,
                    effect: Effect::Unsupported,
                },
            )*
        ];
    };
}

rabbit_options! {
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
        /// AMQP heartbeat timeout in seconds (60); the lower of this and the broker's value is
        /// used. `0` turns heartbeats off on both sides, as oslo does, whatever the broker
        /// proposes.
        heartbeat_timeout_threshold: u16 = 60, oslo "60", |n, v| parse_int(n, v, 0);
        /// Prefetch of every consumer when > 0; overrides the listener's own prefetch (0).
        rabbit_qos_prefetch_count: u16 = 0, oslo "0", |n, v| parse_int(n, v, 0);
        /// Durable topic exchange and topic/notification queues (false).
        amqp_durable_queues: bool = false, oslo "false", parse_bool;
        /// Auto-delete topic exchange and topic/notification queues (false).
        amqp_auto_delete: bool = false, oslo "false", parse_bool;
        /// Quorum topic/server/notification queues, which are durable (false).
        rabbit_quorum_queue: bool = false, oslo "false", parse_bool;
        /// Quorum reply and fanout queues, durable, with a durable fanout exchange (false).
        rabbit_transient_quorum_queue: bool = false, oslo "false", parse_bool;
        /// `x-delivery-limit` of quorum queues when > 0.
        rabbit_quorum_delivery_limit: u32 = 0, oslo "0", |n, v| parse_int(n, v, 0);
        /// `x-max-in-memory-length` of quorum queues when > 0.
        rabbit_quorum_max_memory_length: u32 = 0, oslo "0", |n, v| parse_int(n, v, 0);
        /// `x-max-in-memory-bytes` of quorum queues when > 0.
        rabbit_quorum_max_memory_bytes: u32 = 0, oslo "0", |n, v| parse_int(n, v, 0);
        /// `x-expires` (seconds) of reply and fanout queues (1800); 0 = none.
        rabbit_transient_queues_ttl: u32 = 1800, oslo "1800", |n, v| parse_int(n, v, 0);
        /// First reconnect interval in seconds (1).
        rabbit_retry_interval: u32 = 1, oslo "1", |n, v| parse_int(n, v, 1);
        /// Seconds added to the interval on each attempt (2).
        rabbit_retry_backoff: u32 = 2, oslo "2", |n, v| parse_int(n, v, 0);
        /// Cap of the reconnect interval in seconds (30).
        rabbit_interval_max: u32 = 30, oslo "30", |n, v| parse_int(n, v, 1);
        /// Extra delay in seconds before each reconnect (1.0).
        kombu_reconnect_delay: f64 = 1.0, oslo "1.0", |n, v| parse_float(n, v, 0.0, 4.5);
        /// Random extra delay of up to this many seconds before each reconnect (0.0).
        kombu_reconnect_splay: f64 = 0.0, oslo "0.0", |n, v| parse_float(n, v, 0.0, 3600.0);
        /// How long (seconds) a reply to a missing reply queue is retried (60).
        kombu_missing_consumer_retry_timeout: u32 = 60, oslo "60", |n, v| parse_int(n, v, 0);
        /// How the next host is chosen.
        kombu_failover_strategy: FailoverStrategy = FailoverStrategy::RoundRobin, oslo "round-robin",
            parse_failover_strategy;
        /// SASL mechanism.
        rabbit_login_method: LoginMethod = LoginMethod::AmqPlain, oslo "AMQPLAIN", parse_login_method;
        /// Connect over TLS (false).
        ssl: bool = false, oslo "false", parse_bool;
        /// PEM file of the CA that signed the broker's certificate (added to the system's trust
        /// store; the broker is always verified).
        ssl_ca_file: Option<PathBuf> = None, oslo "", parse_path;
        /// PEM client certificate.
        ssl_cert_file: Option<PathBuf> = None, oslo "", parse_path;
        /// PEM (PKCS#8) client key.
        ssl_key_file: Option<PathBuf> = None, oslo "", parse_path;
        /// Consumer argument `x-cancel-on-ha-failover` (false).
        enable_cancel_on_failover: bool = false, oslo "false", parse_bool;
        /// Publish replies with `mandatory` so a missing reply queue is noticed (true).
        direct_mandatory_flag: bool = true, oslo "true", parse_bool;
        /// Stable reply and fanout queue names per service, `<hostname>:<processname>:<n>`
        /// (oslo's queue manager; see below) instead of random ones (false).
        use_queue_manager: bool = false, oslo "false", parse_bool;
        /// The host name in the queue manager's names (the host's name when empty).
        hostname: Option<String> = None, oslo "", parse_name;
        /// The process name in the queue manager's names (the program's file name when empty).
        processname: Option<String> = None, oslo "", parse_name;
        /// One shared stream queue `<topic>_fanout` (`x-queue-type: stream`) per topic instead of
        /// a fanout queue per server (false); needs `rabbit_qos_prefetch_count` > 0 and
        /// `rabbit_transient_quorum_queue`, as in oslo. `rabbit_transient_queues_ttl` becomes the
        /// stream's `x-max-age`.
        rabbit_stream_fanout: bool = false, oslo "false", parse_bool;
        /// courier's own: the largest body a listener decodes, in bytes
        /// ([`DEFAULT_MAX_MESSAGE_SIZE`]); a larger one is handed up undecoded as
        /// [`WireError::TooLarge`](courier_runtime::wire::WireError::TooLarge), which servers and
        /// notification listeners reject.
        courier_max_message_size: usize = DEFAULT_MAX_MESSAGE_SIZE, oslo "16777216", |n, v| parse_int(n, v, 1);
    }
    ignored {
        rpc_conn_pool_size = "30": "courier publishes on one connection",
        conn_pool_min_size = "2": "courier publishes on one connection",
        conn_pool_ttl = "1200": "courier publishes on one connection",
        ssl_version = "": "rustls negotiates TLS 1.2 or 1.3",
        ssl_enforce_hostname_verification = "true": "rustls always verifies the host name",
        ssl_enforce_fips_mode = "false": "it has no effect in oslo either",
        heartbeat_rate = "3": "lapin sends heartbeats from its I/O loop",
        heartbeat_in_pthread = "false": "courier has no eventlet",
    }
    unsupported {
        kombu_compression = "",
        rabbit_ha_queues = "false",
    }
}

/// The default of [`RabbitOptions::courier_max_message_size`]: 16 MiB, RabbitMQ 4's own
/// `max_message_size`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

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

fn parse_path(_name: &str, value: &str) -> Result<Option<PathBuf>, TransportError> {
    let value = value.trim();
    Ok((!value.is_empty()).then(|| PathBuf::from(value)))
}

fn parse_name(name: &str, value: &str) -> Result<Option<String>, TransportError> {
    let value = value.trim();
    if value.contains('/') {
        return Err(invalid(format!(
            "option `{name}` names a file in /dev/shm, so it cannot hold `/`: `{value}`"
        )));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

fn parse_failover_strategy(name: &str, value: &str) -> Result<FailoverStrategy, TransportError> {
    match value.trim() {
        "round-robin" => Ok(FailoverStrategy::RoundRobin),
        "shuffle" => Ok(FailoverStrategy::Shuffle),
        _ => Err(invalid(format!("option `{name}` must be `round-robin` or `shuffle`, not `{value}`"))),
    }
}

fn parse_login_method(name: &str, value: &str) -> Result<LoginMethod, TransportError> {
    match value.trim() {
        "PLAIN" => Ok(LoginMethod::Plain),
        "AMQPLAIN" => Ok(LoginMethod::AmqPlain),
        "EXTERNAL" => Ok(LoginMethod::External),
        "RABBIT-CR-DEMO" => Ok(LoginMethod::RabbitCrDemo),
        _ => Err(invalid(format!(
            "option `{name}` must be PLAIN, AMQPLAIN, EXTERNAL or RABBIT-CR-DEMO, not `{value}`"
        ))),
    }
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
            let Some(spec) = OPTIONS.iter().find(|spec| spec.name == name) else {
                return Err(invalid(format!(
                    "`{raw_name}` is not an option of oslo.messaging's [oslo_messaging_rabbit] group"
                )));
            };
            match spec.effect {
                Effect::Apply(set) => set(&mut options, name, value)?,
                Effect::Ignore(why) => warn_once(name, why),
                Effect::Unsupported if is_default(name, spec.default, value) => {}
                Effect::Unsupported => {
                    return Err(invalid(format!(
                        "option `{name}={value}` changes the broker topology in a way courier does not \
                         support; remove it (courier declares oslo's default topology)"
                    )));
                }
            }
        }
        if options.rabbit_stream_fanout && options.rabbit_qos_prefetch_count == 0 {
            return Err(invalid(
                "rabbit_stream_fanout needs rabbit_qos_prefetch_count to be set to a value greater than 0",
            ));
        }
        if options.rabbit_stream_fanout && !options.rabbit_transient_quorum_queue {
            return Err(invalid(
                "rabbit_stream_fanout needs rabbit_transient_quorum_queue to be set to true",
            ));
        }
        if options.ssl_cert_file.is_some() != options.ssl_key_file.is_some() {
            return Err(invalid("`ssl_cert_file` and `ssl_key_file` must be given together"));
        }
        Ok(options)
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
        let splay =
            if self.kombu_reconnect_splay > 0.0 { self.kombu_reconnect_splay * fastrand::f64() } else { 0.0 };
        Duration::from_secs(interval) + Duration::from_secs_f64(self.kombu_reconnect_delay + splay)
    }

    /// How long a reply to a missing reply queue is retried.
    #[must_use]
    pub fn missing_consumer_retry_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.kombu_missing_consumer_retry_timeout))
    }
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
        for OptionSpec { name, default, .. } in OPTIONS {
            let query = format!("{name}={default}");
            let result = parse(&query);
            assert!(result.is_ok(), "{query}: {:?}", result.err());
        }
        // Ignored options accept any value.
        assert!(parse("rpc_conn_pool_size=5&heartbeat_rate=4&ssl_version=TLSv1_2").is_ok());
    }

    #[test]
    fn oslo_defaults_parse_to_the_struct_defaults() {
        let defaults: BTreeMap<String, String> = OPTIONS
            .iter()
            .filter(|spec| matches!(spec.effect, Effect::Apply(_)))
            .map(|spec| (spec.name.to_owned(), spec.default.to_owned()))
            .collect();
        assert_eq!(RabbitOptions::from_query(&defaults).unwrap(), RabbitOptions::default());
        let names: HashSet<&str> = OPTIONS.iter().map(|spec| spec.name).collect();
        assert_eq!(names.len(), OPTIONS.len(), "an option is declared twice");
        assert!(ALIASES.iter().all(|(alias, name)| names.contains(name) && !names.contains(alias)));
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = parse("rabbit_hostt=1").unwrap_err().to_string();
        assert!(err.contains("rabbit_hostt") && err.contains("oslo_messaging_rabbit"), "{err}");
        assert!(parse("heartbeat=5").is_err());
    }

    #[test]
    fn unsupported_topology_options_are_refused_unless_default() {
        for query in ["rabbit_ha_queues=true", "kombu_compression=gzip"] {
            let err = parse(query).unwrap_err().to_string();
            assert!(err.contains("topology"), "{query}: {err}");
        }
        assert!(parse("rabbit_ha_queues=False&kombu_compression=").is_ok());
    }

    #[test]
    fn stream_fanout_needs_a_prefetch_and_transient_quorum_queues_as_in_oslo() {
        let err = parse("rabbit_stream_fanout=true&rabbit_transient_quorum_queue=true").unwrap_err();
        assert!(err.to_string().contains("rabbit_qos_prefetch_count"), "{err}");
        let err = parse("rabbit_stream_fanout=true&rabbit_qos_prefetch_count=5").unwrap_err();
        assert!(err.to_string().contains("rabbit_transient_quorum_queue"), "{err}");
        let options =
            parse("rabbit_stream_fanout=true&rabbit_qos_prefetch_count=5&rabbit_transient_quorum_queue=true")
                .unwrap();
        assert!(options.rabbit_stream_fanout);
    }

    #[test]
    fn queue_manager_names() {
        let options = parse("use_queue_manager=true&hostname=node1&processname=nova-api").unwrap();
        assert!(options.use_queue_manager);
        assert_eq!(
            (options.hostname.as_deref(), options.processname.as_deref()),
            (Some("node1"), Some("nova-api"))
        );
        assert_eq!(parse("hostname=&processname=").unwrap().hostname, None);
        assert!(parse("processname=../etc/x").is_err());
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
        let splayed = RabbitOptions { kombu_reconnect_splay: 2.0, ..options };
        for _ in 0..100 {
            let delay = splayed.reconnect_delay(0);
            assert!((Duration::from_secs(1)..Duration::from_secs(3)).contains(&delay), "{delay:?}");
        }
    }
}
