//! Failure replies (malformed request, NoSuchMethod, UnsupportedVersion, argument errors) are
//! tracked like every other reply: `wait()` returns only once they went out, so a service that
//! closes its transport right after `wait()` loses none of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier::wire::{Notification, Reply, Request};
use courier::{
    Priority, RpcServer, Target, Transport,
    error::TransportError,
    rpc_endpoint,
    transport::{CallOptions, ListenOptions, Listener, NotifyOptions, PendingReply, SendOptions},
};
use courier_test_support::unique;
use serde_json::json;
use tokio::sync::Notify;

/// A transport whose replies take a while (a slow broker link) and fail once it is closed.
#[derive(Debug)]
struct SlowReplies {
    inner: Arc<dyn Transport>,
    closed: AtomicBool,
    /// Replies started, and replies that made it before the close.
    started: Mutex<usize>,
    sent: Mutex<Vec<Reply>>,
    changed: Notify,
}

impl SlowReplies {
    async fn until_started(&self, n: usize) {
        loop {
            let changed = self.changed.notified();
            if *self.started.lock().unwrap() >= n {
                return;
            }
            changed.await;
        }
    }
}

#[async_trait::async_trait]
impl Transport for SlowReplies {
    async fn call(&self, t: &Target, r: Request, o: &CallOptions) -> Result<PendingReply, TransportError> {
        self.inner.call(t, r, o).await
    }

    async fn cast(&self, t: &Target, r: Request, o: &SendOptions) -> Result<(), TransportError> {
        self.inner.cast(t, r, o).await
    }

    async fn reply(&self, _reply_q: &str, reply: Reply) -> Result<(), TransportError> {
        *self.started.lock().unwrap() += 1;
        self.changed.notify_waiters();
        // Paused time: this only passes once nothing else can run.
        tokio::time::sleep(Duration::from_secs(5)).await;
        if self.closed.load(Ordering::SeqCst) {
            return Err(TransportError::Closed);
        }
        self.sent.lock().unwrap().push(reply);
        Ok(())
    }

    async fn notify(
        &self,
        t: &Target,
        p: Priority,
        n: Notification,
        o: &NotifyOptions,
    ) -> Result<(), TransportError> {
        self.inner.notify(t, p, n, o).await
    }

    async fn listen(&self, t: &Target, o: &ListenOptions) -> Result<Box<dyn Listener>, TransportError> {
        self.inner.listen(t, o).await
    }

    async fn listen_for_notifications(
        &self,
        tp: &[(Target, Priority)],
        pool: Option<&str>,
        o: &ListenOptions,
    ) -> Result<Box<dyn Listener>, TransportError> {
        self.inner.listen_for_notifications(tp, pool, o).await
    }

    async fn cleanup(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.inner.cleanup().await;
    }
}

struct Doubler;

#[rpc_endpoint]
impl Doubler {
    async fn double(&self, n: u32) -> u32 {
        n * 2
    }
}

/// Publishes `requests` (msg id, body) to a server whose replies are slow, waits for the
/// server, closes its transport, and returns the `(msg id, failure class)` pairs that went out.
async fn failures_sent_before_close(requests: &[(&str, serde_json::Value)]) -> Vec<(String, String)> {
    let topic = unique("failure-replies");
    let transport = Arc::new(SlowReplies {
        inner: courier::connect("fake://").await.unwrap(),
        closed: AtomicBool::new(false),
        started: Mutex::new(0),
        sent: Mutex::new(Vec::new()),
        changed: Notify::new(),
    });
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Doubler)
        .build()
        .unwrap();
    server.start().await.unwrap();
    for (msg_id, body) in requests {
        let mut body = body.clone();
        body["_msg_id"] = (*msg_id).into();
        body["_reply_q"] = "reply_nobody".into();
        courier::fake::publish_raw("openstack", &topic, body.to_string());
    }
    transport.until_started(requests.len()).await;

    server.wait().await;
    transport.cleanup().await;

    let sent = transport.sent.lock().unwrap();
    let mut failures: Vec<(String, String)> = sent
        .iter()
        .map(|reply| {
            let failure = reply.failure.as_ref().expect("a failure reply");
            (reply.msg_id.clone().unwrap_or_default(), failure.class.clone())
        })
        .collect();
    failures.sort();
    failures
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(id, class)| ((*id).to_owned(), (*class).to_owned())).collect()
}

// Paused time: the slow replies finish only once nothing else can run, so a `wait()` that
// does not wait for them returns (and the transport closes) first.
#[tokio::test(start_paused = true)]
async fn replies_to_requests_that_never_run_go_out_before_wait_returns() {
    let failures = failures_sent_before_close(&[
        ("malformed", json!({"args": {"n": 1}})),
        ("no-such-method", json!({"method": "triple", "args": {"n": 1}})),
        ("unsupported-version", json!({"method": "double", "version": "9.0", "args": {"n": 1}})),
    ])
    .await;
    assert_eq!(
        failures,
        pairs(&[
            ("malformed", "ValueError"),
            ("no-such-method", "NoSuchMethod"),
            ("unsupported-version", "UnsupportedVersion"),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn argument_error_replies_go_out_before_wait_returns() {
    let failures =
        failures_sent_before_close(&[("bad-argument", json!({"method": "double", "args": {"n": "one"}}))])
            .await;
    assert_eq!(failures, pairs(&[("bad-argument", "TypeError")]));
}
