//! Where the transport URL and the exchange come from: the command line, the environment, or
//! an oslo-style config file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use courier::transport::TransportUrl;

/// The environment variable holding a transport URL.
pub const URL_ENV: &str = "COURIER_TRANSPORT_URL";

/// The drivers whose URL query takes `[oslo_messaging_rabbit]` options.
const RABBIT_DRIVERS: [&str; 3] = ["rabbit", "amqp", "kombu"];

/// The options courier reads from oslo-style config files; later files win, as in oslo.config.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OsloConfig {
    /// `[DEFAULT]`.
    pub default: BTreeMap<String, String>,
    /// `[oslo_messaging_rabbit]`.
    pub rabbit: BTreeMap<String, String>,
    /// `[oslo_messaging_notifications]`.
    pub notifications: BTreeMap<String, String>,
    /// The files read, for messages.
    pub files: Vec<PathBuf>,
}

impl OsloConfig {
    /// Reads `paths` in order.
    ///
    /// # Errors
    /// A message naming the file that cannot be read or parsed.
    pub fn load(paths: &[PathBuf]) -> Result<Self, String> {
        let mut config = Self::default();
        for path in paths {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            config.merge_str(&text, path)?;
        }
        Ok(config)
    }

    /// Adds the options of one file's text.
    ///
    /// # Errors
    /// A message naming `path` when the text is not an ini file.
    pub fn merge_str(&mut self, text: &str, path: &Path) -> Result<(), String> {
        // oslo.config takes values literally: no escapes; surrounding quotes are stripped below.
        let options = ini::ParseOption { enabled_quote: false, enabled_escape: false, ..Default::default() };
        let ini = ini::Ini::load_from_str_opt(text, options)
            .map_err(|e| format!("cannot parse config file {}: {e}", path.display()))?;
        for (section, properties) in &ini {
            let group = match section {
                Some("DEFAULT") => &mut self.default,
                Some("oslo_messaging_rabbit") => &mut self.rabbit,
                Some("oslo_messaging_notifications") => &mut self.notifications,
                _ => continue,
            };
            for (key, value) in properties {
                // oslo.config accepts dashes for underscores in option names.
                group.insert(key.trim().replace('-', "_"), unquote(value.trim()).to_owned());
            }
        }
        self.files.push(path.to_owned());
        Ok(())
    }
}

impl OsloConfig {
    /// The notification topics: those given, else `[oslo_messaging_notifications] topics` (a
    /// comma-separated list), else `notifications`.
    pub fn notification_topics(&self, given: &[String]) -> Vec<String> {
        if !given.is_empty() {
            return given.to_vec();
        }
        let configured: Vec<String> = self
            .notifications
            .get("topics")
            .map(|topics| {
                topics.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
            })
            .unwrap_or_default();
        if configured.is_empty() {
            vec![courier::notify::DEFAULT_NOTIFICATION_TOPIC.to_owned()]
        } else {
            configured
        }
    }
}

/// oslo.config's iniparser strips one pair of matching quotes around a value.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// What a command connects with.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    /// The transport URL to connect to, with the config's driver options merged into its query.
    /// Its `Display` and `Debug` mask the password.
    pub url: TransportUrl,
    /// The control exchange.
    pub exchange: String,
    /// The config's `rpc_response_timeout`, when it sets one.
    pub default_timeout: Option<Duration>,
}

/// Which transport URL a command wants: RPC uses `[DEFAULT] transport_url`; notifications prefer
/// `[oslo_messaging_notifications] transport_url`, as oslo does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// call, cast.
    Rpc,
    /// notify, listen.
    Notifications,
}

/// [`resolve`] with the command line's options, the environment and the config files it names;
/// also returns the config, for the options a command reads itself.
///
/// # Errors
/// As [`OsloConfig::load`] and [`resolve`].
pub fn from_command_line(
    global: &crate::args::GlobalOpts,
    exchange: Option<&str>,
    purpose: Purpose,
) -> Result<(Connection, OsloConfig), String> {
    let config = OsloConfig::load(&global.config_files)?;
    let env_url = std::env::var(URL_ENV).ok();
    let connection = resolve(global.url.as_deref(), env_url.as_deref(), &config, exchange, purpose)?;
    Ok((connection, config))
}

/// Picks the URL (`--url` > `COURIER_TRANSPORT_URL` > the config's `transport_url`) and the
/// exchange (`--exchange` > the config's `control_exchange` > `openstack`), and adds the config's
/// `[oslo_messaging_rabbit]` options the URL does not set itself to the URL's query.
///
/// # Errors
/// A message when there is no URL anywhere, the URL does not parse (password masked), or the
/// config's `rpc_response_timeout` is not a number.
pub fn resolve(
    cli_url: Option<&str>,
    env_url: Option<&str>,
    config: &OsloConfig,
    cli_exchange: Option<&str>,
    purpose: Purpose,
) -> Result<Connection, String> {
    let non_empty = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let config_url = match purpose {
        Purpose::Notifications => non_empty(config.notifications.get("transport_url").map(String::as_str)),
        Purpose::Rpc => None,
    }
    .or_else(|| non_empty(config.default.get("transport_url").map(String::as_str)));
    let Some(url) = non_empty(cli_url).or_else(|| non_empty(env_url)).or(config_url) else {
        let files = if config.files.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = config.files.iter().map(|p| p.display().to_string()).collect();
            format!(" ({} has no [DEFAULT] transport_url)", names.join(", "))
        };
        return Err(format!(
            "no transport URL: give --url, set {URL_ENV}, or give a --config-file with [DEFAULT] \
             transport_url{files}"
        ));
    };
    let mut url: TransportUrl = url.parse().map_err(|e: courier::error::TransportError| e.to_string())?;
    if RABBIT_DRIVERS.contains(&url.driver()) {
        // The URL's own options win over the file's.
        for (key, value) in &config.rabbit {
            url.query.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let exchange = non_empty(cli_exchange)
        .or_else(|| non_empty(config.default.get("control_exchange").map(String::as_str)))
        .unwrap_or_else(|| courier::transport::DEFAULT_CONTROL_EXCHANGE.to_owned());
    let default_timeout = match config.default.get("rpc_response_timeout").map(|v| v.trim()) {
        None | Some("") => None,
        Some(text) => {
            Some(crate::args::parse_timeout(text).map_err(|e| format!("rpc_response_timeout: {e}"))?)
        }
    };
    Ok(Connection { url, exchange, default_timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE_CONF: &str = "\
# a nova.conf excerpt
[DEFAULT]
debug = true
transport_url = rabbit://nova:s3cr=t:pw@10.0.0.1:5672,nova:s3cr=t:pw@10.0.0.2:5672/nova?heartbeat_timeout_threshold=30
control_exchange = nova
rpc_response_timeout = 180

[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 10
amqp-durable-queues = true
ssl_ca_file = \"/etc/ssl/my ca.pem\"
; a comment

[oslo_messaging_notifications]
driver = messagingv2
transport_url = rabbit://notify:pw@10.0.0.9/

[database]
connection = mysql://nova:dbpass@db/nova
";

    fn config(text: &str) -> OsloConfig {
        let mut config = OsloConfig::default();
        config.merge_str(text, Path::new("nova.conf")).unwrap();
        config
    }

    #[test]
    fn reads_a_service_config() {
        let config = config(SERVICE_CONF);
        assert_eq!(config.default["control_exchange"], "nova");
        assert!(config.default["transport_url"].contains("s3cr=t:pw@10.0.0.2"));
        assert_eq!(config.rabbit["amqp_durable_queues"], "true");
        assert_eq!(config.rabbit["ssl_ca_file"], "/etc/ssl/my ca.pem");
        assert!(!config.rabbit.contains_key("connection"));
    }

    #[test]
    fn the_config_supplies_url_exchange_timeout_and_rabbit_options() {
        let connection = resolve(None, None, &config(SERVICE_CONF), None, Purpose::Rpc).unwrap();
        assert_eq!(connection.exchange, "nova");
        assert_eq!(connection.default_timeout, Some(Duration::from_secs(180)));
        let url = &connection.url;
        assert_eq!(url.hosts.len(), 2);
        assert_eq!(url.hosts[1].password.as_deref(), Some("s3cr=t:pw"));
        assert_eq!(url.virtual_host.as_deref(), Some("nova"));
        // The URL's own query wins over the file's option.
        assert_eq!(url.query["heartbeat_timeout_threshold"], "30");
        assert_eq!(url.query["amqp_durable_queues"], "true");
        assert_eq!(url.query["ssl_ca_file"], "/etc/ssl/my ca.pem");
        assert!(!format!("{connection:?}").contains("s3cr"), "{connection:?}");
        assert!(!connection.url.to_string().contains("s3cr"), "{}", connection.url);
    }

    #[test]
    fn precedence_of_urls_and_exchanges() {
        let config = config(SERVICE_CONF);
        let env = "rabbit://env@127.0.0.1/";
        let cli = "rabbit://cli@127.0.0.1/";
        let host = |c: Connection| c.url.hosts[0].username.clone().unwrap();
        assert_eq!(host(resolve(Some(cli), Some(env), &config, None, Purpose::Rpc).unwrap()), "cli");
        assert_eq!(host(resolve(None, Some(env), &config, None, Purpose::Rpc).unwrap()), "env");
        assert_eq!(host(resolve(Some(" "), Some(""), &config, None, Purpose::Rpc).unwrap()), "nova");
        assert_eq!(host(resolve(None, None, &config, None, Purpose::Notifications).unwrap()), "notify");
        // The file's rabbit options apply to a URL from anywhere.
        assert_eq!(
            resolve(Some(cli), None, &config, None, Purpose::Rpc).unwrap().url.query["heartbeat_timeout_threshold"],
            "10"
        );

        let exchange = |cli_exchange, config: &OsloConfig| {
            resolve(Some(cli), None, config, cli_exchange, Purpose::Rpc).unwrap().exchange
        };
        assert_eq!(exchange(Some("glance"), &config), "glance");
        assert_eq!(exchange(None, &config), "nova");
        assert_eq!(exchange(None, &OsloConfig::default()), "openstack");
    }

    #[test]
    fn notification_topics_come_from_the_options_then_the_config() {
        let mut config = config(SERVICE_CONF);
        assert_eq!(config.notification_topics(&[]), ["notifications"]);
        assert_eq!(config.notification_topics(&["mine".to_owned()]), ["mine"]);
        config.notifications.insert("topics".into(), "notifications, billing,".into());
        assert_eq!(config.notification_topics(&[]), ["notifications", "billing"]);
    }

    #[test]
    fn later_files_win() {
        let mut config = config(SERVICE_CONF);
        config.merge_str("[DEFAULT]\ncontrol_exchange: neutron\n", Path::new("override.conf")).unwrap();
        assert_eq!(config.default["control_exchange"], "neutron");
        assert_eq!(config.files.len(), 2);
    }

    #[test]
    fn no_url_anywhere_is_an_error_naming_the_ways_to_give_one() {
        let error = resolve(None, None, &OsloConfig::default(), None, Purpose::Rpc).unwrap_err();
        assert!(error.contains("--url") && error.contains(URL_ENV), "{error}");
        let error = resolve(None, None, &config("[DEFAULT]\ndebug=1\n"), None, Purpose::Rpc).unwrap_err();
        assert!(error.contains("nova.conf has no [DEFAULT] transport_url"), "{error}");
    }

    #[test]
    fn bad_urls_never_show_the_password() {
        let error =
            resolve(Some("rabbit://u:hunter2@h:notaport/"), None, &OsloConfig::default(), None, Purpose::Rpc)
                .unwrap_err();
        assert!(!error.contains("hunter2") && error.contains("bad port"), "{error}");
    }

    #[test]
    fn options_keep_their_text_and_only_go_to_rabbit_urls() {
        let mut config = OsloConfig::default();
        config.rabbit.insert("odd".into(), "a&b=c+d %".into());
        let url = resolve(Some("rabbit://h?x=1#frag"), None, &config, None, Purpose::Rpc).unwrap().url;
        assert_eq!(url.query["odd"], "a&b=c+d %");
        assert_eq!(url.query["x"], "1");
        // What is logged parses back to the same options.
        assert_eq!(url.to_string().parse::<TransportUrl>().unwrap().query, url.query);
        let fake = resolve(Some("fake://"), None, &config, None, Purpose::Rpc).unwrap().url;
        assert!(fake.query.is_empty(), "{fake}");
    }

    #[test]
    fn a_bad_rpc_response_timeout_is_an_error() {
        let config = config("[DEFAULT]\ntransport_url = fake://\nrpc_response_timeout = soon\n");
        assert!(
            resolve(None, None, &config, None, Purpose::Rpc).unwrap_err().contains("rpc_response_timeout")
        );
    }
}
