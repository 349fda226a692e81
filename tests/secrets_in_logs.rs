//! Secrets never reach the logs: every event at TRACE level, of every target (courier's own,
//! lapin's, amq-protocol's, `log` records included), is captured while calls, casts, a
//! notification, a failed connection and raw listener reads run over `fake://` and `rabbit://`
//! with a distinctive password in the transport URL and a distinctive auth token in the
//! context; neither string may appear.

use courier::{Context, Notifier, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::logs::{Captured, capture_process};
use courier_test_support::node::PrivateBroker;
use courier_test_support::{PATIENCE, unique, within};
use serde_json::json;

const PASSWORD: &str = "pw-Kq7Xz93mHuV";
const TOKEN: &str = "tok-Ld4Rw81nBoT";

struct Echo;

#[rpc_endpoint]
impl Echo {
    fn echo(&self, ctx: &Context, value: String) -> String {
        // What a careless service does: log the context it got.
        tracing::info!(?ctx, "echo called");
        value
    }

    async fn tell(&self, value: String) {
        tracing::debug!(%value, "told");
    }
}

fn secret_context() -> Context {
    Context::new().with_user("alice").with_auth_token(TOKEN).with("db_password", PASSWORD)
}

/// A call, a cast, a notification and a raw listener read (whose `Incoming` is logged with
/// `Debug`) on `url`, while every log line is captured.
async fn exercise(url: &str) {
    let transport = courier::connect(url).await.expect("connect");
    tracing::debug!(?transport, "connected");
    let topic = unique("secrets");
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Echo)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE);
    let ctx = secret_context();
    let answer: String =
        within("the call", client.call_as(&ctx, "echo", &json!({"value": "hi"}))).await.unwrap();
    assert_eq!(answer, "hi");
    let args = json!({"value": "there"}).as_object().unwrap().clone();
    client.cast(&ctx, "tell", args).await.unwrap();
    Notifier::new(transport.clone(), "secrets.host")
        .with_topics([unique("secrets-notifications")])
        .info(&ctx, "secret.event", json!({"password": PASSWORD}))
        .await
        .unwrap();
    server.wait().await;

    // A raw consumer that logs what it received, as a debugging user would.
    let raw_topic = unique("secrets-raw");
    let mut listener = transport
        .listen(&Target::new(&raw_topic).with_server("raw"), &courier::transport::ListenOptions::default())
        .await
        .unwrap();
    client.with_topic(&raw_topic).cast(&ctx, "tell", Default::default()).await.unwrap();
    let incoming = within("the raw message", listener.next()).await.expect("a message");
    tracing::info!(?incoming, "received");
    incoming.delivery.ack().await.unwrap();
    listener.close().await;
    transport.cleanup().await;
}

fn assert_clean(captured: &Captured, what: &str) {
    let text = captured.text();
    assert!(text.contains("echo called"), "the capture works for {what}: {text}");
    for (secret, name) in [(PASSWORD, "password"), (TOKEN, "auth token")] {
        if let Some(at) = text.find(secret) {
            let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
            panic!("the {name} leaked into the {what} logs:\n{}", &text[start..end]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_logs_over_fake_and_rabbit() {
    let captured = capture_process("trace");
    exercise(&format!("fake://courier:{PASSWORD}@localhost/")).await;
    assert_clean(&captured, "fake://");

    let Some(broker) = PrivateBroker::start().await else { return };
    // The node is the test's own, so it may get a user with the distinctive password.
    for args in [
        vec!["add_user", "courier", PASSWORD],
        vec!["set_permissions", "-p", "/", "courier", ".*", ".*", ".*"],
    ] {
        let output = broker.ctl(&args).await;
        assert!(
            output.status.success(),
            "rabbitmqctl {}: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let url = format!("rabbit://courier:{PASSWORD}@127.0.0.1:{}/", broker.port());
    exercise(&url).await;
    // lapin's own TRACE events (frames, connection states) are part of what is searched.
    assert!(captured.text().contains("TRACE lapin"), "lapin's trace events are captured");
    // A refused login: its error and log lines must not carry the password either.
    let wrong = format!("rabbit://nobody:{PASSWORD}@127.0.0.1:{}/?rabbit_retry_interval=1", broker.port());
    match tokio::time::timeout(PATIENCE, courier::connect(&wrong)).await {
        Ok(Ok(transport)) => {
            let topic = unique("secrets-refused");
            let client = RpcClient::new(transport.clone(), Target::new(&topic))
                .with_timeout(std::time::Duration::from_secs(3));
            let error = client.call(&secret_context(), "echo", Default::default()).await.unwrap_err();
            tracing::warn!(%error, ?error, "call with a refused login");
            transport.cleanup().await;
        }
        Ok(Err(error)) => tracing::warn!(%error, ?error, "connect with a refused login"),
        Err(_) => {}
    }
    assert_clean(&captured, "rabbit://");
}
