//! The `test` notification driver: notifications kept in memory for tests to read.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

use super::Priority;

/// How many notifications a [`TestNotifications`] keeps before dropping the oldest.
pub const DEFAULT_TEST_NOTIFICATIONS_CAPACITY: usize = 10_000;

/// One notification as the `test` driver saw it: oslo's `(ctxt, message, priority, retry)`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SentNotification {
    /// The context as sent: redacted, then serialized.
    pub context: Map<String, Value>,
    /// oslo's message: `message_id`, `publisher_id`, `event_type`, `priority`, `payload`,
    /// `timestamp`.
    pub message: Map<String, Value>,
    /// The priority.
    pub priority: Priority,
    /// The notifier's `retry` setting.
    pub retry: Option<u32>,
}

impl SentNotification {
    /// The `event_type`.
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.message.get("event_type").and_then(Value::as_str).unwrap_or_default()
    }

    /// The `publisher_id`.
    #[must_use]
    pub fn publisher_id(&self) -> &str {
        self.message.get("publisher_id").and_then(Value::as_str).unwrap_or_default()
    }

    /// The payload (`null` if absent).
    #[must_use]
    pub fn payload(&self) -> &Value {
        self.message.get("payload").unwrap_or(&Value::Null)
    }
}

/// Where the `test` driver records notifications (oslo's `_impl_test.NOTIFICATIONS`). Cheap to
/// clone; clones share the record.
///
/// Give each test its own with [`NotifierDriver::test`](super::NotifierDriver::test); the
/// driver named `test` in a configuration records into [`TestNotifications::global`]. The record
/// keeps the newest [`DEFAULT_TEST_NOTIFICATIONS_CAPACITY`] notifications.
///
/// ```
/// # async fn demo(transport: std::sync::Arc<dyn courier_runtime::transport::Transport>) -> Result<(), courier_runtime::error::Error> {
/// use courier_runtime::context::Context;
/// use courier_runtime::notify::{Notifier, NotifierDriver, TestNotifications};
///
/// let sent = TestNotifications::new();
/// let notifier = Notifier::new(transport, "compute.host1").with_driver(NotifierDriver::test(&sent));
/// notifier.info(&Context::new(), "compute.instance.create.end", serde_json::json!({"id": 1})).await?;
/// assert_eq!(sent.take()[0].event_type(), "compute.instance.create.end");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TestNotifications {
    inner: Arc<Record>,
}

struct Record {
    capacity: usize,
    sent: Mutex<VecDeque<SentNotification>>,
}

impl TestNotifications {
    /// An empty record with the default capacity.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_TEST_NOTIFICATIONS_CAPACITY)
    }

    /// An empty record keeping at most `capacity` notifications (at least one).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { inner: Arc::new(Record { capacity, sent: Mutex::new(VecDeque::new()) }) }
    }

    /// The process-wide record the driver named `test` writes to.
    #[must_use]
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<TestNotifications> = OnceLock::new();
        GLOBAL.get_or_init(Self::new)
    }

    /// A copy of what was recorded, oldest first.
    #[must_use]
    pub fn snapshot(&self) -> Vec<SentNotification> {
        self.lock().iter().cloned().collect()
    }

    /// Takes what was recorded, oldest first, leaving the record empty.
    #[must_use]
    pub fn take(&self) -> Vec<SentNotification> {
        self.lock().drain(..).collect()
    }

    /// Empties the record (oslo's `_impl_test.reset()`).
    pub fn reset(&self) {
        self.lock().clear();
    }

    /// How many notifications are recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn record(&self, sent: SentNotification) {
        let mut record = self.lock();
        if record.len() == self.inner.capacity {
            record.pop_front();
        }
        record.push_back(sent);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SentNotification>> {
        self.inner.sent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for TestNotifications {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for TestNotifications {
    /// The same record.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for TestNotifications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestNotifications").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(n: u64) -> SentNotification {
        SentNotification {
            context: Map::new(),
            message: Map::from_iter([("payload".to_owned(), Value::from(n))]),
            priority: Priority::Info,
            retry: None,
        }
    }

    #[test]
    fn keeps_the_newest_up_to_its_capacity() {
        let record = TestNotifications::with_capacity(2);
        for n in 0..3 {
            record.record(sent(n));
        }
        let payloads: Vec<_> = record.snapshot().iter().map(|s| s.payload().clone()).collect();
        assert_eq!(payloads, [Value::from(1), Value::from(2)]);
        assert_eq!(record.take().len(), 2);
        assert!(record.is_empty());
    }

    #[test]
    fn clones_share_the_record() {
        let record = TestNotifications::new();
        let clone = record.clone();
        clone.record(sent(7));
        assert_eq!(record.len(), 1);
        assert_eq!(record, clone);
        assert_ne!(record, TestNotifications::new());
        record.reset();
        assert!(clone.is_empty());
    }
}
