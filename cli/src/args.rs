//! The command line, as clap parses it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use courier::{Priority, Version};

/// The exit codes, shown at the end of every `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (call: the result is printed on stdout as one JSON document; listen: stopped
     by Ctrl-C)
  1  the server answered with an error; it is printed on stderr as one JSON line
     {\"class\": ..., \"module\": ..., \"message\": ...}
  2  the call timed out waiting for a reply
  3  anything else: bad usage, malformed JSON, unreadable files, broker errors

The transport URL comes from --url, else the COURIER_TRANSPORT_URL environment variable, else
[DEFAULT] transport_url of the --config-file (an oslo-style service config, whose
[oslo_messaging_rabbit] options are added to the URL). The exchange comes from --exchange, else
[DEFAULT] control_exchange of the config file, else `openstack`. Passwords are never printed.";

/// A command-line client for oslo.messaging deployments: call and cast RPC methods, send and
/// watch notifications.
#[derive(Debug, Parser)]
#[command(name = "courier", version, after_help = EXIT_CODES)]
#[command(subcommand_required = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes; they may come before or after the command name.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Transport URL, e.g. rabbit://user:pass@host:5672/vhost (prefer COURIER_TRANSPORT_URL or
    /// --config-file, so the password does not show in `ps`).
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,

    /// An oslo-style config file (e.g. the service's own); may be repeated, later files win.
    #[arg(long = "config-file", value_name = "FILE", global = true)]
    pub config_files: Vec<PathBuf>,

    /// Log more on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a method and print its result as JSON.
    #[command(after_help = EXIT_CODES)]
    Call(CallArgs),
    /// Cast a method (send it without waiting for a result).
    #[command(after_help = EXIT_CODES)]
    Cast(CastArgs),
    /// Publish a notification.
    #[command(after_help = EXIT_CODES)]
    Notify(NotifyArgs),
    /// Print a deployment's notifications as they come, one JSON line each, until Ctrl-C.
    #[command(after_help = EXIT_CODES)]
    Listen(ListenArgs),
}

/// Where an RPC message goes.
#[derive(Debug, Args)]
pub struct TargetOpts {
    /// The topic the servers consume (e.g. `compute`).
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,

    /// Send to this server only (`<topic>.<server>`).
    #[arg(long, value_name = "SERVER")]
    pub server: Option<String>,

    /// The exchange (default: the config's control_exchange, else `openstack`).
    #[arg(long, value_name = "EXCHANGE")]
    pub exchange: Option<String>,

    /// The endpoint namespace.
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// The API version the message needs, X.Y or X.Y.Z (`courier --version` shows the
    /// tool's own).
    #[arg(long = "version", id = "rpc_version", value_name = "VERSION", value_parser = parse_version)]
    pub version: Option<Version>,

    /// The request context: a JSON object, @FILE, or - for stdin.
    #[arg(long, value_name = "JSON")]
    pub context: Option<String>,
}

/// `courier call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// Where to send it.
    #[command(flatten)]
    pub target: TargetOpts,

    /// Seconds to wait for the reply (fractions allowed; default: the config's
    /// rpc_response_timeout, else 60).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// The method to call.
    #[arg(value_name = "METHOD")]
    pub method: String,

    /// The keyword arguments: a JSON object, @FILE, or - for stdin.
    #[arg(long, value_name = "JSON")]
    pub args: Option<String>,
}

/// `courier cast`.
#[derive(Debug, Args)]
pub struct CastArgs {
    /// Where to send it.
    #[command(flatten)]
    pub target: TargetOpts,

    /// Send to every server of the topic.
    #[arg(long)]
    pub fanout: bool,

    /// The method to cast.
    #[arg(value_name = "METHOD")]
    pub method: String,

    /// The keyword arguments: a JSON object, @FILE, or - for stdin.
    #[arg(long, value_name = "JSON")]
    pub args: Option<String>,
}

/// `courier notify`.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// The notification topic; may be repeated (default: the config's
    /// [oslo_messaging_notifications] topics, else `notifications`).
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,

    /// The exchange (default: the config's control_exchange, else `openstack`).
    #[arg(long, value_name = "EXCHANGE")]
    pub exchange: Option<String>,

    /// audit, debug, info, warn (or warning), error, critical or sample.
    #[arg(long, value_name = "PRIORITY", default_value = "info", value_parser = parse_priority)]
    pub priority: Priority,

    /// What happened, e.g. `compute.instance.create.end`.
    #[arg(long = "event-type", value_name = "EVENT_TYPE")]
    pub event_type: String,

    /// Who sends it, e.g. `compute.host1`.
    #[arg(long = "publisher-id", value_name = "PUBLISHER_ID", default_value = "courier")]
    pub publisher_id: String,

    /// The request context: a JSON object, @FILE, or - for stdin (secrets are redacted).
    #[arg(long, value_name = "JSON")]
    pub context: Option<String>,

    /// The payload: any JSON, @FILE, or - for stdin.
    #[arg(long, value_name = "JSON")]
    pub payload: String,
}

/// `courier listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// The notification topic; may be repeated (default: the config's
    /// [oslo_messaging_notifications] topics, else `notifications`).
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,

    /// The exchange (default: the config's control_exchange, else `openstack`).
    #[arg(long, value_name = "EXCHANGE")]
    pub exchange: Option<String>,

    /// Join this listener pool and share its messages with the pool's other members. Without
    /// it, courier reads a private queue of its own that goes away with it, so it never takes
    /// notifications from the deployment's consumers.
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,

    /// Only these priorities; may be repeated (default: all).
    #[arg(long = "priority", value_name = "PRIORITY", value_parser = parse_priority)]
    pub priorities: Vec<Priority>,
}

/// An RPC version, `X.Y` or `X.Y.Z`.
pub fn parse_version(text: &str) -> Result<Version, String> {
    text.parse::<Version>().map_err(|e| e.to_string())
}

/// A notification priority: [`Priority`]'s `FromStr` (case-insensitive; `warning` is oslo's
/// alias of `warn`), its error as clap shows it.
pub fn parse_priority(text: &str) -> Result<Priority, String> {
    text.parse::<Priority>().map_err(|e| e.to_string())
}

/// A positive, finite number of seconds.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("the timeout must be a positive number of seconds, not `{text}`"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad timeout `{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("courier").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn call_takes_every_target_option_and_fractional_timeouts() {
        let cli = parse(&[
            "call",
            "--url",
            "rabbit://h/",
            "--topic",
            "t",
            "--server",
            "s",
            "--exchange",
            "nova",
            "--namespace",
            "ns",
            "--version",
            "1.2",
            "--timeout",
            "0.25",
            "--context",
            "{}",
            "ping",
            "--args",
            "-",
        ])
        .unwrap();
        assert_eq!(cli.global.url.as_deref(), Some("rabbit://h/"));
        let Command::Call(call) = cli.command else { panic!("not a call") };
        assert_eq!(call.target.topic, "t");
        assert_eq!(call.target.server.as_deref(), Some("s"));
        assert_eq!(call.target.exchange.as_deref(), Some("nova"));
        assert_eq!(call.target.namespace.as_deref(), Some("ns"));
        assert_eq!(call.target.version, Some(Version::new(1, 2)));
        assert_eq!(call.timeout, Some(Duration::from_millis(250)));
        assert_eq!(call.method, "ping");
        assert_eq!(call.args.as_deref(), Some("-"));
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let cli = parse(&[
            "-vv",
            "--config-file",
            "a.conf",
            "--config-file",
            "b.conf",
            "cast",
            "--topic",
            "t",
            "m",
        ])
        .unwrap();
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(cli.global.config_files, [PathBuf::from("a.conf"), PathBuf::from("b.conf")]);
        let Command::Cast(cast) = cli.command else { panic!("not a cast") };
        assert!(!cast.fanout);
        assert_eq!(cast.args, None);

        let cli = parse(&["cast", "--topic", "t", "m", "--config-file", "c.conf", "-v", "--url", "fake://"])
            .unwrap();
        assert_eq!(cli.global.config_files, [PathBuf::from("c.conf")]);
        assert_eq!(cli.global.verbose, 1);
        assert_eq!(cli.global.url.as_deref(), Some("fake://"));
    }

    #[test]
    fn cast_takes_fanout_and_call_does_not() {
        let Command::Cast(cast) = parse(&["cast", "--topic", "t", "--fanout", "m"]).unwrap().command else {
            panic!("not a cast")
        };
        assert!(cast.fanout);
        assert!(parse(&["call", "--topic", "t", "--fanout", "m"]).is_err());
    }

    #[test]
    fn notify_and_listen_options() {
        let cli = parse(&[
            "notify",
            "--priority",
            "WARNING",
            "--event-type",
            "compute.instance.create.end",
            "--payload",
            "{}",
        ])
        .unwrap();
        let Command::Notify(notify) = cli.command else { panic!("not notify") };
        assert_eq!(notify.priority, Priority::Warn);
        assert_eq!(notify.publisher_id, "courier");
        assert!(notify.topics.is_empty());

        let cli = parse(&[
            "listen",
            "--topic",
            "a",
            "--topic",
            "b",
            "--pool",
            "p",
            "--priority",
            "info",
            "--priority",
            "error",
        ])
        .unwrap();
        let Command::Listen(listen) = cli.command else { panic!("not listen") };
        assert_eq!(listen.topics, ["a", "b"]);
        assert_eq!(listen.pool.as_deref(), Some("p"));
        assert_eq!(listen.priorities, [Priority::Info, Priority::Error]);

        let Command::Notify(notify) =
            parse(&["notify", "--event-type", "e", "--payload", "1"]).unwrap().command
        else {
            panic!("not notify")
        };
        assert_eq!(notify.priority, Priority::Info);
        assert!(parse(&["notify", "--event-type", "e"]).is_err(), "--payload is required");
        assert!(parse(&["notify", "--payload", "1"]).is_err(), "--event-type is required");
        assert!(parse(&["listen", "--priority", "loud"]).is_err());
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["call", "m"][..],
            &["call", "--topic", "t"],
            &["call", "--topic", "t", "m", "--timeout", "0"],
            &["call", "--topic", "t", "m", "--timeout", "-1"],
            &["call", "--topic", "t", "m", "--timeout", "soon"],
            &["call", "--topic", "t", "m", "--timeout", "inf"],
            &[],
            &["frobnicate"],
        ] {
            let error = parse(bad).unwrap_err();
            assert!(
                !matches!(
                    error.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn help_documents_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("2  the call timed out"), "{help}");
        let mut command = Cli::command();
        let call_help = command.find_subcommand_mut("call").unwrap().render_long_help().to_string();
        assert!(call_help.contains("Exit codes:"), "{call_help}");
    }
}
