//! The one reconnect loop of the transport: connect → serve until the connection is lost → log
//! → back off with oslo's schedule → connect again, stopping promptly when the transport closes.
//!
//! [`supervise`] keeps a long-lived [`Session`] up (a listener's consumers, the reply queue's
//! consumer); [`retrying`] runs one operation until it works, gives up, or the transport closes
//! (opening the publishing connection, a publish). Both wait with [`Backoff`], the only place that
//! knows oslo's schedule, the deadline, the retry count and the closing signal.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use courier_runtime::error::TransportError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::options::RabbitOptions;

/// How long the transport's cleanup waits for a supervised task (a listener's, the reply
/// queue's) to finish after asking it to stop; a broker that does not answer the
/// `connection.close` must not hold up a process that is shutting down.
pub(crate) const TASK_JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How the waits between attempts grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// `reconnect_delay(0)`, `reconnect_delay(1)`, ...: oslo's `ensure_connection`.
    Oslo,
    /// At once, then as [`Schedule::Oslo`]: a publish whose connection broke is re-sent on a
    /// fresh connection right away (the broker is usually back, e.g. after a cut connection).
    ImmediateFirst,
}

/// Why a [`Backoff`] will not wait for another attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// The transport is closing, or the session's own stop signal fired.
    Closed,
    /// The retry count (oslo's `retry`) is used up.
    OutOfRetries,
    /// The next attempt would start after the deadline.
    PastDeadline,
}

/// oslo's backoff between attempts, bounded by an optional deadline and retry count, cut short
/// when the transport closes.
pub(crate) struct Backoff<'a> {
    /// For logs: what is being retried (`listen`, `reply`, `publish`).
    name: &'static str,
    options: &'a RabbitOptions,
    schedule: Schedule,
    /// Waits so far since the last [`Backoff::reset`].
    attempt: u32,
    deadline: Option<Instant>,
    retries: Option<u32>,
    closing: watch::Receiver<bool>,
}

impl<'a> Backoff<'a> {
    /// oslo's schedule without a deadline or a retry count.
    pub(crate) fn new(
        name: &'static str,
        options: &'a RabbitOptions,
        closing: watch::Receiver<bool>,
    ) -> Self {
        Self { name, options, schedule: Schedule::Oslo, attempt: 0, deadline: None, retries: None, closing }
    }

    /// Gives up once the next attempt would start at or after `deadline`.
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Gives up after `retries` waits (oslo's `retry`; `None` is unlimited).
    pub(crate) fn with_retries(mut self, retries: Option<u32>) -> Self {
        self.retries = retries;
        self
    }

    /// Uses `schedule` instead of [`Schedule::Oslo`].
    pub(crate) fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Whether the transport is closing (or gone).
    pub(crate) fn is_closing(&self) -> bool {
        *self.closing.borrow() || self.closing.has_changed().is_err()
    }

    /// Starts the schedule again (after a connection that worked).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before the next attempt, counting it.
    fn next_delay(&mut self) -> Result<Duration, GiveUp> {
        if self.retries.is_some_and(|retries| self.attempt >= retries) {
            return Err(GiveUp::OutOfRetries);
        }
        let delay = match (self.schedule, self.attempt) {
            (Schedule::ImmediateFirst, 0) => Duration::ZERO,
            (Schedule::ImmediateFirst, n) => self.options.reconnect_delay(n - 1),
            (Schedule::Oslo, n) => self.options.reconnect_delay(n),
        };
        if self.deadline.is_some_and(|deadline| Instant::now() + delay >= deadline) {
            return Err(GiveUp::PastDeadline);
        }
        self.attempt = self.attempt.saturating_add(1);
        Ok(delay)
    }

    /// After a failed attempt (`why`): logs, then sleeps the next delay; gives up instead when
    /// the retries or the deadline are used up, or early when the transport closes or `stop`
    /// resolves.
    pub(crate) async fn wait(
        &mut self,
        why: &(dyn fmt::Display + Sync),
        stop: impl Future<Output = ()>,
    ) -> Result<(), GiveUp> {
        if self.is_closing() {
            return Err(GiveUp::Closed);
        }
        let delay = self.next_delay()?;
        tracing::warn!(session = self.name, error = %why, ?delay, "{} failed; trying again after {delay:?}", self.name);
        let closing = self.closing.wait_for(|closing| *closing);
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            _ = closing => Err(GiveUp::Closed),
            () = stop => Err(GiveUp::Closed),
        }
    }
}

/// What stops a session besides the transport's closing (a listener's `close` or drop).
pub(crate) trait StopSignal: Send {
    /// Resolves once the session's owner wants it gone; does what the owner asked on the way
    /// (e.g. confirms a close request).
    fn stopped(&mut self) -> impl Future<Output = ()> + Send;
}

/// Only the transport's closing stops the session.
pub(crate) struct NoStop;

impl StopSignal for NoStop {
    fn stopped(&mut self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

/// An attempt that failed.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Worth another attempt after the backoff.
    Retry(TransportError),
    /// Final: returned as is.
    Final(TransportError),
}

/// One try of what [`retrying`] repeats; a closure returning a future is one.
pub(crate) trait Attempt: Send {
    /// What a successful try gives.
    type Output;
    /// Tries once.
    fn attempt(&mut self) -> impl Future<Output = Result<Self::Output, Failed>> + Send;
}

impl<T, F, Fut> Attempt for F
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<T, Failed>> + Send,
{
    type Output = T;

    fn attempt(&mut self) -> impl Future<Output = Result<T, Failed>> + Send {
        self()
    }
}

/// Runs `attempt` until it succeeds, fails finally, or `backoff` gives up (then the last error,
/// or [`TransportError::Closed`] when the transport closes or `stop` fires).
pub(crate) async fn retrying<A: Attempt>(
    backoff: &mut Backoff<'_>,
    stop: &mut impl StopSignal,
    mut attempt: A,
) -> Result<A::Output, TransportError> {
    loop {
        if backoff.is_closing() {
            return Err(TransportError::Closed);
        }
        let error = match attempt.attempt().await {
            Ok(value) => return Ok(value),
            Err(Failed::Final(error)) => return Err(error),
            Err(Failed::Retry(error)) => error,
        };
        match backoff.wait(&error, stop.stopped()).await {
            Ok(()) => {}
            Err(GiveUp::Closed) => return Err(TransportError::Closed),
            Err(GiveUp::OutOfRetries) => {
                tracing::warn!(session = backoff.name, %error, "giving up (retry count reached)");
                return Err(error);
            }
            Err(GiveUp::PastDeadline) => return Err(error),
        }
    }
}

/// Why a session's connection ended.
#[derive(Debug)]
pub(crate) struct Lost {
    /// For a person.
    pub(crate) reason: String,
    /// lapin's error, when the connection failed with one.
    pub(crate) source: Option<lapin::Error>,
}

impl Lost {
    /// Lost with lapin's `error`.
    pub(crate) fn by(error: lapin::Error) -> Self {
        Self { reason: error.to_string(), source: Some(error) }
    }

    /// Lost without an error (e.g. the broker cancelled a consumer).
    pub(crate) fn because(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), source: None }
    }
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// How [`Session::serve`] ended.
#[derive(Debug)]
pub(crate) enum Served {
    /// The connection is gone: reconnect.
    Lost(Lost),
    /// The transport closes or the owner stopped the session: it closed what it opened.
    Stopped,
}

/// A connection-owning session that [`supervise`] keeps up.
pub(crate) trait Session: Send {
    /// What [`Session::connect`] opens and [`Session::serve`] uses.
    type Connected: Send;
    /// What besides the transport's closing stops the session.
    type Stop: StopSignal;

    /// Opens the connection and declares what the session needs.
    fn connect(&mut self) -> impl Future<Output = Result<Self::Connected, TransportError>> + Send;

    /// Serves on `connected` until it is lost or until `closing` or `stop` says to stop; closes
    /// the connection either way.
    fn serve(
        &mut self,
        connected: Self::Connected,
        closing: &mut watch::Receiver<bool>,
        stop: &mut Self::Stop,
    ) -> impl Future<Output = Served> + Send;

    /// A connection attempt failed with `error` (before the backoff).
    fn connect_failed(&mut self, _error: &TransportError) {}
}

/// Connecting a [`Session`], as an [`Attempt`] of [`retrying`].
struct Connecting<'a, S>(&'a mut S);

impl<S: Session> Attempt for Connecting<'_, S> {
    type Output = S::Connected;

    async fn attempt(&mut self) -> Result<S::Connected, Failed> {
        self.0.connect().await.map_err(|error| {
            self.0.connect_failed(&error);
            Failed::Retry(error)
        })
    }
}

/// Keeps `session` up until the transport closes or its `stop` signal fires: serves on `first`
/// (when the caller already connected, to report its errors) or a fresh connection, and after a
/// loss waits the first delay of oslo's schedule, then reconnects with the full schedule.
pub(crate) async fn supervise<S: Session>(
    name: &'static str,
    options: &RabbitOptions,
    closing: watch::Receiver<bool>,
    mut session: S,
    mut stop: S::Stop,
    first: Option<S::Connected>,
) {
    let mut serving_closing = closing.clone();
    let mut backoff = Backoff::new(name, options, closing);
    let mut first = first;
    loop {
        let connected = match first.take() {
            Some(connected) => connected,
            None => match retrying(&mut backoff, &mut stop, Connecting(&mut session)).await {
                Ok(connected) => {
                    tracing::info!(session = name, "{name}: reconnected to the broker");
                    connected
                }
                Err(_) => return,
            },
        };
        backoff.reset();
        match session.serve(connected, &mut serving_closing, &mut stop).await {
            Served::Stopped => return,
            Served::Lost(lost) => {
                tracing::warn!(session = name, reason = %lost, "{name}: lost the connection; reconnecting");
                if backoff.wait(&lost, stop.stopped()).await.is_err() {
                    return;
                }
                // The wait after a loss is the schedule's first; a failing reconnect starts it
                // again, as the listener always did.
                backoff.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn options(interval: u32, backoff: u32) -> RabbitOptions {
        let url: courier_runtime::url::TransportUrl = format!(
            "rabbit://h/?rabbit_retry_interval={interval}&rabbit_retry_backoff={backoff}&kombu_reconnect_delay=0"
        )
        .parse()
        .unwrap();
        RabbitOptions::from_url(&url).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_follows_the_schedule_and_gives_up() {
        let options = options(1, 2);
        let (_tx, closing) = watch::channel(false);
        let mut backoff = Backoff::new("test", &options, closing.clone());
        let mut delays = Vec::new();
        for _ in 0..3 {
            delays.push(backoff.next_delay().unwrap().as_secs());
        }
        assert_eq!(delays, [1, 3, 5]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Ok(Duration::from_secs(1)));

        let mut immediate = Backoff::new("test", &options, closing.clone())
            .with_schedule(Schedule::ImmediateFirst)
            .with_retries(Some(2));
        assert_eq!(immediate.next_delay(), Ok(Duration::ZERO));
        assert_eq!(immediate.next_delay(), Ok(Duration::from_secs(1)));
        assert_eq!(immediate.next_delay(), Err(GiveUp::OutOfRetries));

        let mut bounded = Backoff::new("test", &options, closing)
            .with_deadline(Some(Instant::now() + Duration::from_secs(2)));
        assert_eq!(bounded.next_delay(), Ok(Duration::from_secs(1)));
        assert_eq!(bounded.next_delay(), Err(GiveUp::PastDeadline));
    }

    #[tokio::test(start_paused = true)]
    async fn closing_cuts_a_backoff_short() {
        let options = options(30, 0);
        let (tx, closing) = watch::channel(false);
        let mut backoff = Backoff::new("test", &options, closing);
        let started = Instant::now();
        let wait = backoff.wait(&"down", std::future::pending());
        let close = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send_replace(true);
        };
        let (result, ()) = tokio::join!(wait, close);
        assert_eq!(result, Err(GiveUp::Closed));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn retrying_returns_the_last_error_past_the_deadline() {
        let options = options(1, 0);
        let (_tx, closing) = watch::channel(false);
        let mut backoff = Backoff::new("test", &options, closing)
            .with_deadline(Some(Instant::now() + Duration::from_millis(3500)));
        let mut tries = 0;
        let result: Result<(), _> = retrying(&mut backoff, &mut NoStop, || {
            tries += 1;
            std::future::ready(Err(Failed::Retry(TransportError::Refused {
                reason: format!("try {tries}"),
                source: None,
            })))
        })
        .await;
        assert!(
            matches!(&result, Err(TransportError::Refused { reason, .. }) if reason == "try 4"),
            "{result:?}"
        );
        let final_error: Result<(), _> = retrying(&mut backoff, &mut NoStop, || {
            std::future::ready(Err(Failed::Final(TransportError::Closed)))
        })
        .await;
        assert!(matches!(final_error, Err(TransportError::Closed)));
    }

    /// Fails to connect `failures` times, then serves until told to stop; counts connects.
    struct Flaky {
        failures: usize,
        connects: Arc<AtomicUsize>,
        lose_first: bool,
    }

    impl Session for Flaky {
        type Connected = usize;
        type Stop = NoStop;

        async fn connect(&mut self) -> Result<usize, TransportError> {
            let n = self.connects.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                Err(TransportError::Refused { reason: "broker down".into(), source: None })
            } else {
                Ok(n)
            }
        }

        async fn serve(&mut self, n: usize, closing: &mut watch::Receiver<bool>, _: &mut NoStop) -> Served {
            if self.lose_first && n == self.failures {
                return Served::Lost(Lost::because("cut"));
            }
            let _ = closing.wait_for(|closing| *closing).await;
            Served::Stopped
        }
    }

    #[tokio::test(start_paused = true)]
    async fn supervise_reconnects_after_failures_and_a_loss() {
        let options = options(1, 2);
        let (tx, closing) = watch::channel(false);
        let connects = Arc::new(AtomicUsize::new(0));
        let session = Flaky { failures: 2, connects: connects.clone(), lose_first: true };
        let task =
            tokio::spawn(async move { supervise("test", &options, closing, session, NoStop, None).await });
        // Two failures (1 s, 3 s), a connection lost at once (1 s), then one that serves.
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(connects.load(Ordering::SeqCst), 4);
        tx.send_replace(true);
        tokio::time::timeout(Duration::from_secs(1), task).await.expect("stops promptly").unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn supervise_stops_while_backing_off() {
        let options = options(30, 0);
        let (tx, closing) = watch::channel(false);
        let connects = Arc::new(AtomicUsize::new(0));
        let session = Flaky { failures: usize::MAX, connects: connects.clone(), lose_first: false };
        let task =
            tokio::spawn(async move { supervise("test", &options, closing, session, NoStop, None).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(connects.load(Ordering::SeqCst), 1, "backing off for 30 s");
        tx.send_replace(true);
        tokio::time::timeout(Duration::from_millis(10), task)
            .await
            .expect("stops during the backoff")
            .unwrap();
    }
}
