//! `courier notify`: publishes one notification.

use std::sync::Arc;

use courier::{Context, Notifier, notify::NotifierDriver};

use crate::args::{GlobalOpts, NotifyArgs};
use crate::config::{self, OsloConfig, Purpose};
use crate::input;
use crate::outcome::Failure;
use crate::rpc::connect;

/// The driver: `messaging` (unenveloped) when the config's `[oslo_messaging_notifications]
/// driver` says so, else `messagingv2`. A config that turns notifications off (`noop`, or no
/// driver, oslo's default) does not silence an explicit `courier notify`.
fn driver(config: &OsloConfig) -> NotifierDriver {
    match config.notifications.get("driver").map(|d| d.trim()) {
        Some("messaging") => NotifierDriver::Messaging,
        _ => NotifierDriver::MessagingV2,
    }
}

/// `courier notify`: returns once the broker accepted the notification on every topic.
///
/// # Errors
/// The failure to report.
pub async fn notify(global: &GlobalOpts, args: &NotifyArgs) -> Result<(), Failure> {
    input::at_most_one_stdin(&[("--payload", Some(&args.payload)), ("--context", args.context.as_deref())])?;
    let mut stdin = std::io::stdin().lock();
    let payload = input::read_json(&args.payload, "--payload", &mut stdin)?;
    let context = match &args.context {
        Some(spec) => Context::from_map(input::read_object(spec, "--context", &mut stdin)?),
        None => Context::new(),
    };
    drop(stdin);
    let (connection, config) =
        config::from_command_line(global, args.exchange.as_deref(), Purpose::Notifications)?;
    let topics = config.notification_topics(&args.topics);
    let transport = connect(&connection).await?;
    let notifier = Notifier::new(Arc::clone(&transport), args.publisher_id.clone())
        .with_topics(topics.iter().cloned())
        .with_driver(driver(&config));
    let result = notifier.notify(&context, args.priority, &args.event_type, payload).await;
    transport.cleanup().await;
    result?;
    tracing::info!(?topics, priority = %args.priority, event_type = %args.event_type, "notification sent");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_may_choose_the_unenveloped_driver_but_never_silence_notify() {
        let mut config = OsloConfig::default();
        assert_eq!(driver(&config), NotifierDriver::MessagingV2);
        config.notifications.insert("driver".into(), "messaging".into());
        assert_eq!(driver(&config), NotifierDriver::Messaging);
        config.notifications.insert("driver".into(), "noop".into());
        assert_eq!(driver(&config), NotifierDriver::MessagingV2);
    }
}
