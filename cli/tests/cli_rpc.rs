//! `courier call` and `courier cast` end to end: the real binary against courier RPC servers over
//! the RabbitMQ on 127.0.0.1:5672. Each test has its own exchange and topic.

use std::sync::Arc;

use assert_cmd::assert::Assert;
use courier::{Context, RpcServer, Target, Transport, rpc::RemoteException, rpc_endpoint};
use courier_test_support::{broker, cli, unique, within};
use predicates::prelude::*;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

#[derive(Debug)]
struct QuotaExceeded(u32);

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quota exceeded: {} requested", self.0)
    }
}

impl RemoteException for QuotaExceeded {
    fn exception_module(&self) -> std::borrow::Cow<'_, str> {
        "nova.exception".into()
    }
}

/// What the tests serve: each server says who it is and reports what it was cast.
struct Probe {
    name: String,
    seen: mpsc::UnboundedSender<(String, String)>,
    release: Arc<Notify>,
}

#[rpc_endpoint(version = "1.2")]
impl Probe {
    fn echo(&self, ctx: &Context, payload: Value) -> Value {
        json!({"payload": payload, "user": ctx.user(), "server": self.name})
    }

    fn reserve(&self, count: u32) -> Result<u32, QuotaExceeded> {
        if count > 10 { Err(QuotaExceeded(count)) } else { Ok(count) }
    }

    fn record(&self, note: String) {
        let _ = self.seen.send((self.name.clone(), note));
    }

    async fn stall(&self) -> bool {
        self.release.notified().await;
        true
    }
}

/// Servers of one topic on one exchange.
struct Fixture {
    exchange: String,
    topic: String,
    transport: Arc<dyn Transport>,
    servers: Vec<RpcServer>,
    seen: mpsc::UnboundedReceiver<(String, String)>,
    release: Arc<Notify>,
}

impl Fixture {
    /// Starts a server named after each of `names`, or returns `None` (test skipped) without a
    /// broker.
    async fn start(test: &str, names: &[&str]) -> Option<Self> {
        if !broker::available(test) {
            return None;
        }
        let exchange = unique("courier-cli");
        let topic = unique("cli");
        let transport = broker::transport_on(broker::URL, &exchange).await;
        let (sender, seen) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let mut servers = Vec::new();
        for name in names {
            let probe =
                Probe { name: (*name).to_owned(), seen: sender.clone(), release: Arc::clone(&release) };
            let server = RpcServer::builder(Arc::clone(&transport), Target::new(&topic).with_server(*name))
                .endpoint(probe)
                .build()
                .expect("a valid server");
            within("the server to start", server.start()).await.expect("the server starts");
            servers.push(server);
        }
        Some(Self { exchange, topic, transport, servers, seen, release })
    }

    /// `courier <command> --url ... --exchange ... --topic ...`, then `extra`.
    fn command(&self, command: &str, extra: &[&str]) -> std::process::Command {
        let mut cli = cli::command();
        cli.args([command, "--url", broker::URL, "--exchange", &self.exchange, "--topic", &self.topic]);
        cli.args(extra);
        cli
    }

    async fn next_seen(&mut self) -> (String, String) {
        within("a cast to arrive", self.seen.recv()).await.expect("the servers are alive")
    }

    async fn stop(self) {
        self.release.notify_one();
        for server in &self.servers {
            within("the server to drain", server.wait()).await;
        }
        self.transport.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_prints_the_result_as_one_json_document() {
    let Some(fixture) = Fixture::start("call_prints_the_result", &["alpha", "beta"]).await else { return };
    let run = cli::run(
        fixture.command(
            "call",
            &["--context", r#"{"user": "alice"}"#, "echo", "--args", r#"{"payload": [1, "two"]}"#],
        ),
        None,
    )
    .await;
    let run = run.code(0);
    let result = cli::stdout_json(&run);
    assert_eq!(result["payload"], json!([1, "two"]));
    assert_eq!(result["user"], "alice");
    run.stderr("");

    // --server picks one server; --version and --timeout are accepted.
    let run = run_to(
        &fixture,
        "call",
        &["--server", "beta", "--version", "1.1", "--timeout", "15.5", "echo"],
        r#"{"payload": null}"#,
    )
    .await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run), json!({"payload": null, "user": null, "server": "beta"}));
    fixture.stop().await;
}

async fn run_to(fixture: &Fixture, command: &str, extra: &[&str], args: &str) -> Assert {
    let mut extra = extra.to_vec();
    extra.extend(["--args", args]);
    cli::run(fixture.command(command, &extra), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_errors_are_one_json_line_on_stderr_and_exit_1() {
    let Some(fixture) = Fixture::start("remote_errors", &["alpha"]).await else { return };
    let run = run_to(&fixture, "call", &["reserve"], r#"{"count": 99}"#).await;
    let run = run.code(1).stdout("");
    assert_eq!(
        cli::stderr_json(&run),
        json!({"class": "QuotaExceeded", "module": "nova.exception", "message": "quota exceeded: 99 requested"})
    );

    let run = run_to(&fixture, "call", &["no_such_method"], "{}").await;
    let run = run.code(1);
    assert_eq!(
        cli::stderr_json(&run),
        json!({
            "class": "NoSuchMethod",
            "module": "oslo_messaging.rpc.dispatcher",
            "message": "Endpoint does not support RPC method no_such_method",
        })
    );

    let run = run_to(&fixture, "call", &["--version", "2.0", "echo"], r#"{"payload": 1}"#).await;
    let run = run.code(1);
    let error = cli::stderr_json(&run);
    assert_eq!(
        (&error["class"], &error["module"]),
        (&json!("UnsupportedVersion"), &json!("oslo_messaging.rpc.dispatcher"))
    );
    assert_eq!(error["message"], "Endpoint does not support RPC version 2.0. Attempted method: echo");

    // A bad argument is the server's TypeError, still a remote error.
    let run = run_to(&fixture, "call", &["reserve"], r#"{"count": "many"}"#).await;
    let run = run.code(1);
    assert_eq!(cli::stderr_json(&run)["class"], "TypeError");
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_reply_in_time_exits_2() {
    let Some(fixture) = Fixture::start("call_timeout", &["alpha"]).await else { return };
    let run = cli::run(fixture.command("call", &["--timeout", "0.5", "stall"]), None).await;
    run.code(2)
        .stdout("")
        .stderr(cli::one_line())
        .stderr(predicate::str::starts_with("courier: timeout: timed out after 500ms"));
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_come_from_a_file_or_stdin() {
    let Some(fixture) = Fixture::start("args_from_file_or_stdin", &["alpha"]).await else { return };
    let file = cli::temp_file(r#"{"payload": {"from": "file"}}"#);
    let run = run_to(&fixture, "call", &["echo"], &format!("@{}", cli::path_arg(&file))).await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run)["payload"], json!({"from": "file"}));

    let run =
        cli::run(fixture.command("call", &["echo", "--args", "-"]), Some(r#"{"payload": "from stdin"}"#))
            .await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run)["payload"], "from stdin");

    // The context may come from stdin too.
    let run = cli::run(
        fixture.command("call", &["--context", "-", "echo", "--args", r#"{"payload": 0}"#]),
        Some(r#"{"user": "bob"}"#),
    )
    .await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run)["user"], "bob");
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_and_exchange_come_from_a_service_config_file() {
    let Some(fixture) = Fixture::start("config_file", &["alpha"]).await else { return };
    let config = cli::temp_file(&format!(
        "[DEFAULT]\ndebug = true\ntransport_url = {url}\ncontrol_exchange = {}\n\n\
             [oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 30\nrabbit_retry_interval = 2\n\
             rpc_conn_pool_size = 30\n",
        fixture.exchange,
        url = broker::URL,
    ));
    let mut command = cli::command();
    command.args(["call", "--config-file", cli::path_arg(&config), "--topic", &fixture.topic, "echo"]);
    command.args(["--args", r#"{"payload": "via config"}"#]);
    let run = cli::run(command, None).await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run)["payload"], "via config");
    // Options courier accepts but ignores (a pool size) do not clutter a one-shot command.
    run.stderr("");

    // A wrong option in the file reaches the transport, which refuses it: exit 3, one line.
    let bad = cli::temp_file(&format!(
        "[DEFAULT]\ntransport_url = {}\n[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = lots\n",
        broker::URL
    ));
    let mut command = cli::command();
    command.args(["call", "--config-file", cli::path_arg(&bad), "--topic", &fixture.topic, "echo"]);
    let run = cli::run(command, None).await;
    run.code(3).stderr(predicate::str::contains("rabbit_qos_prefetch_count"));
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_comes_from_the_environment_before_the_config_file() {
    let Some(fixture) = Fixture::start("env_url", &["alpha"]).await else { return };
    // The file's URL would fail (nothing listens on port 1); the environment's wins.
    let config = cli::temp_file(&format!(
        "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:1/\ncontrol_exchange = {}\n",
        fixture.exchange
    ));
    let mut command = cli::command();
    command.env("COURIER_TRANSPORT_URL", broker::URL);
    command.args([
        "call",
        "--config-file",
        cli::path_arg(&config),
        "--topic",
        &fixture.topic,
        "echo",
        "--args",
        r#"{"payload": "env"}"#,
    ]);
    let run = cli::run(command, None).await;
    let run = run.code(0);
    assert_eq!(cli::stdout_json(&run)["payload"], "env");

    // Without the environment, the file's URL is used, and it fails: exit 3, password hidden.
    let secret = cli::temp_file("[DEFAULT]\ntransport_url = rabbit://guest:hunter2@127.0.0.1:1/\n");
    let mut command = cli::command();
    command.args(["-vv", "call", "--config-file", cli::path_arg(&secret), "--topic", &fixture.topic, "echo"]);
    let run = cli::run(command, None).await;
    run.code(3)
        .stderr(predicate::str::contains("127.0.0.1:1"))
        .stderr(predicate::str::contains("hunter2").not());
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_reaches_the_server_and_the_command_does_not_wait() {
    let Some(mut fixture) = Fixture::start("cast", &["alpha"]).await else { return };
    let run = run_to(&fixture, "cast", &["record"], r#"{"note": "hello"}"#).await;
    run.code(0).stdout("").stderr("");
    assert_eq!(fixture.next_seen().await, ("alpha".to_owned(), "hello".to_owned()));

    // The cast of a blocked method returns at once too.
    let run = cli::run(fixture.command("cast", &["stall"]), None).await;
    run.code(0);
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_cast_reaches_every_server_and_a_server_cast_only_one() {
    let Some(mut fixture) = Fixture::start("fanout", &["alpha", "beta"]).await else { return };
    run_to(&fixture, "cast", &["--fanout", "record"], r#"{"note": "everyone"}"#).await.code(0);
    let mut got = vec![fixture.next_seen().await, fixture.next_seen().await];
    got.sort();
    assert_eq!(
        got,
        [("alpha".to_owned(), "everyone".to_owned()), ("beta".to_owned(), "everyone".to_owned())]
    );

    run_to(&fixture, "cast", &["--server", "beta", "record"], r#"{"note": "just beta"}"#).await.code(0);
    assert_eq!(fixture.next_seen().await, ("beta".to_owned(), "just beta".to_owned()));
    // Had alpha got it too, it would arrive before this call's answer is printed.
    run_to(&fixture, "call", &["--server", "alpha", "echo"], r#"{"payload": 1}"#).await.code(0);
    assert!(fixture.seen.try_recv().is_err(), "alpha got a cast meant for beta");
    fixture.stop().await;
}
