//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade, behind the cargo feature
//! `metrics` (off by default; the facade crate `courier` forwards it).
//!
//! Without the feature every recording function here is empty and inlined away: no metrics
//! crate is linked and nothing is measured. With it, courier records into whatever recorder the
//! application installed (e.g. `metrics-exporter-prometheus`, see `examples/prometheus.rs`);
//! with no recorder installed, recording is a no-op of the facade.
//!
//! # Labels
//!
//! - `consumer`: which server or listener: `<topic>.<server>` for an RPC server; for a
//!   notification listener its pool, or its topics joined with `,`.
//! - `method`: the RPC method (a row of the dispatch table), or the notification priority
//!   (`info`, `error`, ...); `unknown` for messages rejected before a method was found: names
//!   read off the wire never become labels, so no sender can grow the label set.
//!   Argument errors found by the generated binding (missing, extra, ill-typed) end as
//!   `failed` (their failure class is `TypeError`); `bad_arguments` counts arguments the
//!   serializer refused.
//! - `kind`: the executor pool, `sync` or `async`.
//! - `reason` (rejections): `undecodable`, `malformed`, `no_such_method`, `unsupported_version`,
//!   `bad_arguments`, `refused_by_hook`, `filtered`, `redelivered`, `expired`, ...
//! - `topic` (client and notifier): the target's topic.
//!
//! # Servers and notification listeners
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `courier_messages_received_total` | counter | `consumer` | messages taken off the queue |
//! | `courier_messages_admitted_total` | counter | `consumer`, `method`, `kind` | admitted to the executor |
//! | `courier_messages_rejected_total` | counter | `consumer`, `method`, `reason` | not run, by reason |
//! | `courier_messages_completed_total` | counter | `consumer`, `method` | ran and succeeded |
//! | `courier_messages_failed_total` | counter | `consumer`, `method` | ran and returned a failure |
//! | `courier_messages_panicked_total` | counter | `consumer`, `method` | ran and panicked |
//! | `courier_messages_in_flight` | gauge | `consumer`, `kind` | admitted and running |
//! | `courier_messages_waiting` | gauge | `consumer`, `kind` | admitted, waiting for a pool slot |
//! | `courier_message_handling_seconds` | histogram | `consumer`, `method` | how long the method ran (from its admission) |
//! | `courier_reply_failures_total` | counter | `consumer` | replies the transport could not publish |
//! | `courier_blocking_polls_total` | counter | `consumer`, `method` | polls of an async method longer than the blocking watchdog's threshold |
//!
//! # RPC clients and notifiers
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `courier_client_calls_total` | counter | `topic`, `method` | calls sent |
//! | `courier_client_casts_total` | counter | `topic`, `method` | casts (and fanout casts) sent |
//! | `courier_client_timeouts_total` | counter | `topic`, `method` | calls that timed out |
//! | `courier_client_outstanding_replies` | gauge | `topic` | calls waiting for their reply |
//! | `courier_notifications_sent_total` | counter | `topic`, `priority` | notifications published |
//! | `courier_notification_failures_total` | counter | `topic`, `priority` | publishes that failed |
//!
//! A test can check the names: they are the constants below.

/// Counter: polls of an async method that blocked its thread past the watchdog's threshold,
/// per `consumer`, `method`.
pub const BLOCKING_POLLS: &str = "courier_blocking_polls_total";
/// Counter: messages taken off the queue, per `consumer`.
pub const MESSAGES_RECEIVED: &str = "courier_messages_received_total";
/// Counter: messages admitted to the executor, per `consumer`, `method`, `kind`.
pub const MESSAGES_ADMITTED: &str = "courier_messages_admitted_total";
/// Counter: messages not run, per `consumer`, `method`, `reason`.
pub const MESSAGES_REJECTED: &str = "courier_messages_rejected_total";
/// Counter: messages whose method succeeded, per `consumer`, `method`.
pub const MESSAGES_COMPLETED: &str = "courier_messages_completed_total";
/// Counter: messages whose method returned a failure, per `consumer`, `method`.
pub const MESSAGES_FAILED: &str = "courier_messages_failed_total";
/// Counter: messages whose method panicked, per `consumer`, `method`.
pub const MESSAGES_PANICKED: &str = "courier_messages_panicked_total";
/// Gauge: messages running, per `consumer`, `kind`.
pub const MESSAGES_IN_FLIGHT: &str = "courier_messages_in_flight";
/// Gauge: admitted messages waiting for a pool slot, per `consumer`, `kind`.
pub const MESSAGES_WAITING: &str = "courier_messages_waiting";
/// Histogram (seconds): how long the method ran (from its admission), per `consumer`, `method`.
pub const HANDLING_SECONDS: &str = "courier_message_handling_seconds";
/// Counter: replies the transport could not publish, per `consumer`.
pub const REPLY_FAILURES: &str = "courier_reply_failures_total";
/// Counter: calls sent, per `topic`, `method`.
pub const CLIENT_CALLS: &str = "courier_client_calls_total";
/// Counter: casts sent, per `topic`, `method`.
pub const CLIENT_CASTS: &str = "courier_client_casts_total";
/// Counter: calls that timed out, per `topic`, `method`.
pub const CLIENT_TIMEOUTS: &str = "courier_client_timeouts_total";
/// Gauge: calls waiting for their reply, per `topic`.
pub const CLIENT_OUTSTANDING_REPLIES: &str = "courier_client_outstanding_replies";
/// Counter: notifications published, per `topic`, `priority`.
pub const NOTIFICATIONS_SENT: &str = "courier_notifications_sent_total";
/// Counter: notification publishes that failed, per `topic`, `priority`.
pub const NOTIFICATION_FAILURES: &str = "courier_notification_failures_total";

/// Why a message was not run (the `reason` label of [`MESSAGES_REJECTED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The body is not a message at all.
    Undecodable,
    /// A message, but not a valid request or notification.
    Malformed,
    /// No endpoint has the method.
    NoSuchMethod,
    /// No endpoint serves the requested version.
    UnsupportedVersion,
    /// Missing, extra or ill-typed arguments.
    BadArguments,
    /// A hook refused it.
    RefusedByHook,
    /// A notification filter did not match.
    Filtered,
    /// A redelivered call that already ran (or runs): answered from the reply cache.
    Redelivered,
    /// Its sender had given up (its deadline passed) before it could run.
    Expired,
}

impl Rejection {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::Malformed => "malformed",
            Self::NoSuchMethod => "no_such_method",
            Self::UnsupportedVersion => "unsupported_version",
            Self::BadArguments => "bad_arguments",
            Self::RefusedByHook => "refused_by_hook",
            Self::Filtered => "filtered",
            Self::Redelivered => "redelivered",
            Self::Expired => "expired",
        }
    }
}

/// The method label when the message did not decode far enough to name one.
pub(crate) const UNKNOWN_METHOD: &str = "unknown";

// One `counter!` / `gauge!` / `histogram!` call per function; label values are copied into
// owned strings only when the feature is on.
macro_rules! record {
    ($kind:ident, $name:expr, [$($label:literal => $value:expr),*], $op:ident($arg:expr)) => {{
        #[cfg(feature = "metrics")]
        ::metrics::$kind!($name, $($label => $value.to_owned()),*).$op($arg);
        #[cfg(not(feature = "metrics"))]
        let _ = ($name, $($value,)* $arg);
    }};
}

/// A message was taken off the queue.
#[inline]
pub(crate) fn received(consumer: &str) {
    record!(counter, MESSAGES_RECEIVED, ["consumer" => consumer], increment(1));
}

/// An async method blocked its thread in one poll (the blocking watchdog).
pub(crate) fn blocking_poll(consumer: Option<&str>, method: &str) {
    let consumer = consumer.unwrap_or_default();
    record!(counter, BLOCKING_POLLS, ["consumer" => consumer, "method" => method], increment(1));
}

/// A message was admitted to the executor.
#[inline]
pub(crate) fn admitted(consumer: &str, method: &str, kind: &str) {
    record!(counter, MESSAGES_ADMITTED, ["consumer" => consumer, "method" => method, "kind" => kind], increment(1));
}

/// A message was not run.
#[inline]
pub(crate) fn rejected(consumer: &str, method: &str, reason: Rejection) {
    record!(
        counter,
        MESSAGES_REJECTED,
        ["consumer" => consumer, "method" => method, "reason" => reason.as_str()],
        increment(1)
    );
}

/// How a message that ran ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Panicked,
}

/// A message ran: its outcome and how long since its admission.
#[inline]
pub(crate) fn handled(consumer: &str, method: &str, outcome: Outcome, stopwatch: Stopwatch) {
    let name = match outcome {
        Outcome::Completed => MESSAGES_COMPLETED,
        Outcome::Failed => MESSAGES_FAILED,
        Outcome::Panicked => MESSAGES_PANICKED,
    };
    record!(counter, name, ["consumer" => consumer, "method" => method], increment(1));
    record!(histogram, HANDLING_SECONDS, ["consumer" => consumer, "method" => method], record(stopwatch.seconds()));
}

/// The executor's occupancy changed: `delta` more (or fewer) messages running of `kind`.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))] // only `Occupancy` calls it
pub(crate) fn in_flight(consumer: &str, kind: &str, delta: f64) {
    record!(gauge, MESSAGES_IN_FLIGHT, ["consumer" => consumer, "kind" => kind], increment(delta));
}

/// `delta` more (or fewer) admitted messages of `kind` wait for a pool slot.
#[inline]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))] // only `Occupancy` calls it
pub(crate) fn waiting(consumer: &str, kind: &str, delta: f64) {
    record!(gauge, MESSAGES_WAITING, ["consumer" => consumer, "kind" => kind], increment(delta));
}

/// The transport could not publish a reply.
#[inline]
pub(crate) fn reply_failed(consumer: &str) {
    record!(counter, REPLY_FAILURES, ["consumer" => consumer], increment(1));
}

/// A call was sent.
#[inline]
pub(crate) fn client_call(topic: &str, method: &str) {
    record!(counter, CLIENT_CALLS, ["topic" => topic, "method" => method], increment(1));
}

/// A cast was sent.
#[inline]
pub(crate) fn client_cast(topic: &str, method: &str) {
    record!(counter, CLIENT_CASTS, ["topic" => topic, "method" => method], increment(1));
}

/// A call timed out.
#[inline]
pub(crate) fn client_timeout(topic: &str, method: &str) {
    record!(counter, CLIENT_TIMEOUTS, ["topic" => topic, "method" => method], increment(1));
}

/// A notification was published (`ok`) or its publish failed.
#[inline]
pub(crate) fn notification_published(topic: &str, priority: &str, ok: bool) {
    let name = if ok { NOTIFICATIONS_SENT } else { NOTIFICATION_FAILURES };
    record!(counter, name, ["topic" => topic, "priority" => priority], increment(1));
}

/// Counts one call waiting for its reply while alive, in
/// [`CLIENT_OUTSTANDING_REPLIES`]; dropping it (reply, error, timeout or the caller giving up)
/// counts it out.
#[must_use = "the call is counted out when this is dropped"]
pub(crate) struct OutstandingReply {
    #[cfg(feature = "metrics")]
    gauge: ::metrics::Gauge,
}

impl OutstandingReply {
    #[inline]
    pub(crate) fn new(topic: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            let gauge = ::metrics::gauge!(CLIENT_OUTSTANDING_REPLIES, "topic" => topic.to_owned());
            gauge.increment(1.0);
            Self { gauge }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = topic;
            Self {}
        }
    }
}

impl Drop for OutstandingReply {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        self.gauge.decrement(1.0);
    }
}

/// One admitted message's place in [`MESSAGES_WAITING`] and then [`MESSAGES_IN_FLIGHT`]:
/// waiting from admission until it gets a pool slot ([`start`](Self::start)), running while
/// the returned guard lives; dropped unstarted, it leaves the waiting count. Empty without the
/// feature.
#[derive(Debug)]
pub(crate) struct Occupancy {
    #[cfg(feature = "metrics")]
    consumer: Option<std::sync::Arc<str>>,
    #[cfg(feature = "metrics")]
    kind: &'static str,
    #[cfg(feature = "metrics")]
    started: std::sync::atomic::AtomicBool,
}

impl Occupancy {
    /// Counts a message of `kind` waiting, for `consumer` (none: an executor nobody named).
    #[inline]
    pub(crate) fn waiting(consumer: Option<&std::sync::Arc<str>>, kind: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        {
            if let Some(consumer) = consumer {
                waiting(consumer, kind, 1.0);
            }
            Self { consumer: consumer.cloned(), kind, started: std::sync::atomic::AtomicBool::new(false) }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (consumer, kind);
            Self {}
        }
    }

    /// The message got its slot: no longer waiting, running until the guard drops.
    #[inline]
    pub(crate) fn start(&self) -> Running<'_> {
        #[cfg(feature = "metrics")]
        if let Some(consumer) = &self.consumer {
            if !self.started.swap(true, std::sync::atomic::Ordering::Relaxed) {
                waiting(consumer, self.kind, -1.0);
            }
            in_flight(consumer, self.kind, 1.0);
        }
        Running { occupancy: self }
    }
}

impl Drop for Occupancy {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(consumer) = &self.consumer
            && !self.started.load(std::sync::atomic::Ordering::Relaxed)
        {
            waiting(consumer, self.kind, -1.0);
        }
    }
}

/// A message running; see [`Occupancy::start`].
pub(crate) struct Running<'a> {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    occupancy: &'a Occupancy,
}

impl Drop for Running<'_> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(consumer) = &self.occupancy.consumer {
            in_flight(consumer, self.occupancy.kind, -1.0);
        }
    }
}

/// Measures handling time; zero-sized (and never reads the clock) without the feature.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Stopwatch {
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    #[inline]
    fn seconds(self) -> f64 {
        #[cfg(feature = "metrics")]
        return self.started.elapsed().as_secs_f64();
        #[cfg(not(feature = "metrics"))]
        0.0
    }
}
