//! `courier notify` and `courier listen` end to end: the real binary against courier notifiers
//! and notification listeners over the RabbitMQ on 127.0.0.1:5672. Each test has its own
//! exchange, topic and pool names.

use std::sync::Arc;

use courier::testing::{NotificationTap, Tapped};
use courier::{Context, NotificationListener, NotificationMessage, Notifier, Priority, Target, Transport};
use courier_test_support::process::Peer;
use courier_test_support::{PATIENCE, broker, cli, unique, within};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A topic on its own exchange, with a transport to publish and consume in-process.
struct Fixture {
    exchange: String,
    topic: String,
    transport: Arc<dyn Transport>,
}

impl Fixture {
    async fn start(test: &str) -> Option<Self> {
        if !broker::available(test) {
            return None;
        }
        let exchange = unique("courier-cli");
        Some(Self {
            transport: broker::transport_on(broker::URL, &exchange).await,
            exchange,
            topic: unique("cli-notifications"),
        })
    }

    /// A started in-process listener (the deployment's own consumer, or a pool member).
    async fn listener(&self, pool: Option<&str>) -> (NotificationListener, mpsc::Receiver<Tapped>) {
        let (taps, received) = NotificationTap::channel(&Priority::ALL, 16);
        let mut builder =
            NotificationListener::builder(Arc::clone(&self.transport)).target(Target::new(&self.topic));
        for tap in taps {
            builder = builder.endpoint(tap);
        }
        if let Some(pool) = pool {
            builder = builder.pool(pool);
        }
        let listener = builder.build().expect("a valid listener");
        within("the listener to start", listener.start()).await.expect("the listener starts");
        (listener, received)
    }

    fn notifier(&self) -> Notifier {
        Notifier::new(Arc::clone(&self.transport), "compute.host1").with_topics([self.topic.as_str()])
    }

    /// `courier <command> --url ... --exchange ... --topic ...`, then `extra`.
    fn command(&self, command: &str, extra: &[&str]) -> std::process::Command {
        let mut cli = cli::command();
        cli.args([command, "--url", broker::URL, "--exchange", &self.exchange, "--topic", &self.topic]);
        cli.args(extra);
        cli
    }

    /// Starts `courier listen` and waits until it says it is consuming.
    async fn listen(&self, extra: &[&str]) -> Peer {
        let mut listen = cli::spawn(self.command("listen", extra));
        listen.wait_stderr(PATIENCE, "consuming notifications").await;
        listen
    }
}

async fn next(received: &mut mpsc::Receiver<Tapped>) -> NotificationMessage {
    within("a notification", received.recv()).await.expect("the listener is alive").ack()
}

fn parse_line(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_publishes_what_listeners_receive() {
    let Some(fixture) = Fixture::start("notify").await else { return };
    let (listener, mut received) = fixture.listener(None).await;
    let payload = cli::temp_file(r#"{"instance_id": "i-1", "state": "active"}"#);
    let run = cli::run(
        fixture.command(
            "notify",
            &[
                "--priority",
                "error",
                "--event-type",
                "compute.instance.create.end",
                "--publisher-id",
                "compute.host7",
                "--context",
                r#"{"user": "alice", "auth_token": "s3cret"}"#,
                "--payload",
                &format!("@{}", cli::path_arg(&payload)),
            ],
        ),
        None,
    )
    .await;
    run.code(0).stdout("").stderr("");

    let message = next(&mut received).await;
    assert_eq!(message.priority, Priority::Error);
    assert_eq!(message.event_type, "compute.instance.create.end");
    assert_eq!(message.publisher_id, "compute.host7");
    assert_eq!(message.payload, json!({"instance_id": "i-1", "state": "active"}));
    assert_eq!(message.context.user(), Some("alice"));
    assert_eq!(message.context.get("auth_token"), Some(&Value::Null), "secrets are redacted");

    // Defaults: priority info, publisher `courier`; the payload may be any JSON, from stdin.
    let run =
        cli::run(fixture.command("notify", &["--event-type", "ping", "--payload", "-"]), Some("[1, 2]"))
            .await;
    run.code(0);
    let message = next(&mut received).await;
    assert_eq!((message.priority, message.publisher_id.as_str()), (Priority::Info, "courier"));
    assert_eq!(message.payload, json!([1, 2]));

    listener.wait().await;
    fixture.transport.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_prints_json_lines_from_a_private_queue_and_stops_on_sigint() {
    let Some(fixture) = Fixture::start("listen_private").await else { return };
    let (consumer, mut consumed) = fixture.listener(None).await;
    let mut listen = fixture.listen(&[]).await;

    let notifier = fixture.notifier();
    let ctx = Context::new().with_user("alice").with_request_id("req-1");
    notifier.info(&ctx, "compute.instance.create.start", json!({"n": 1})).await.unwrap();
    notifier.error(&ctx, "compute.instance.create.error", json!({"n": 2})).await.unwrap();

    // Priorities may travel on different queues: order the two lines by payload.
    let mut lines =
        vec![parse_line(&listen.next_line(PATIENCE).await), parse_line(&listen.next_line(PATIENCE).await)];
    lines.sort_by_key(|line| line["payload"]["n"].as_i64());
    for line in &lines {
        let keys: Vec<&String> = line.as_object().expect("a JSON object").keys().collect();
        assert_eq!(keys, ["priority", "event_type", "publisher_id", "payload", "context", "metadata"]);
        let metadata: Vec<&String> = line["metadata"].as_object().expect("metadata").keys().collect();
        assert_eq!(metadata, ["message_id", "timestamp"]);
        assert_eq!(line["metadata"]["message_id"].as_str().map(str::len), Some(36), "a uuid: {line}");
        assert_eq!(line["publisher_id"], "compute.host1");
        assert_eq!(line["context"]["user"], "alice");
    }
    assert_eq!(lines[0]["priority"], "info");
    assert_eq!(lines[0]["event_type"], "compute.instance.create.start");
    assert_eq!(lines[0]["payload"], json!({"n": 1}));
    assert_eq!(
        (&lines[1]["priority"], &lines[1]["event_type"]),
        (&json!("error"), &json!("compute.instance.create.error"))
    );

    // The deployment's own consumer lost nothing to the tap.
    let mut got = vec![next(&mut consumed).await.payload, next(&mut consumed).await.payload];
    got.sort_by_key(|p| p["n"].as_i64());
    assert_eq!(got, [json!({"n": 1}), json!({"n": 2})]);

    listen.interrupt();
    let (code, rest) = listen.exit().await;
    assert_eq!(code, Some(0));
    assert!(rest.is_empty(), "{rest:?}");
    consumer.wait().await;
    fixture.transport.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_filters_priorities() {
    let Some(fixture) = Fixture::start("listen_priorities").await else { return };
    let mut listen = fixture.listen(&["--priority", "error", "--priority", "critical"]).await;
    let notifier = fixture.notifier();
    let ctx = Context::new();
    notifier.info(&ctx, "skipped", json!(1)).await.unwrap();
    notifier.critical(&ctx, "shown", json!(2)).await.unwrap();
    let line = parse_line(&listen.next_line(PATIENCE).await);
    assert_eq!((&line["priority"], &line["event_type"]), (&json!("critical"), &json!("shown")));
    listen.interrupt();
    let (code, rest) = listen.exit().await;
    assert_eq!(code, Some(0));
    assert!(rest.is_empty(), "{rest:?}");
    fixture.transport.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_with_a_pool_joins_that_pool() {
    let Some(fixture) = Fixture::start("listen_pool").await else { return };
    let pool = unique("cli-pool");
    let mut listen = fixture.listen(&["--pool", &pool]).await;
    let notifier = fixture.notifier();
    notifier.warn(&Context::new(), "while listening", json!(1)).await.unwrap();
    assert_eq!(parse_line(&listen.next_line(PATIENCE).await)["event_type"], "while listening");
    listen.interrupt();
    let (code, _) = listen.exit().await;
    assert_eq!(code, Some(0));

    // The pool's queue outlives the command: another member of the pool gets what came since.
    notifier.warn(&Context::new(), "while away", json!(2)).await.unwrap();
    let (member, mut received) = fixture.listener(Some(&pool)).await;
    assert_eq!(next(&mut received).await.event_type, "while away");
    member.wait().await;
    fixture.transport.cleanup().await;
}
