//! `courier` against real Python oslo.messaging peers (tests/python) over the RabbitMQ on
//! 127.0.0.1:5672: the command-line tool works with any oslo.messaging deployment.

use courier_test_support::{PATIENCE, broker, cli, paths, python, unique};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_calls_and_casts_a_python_rpc_server() {
    let Some(env) = paths::interop_env("courier_calls_a_python_rpc_server") else { return };
    let (exchange, topic) = (unique("courier-cli-py"), unique("cli-py"));
    let mut server = python::peer(
        &env,
        "rpc_server.py",
        &["--topic", &topic, "--server", "pyhost", "--exchange", &exchange],
    );
    server.ready().await;
    let command = |extra: &[&str]| {
        let mut cli = cli::command();
        cli.args(["--url", broker::URL, "call", "--exchange", &exchange, "--topic", &topic]).args(extra);
        cli
    };

    let run = cli::run(
        command(&[
            "--context",
            r#"{"user": "alice"}"#,
            "echo",
            "--args",
            r#"{"payload": {"a": [1, 2.5, "x"]}}"#,
        ]),
        None,
    )
    .await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run), json!({"a": [1, 2.5, "x"]}));
    let handled = server.wait_field("event", "handled").await;
    assert_eq!(handled["ctxt"]["user"], "alice");

    let run = cli::run(command(&["--namespace", "py", "--version", "2.1", "which"]), None).await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run), "py-2.1");

    // Python's exceptions arrive as one JSON line, exit 1.
    let run = cli::run(command(&["fail"]), None).await;
    let run = run.code(1);
    let error = cli::stderr_json(&run);
    assert_eq!((&error["class"], &error["module"]), (&json!("ValueError"), &json!("builtins")));
    assert!(error["message"].as_str().is_some_and(|m| m.contains("bad things")), "{run:?}");

    let run = cli::run(command(&["nope"]), None).await;
    let run = run.code(1);
    assert_eq!(
        cli::stderr_json(&run),
        json!({
            "class": "NoSuchMethod",
            "module": "oslo_messaging.rpc.dispatcher",
            "message": "Endpoint does not support RPC method nope",
        })
    );

    let run = cli::run(command(&["--timeout", "0.5", "slow", "--args", r#"{"seconds": 3}"#]), None).await;
    run.code(2);

    let mut cast = cli::command();
    cast.args(["cast", "--url", broker::URL, "--exchange", &exchange, "--topic", &topic, "--fanout", "echo"]);
    cast.args(["--args", r#"{"payload": "to everyone"}"#]);
    cli::run(cast, None).await.code(0);
    loop {
        let handled = server.wait_field("event", "handled").await;
        if handled["payload"] == "to everyone" {
            assert_eq!(handled["method"], "echo");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_listen_prints_what_a_python_notifier_sends() {
    let Some(env) = paths::interop_env("courier_listen_prints_python_notifications") else { return };
    let (exchange, topic) = (unique("courier-cli-py"), unique("cli-py-notifications"));
    let mut listen = cli::spawn({
        let mut cli = cli::command();
        cli.args(["listen", "--url", broker::URL, "--exchange", &exchange, "--topic", &topic]);
        cli
    });
    listen.wait_stderr(PATIENCE, "consuming notifications").await;

    let mut notifier = python::peer(&env, "notifier.py", &["--topic", &topic, "--exchange", &exchange]);
    notifier.ready().await;
    notifier.send_line(
        &json!({
            "id": 1, "priority": "warn", "publisher_id": "compute.py1",
            "event_type": "compute.instance.update", "payload": {"state": "resized"},
            "request_context": {"user_id": "u1", "auth_token": "s3cret"},
        })
        .to_string(),
    );
    let answer = notifier.wait_field("id", 1).await;
    assert_eq!(answer["ok"], true, "{answer}");

    let line = listen.next_line(PATIENCE).await;
    assert!(!line.contains("s3cret"), "{line}");
    let line: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    let keys: Vec<&String> = line.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["priority", "event_type", "publisher_id", "payload", "context", "metadata"]);
    assert_eq!(line["priority"], "warn");
    assert_eq!(line["event_type"], "compute.instance.update");
    assert_eq!(line["publisher_id"], "compute.py1");
    assert_eq!(line["payload"], json!({"state": "resized"}));
    assert_eq!(line["context"]["auth_token"], serde_json::Value::Null, "{line}");
    assert_eq!(line["metadata"]["message_id"].as_str().map(str::len), Some(36), "{line}");
    assert!(line["metadata"]["timestamp"].as_str().is_some_and(|t| t.len() >= 19), "{line}");

    listen.interrupt();
    let (code, rest) = listen.exit().await;
    assert_eq!(code, Some(0));
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_notify_reaches_a_python_notification_listener() {
    let Some(env) = paths::interop_env("courier_notify_reaches_a_python_listener") else { return };
    let (exchange, topic) = (unique("courier-cli-py"), unique("cli-py-notify"));
    let mut listener =
        python::peer(&env, "notification_listener.py", &["--topic", &topic, "--exchange", &exchange]);
    listener.ready().await;

    let mut notify = cli::command();
    notify.args(["notify", "--url", broker::URL, "--exchange", &exchange, "--topic", &topic]);
    notify.args([
        "--priority",
        "error",
        "--event-type",
        "compute.instance.fail",
        "--publisher-id",
        "cli.host",
    ]);
    notify.args(["--context", r#"{"user": "u1", "auth_token": "s3cret"}"#, "--payload", "-"]);
    cli::run(notify, Some(r#"{"instance_id": 7, "reason": "ünïcode"}"#)).await.code(0);

    let seen = listener.wait_field("event_type", "compute.instance.fail").await;
    assert_eq!(seen["priority"], "error", "{seen}");
    assert_eq!(seen["publisher_id"], "cli.host", "{seen}");
    assert_eq!(seen["payload"], json!({"instance_id": 7, "reason": "ünïcode"}), "{seen}");
    assert_eq!(seen["ctxt"]["user"], "u1", "{seen}");
    assert_eq!(seen["ctxt"]["auth_token"], serde_json::Value::Null, "the token leaked: {seen}");
    assert_eq!(seen["metadata"]["message_id"].as_str().map(str::len), Some(36), "{seen}");
}
