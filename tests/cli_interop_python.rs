//! `courier` against real Python oslo.messaging peers (tests/python) over the RabbitMQ on
//! 127.0.0.1:5672: the command-line tool works with any oslo.messaging deployment.

mod cli_support;

use cli_support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_calls_and_casts_a_python_rpc_server() {
    if !broker_available("courier_calls_a_python_rpc_server") {
        return;
    }
    let Some(python) = python("courier_calls_a_python_rpc_server") else { return };
    let (exchange, topic) = (unique("courier-cli-py"), unique("cli-py"));
    let mut server = python_peer(
        &python,
        "rpc_server.py",
        &["--topic", &topic, "--server", "pyhost", "--exchange", &exchange],
    );
    server.wait_json("event", "ready").await;
    let command = |extra: &[&str]| {
        let mut cli = courier();
        cli.args(["--url", BROKER_URL, "call", "--exchange", &exchange, "--topic", &topic]).args(extra);
        cli
    };

    let run = exec(
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
    run.assert_code(0);
    assert_eq!(run.json(), json!({"a": [1, 2.5, "x"]}));
    let handled = server.wait_json("event", "handled").await;
    assert_eq!(handled["ctxt"]["user"], "alice");

    let run = exec(command(&["--namespace", "py", "--version", "2.1", "which"]), None).await;
    run.assert_code(0);
    assert_eq!(run.json(), "py-2.1");

    // Python's exceptions arrive as one JSON line, exit 1.
    let run = exec(command(&["fail"]), None).await;
    run.assert_code(1);
    let error = run.error_json();
    assert_eq!((&error["class"], &error["module"]), (&json!("ValueError"), &json!("builtins")));
    assert!(error["message"].as_str().is_some_and(|m| m.contains("bad things")), "{run:?}");

    let run = exec(command(&["nope"]), None).await;
    run.assert_code(1);
    assert_eq!(
        run.error_json(),
        json!({
            "class": "NoSuchMethod",
            "module": "oslo_messaging.rpc.dispatcher",
            "message": "Endpoint does not support RPC method nope",
        })
    );

    let run = exec(command(&["--timeout", "0.5", "slow", "--args", r#"{"seconds": 3}"#]), None).await;
    run.assert_code(2);

    let mut cast = courier();
    cast.args(["cast", "--url", BROKER_URL, "--exchange", &exchange, "--topic", &topic, "--fanout", "echo"]);
    cast.args(["--args", r#"{"payload": "to everyone"}"#]);
    exec(cast, None).await.assert_code(0);
    loop {
        let handled = server.wait_json("event", "handled").await;
        if handled["payload"] == "to everyone" {
            assert_eq!(handled["method"], "echo");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_listen_prints_what_a_python_notifier_sends() {
    if !broker_available("courier_listen_prints_python_notifications") {
        return;
    }
    let Some(python) = python("courier_listen_prints_python_notifications") else { return };
    let (exchange, topic) = (unique("courier-cli-py"), unique("cli-py-notifications"));
    let mut listen = Spawned::start({
        let mut cli = courier();
        cli.args(["listen", "--url", BROKER_URL, "--exchange", &exchange, "--topic", &topic]);
        cli
    });
    listen.wait_stderr("consuming notifications").await;

    let mut notifier = python_peer(&python, "notifier.py", &["--topic", &topic, "--exchange", &exchange]);
    notifier.wait_json("event", "ready").await;
    notifier.send_line(
        &json!({
            "id": 1, "priority": "warn", "publisher_id": "compute.py1",
            "event_type": "compute.instance.update", "payload": {"state": "resized"},
            "request_context": {"user_id": "u1", "auth_token": "s3cret"},
        })
        .to_string(),
    );
    let answer = notifier.wait_json("id", 1).await;
    assert_eq!(answer["ok"], true, "{answer}");

    let line = listen.next_line().await;
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
    if !broker_available("courier_notify_reaches_a_python_listener") {
        return;
    }
    let Some(python) = python("courier_notify_reaches_a_python_listener") else { return };
    let (exchange, topic) = (unique("courier-cli-py"), unique("cli-py-notify"));
    let mut listener =
        python_peer(&python, "notification_listener.py", &["--topic", &topic, "--exchange", &exchange]);
    listener.wait_json("event", "ready").await;

    let mut notify = courier();
    notify.args(["notify", "--url", BROKER_URL, "--exchange", &exchange, "--topic", &topic]);
    notify.args([
        "--priority",
        "error",
        "--event-type",
        "compute.instance.fail",
        "--publisher-id",
        "cli.host",
    ]);
    notify.args(["--context", r#"{"user": "u1", "auth_token": "s3cret"}"#, "--payload", "-"]);
    exec(notify, Some(r#"{"instance_id": 7, "reason": "ünïcode"}"#)).await.assert_code(0);

    let seen = listener.wait_json("event_type", "compute.instance.fail").await;
    assert_eq!(seen["priority"], "error", "{seen}");
    assert_eq!(seen["publisher_id"], "cli.host", "{seen}");
    assert_eq!(seen["payload"], json!({"instance_id": 7, "reason": "ünïcode"}), "{seen}");
    assert_eq!(seen["ctxt"]["user"], "u1", "{seen}");
    assert_eq!(seen["ctxt"]["auth_token"], serde_json::Value::Null, "the token leaked: {seen}");
    assert_eq!(seen["metadata"]["message_id"].as_str().map(str::len), Some(36), "{seen}");
}
