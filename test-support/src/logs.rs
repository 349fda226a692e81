//! [`Captured`]: every `tracing` event (and `log` record) a test produces, as text, to search
//! for what must (or must never) be logged.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::SubscriberBuilder;
use tracing_subscriber::fmt::format::{DefaultFields, FmtSpan, Format};

/// The text of every event written so far; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
            .into_owned()
    }

    /// Whether any line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }

    fn builder(
        &self,
        filter: &str,
    ) -> SubscriberBuilder<
        DefaultFields,
        Format,
        EnvFilter,
        impl Fn() -> Captured + Send + Sync + 'static + use<>,
    > {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_span_events(FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(move || writer.clone())
    }
}

/// Captures the events of the current thread (a `current_thread` runtime's tasks included)
/// at `filter` (e.g. `"trace"`, `"courier=debug"`) until the guard drops.
pub fn capture_thread(filter: &str) -> (tracing::subscriber::DefaultGuard, Captured) {
    let captured = Captured::default();
    let guard = tracing::subscriber::set_default(captured.builder(filter).finish());
    (guard, captured)
}

/// Captures the events of every thread of the process at `filter`, `log` records included,
/// from the first call on (later calls return the same capture; their filter is ignored).
///
/// # Panics
/// When another global subscriber was installed first.
pub fn capture_process(filter: &str) -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            // `try_init` also routes `log` records into `tracing`.
            captured.builder(filter).try_init().expect("the only global subscriber of this test binary");
            captured
        })
        .clone()
}
