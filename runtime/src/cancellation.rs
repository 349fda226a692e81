//! [`Cancellation`]: how a running RPC method learns that its caller has given up (the
//! request's deadline passed) or that the server is stopping, so long work can end early.

use std::cell::RefCell;

use tokio::sync::watch;
use tokio::time::Instant;

/// Whether the call a method serves is still wanted. A server hands one to every method: read
/// it with [`Cancellation::current`] inside the method, or declare a parameter of type
/// `Cancellation` in an `#[rpc_endpoint]` method and the macro passes it (it is not a wire
/// argument).
///
/// It is cancelled once the request's deadline passes (the transport's receipt plus the
/// caller's timeout the message carries: RabbitMQ's `expiration`, as oslo's caller sets it) or
/// the server is stopped. Nothing is interrupted: a method checks
/// [`is_cancelled`](Self::is_cancelled) between steps (sync methods) or awaits
/// [`cancelled`](Self::cancelled) (async methods) and returns early.
///
/// ```
/// use courier_runtime::cancellation::Cancellation;
///
/// fn rebuild_index(cancel: &Cancellation, chunks: usize) -> usize {
///     let mut done = 0;
///     while done < chunks && !cancel.is_cancelled() {
///         done += 1; // one chunk of blocking work
///     }
///     done
/// }
///
/// // Outside a call there is nothing to cancel.
/// assert_eq!(rebuild_index(&Cancellation::current(), 3), 3);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cancellation {
    deadline: Option<Instant>,
    stopping: Option<watch::Receiver<bool>>,
}

thread_local! {
    /// The cancellation of the sync call running on this (blocking pool) thread.
    static SYNC_CALL: RefCell<Option<Cancellation>> = const { RefCell::new(None) };
}

tokio::task_local! {
    /// The cancellation of the async call this task runs.
    static ASYNC_CALL: Cancellation;
}

impl Cancellation {
    /// One that is never cancelled.
    #[must_use]
    pub fn never() -> Self {
        Self::default()
    }

    /// Cancelled at `deadline` (if any) or once `stopping` turns true (or its sender is gone).
    #[must_use]
    pub(crate) fn new(deadline: Option<Instant>, stopping: watch::Receiver<bool>) -> Self {
        Self { deadline, stopping: Some(stopping) }
    }

    /// The cancellation of the call running here: the current sync method's (on its blocking
    /// thread) or async method's (in its task); [`never`](Self::never) outside a call.
    #[must_use]
    pub fn current() -> Self {
        ASYNC_CALL
            .try_with(Clone::clone)
            .ok()
            .or_else(|| SYNC_CALL.with(|call| call.borrow().clone()))
            .unwrap_or_default()
    }

    /// When the caller gives up, if the request said.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the deadline passed or the server is stopping.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
            || self.stopping.as_ref().is_some_and(|stopping| *stopping.borrow() || !stopping_alive(stopping))
    }

    /// Resolves once cancelled (never, for [`never`](Self::never)).
    pub async fn cancelled(&self) {
        let deadline = async {
            match self.deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let stopping = async {
            match self.stopping.clone() {
                // An error means the server is gone: stopped too.
                Some(mut stopping) => drop(stopping.wait_for(|stop| *stop).await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = deadline => {}
            () = stopping => {}
        }
    }

    /// Runs `call` (a sync method, on its blocking thread) with this as its
    /// [`current`](Self::current).
    pub(crate) fn run_sync<T>(self, call: impl FnOnce() -> T) -> T {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                SYNC_CALL.with(|current| current.borrow_mut().take());
            }
        }
        SYNC_CALL.with(|current| *current.borrow_mut() = Some(self));
        let _reset = Reset;
        call()
    }

    /// Runs `future` (an async method) with this as its [`current`](Self::current).
    pub(crate) async fn run_async<F: Future>(self, future: F) -> F::Output {
        ASYNC_CALL.scope(self, future).await
    }
}

fn stopping_alive(stopping: &watch::Receiver<bool>) -> bool {
    stopping.has_changed().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn cancelled_at_the_deadline_or_on_stop() {
        let (stop, stopping) = watch::channel(false);
        let cancel = Cancellation::new(Some(Instant::now() + Duration::from_secs(5)), stopping.clone());
        assert!(!cancel.is_cancelled());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(cancel.is_cancelled());
        cancel.cancelled().await;

        let cancel = Cancellation::new(None, stopping);
        assert!(!cancel.is_cancelled());
        let waiting = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        stop.send_replace(true);
        waiting.await.unwrap();
        assert!(cancel.is_cancelled());
        drop(stop);
        assert!(cancel.is_cancelled());
        assert!(!Cancellation::never().is_cancelled());
    }

    #[tokio::test]
    async fn current_is_the_running_calls() {
        let (_stop, stopping) = watch::channel(false);
        let deadline = Some(Instant::now() + Duration::from_secs(60));
        let seen =
            Cancellation::new(deadline, stopping.clone()).run_sync(|| Cancellation::current().deadline());
        assert_eq!(seen, deadline);
        assert_eq!(Cancellation::current().deadline(), None, "reset after the call");
        let seen = Cancellation::new(deadline, stopping)
            .run_async(async { Cancellation::current().deadline() })
            .await;
        assert_eq!(seen, deadline);
    }
}
