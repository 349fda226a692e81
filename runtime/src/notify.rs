//! Sending notifications: oslo's `Notifier`.
//!
//! A [`Notifier`] publishes one message per topic (default `notifications`) on the routing key
//! `<topic>.<priority>`, with oslo's fields: `message_id` (uuid4 with dashes), `publisher_id`,
//! `event_type`, `priority` (upper case), `payload`, `timestamp` (Python's
//! `str(datetime.utcnow())`) and the sender's context with its secrets nulled.
//!
//! ```
//! # async fn demo(transport: std::sync::Arc<dyn courier_runtime::transport::Transport>) -> Result<(), courier_runtime::error::Error> {
//! use courier_runtime::context::Context;
//! use courier_runtime::notify::Notifier;
//!
//! let notifier = Notifier::new(transport, "compute.host1");
//! let ctx = Context::new().with_user("alice").with_auth_token("s3cret"); // the token is not sent
//! notifier.info(&ctx, "compute.instance.create.end", serde_json::json!({"instance_id": 12})).await?;
//! notifier.prepare("compute.host2").warn(&ctx, "compute.instance.delete.start", "bye").await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::Instrument;

mod driver;
mod log_driver;
// Also masks received messages in `Incoming`'s `Debug` (one list of secret keys, oslo's).
mod routing;
mod test_driver;

pub use driver::NotifierDriver;
pub use log_driver::LOG_DRIVER_TARGET;
pub use routing::{RoutingConfig, RoutingRule};
pub use test_driver::{DEFAULT_TEST_NOTIFICATIONS_CAPACITY, SentNotification, TestNotifications};

pub use crate::priority::{Priority, UnknownPriority};

use crate::context::Context;
use crate::error::Error;
use crate::serializer::{NoOpSerializer, Serializer};
use crate::target::Target;
use crate::telemetry;
use crate::transport::{NotifyOptions, Transport};
use crate::wire::{self, Notification};

/// The topic notifications go to when none is configured (oslo's `[oslo_messaging_notifications]
/// topics`).
pub const DEFAULT_NOTIFICATION_TOPIC: &str = "notifications";

/// Publishes notifications (oslo's `Notifier`). Cheap to clone.
///
/// Publish failures are returned, not swallowed (oslo only logs them); a caller that does not
/// care can ignore the result.
#[derive(Clone)]
pub struct Notifier {
    transport: Arc<dyn Transport>,
    publisher_id: String,
    topics: Arc<[String]>,
    drivers: Arc<[NotifierDriver]>,
    retry: Option<u32>,
    serializer: Arc<dyn Serializer>,
    exchange: Option<String>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("publisher_id", &self.publisher_id)
            .field("topics", &self.topics)
            .field("drivers", &self.drivers)
            .field("retry", &self.retry)
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

macro_rules! priority_methods {
    ($($(#[$doc:meta])* $name:ident => $priority:ident;)*) => {
        $(
            $(#[$doc])*
            ///
            /// # Errors
            /// As [`Notifier::notify`].
            pub async fn $name(
                &self,
                context: &Context,
                event_type: &str,
                payload: impl Serialize,
            ) -> Result<(), Error> {
                self.notify(context, Priority::$priority, event_type, payload).await
            }
        )*
    };
}

impl Notifier {
    /// A notifier with oslo's defaults: topic `notifications`, driver `messagingv2`, the
    /// transport's control exchange, no serializer.
    #[must_use]
    pub fn new(transport: Arc<dyn Transport>, publisher_id: impl Into<String>) -> Self {
        Self {
            transport,
            publisher_id: publisher_id.into(),
            topics: Arc::from([DEFAULT_NOTIFICATION_TOPIC.to_owned()]),
            drivers: Arc::from([NotifierDriver::default()]),
            retry: None,
            serializer: Arc::new(NoOpSerializer),
            exchange: None,
        }
    }

    /// A notifier sharing this one's transport and settings with another publisher id (oslo's
    /// `prepare(publisher_id=...)`).
    #[must_use]
    pub fn prepare(&self, publisher_id: impl Into<String>) -> Self {
        Self { publisher_id: publisher_id.into(), ..self.clone() }
    }

    /// Sets the topics; each notification is published once per topic.
    #[must_use]
    pub fn with_topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// Uses this one driver.
    #[must_use]
    pub fn with_driver(self, driver: NotifierDriver) -> Self {
        self.with_drivers([driver])
    }

    /// Uses these drivers, each getting every notification in this order (oslo's `driver` list
    /// option). No driver at all is like `noop`.
    #[must_use]
    pub fn with_drivers(mut self, drivers: impl IntoIterator<Item = NotifierDriver>) -> Self {
        self.drivers = drivers.into_iter().collect();
        self
    }

    /// How often a publish is retried on connection errors (oslo's `retry`): `None` retries
    /// forever (the default, as oslo's `-1`), `Some(0)` not at all, `Some(n)` up to `n` times.
    /// The messaging drivers pass it to the transport ([`NotifyOptions::retry`]); the in-memory
    /// transport never fails a publish, so it has no use for it.
    #[must_use]
    pub fn with_retry(mut self, retry: Option<u32>) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the serializer applied to payloads and contexts.
    #[must_use]
    pub fn with_serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.serializer = serializer;
        self
    }

    /// Publishes to this exchange instead of the transport's control exchange.
    #[must_use]
    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = Some(exchange.into());
        self
    }

    /// The publisher id.
    #[must_use]
    pub fn publisher_id(&self) -> &str {
        &self.publisher_id
    }

    /// The topics.
    #[must_use]
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The drivers.
    #[must_use]
    pub fn drivers(&self) -> &[NotifierDriver] {
        &self.drivers
    }

    /// The `retry` setting (see [`Notifier::with_retry`]).
    #[must_use]
    pub fn retry(&self) -> Option<u32> {
        self.retry
    }

    /// Whether anything may be sent (oslo's `is_enabled()`): false when every driver is `noop`,
    /// or the only drivers are messaging ones and there is no topic.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.drivers.iter().any(|driver| match driver {
            NotifierDriver::Noop => false,
            NotifierDriver::MessagingV2 | NotifierDriver::Messaging => !self.topics.is_empty(),
            _ => true,
        })
    }

    priority_methods! {
        /// Sends an `AUDIT` notification.
        audit => Audit;
        /// Sends a `DEBUG` notification.
        debug => Debug;
        /// Sends an `INFO` notification.
        info => Info;
        /// Sends a `WARN` notification (oslo's `warn` / `warning`).
        warn => Warn;
        /// Sends an `ERROR` notification.
        error => Error;
        /// Sends a `CRITICAL` notification.
        critical => Critical;
        /// Sends a `SAMPLE` notification.
        sample => Sample;
    }

    /// Sends a notification of any priority to every driver: the messaging drivers publish once
    /// per topic, on `<topic>.<priority>`. The context goes out redacted ([`Context::redacted`]),
    /// then through the serializer.
    ///
    /// # Errors
    /// [`Error::Encode`] when the payload is not JSON, [`Error::Serializer`] when the serializer
    /// refuses it;
    /// [`Error::Transport`] when a publish fails (the other drivers and topics are still tried;
    /// the first error is returned).
    pub async fn notify(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: impl Serialize,
    ) -> Result<(), Error> {
        if !self.is_enabled() {
            return Ok(());
        }
        let notification = self.build(context, priority, event_type, &payload)?;
        let mut first_error = None;
        for driver in self.drivers.iter() {
            let result = match driver {
                NotifierDriver::Routing(config) => {
                    let mut first = Ok(());
                    for routed in config.drivers_for(event_type, priority) {
                        tracing::debug!(event_type, driver = %routed, "routing a notification");
                        let result = self.deliver(context, routed, priority, &notification).await;
                        if first.is_ok() {
                            first = result;
                        }
                    }
                    first
                }
                other => self.deliver(context, other, priority, &notification).await,
            };
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Hands a notification to one driver (a routing config never holds a routing driver).
    async fn deliver(
        &self,
        context: &Context,
        driver: &NotifierDriver,
        priority: Priority,
        notification: &Notification,
    ) -> Result<(), Error> {
        match driver {
            NotifierDriver::MessagingV2 | NotifierDriver::Messaging => {
                self.publish(context, priority, notification, driver == &NotifierDriver::MessagingV2).await
            }
            NotifierDriver::Log => {
                log_driver::emit(priority, &oslo_message(notification));
                Ok(())
            }
            NotifierDriver::Test(record) => {
                record.record(SentNotification {
                    context: notification.context.as_map().clone(),
                    message: oslo_message(notification),
                    priority,
                    retry: self.retry,
                });
                Ok(())
            }
            NotifierDriver::Noop | NotifierDriver::Routing(_) => Ok(()),
        }
    }

    /// The messaging drivers: one publish per topic, on `<topic>.<priority>`.
    async fn publish(
        &self,
        context: &Context,
        priority: Priority,
        notification: &Notification,
        envelope: bool,
    ) -> Result<(), Error> {
        let event_type = notification.event_type.as_str();
        let mut first_error = None;
        for topic in self.topics.iter() {
            let mut target = Target::new(topic.as_str());
            target.exchange.clone_from(&self.exchange);
            let mut message = notification.clone();
            message.unique_id = Some(wire::new_id());
            let span = telemetry::notify_span(
                &*self.transport,
                &target,
                priority.as_str(),
                &message.message_id,
                event_type,
                context,
            );
            let options = NotifyOptions::default()
                .with_envelope(envelope)
                .with_retry(self.retry)
                .with_headers(telemetry::inject(&span));
            let result = async {
                tracing::debug!(%topic, %priority, event_type, "publishing a notification");
                self.transport.notify(&target, priority, message, &options).await
            }
            .instrument(span)
            .await;
            crate::metrics::notification_published(topic, priority.as_str(), result.is_ok());
            if let Err(error) = result {
                tracing::warn!(%error, %topic, %priority, event_type, "could not publish a notification");
                first_error.get_or_insert(Error::from(error));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn build(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: &impl Serialize,
    ) -> Result<Notification, Error> {
        let what = || "the notification payload".to_owned();
        let payload =
            serde_json::to_value(payload).map_err(|source| Error::Encode { what: what(), source })?;
        let payload = self
            .serializer
            .serialize_entity(context, payload)
            .map_err(|source| Error::Serializer { what: what(), source })?;
        let context = self.serializer.serialize_context(&context.redacted());
        Ok(Notification {
            message_id: uuid::Uuid::new_v4().hyphenated().to_string(),
            publisher_id: self.publisher_id.clone(),
            event_type: event_type.to_owned(),
            priority: priority.as_wire().to_owned(),
            payload,
            timestamp: python_utc_timestamp(SystemTime::now()),
            unique_id: None,
            context,
        })
    }
}

/// oslo's notification message (what its drivers get): the six fields, without the context.
fn oslo_message(notification: &Notification) -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::from_iter([
        ("message_id".to_owned(), notification.message_id.clone().into()),
        ("publisher_id".to_owned(), notification.publisher_id.clone().into()),
        ("event_type".to_owned(), notification.event_type.clone().into()),
        ("priority".to_owned(), notification.priority.clone().into()),
        ("payload".to_owned(), notification.payload.clone()),
        ("timestamp".to_owned(), notification.timestamp.clone().into()),
    ])
}

/// Formats a time as Python's `str(datetime.utcnow())`: `2026-11-23 07:02:47.787110`, with no
/// fraction at all when the microsecond is zero (as Python prints it). Times before 1970 are
/// printed as the epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use courier_runtime::notify::python_utc_timestamp;
///
/// let t = UNIX_EPOCH + Duration::from_micros(1_795_417_367_787_110);
/// assert_eq!(python_utc_timestamp(t), "2026-11-23 07:02:47.787110");
/// assert_eq!(python_utc_timestamp(UNIX_EPOCH + Duration::from_secs(86_400)), "1970-01-02 00:00:00");
/// ```
#[must_use]
pub fn python_utc_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let micros = since.subsec_micros();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut text = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
    if micros != 0 {
        text.push_str(&format!(".{micros:06}"));
    }
    text
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_match_python_str_of_utcnow() {
        let at = |micros: u64| python_utc_timestamp(UNIX_EPOCH + Duration::from_micros(micros));
        assert_eq!(at(0), "1970-01-01 00:00:00");
        assert_eq!(at(1), "1970-01-01 00:00:00.000001");
        // Leap days and century rules.
        assert_eq!(at(951_782_400_000_000), "2000-02-29 00:00:00");
        assert_eq!(at(4_107_542_399_500_000), "2100-02-28 23:59:59.500000");
        assert_eq!(at(4_107_542_400_000_000), "2100-03-01 00:00:00");
        assert_eq!(at(1_709_164_800_123_456), "2024-02-29 00:00:00.123456");
        assert_eq!(at(1_735_689_599_999_999), "2024-12-31 23:59:59.999999");
        // Sub-microsecond digits are dropped, as Python's datetime has none.
        let nanos = UNIX_EPOCH + Duration::from_nanos(1_000_000_000_999);
        assert_eq!(python_utc_timestamp(nanos), "1970-01-01 00:16:40");
    }

    #[test]
    fn priorities_parse_case_insensitively() {
        for priority in Priority::ALL {
            assert_eq!(priority.as_wire().parse::<Priority>(), Ok(priority));
            assert_eq!(priority.as_str().parse::<Priority>(), Ok(priority));
            assert_eq!(priority.as_wire().to_ascii_lowercase(), priority.as_str());
        }
        assert!("fatal".parse::<Priority>().unwrap_err().to_string().contains("`fatal`"));
        assert_eq!("Warning".parse::<Priority>(), Ok(Priority::Warn));
        for priority in Priority::ALL {
            assert_eq!(Priority::from_wire(priority.as_wire()), Some(priority));
        }
        assert_eq!(Priority::from_wire("warning"), None);
    }

    #[test]
    fn drivers_parse_by_oslo_name() {
        for driver in [
            NotifierDriver::MessagingV2,
            NotifierDriver::Messaging,
            NotifierDriver::Noop,
            NotifierDriver::Log,
        ] {
            assert_eq!(driver.as_str().parse::<NotifierDriver>().unwrap(), driver);
        }
        assert_eq!(
            "test".parse::<NotifierDriver>().unwrap(),
            NotifierDriver::test(TestNotifications::global())
        );
        assert!("smtp".parse::<NotifierDriver>().is_err());
        assert!("routing".parse::<NotifierDriver>().is_err());
    }
}
