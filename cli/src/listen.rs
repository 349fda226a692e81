//! `courier listen`: a `tail -f` of a deployment's notifications.
//!
//! One [`NotificationTap`] per wanted priority feeds a channel; the command prints each
//! notification as one JSON line and only then lets the listener acknowledge it, one message at
//! a time and in order (the blocking executor). Without a pool the listener reads a private queue that goes
//! away with it, so the deployment's own consumers lose nothing.

use std::io::Write;
use std::sync::Arc;

use courier::testing::{NotificationTap, Tapped};
use courier::{NotificationListener, NotificationMessage, Priority, Target, executor::ExecutorConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::args::{GlobalOpts, ListenArgs};
use crate::config::{self, Purpose};
use crate::outcome::Failure;
use crate::rpc::connect;

/// The JSON line of a notification.
pub fn line(message: &NotificationMessage) -> Value {
    json!({
        "priority": message.priority.as_str(),
        "event_type": message.event_type,
        "publisher_id": message.publisher_id,
        "payload": message.payload,
        "context": message.context,
        "metadata": {
            "message_id": message.metadata.message_id,
            "timestamp": message.metadata.timestamp,
        },
    })
}

/// What printing a line gave.
enum Printed {
    Yes,
    /// Whoever read stdout went away (`courier listen | head`): stop quietly.
    ReaderGone,
}

fn print_line(message: &NotificationMessage) -> Result<Printed, Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", line(message)).and_then(|()| out.flush()) {
        Ok(()) => Ok(Printed::Yes),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(Printed::ReaderGone),
        Err(error) => Err(Failure::Other(format!("cannot write to stdout: {error}"))),
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, so a signal
/// right after it is already caught.
fn interrupted() -> Result<impl Future<Output = ()>, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| signal(kind).map_err(|e| Failure::Other(format!("cannot catch signals: {e}")));
        let (mut interrupt, mut terminate) =
            (install(SignalKind::interrupt())?, install(SignalKind::terminate())?);
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// `courier listen`: prints notifications until interrupted.
///
/// # Errors
/// The failure to report.
pub async fn listen(global: &GlobalOpts, args: &ListenArgs) -> Result<(), Failure> {
    let (connection, config) =
        config::from_command_line(global, args.exchange.as_deref(), Purpose::Notifications)?;
    let topics = config.notification_topics(&args.topics);
    let mut priorities =
        if args.priorities.is_empty() { Priority::ALL.to_vec() } else { args.priorities.clone() };
    priorities.sort();
    priorities.dedup();
    let interrupted = interrupted()?;

    let transport = connect(&connection).await?;
    let (taps, mut to_print) = NotificationTap::channel(&priorities, 1);
    let mut builder =
        NotificationListener::builder(Arc::clone(&transport)).with_executor(ExecutorConfig::blocking());
    for topic in &topics {
        builder = builder.target(Target::new(topic.as_str()));
    }
    for tap in taps {
        builder = builder.endpoint(tap);
    }
    // In a pool, a message that could not be printed goes back to the pool's other members.
    builder = match &args.pool {
        Some(pool) => builder.pool(pool.clone()).allow_requeue(true),
        None => builder.private_queue(true),
    };
    let started = match builder.build() {
        Ok(listener) => listener.start().await.map(|()| listener),
        Err(error) => Err(error),
    };
    let listener = match started {
        Ok(listener) => listener,
        Err(error) => {
            transport.cleanup().await;
            return Err(error.into());
        }
    };
    let names: Vec<&str> = priorities.iter().map(|p| p.as_str()).collect();
    let queue =
        args.pool.as_ref().map_or_else(|| "a private queue".to_owned(), |pool| format!("pool `{pool}`"));
    eprintln!(
        "courier: consuming notifications on exchange `{}`, topics {} ({}), from {queue}; Ctrl-C stops",
        connection.exchange,
        topics.join(", "),
        names.join(", "),
    );

    let result = print_until(interrupted, &mut to_print).await;
    // Stop taking messages, finish the one in flight, then let go of the broker.
    let drained = listener.wait();
    tokio::pin!(drained);
    loop {
        tokio::select! {
            _ = &mut drained => break,
            Some(tapped) = to_print.recv() => {
                if result.is_ok() && matches!(print_line(&tapped.message), Ok(Printed::Yes)) {
                    tapped.ack();
                }
            }
        }
    }
    transport.cleanup().await;
    tracing::info!("stopped listening");
    result
}

/// Prints notifications until `interrupted` resolves or stdout's reader goes away.
async fn print_until(
    interrupted: impl Future<Output = ()>,
    to_print: &mut mpsc::Receiver<Tapped>,
) -> Result<(), Failure> {
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            () = &mut interrupted => return Ok(()),
            next = to_print.recv() => {
                let Some(tapped) = next else { return Ok(()) };
                match print_line(&tapped.message)? {
                    Printed::Yes => { tapped.ack(); }
                    Printed::ReaderGone => return Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier::{Context, Metadata};

    #[test]
    fn a_line_has_exactly_the_documented_keys() {
        let message = NotificationMessage::new(
            Priority::Warn,
            "compute.host1",
            "compute.instance.delete.start",
            json!({"id": 7}),
        )
        .with_context(Context::new().with_user("alice"))
        .with_metadata(Metadata::new("c8f3…", "2026-11-23 07:02:47.787110"));
        assert_eq!(
            line(&message),
            json!({
                "priority": "warn",
                "event_type": "compute.instance.delete.start",
                "publisher_id": "compute.host1",
                "payload": {"id": 7},
                "context": {"user": "alice"},
                "metadata": {"message_id": "c8f3…", "timestamp": "2026-11-23 07:02:47.787110"},
            })
        );
        let line = line(&message);
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["priority", "event_type", "publisher_id", "payload", "context", "metadata"]);
    }
}
