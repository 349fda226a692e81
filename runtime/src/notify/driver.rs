//! oslo's notification drivers: how a [`Notifier`](super::Notifier) delivers each notification.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::routing::RoutingConfig;
use super::test_driver::TestNotifications;
use crate::error::Error;

/// One of oslo's notification drivers (`[oslo_messaging_notifications] driver`).
///
/// A notifier may use several at once ([`Notifier::with_drivers`](super::Notifier::with_drivers)),
/// as oslo's `driver` is a list option.
///
/// ```
/// use courier_runtime::notify::NotifierDriver;
///
/// let drivers = NotifierDriver::parse_list("messagingv2, log").unwrap();
/// assert_eq!(drivers, [NotifierDriver::MessagingV2, NotifierDriver::Log]);
/// assert_eq!(drivers[1].as_str(), "log");
/// assert!("smtp".parse::<NotifierDriver>().is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum NotifierDriver {
    /// `messagingv2`: published inside the 2.0 envelope (the default).
    #[default]
    MessagingV2,
    /// `messaging`: published as the bare 1.0 object.
    Messaging,
    /// `noop`: nothing is sent.
    Noop,
    /// `log`: one `tracing` event per notification at its priority, with the notification's JSON
    /// (passwords masked), on the target `oslo.messaging.notification`.
    Log,
    /// `test`: kept in memory, readable by tests ([`TestNotifications`]).
    Test(TestNotifications),
    /// `routing`: sent on to other drivers by event type and priority (oslo's routing notifier).
    Routing(Arc<RoutingConfig>),
}

impl NotifierDriver {
    /// oslo's driver name.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::MessagingV2 => "messagingv2",
            Self::Messaging => "messaging",
            Self::Noop => "noop",
            Self::Log => "log",
            Self::Test(_) => "test",
            Self::Routing(_) => "routing",
        }
    }

    /// A `test` driver recording into `notifications`.
    #[must_use]
    pub fn test(notifications: &TestNotifications) -> Self {
        Self::Test(notifications.clone())
    }

    /// A `routing` driver with this configuration.
    #[must_use]
    pub fn routing(config: RoutingConfig) -> Self {
        Self::Routing(Arc::new(config))
    }

    /// Parses oslo's comma-separated `driver` list (`messagingv2, log`); empty items are skipped.
    ///
    /// # Errors
    /// As [`FromStr`] for any item.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, Error> {
        list.split(',').map(str::trim).filter(|name| !name.is_empty()).map(str::parse).collect()
    }
}

impl fmt::Display for NotifierDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotifierDriver {
    type Err = Error;

    /// `messagingv2`, `messaging`, `noop`, `log` or `test`. `test` records into the process-wide
    /// [`TestNotifications::global`] (oslo's module-level list). `routing` needs its
    /// configuration: build it with [`NotifierDriver::routing`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "messagingv2" => Ok(Self::MessagingV2),
            "messaging" => Ok(Self::Messaging),
            "noop" => Ok(Self::Noop),
            "log" => Ok(Self::Log),
            "test" => Ok(Self::Test(TestNotifications::global().clone())),
            "routing" => Err(Error::bad_config(
                "the `routing` notification driver needs its configuration: use \
                 `NotifierDriver::routing(RoutingConfig::from_yaml(..)?)`",
            )),
            other => Err(Error::bad_config(format!(
                "unknown notification driver `{other}`; expected messagingv2, messaging, noop, log, test \
                 or routing"
            ))),
        }
    }
}
