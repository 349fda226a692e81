//! Fault injection for one in-memory transport: what a real broker and network do to a service
//! on a bad day, on demand and deterministic, so servers, listeners and clients can be tested
//! against it without RabbitMQ (and under tokio's paused clock: delays use tokio time).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use courier_runtime::{error::TransportError, transport::TransportConfig};

use crate::broker::{Queue, Stored, lock};

/// Which publishes of the transport a publish fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Publish {
    /// `Transport::call` (the request).
    Call,
    /// `Transport::cast`.
    Cast,
    /// `Transport::reply` (final replies and heartbeats).
    Reply,
    /// `Transport::notify`.
    Notify,
}

impl Publish {
    const ALL: [Self; 4] = [Self::Call, Self::Cast, Self::Reply, Self::Notify];

    fn index(self) -> usize {
        self as usize
    }
}

/// What the faults did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// Publishes that returned an error.
    pub failed_publishes: usize,
    /// Publishes reported as sent that the broker lost.
    pub dropped_publishes: usize,
    /// Messages delivered again after being settled.
    pub redelivered: usize,
    /// Unsettled deliveries the broker took back when the connection dropped.
    pub requeued_on_drop: usize,
}

/// The test handle of a transport built by [`connect_with_faults`]: each method arms one
/// fault of that transport only (its publishes, its listeners' deliveries), so parallel tests
/// never disturb each other.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use courier_fake::{Publish, connect_with_faults};
/// use courier_runtime::{target::Target, transport::{SendOptions, TransportConfig}, wire::Request};
///
/// let (transport, faults) = connect_with_faults(TransportConfig::default());
/// faults.fail_publishes(Publish::Cast, 1);
/// let (target, options) = (Target::new("doc-faults"), SendOptions::default());
/// let request = Request::new("m", Default::default());
/// assert!(transport.cast(&target, request.clone(), &options).await.is_err()); // the armed fault
/// assert!(transport.cast(&target, request, &options).await.is_ok()); // and only once
/// assert_eq!(faults.stats().failed_publishes, 1);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Faults {
    pub(crate) state: Arc<FaultState>,
}

/// The fault state a transport, its listeners and its deliveries share.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    fail: [AtomicUsize; 4],
    drop: [AtomicUsize; 4],
    redeliver: AtomicUsize,
    delivery_delay: DelayCell,
    settle_delay: DelayCell,
    reorder: AtomicBool,
    /// Bumped by every `cancel_consumers`; a listener created before ends.
    cancel_epoch: AtomicU64,
    listeners: Mutex<Vec<Weak<Notify>>>,
    unsettled: Mutex<Vec<Weak<Unsettled>>>,
    stats: Mutex<FaultStats>,
}

/// An armed delay, shared between threads; zero is off.
#[derive(Debug, Default)]
struct DelayCell(AtomicU64);

impl DelayCell {
    fn set(&self, delay: Duration) {
        self.0.store(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX), Ordering::Release);
    }

    fn get(&self) -> Option<Duration> {
        let nanos = self.0.load(Ordering::Acquire);
        (nanos > 0).then(|| Duration::from_nanos(nanos))
    }
}

/// Builds an in-memory transport together with its fault handle.
#[must_use]
pub fn connect_with_faults(
    config: TransportConfig,
) -> (Arc<dyn courier_runtime::transport::Transport>, Faults) {
    let state = Arc::new(FaultState::default());
    let transport = crate::connect_inner(config, Some(Arc::clone(&state)));
    (transport, Faults { state })
}

/// Takes one from an armed counter.
fn take_one(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
}

impl Faults {
    /// The next `count` publishes of `kind` fail with a connection error (nothing is sent).
    pub fn fail_publishes(&self, kind: Publish, count: usize) {
        self.state.fail[kind.index()].fetch_add(count, Ordering::AcqRel);
    }

    /// The next `count` publishes of `kind` are reported as sent but never delivered, as a
    /// broker that loses them (an unroutable reply, a crash before the message was written).
    pub fn drop_publishes(&self, kind: Publish, count: usize) {
        self.state.drop[kind.index()].fetch_add(count, Ordering::AcqRel);
    }

    /// The next `count` messages this transport's listeners settle (ack or reject) are delivered
    /// once more, flagged [`redelivered`](courier_runtime::transport::Incoming::redelivered), as after an
    /// acknowledgement the broker never got.
    pub fn redeliver(&self, count: usize) {
        self.state.redeliver.fetch_add(count, Ordering::AcqRel);
    }

    /// Holds every delivery to this transport's listeners for `delay` (tokio time) before the
    /// listener sees it; `Duration::ZERO` turns it off.
    pub fn delay_deliveries(&self, delay: Duration) {
        self.state.delivery_delay.set(delay);
    }

    /// Makes every ack, requeue and reject of this transport's listeners take `delay` (tokio
    /// time), as a settle frame waiting for a busy connection; a connection dropped meanwhile
    /// makes it fail. `Duration::ZERO` turns it off.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// use courier_fake::connect_with_faults;
    /// use courier_runtime::{target::Target, transport::TransportConfig, wire::Request};
    ///
    /// let (transport, faults) = connect_with_faults(TransportConfig::default());
    /// let target = Target::new("doc-settle-delay").with_server("s");
    /// let mut listener = transport.listen(&target, &Default::default()).await.unwrap();
    /// transport.cast(&target, Request::new("m", Default::default()), &Default::default()).await.unwrap();
    /// let incoming = listener.next().await.unwrap();
    /// faults.delay_settles(Duration::from_secs(1));
    /// let started = tokio::time::Instant::now();
    /// incoming.delivery.ack().await.unwrap();
    /// assert_eq!(started.elapsed(), Duration::from_secs(1));
    /// # }
    /// ```
    pub fn delay_settles(&self, delay: Duration) {
        self.state.settle_delay.set(delay);
    }

    /// While on, this transport's listeners take the newest waiting message first instead of
    /// the oldest.
    pub fn reorder_deliveries(&self, reorder: bool) {
        self.state.reorder.store(reorder, Ordering::Release);
    }

    /// Drops the connection, which the transport re-establishes at once: every delivery its
    /// listeners hold unsettled goes back to its queue, flagged redelivered, and settling it
    /// afterwards fails with a connection error, as on a closed AMQP channel. Listeners keep
    /// consuming; calls waiting for replies keep waiting.
    pub fn drop_connection(&self) {
        let unsettled: Vec<Arc<Unsettled>> =
            lock(&self.state.unsettled).drain(..).filter_map(|w| w.upgrade()).collect();
        let mut requeued = 0;
        for delivery in unsettled {
            if let Some(stored) = delivery.take() {
                delivery.lost.store(true, Ordering::Release);
                delivery.queue.push_front(stored.into_redelivered());
                requeued += 1;
            }
        }
        lock(&self.state.stats).requeued_on_drop += requeued;
        tracing::info!(requeued, "fault injected: connection dropped");
    }

    /// Cancels every consumer of this transport's listeners for good (as when their queues are
    /// deleted): each listener's `next()` returns `None`. Deliveries they hold stay valid.
    pub fn cancel_consumers(&self) {
        self.state.cancel_epoch.fetch_add(1, Ordering::AcqRel);
        for listener in lock(&self.state.listeners).iter().filter_map(Weak::upgrade) {
            listener.notify_one();
        }
        tracing::info!("fault injected: consumers cancelled");
    }

    /// How many deliveries this transport's listeners hold unsettled now (taken off a queue,
    /// neither acknowledged, requeued nor rejected).
    #[must_use]
    pub fn unsettled(&self) -> usize {
        lock(&self.state.unsettled)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|d| lock(&d.stored).is_some())
            .count()
    }

    /// Disarms every fault not yet used (delays and reordering included).
    pub fn clear(&self) {
        for kind in Publish::ALL {
            self.state.fail[kind.index()].store(0, Ordering::Release);
            self.state.drop[kind.index()].store(0, Ordering::Release);
        }
        self.state.redeliver.store(0, Ordering::Release);
        self.delay_deliveries(Duration::ZERO);
        self.delay_settles(Duration::ZERO);
        self.reorder_deliveries(false);
    }

    /// What the faults did so far.
    #[must_use]
    pub fn stats(&self) -> FaultStats {
        *lock(&self.state.stats)
    }
}

/// What a publish does under the armed faults.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Deliver,
    Drop,
}

impl FaultState {
    /// Applies the publish faults armed for `kind`.
    pub(crate) fn publish(&self, kind: Publish) -> Result<Fate, TransportError> {
        if take_one(&self.fail[kind.index()]) {
            lock(&self.stats).failed_publishes += 1;
            tracing::info!(?kind, "fault injected: publish failed");
            return Err(TransportError::Connection {
                reason: format!("{kind:?} publish failed (injected fault)"),
                source: None,
            });
        }
        if take_one(&self.drop[kind.index()]) {
            lock(&self.stats).dropped_publishes += 1;
            tracing::info!(?kind, "fault injected: publish lost");
            return Ok(Fate::Drop);
        }
        Ok(Fate::Deliver)
    }

    pub(crate) fn delay(&self) -> Option<Duration> {
        self.delivery_delay.get()
    }

    pub(crate) fn settle_delay(&self) -> Option<Duration> {
        self.settle_delay.get()
    }

    pub(crate) fn reorder(&self) -> bool {
        self.reorder.load(Ordering::Acquire)
    }

    pub(crate) fn cancel_epoch(&self) -> u64 {
        self.cancel_epoch.load(Ordering::Acquire)
    }

    pub(crate) fn add_listener(&self, waker: &Arc<Notify>) {
        let mut listeners = lock(&self.listeners);
        listeners.retain(|w| w.strong_count() > 0);
        listeners.push(Arc::downgrade(waker));
    }

    pub(crate) fn track(&self, delivery: &Arc<Unsettled>) {
        let mut unsettled = lock(&self.unsettled);
        // Pruned as it grows, so the list stays about as long as what is really unsettled.
        if unsettled.len() >= 64 && unsettled.len().is_power_of_two() {
            unsettled.retain(|w| w.strong_count() > 0);
        }
        unsettled.push(Arc::downgrade(delivery));
    }

    /// Whether a settled message comes back (and counts it).
    fn take_redelivery(&self) -> bool {
        let again = take_one(&self.redeliver);
        if again {
            lock(&self.stats).redelivered += 1;
            tracing::info!("fault injected: the message will be redelivered");
        }
        again
    }
}

/// A message a listener holds, until it is settled or the connection drops.
#[derive(Debug)]
pub(crate) struct Unsettled {
    pub(crate) queue: Arc<Queue>,
    stored: Mutex<Option<Stored>>,
    /// Set when a dropped connection took the message back: settling it then fails.
    lost: AtomicBool,
    faults: Option<Arc<FaultState>>,
}

impl Unsettled {
    pub(crate) fn new(queue: Arc<Queue>, stored: Stored, faults: Option<Arc<FaultState>>) -> Arc<Self> {
        let unsettled =
            Arc::new(Self { queue, stored: Mutex::new(Some(stored)), lost: AtomicBool::new(false), faults });
        if let Some(faults) = &unsettled.faults {
            faults.track(&unsettled);
        }
        unsettled
    }

    pub(crate) fn take(&self) -> Option<Stored> {
        lock(&self.stored).take()
    }

    /// Takes the message to settle it (after the settle delay, if one is armed); an error once a
    /// dropped connection took it back.
    pub(crate) async fn settle(&self) -> Result<Option<Stored>, TransportError> {
        if let Some(delay) = self.faults.as_ref().and_then(|faults| faults.settle_delay()) {
            tokio::time::sleep(delay).await;
        }
        let stored = self.take();
        if stored.is_none() && self.lost.load(Ordering::Acquire) {
            return Err(TransportError::Connection {
                reason: "the connection dropped before the message was settled; the broker requeued it"
                    .into(),
                source: None,
            });
        }
        Ok(stored)
    }

    /// After an ack or reject: puts the message back when a redelivery fault is armed.
    pub(crate) fn finish(&self, stored: Option<Stored>) {
        if let (Some(stored), Some(faults)) = (stored, &self.faults)
            && faults.take_redelivery()
        {
            self.queue.push_front(stored.into_redelivered());
        }
    }
}
