//! A real Python oslo.messaging 18.3.1 `RPCClient` calling courier servers over RabbitMQ: the
//! demo endpoints of `examples/server.rs`, served in-process, and the example binary itself.

use std::time::Duration;

use courier_test_support::demo::DemoServer;
use courier_test_support::paths::InteropEnv;
use courier_test_support::process::Peer;
use courier_test_support::{PATIENCE, STARTUP, broker, paths, python, unique};
use serde_json::{Value, json};

fn ok(answer: &Value) -> &Value {
    assert_eq!(answer["ok"], true, "the call failed: {answer}");
    &answer["result"]
}

fn err(answer: &Value) -> &Value {
    assert_eq!(answer["ok"], false, "the call succeeded: {answer}");
    &answer["error"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_calls_sync_and_async_methods() {
    let Some(env) = paths::interop_env("python_calls_sync_and_async_methods") else { return };
    let topic = unique("py-calls");
    let _server = DemoServer::start(broker::transport().await, &topic, "s1").await;
    let mut py = python::client(&env, &topic, &[]).await;

    let payload = json!({"n": 1, "list": [1, "two", {"three": 3.0}]});
    let a = py.request(json!({"op": "call", "method": "echo", "args": {"payload": payload}})).await;
    assert_eq!(ok(&a), &payload);
    let a = py.request(json!({"op": "call", "method": "echo_sync", "args": {"payload": payload}})).await;
    assert_eq!(ok(&a), &payload);
    let a = py.request(json!({"op": "call", "method": "add", "args": {"a": 40, "b": 2}})).await;
    assert_eq!(ok(&a), &json!(42));
    let a = py.request(json!({"op": "call", "method": "add", "args": {"a": i64::MIN, "b": -0}})).await;
    assert_eq!(ok(&a), &json!(i64::MIN));
    let a = py.request(json!({"op": "call", "method": "sleep", "args": {"seconds": 0.05}})).await;
    assert_eq!(ok(&a), &json!(0.05));
    let a = py.request(json!({"op": "call", "method": "async_sleep", "args": {"seconds": 0.05}})).await;
    assert_eq!(ok(&a), &json!(0.05));
    let a = py.request(json!({"op": "call", "method": "whoami"})).await;
    assert_eq!(ok(&a), &json!("s1"));

    let context = json!({"user": "alice", "project_id": "p1", "request_id": "req-1", "roles": ["admin"]});
    let a = py.request(json!({"op": "call", "method": "context", "context": context})).await;
    let received = ok(&a).as_object().expect("the context is a JSON object");
    for (key, value) in context.as_object().unwrap() {
        assert_eq!(received.get(key), Some(value), "context key {key} in {a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_cast_reaches_the_server() {
    let Some(env) = paths::interop_env("python_cast_reaches_the_server") else { return };
    let topic = unique("py-cast");
    let mut server = DemoServer::start(broker::transport().await, &topic, "s1").await;
    let mut py = python::client(&env, &topic, &[]).await;

    let marker = unique("cast");
    let a = py.request(json!({"op": "cast", "method": "echo_sync", "args": {"payload": marker}})).await;
    assert_eq!(ok(&a), &Value::Null);
    let call = server.wait_call("the cast", |c| c.args["payload"] == marker).await;
    assert_eq!(call.method, "echo_sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_fanout_and_server_targeted_calls() {
    let Some(env) = paths::interop_env("python_fanout_and_server_targeted_calls") else { return };
    let topic = unique("py-fanout");
    let transport = broker::transport().await;
    let mut a = DemoServer::start(transport.clone(), &topic, "a").await;
    let mut b = DemoServer::start(transport, &topic, "b").await;
    let mut py = python::client(&env, &topic, &[]).await;

    let marker = unique("fanout");
    let answer = py
        .request(json!({"op": "cast", "fanout": true, "method": "echo", "args": {"payload": marker}}))
        .await;
    ok(&answer);
    assert_eq!(a.wait_call("the fanout on a", |c| c.args["payload"] == marker).await.server, "a");
    assert_eq!(b.wait_call("the fanout on b", |c| c.args["payload"] == marker).await.server, "b");

    for name in ["a", "b", "a"] {
        let answer = py.request(json!({"op": "call", "server": name, "method": "whoami"})).await;
        assert_eq!(ok(&answer), &json!(name));
    }
    let marker = unique("targeted-cast");
    let answer = py
        .request(json!({"op": "cast", "server": "b", "method": "echo_sync", "args": {"payload": marker}}))
        .await;
    ok(&answer);
    assert_eq!(b.wait_call("the cast to b", |c| c.args["payload"] == marker).await.server, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_namespace_and_version_routing() {
    let Some(env) = paths::interop_env("python_namespace_and_version_routing") else { return };
    let topic = unique("py-routing");
    let _server = DemoServer::start(broker::transport().await, &topic, "s1").await;
    let mut py = python::client(&env, &topic, &[]).await;

    for version in ["2.3", "2.0", "2.1"] {
        let a = py
            .request(json!({"op": "call", "namespace": "demo", "version": version, "method": "which"}))
            .await;
        assert_eq!(ok(&a), &json!("demo-2.3"), "version {version}");
    }
    // Same major, higher minor; another major; another namespace: no endpoint fits.
    for (namespace, version) in [(json!("demo"), "2.4"), (json!("demo"), "3.0"), (json!("other"), "1.0")] {
        let a = py
            .request(json!({"op": "call", "namespace": namespace, "version": version, "method": "which"}))
            .await;
        let e = err(&a);
        assert_eq!(
            (&e["type"], &e["exc_type"]),
            (&json!("RemoteError"), &json!("UnsupportedVersion")),
            "{a}"
        );
        assert!(e["value"].as_str().unwrap().contains(version), "{a}");
    }
    // The null namespace's endpoint has no `which`.
    let a = py.request(json!({"op": "call", "method": "which"})).await;
    assert_eq!(err(&a)["exc_type"], "NoSuchMethod", "{a}");
    // ... and the `demo` endpoint no `echo`.
    let a = py.request(json!({"op": "call", "namespace": "demo", "version": "2.3", "method": "echo"})).await;
    assert_eq!(err(&a)["exc_type"], "NoSuchMethod", "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sees_courier_failures_as_oslo_exceptions() {
    let Some(env) = paths::interop_env("python_sees_courier_failures_as_oslo_exceptions") else { return };
    let topic = unique("py-failures");
    let _server = DemoServer::start(broker::transport().await, &topic, "s1").await;
    let mut py = python::client(&env, &topic, &[]).await;

    let a =
        py.request(json!({"op": "call", "method": "fail", "args": {"message": "it broke: ünïcode"}})).await;
    let e = err(&a);
    assert_eq!(e["type"], "RemoteError", "{a}");
    assert_eq!(e["exc_type"], "DemoError", "{a}");
    assert_eq!(e["value"], "it broke: ünïcode", "{a}");

    // A builtin exception is rebuilt as itself on the Python side.
    let a = py.request(json!({"op": "call", "method": "add", "args": {"a": i64::MAX, "b": 1}})).await;
    let e = err(&a);
    assert_eq!((&e["type"], &e["module"]), (&json!("OverflowError"), &json!("builtins")), "{a}");
    assert!(e["message"].as_str().unwrap().contains("does not fit"), "{a}");

    let a = py.request(json!({"op": "call", "method": "sleep", "args": {"seconds": -1.0}})).await;
    assert_eq!(err(&a)["type"], "ValueError", "{a}");

    let a = py.request(json!({"op": "call", "method": "no_such_thing"})).await;
    let e = err(&a);
    assert_eq!((&e["type"], &e["exc_type"]), (&json!("RemoteError"), &json!("NoSuchMethod")), "{a}");
    assert_eq!(e["value"], "Endpoint does not support RPC method no_such_thing", "{a}");

    let a =
        py.request(json!({"op": "call", "version": "1.5", "method": "echo", "args": {"payload": 1}})).await;
    let e = err(&a);
    assert_eq!(e["exc_type"], "UnsupportedVersion", "{a}");
    assert_eq!(e["value"], "Endpoint does not support RPC version 1.5. Attempted method: echo", "{a}");

    // A wrong argument is an error reply too, and the server lives on.
    let a = py.request(json!({"op": "call", "method": "add", "args": {"a": "one", "b": 2}})).await;
    assert_eq!(err(&a)["type"], "TypeError", "{a}");
    let a = py.request(json!({"op": "call", "method": "whoami"})).await;
    assert_eq!(ok(&a), &json!("s1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_call_times_out() {
    let Some(env) = paths::interop_env("python_call_times_out") else { return };
    let topic = unique("py-timeout");
    let _server = DemoServer::start(broker::transport().await, &topic, "s1").await;
    let mut py = python::client(&env, &topic, &[]).await;

    // Nobody serves this server name of the topic.
    let a = py
        .request(
            json!({"op": "call", "timeout": 1, "server": "nobody", "method": "echo", "args": {"payload": 1}}),
        )
        .await;
    assert_eq!(err(&a)["type"], "MessagingTimeout", "{a}");
    assert!(err(&a)["message"].as_str().unwrap().starts_with("Timed out waiting for a reply"), "{a}");

    // The server is slower than the caller's patience.
    let a = py.request(json!({"op": "call", "timeout": 1, "method": "sleep", "args": {"seconds": 3}})).await;
    assert_eq!(err(&a)["type"], "MessagingTimeout", "{a}");
    assert!(a["elapsed"].as_f64().unwrap() < 3.0, "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_call_monitor_keeps_a_long_sync_call_alive() {
    let Some(env) = paths::interop_env("python_call_monitor_keeps_a_long_sync_call_alive") else { return };
    let topic = unique("py-monitor");
    let _server = DemoServer::start(broker::transport().await, &topic, "s1").await;
    let mut py = python::client(&env, &topic, &[]).await;

    // Without heartbeats from courier, the client would give up after 2 s of silence.
    let a = py
        .request(json!({
            "op": "call", "timeout": 30, "call_monitor_timeout": 2,
            "method": "sleep", "args": {"seconds": 6},
        }))
        .await;
    assert_eq!(ok(&a), &json!(6.0));
    assert!(a["elapsed"].as_f64().unwrap() >= 6.0, "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_awkward_payloads_round_trip() {
    let Some(env) = paths::interop_env("python_awkward_payloads_round_trip") else { return };
    let topic = unique("py-payloads");
    let _server = DemoServer::start(broker::transport().await, &topic, "s1").await;
    let mut py = python::client(&env, &topic, &[]).await;

    for (what, payload) in python::awkward_payloads() {
        for method in ["echo", "echo_sync"] {
            let a = py.request(json!({"op": "call", "method": method, "args": {"payload": payload}})).await;
            assert!(a["ok"] == true, "{what} through {method} failed: {}", a["error"]);
            assert!(a["result"] == payload, "{what} through {method} came back changed");
        }
    }
}

/// The example binary, as a user runs it: serves a Python client on a custom control exchange,
/// and on SIGTERM lets the call in flight finish and reply before it exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_server_binary_serves_python_and_stops_gracefully() {
    let Some(env) = paths::interop_env("example_server_binary_serves_python_and_stops_gracefully") else {
        return;
    };
    let topic = unique("py-example");
    let exchange = "courier-interop";
    let binary = build_example_server(&env).await;
    let mut example = Peer::spawn(
        "examples/server",
        &binary,
        &["--url", broker::URL, "--topic", &topic, "--server", "ex1", "--exchange", exchange],
        &env.root,
    );
    example.wait_stderr(STARTUP, &format!("consuming on topic {topic} as server ex1")).await;
    let mut py = python::client(&env, &topic, &["--exchange", exchange]).await;

    let a = py.request(json!({"op": "call", "method": "whoami"})).await;
    assert_eq!(ok(&a), &json!("ex1"));
    let a = py.request(json!({"op": "call", "namespace": "demo", "version": "2.3", "method": "which"})).await;
    assert_eq!(ok(&a), &json!("demo-2.3"));

    let id = py.submit(json!({"op": "call", "timeout": 30, "method": "sleep", "args": {"seconds": 2}})).await;
    example.wait_stderr(PATIENCE, "handling sleep").await;
    let kill = std::process::Command::new("kill").args(["-TERM", &example.id().to_string()]).status();
    assert!(kill.expect("run kill").success(), "kill -TERM failed");

    let a = py.answer(id, PATIENCE).await;
    assert_eq!(ok(&a), &json!(2.0), "the call in flight lost its reply");
    let status = example.exit_status(PATIENCE).await;
    assert!(status.success(), "the example exited with {status}\n{}", example.stderr_text());
    assert!(example.stderr_text().contains("stopped"), "{}", example.stderr_text());
}

/// Builds `examples/server.rs` with the profile and target directory of this test, and returns
/// the binary.
async fn build_example_server(env: &InteropEnv) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // <target>/<profile>/deps/<test binary>
    let profile_dir = exe.parent().and_then(std::path::Path::parent).expect("a profile directory");
    let target_dir = profile_dir.parent().expect("a target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => "dev",
    };
    let cargo = std::env::var("CARGO").ok().or(option_env!("CARGO").map(str::to_owned));
    let cargo = cargo.unwrap_or_else(|| "cargo".to_owned());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "--example", "server", "--profile", profile, "--target-dir"]);
    build.arg(target_dir).current_dir(&env.root);
    let output =
        tokio::time::timeout(Duration::from_secs(600), tokio::task::spawn_blocking(move || build.output()))
            .await
            .expect("building the example took over 10 minutes")
            .expect("the build task")
            .expect("run cargo build");
    assert!(
        output.status.success(),
        "cargo build --example server failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    profile_dir.join("examples").join(format!("server{}", std::env::consts::EXE_SUFFIX))
}
