//! How a command ends: exit codes and what goes to stderr.

use std::io::Write;
use std::process::ExitCode;

use courier::{Error, error::TransportError};
use serde_json::json;

/// The exit code of a remote error.
pub const EXIT_REMOTE: u8 = 1;
/// The exit code of a call timeout.
pub const EXIT_TIMEOUT: u8 = 2;
/// The exit code of everything else that fails.
pub const EXIT_OTHER: u8 = 3;

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with an exception (oslo's failure: class, module, message).
    Remote {
        /// Exception class name.
        class: String,
        /// Exception module.
        module: String,
        /// Exception message.
        message: String,
    },
    /// No reply came in time.
    Timeout(String),
    /// Anything else: usage, input, configuration, broker.
    Other(String),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Remote { .. } => EXIT_REMOTE,
            Self::Timeout(_) => EXIT_TIMEOUT,
            Self::Other(_) => EXIT_OTHER,
        }
    }

    /// The single line written to stderr: JSON for a remote error, text otherwise.
    pub fn line(&self) -> String {
        match self {
            Self::Remote { class, module, message } => {
                json!({"class": class, "module": module, "message": message}).to_string()
            }
            Self::Timeout(message) => format!("courier: timeout: {}", one_line(message)),
            Self::Other(message) => format!("courier: error: {}", one_line(message)),
        }
    }

    /// Writes [`Failure::line`] to stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        let mut stderr = std::io::stderr().lock();
        // Nothing better to do if stderr is gone; the exit code still tells.
        let _ = writeln!(stderr, "{}", self.line());
        ExitCode::from(self.exit_code())
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Other(message)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        if let Some(failure) = error.failure() {
            // What the server sent, as a Python client would report it.
            if !failure.tb.is_empty() {
                tracing::info!("remote traceback:\n{}", failure.tb.join(""));
            }
            return Self::Remote {
                class: failure.class.clone(),
                module: failure.module.clone(),
                message: failure.message.clone(),
            };
        }
        match error {
            error @ (Error::Timeout { .. } | Error::Transport(TransportError::TimedOut(_))) => {
                Self::Timeout(error.to_string())
            }
            other => Self::Other(courier::error::chain(&other)),
        }
    }
}

/// Joins the lines of a message so stderr gets exactly one.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The outcome of clap's parsing when it did not produce a command line: help and version go to
/// stdout with exit 0; usage errors become one line and exit 3.
pub fn clap_outcome(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Help on stdout; exit 0 even if printing fails half-way (e.g. a closed pipe).
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            Failure::Other("no command given (see --help)".to_owned()).report()
        }
        _ => Failure::Other(clap_message(error)).report(),
    }
}

/// clap's message without its usage block, on one line, with a pointer to `--help`.
pub fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:"))
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    format!("{message} (see --help)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier::error::TransportError;
    use courier::wire::Failure as WireFailure;
    use std::time::Duration;

    #[test]
    fn remote_errors_are_one_json_line_and_exit_1() {
        let mut sent = WireFailure::new("ValueError", "builtins", "bad\nthings");
        sent.tb = vec!["Traceback...\n".into()];
        let failure = Failure::from(Error::from_failure(sent));
        assert_eq!(failure.exit_code(), 1);
        let line = failure.line();
        assert!(!line.contains('\n'), "{line}");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json, json!({"class": "ValueError", "module": "builtins", "message": "bad\nthings"}));
    }

    #[test]
    fn dispatcher_errors_print_what_arrived() {
        let failure = Failure::from(Error::from_failure(WireFailure::no_such_method("nope")));
        assert_eq!(
            failure,
            Failure::Remote {
                class: "NoSuchMethod".into(),
                module: "oslo_messaging.rpc.dispatcher".into(),
                message: "Endpoint does not support RPC method nope".into(),
            }
        );
        let failure = Failure::from(Error::from_failure(WireFailure::unsupported_version("9.0", "m")));
        let Failure::Remote { class, module, message } = &failure else { panic!("{failure:?}") };
        assert_eq!(
            (class.as_str(), module.as_str()),
            ("UnsupportedVersion", "oslo_messaging.rpc.dispatcher")
        );
        assert_eq!(message, "Endpoint does not support RPC version 9.0. Attempted method: m");
        assert_eq!(failure.exit_code(), 1);
        // A dispatcher failure worded otherwise (another oslo release) is printed as sent too.
        let reworded = WireFailure::new("NoSuchMethod", "oslo_messaging.rpc.dispatcher", "no method m here");
        let Failure::Remote { message, .. } = Failure::from(Error::from_failure(reworded)) else { panic!() };
        assert_eq!(message, "no method m here");
    }

    #[test]
    fn timeouts_exit_2() {
        let timeout = Duration::from_millis(500);
        let failure = Failure::from(Error::Timeout { msg_id: "abc".into(), topic: "t".into(), timeout });
        assert_eq!(failure.exit_code(), 2);
        assert!(failure.line().starts_with("courier: timeout: timed out after 500ms"), "{}", failure.line());
    }

    #[test]
    fn everything_else_exits_3_with_its_causes() {
        for error in [
            Error::InvalidArgument("x".into()),
            Error::InvalidTarget("y".into()),
            Error::VersionCap { version: "2.0".into(), cap: "1.0".into() },
            Error::from(TransportError::Closed),
        ] {
            assert_eq!(Failure::from(error).exit_code(), 3);
        }
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by peer");
        let failure = Failure::from(Error::from(TransportError::connection("cannot connect", io)));
        assert_eq!(
            failure.line(),
            "courier: error: broker connection failed: cannot connect: refused by peer"
        );
        assert_eq!(Failure::from("bad\n  input".to_owned()).line(), "courier: error: bad input");
    }

    #[test]
    fn clap_errors_become_one_line() {
        use clap::Parser;
        let error = crate::args::Cli::try_parse_from(["courier", "call", "m"]).unwrap_err();
        let message = clap_message(&error);
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("--topic"), "{message}");
        assert!(!message.starts_with("error:"), "{message}");
        let error = crate::args::Cli::try_parse_from(["courier"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
    }
}
