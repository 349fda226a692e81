//! `#[rpc_endpoint]` as the runtime sees it: the generated table (`RPC_METHODS`, `info()`), the
//! generated `invoke` run directly (argument decoding, context, results, failures), and the
//! generated typed client against a real server over `fake://`. Also both macros on a block
//! written by the user's own `macro_rules!`, whose types arrive in invisible groups.

use std::sync::{Arc, Mutex};

use courier::Version;
use courier::wire::Failure;
use courier::{
    Context, Error, Metadata, NotificationMessage, Priority, RpcClient, RpcServer, Target,
    notification_endpoint,
    notify::{NotificationEndpoint, NotificationInvocation},
    rpc::{Endpoint, EndpointInfo, Invocation, MethodKind, MethodResult, RemoteException},
    rpc_endpoint,
};
use courier_test_support::{PATIENCE, unique};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Flavor {
    name: String,
    vcpus: u32,
}

#[derive(Debug)]
struct InstanceNotFound(String);

impl std::fmt::Display for InstanceNotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "instance {} could not be found", self.0)
    }
}

impl RemoteException for InstanceNotFound {
    fn exception_module(&self) -> std::borrow::Cow<'_, str> {
        "nova.exception".into()
    }
}

#[derive(Default)]
struct Compute {
    log: Mutex<Vec<String>>,
}

#[rpc_endpoint(namespace = "compute", version = "1.3")]
impl Compute {
    /// Resizes an instance.
    fn resize(&self, ctx: &Context, instance: String, flavor: Flavor) -> Result<Flavor, InstanceNotFound> {
        if instance == "missing" {
            return Err(InstanceNotFound(instance));
        }
        self.log.lock().unwrap().push(format!("{}:{instance}", ctx.user().unwrap_or("-")));
        Ok(Flavor { name: format!("{}-{instance}", flavor.name), vcpus: flavor.vcpus * 2 })
    }

    async fn ping(&self, payload: Value, times: Option<u32>) -> Value {
        json!({"payload": payload, "times": times})
    }

    /// The context in a non-first position, taken by value.
    async fn whoami(&self, greeting: String, ctx: Context) -> String {
        format!("{greeting} {}", ctx.user().unwrap_or("nobody"))
    }

    #[rpc(name = "get_console")]
    fn console(&self, kind: String) -> String {
        format!("console:{kind}")
    }

    fn record(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    async fn fail_async(&self, code: u16) -> Result<u16, String> {
        Err(format!("code {code}"))
    }

    fn borrowed(&self) -> &str {
        "borrowed"
    }

    fn underscore_arg(&self, _unused: u8) -> u8 {
        _unused
    }

    #[rpc(skip)]
    pub fn new() -> Self {
        Self::default()
    }

    #[rpc(skip)]
    fn helper(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn _private(&self) -> u32 {
        7
    }

    #[rpc(name = "public_name")]
    fn _renamed_private(&self) -> u32 {
        8
    }
}

/// Runs an invocation to its result, on this thread for a sync one.
async fn run(invocation: Invocation) -> MethodResult {
    match invocation {
        Invocation::Sync(f) => f(),
        Invocation::Async(future) => future.await,
    }
}

fn args(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}

/// Invokes the row of `method` on `endpoint` with `ctx` and `kwargs`, checking its kind.
async fn invoke(endpoint: &Arc<Compute>, method: &str, ctx: Context, kwargs: Value) -> MethodResult {
    let (index, row) = endpoint.info().method(method).unwrap_or_else(|| panic!("no row {method}"));
    let invocation = Arc::clone(endpoint).invoke(index, ctx, args(kwargs));
    assert_eq!(invocation.kind(), row.kind, "{method}");
    run(invocation).await
}

fn type_error(result: MethodResult) -> Failure {
    let failure = result.expect_err("a failure");
    assert_eq!((failure.class.as_str(), failure.module.as_str()), ("TypeError", "builtins"), "{failure:?}");
    failure
}

#[test]
fn the_table_lists_exposed_methods_in_order_with_kinds_and_argument_names() {
    let rows: Vec<_> = Compute::RPC_METHODS.iter().map(|row| (row.name, row.kind, row.args)).collect();
    let expected: Vec<(&str, MethodKind, &[&str])> = vec![
        ("resize", MethodKind::Sync, &["instance", "flavor"]),
        ("ping", MethodKind::Async, &["payload", "times"]),
        ("whoami", MethodKind::Async, &["greeting"]),
        ("get_console", MethodKind::Sync, &["kind"]),
        ("record", MethodKind::Sync, &["line"]),
        ("fail_async", MethodKind::Async, &["code"]),
        ("borrowed", MethodKind::Sync, &[]),
        ("underscore_arg", MethodKind::Sync, &["_unused"]),
        ("public_name", MethodKind::Sync, &[]),
    ];
    assert_eq!(rows, expected);
}

#[test]
fn info_carries_type_name_namespace_version_and_the_table() {
    let info: &'static EndpointInfo = Compute::new().info();
    assert_eq!(info.type_name, "Compute");
    assert_eq!(info.namespace, Some("compute"));
    assert_eq!(info.version, Some(Version::new(1, 3)));
    assert!(std::ptr::eq(info.methods, Compute::RPC_METHODS));
    for hidden in ["helper", "new", "_private", "console", "_renamed_private"] {
        assert!(info.method(hidden).is_none(), "{hidden} must not be callable");
    }
    assert_eq!(info.method("get_console").map(|(index, _)| index), Some(3));
}

#[test]
fn without_arguments_namespace_and_version_are_none() {
    struct Bare;
    #[rpc_endpoint]
    impl Bare {
        fn only(&self) {}
    }
    let info = Bare.info();
    assert_eq!((info.type_name, info.namespace, info.version), ("Bare", None, None));
    assert_eq!(info.methods.len(), 1);
}

#[tokio::test]
async fn a_sync_method_gets_the_context_by_reference_and_its_arguments_by_name() {
    let compute = Arc::new(Compute::new());
    let ctx = Context::new().with_user("alice");
    let result =
        invoke(&compute, "resize", ctx, json!({"flavor": {"name": "m1", "vcpus": 2}, "instance": "vm1"}));
    assert_eq!(result.await.unwrap(), json!({"name": "m1-vm1", "vcpus": 4}));
    assert_eq!(compute.log.lock().unwrap().as_slice(), ["alice:vm1"]);
    assert_eq!(compute.helper(), 1, "skipped methods stay callable from Rust");
}

#[tokio::test]
async fn an_error_becomes_the_remote_exception_of_its_type() {
    let compute = Arc::new(Compute::new());
    let ctx = Context::new();
    let failure =
        invoke(&compute, "resize", ctx, json!({"instance": "missing", "flavor": {"name": "m1", "vcpus": 1}}))
            .await
            .unwrap_err();
    assert_eq!(failure.class, "InstanceNotFound");
    assert_eq!(failure.module, "nova.exception");
    assert_eq!(failure.message, "instance missing could not be found");

    let failure = invoke(&compute, "fail_async", Context::new(), json!({"code": 418})).await.unwrap_err();
    assert_eq!((failure.class.as_str(), failure.module.as_str()), ("RuntimeError", "builtins"));
    assert_eq!(failure.message, "code 418");
}

#[tokio::test]
async fn an_option_argument_may_be_absent_or_null() {
    let compute = Arc::new(Compute::new());
    let absent = invoke(&compute, "ping", Context::new(), json!({"payload": [1]})).await.unwrap();
    assert_eq!(absent, json!({"payload": [1], "times": null}));
    let null =
        invoke(&compute, "ping", Context::new(), json!({"payload": [1], "times": null})).await.unwrap();
    assert_eq!(null, absent);
    let given = invoke(&compute, "ping", Context::new(), json!({"payload": "x", "times": 3})).await.unwrap();
    assert_eq!(given, json!({"payload": "x", "times": 3}));
}

#[tokio::test]
async fn the_context_by_value_in_a_later_position() {
    let compute = Arc::new(Compute::new());
    let ctx = Context::new().with_user("bob");
    let result = invoke(&compute, "whoami", ctx, json!({"greeting": "hi"})).await.unwrap();
    assert_eq!(result, json!("hi bob"));
}

#[tokio::test]
async fn a_renamed_method_answers_to_its_wire_name() {
    let compute = Arc::new(Compute::new());
    let result = invoke(&compute, "get_console", Context::new(), json!({"kind": "serial"})).await.unwrap();
    assert_eq!(result, json!("console:serial"));
    let result = invoke(&compute, "public_name", Context::new(), json!({})).await.unwrap();
    assert_eq!(result, json!(8));
}

#[tokio::test]
async fn unit_returns_null_and_borrowed_returns_encode() {
    let compute = Arc::new(Compute::new());
    let result = invoke(&compute, "record", Context::new(), json!({"line": "hello"})).await.unwrap();
    assert_eq!(result, Value::Null);
    assert_eq!(compute.log.lock().unwrap().as_slice(), ["hello"]);
    assert_eq!(invoke(&compute, "borrowed", Context::new(), json!({})).await.unwrap(), json!("borrowed"));
    assert_eq!(
        invoke(&compute, "underscore_arg", Context::new(), json!({"_unused": 5})).await.unwrap(),
        json!(5)
    );
}

#[tokio::test]
async fn a_missing_argument_is_a_type_error_naming_it() {
    let compute = Arc::new(Compute::new());
    let failure = type_error(invoke(&compute, "resize", Context::new(), json!({"instance": "vm1"})).await);
    assert!(
        failure.message.contains("resize()") && failure.message.contains("'flavor'"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("missing"), "{}", failure.message);
    assert!(compute.log.lock().unwrap().is_empty(), "the method must not run");
}

#[tokio::test]
async fn an_extra_argument_is_a_type_error_naming_it() {
    let compute = Arc::new(Compute::new());
    let failure =
        type_error(invoke(&compute, "ping", Context::new(), json!({"payload": 1, "colour": "red"})).await);
    assert!(failure.message.contains("unexpected keyword argument 'colour'"), "{}", failure.message);
    let failure = type_error(invoke(&compute, "borrowed", Context::new(), json!({"x": 1})).await);
    assert!(failure.message.contains("'x'"), "{}", failure.message);
}

#[tokio::test]
async fn an_ill_typed_argument_is_a_type_error_naming_it() {
    let compute = Arc::new(Compute::new());
    let kwargs = json!({"instance": "vm1", "flavor": {"name": "m1", "vcpus": "two"}});
    let failure = type_error(invoke(&compute, "resize", Context::new(), kwargs).await);
    assert!(failure.message.contains("'flavor' has the wrong type"), "{}", failure.message);
    let failure =
        type_error(invoke(&compute, "ping", Context::new(), json!({"payload": 1, "times": -1})).await);
    assert!(failure.message.contains("'times'"), "{}", failure.message);
}

#[tokio::test]
async fn arguments_are_decoded_when_the_invocation_runs_not_when_it_is_bound() {
    let compute = Arc::new(Compute::new());
    let (index, _) = compute.info().method("record").unwrap();
    // Binding ill-typed arguments does not fail: the failure comes from running it, on the worker.
    let invocation = Arc::clone(&compute).invoke(index, Context::new(), args(json!({"line": 5})));
    let failure = type_error(run(invocation).await);
    assert!(failure.message.contains("'line'"), "{}", failure.message);
}

#[tokio::test]
async fn an_unknown_row_fails_instead_of_panicking() {
    let compute = Arc::new(Compute::new());
    let failure = run(Arc::clone(&compute).invoke(99, Context::new(), Map::new())).await.unwrap_err();
    assert!(failure.message.contains("Compute") && failure.message.contains("99"), "{}", failure.message);
}

#[tokio::test]
async fn sync_invocations_run_on_another_thread() {
    let compute = Arc::new(Compute::new());
    let (index, _) = compute.info().method("record").unwrap();
    let Invocation::Sync(f) = Arc::clone(&compute).invoke(index, Context::new(), args(json!({"line": "x"})))
    else {
        panic!("record is sync")
    };
    let result = tokio::task::spawn_blocking(f).await.unwrap();
    assert_eq!(result.unwrap(), Value::Null);
}

// ===== the typed client, against a server over fake:// =====

async fn serve(topic: &str) -> (RpcServer, RpcClient) {
    let transport = courier::connect("fake://").await.unwrap();
    let server = RpcServer::builder(transport.clone(), Target::new(topic).with_server("s1"))
        .endpoint(Compute::new())
        .build()
        .unwrap();
    server.start().await.unwrap();
    (server, RpcClient::new(transport, Target::new(topic)).with_timeout(PATIENCE))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_client_calls_each_kind_and_decodes_results() {
    let (server, rpc) = serve(&unique("macro-client")).await;
    let client = ComputeClient::new(rpc);
    assert_eq!(client.inner().target().namespace.as_deref(), Some("compute"));
    assert_eq!(client.inner().target().version, Some(Version::new(1, 3)));
    let ctx = Context::new().with_user("carol");

    let flavor = Flavor { name: "m1".into(), vcpus: 1 };
    let resized = client.resize(&ctx, "vm9".into(), flavor.clone()).await.unwrap();
    assert_eq!(resized, Flavor { name: "m1-vm9".into(), vcpus: 2 });
    assert_eq!(
        client.ping(&ctx, json!([1, 2]), None).await.unwrap(),
        json!({"payload": [1, 2], "times": null})
    );
    assert_eq!(client.whoami(&ctx, "hello".into()).await.unwrap(), "hello carol");
    assert_eq!(client.console(&ctx, "vnc".into()).await.unwrap(), "console:vnc");
    let borrowed: String = client.borrowed(&ctx).await.unwrap();
    assert_eq!(borrowed, "borrowed");
    client.record(&ctx, "via client".into()).await.unwrap();

    match client.resize(&ctx, "missing".into(), flavor).await {
        Err(Error::Remote(Failure { class, module, message, .. })) => {
            assert_eq!((class.as_str(), module.as_str()), ("InstanceNotFound", "nova.exception"));
            assert_eq!(message, "instance missing could not be found");
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    server.stop().await;
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_client_casts() {
    let topic = unique("macro-cast");
    let transport = courier::connect("fake://").await.unwrap();
    let seen = Arc::new(tokio::sync::Notify::new());

    struct Sink {
        seen: Arc<tokio::sync::Notify>,
        lines: Mutex<Vec<String>>,
    }

    #[rpc_endpoint(client_vis = "pub(crate)")]
    impl Sink {
        fn put(&self, line: String) {
            self.lines.lock().unwrap().push(line);
            self.seen.notify_one();
        }
    }

    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Sink { seen: seen.clone(), lines: Mutex::new(Vec::new()) })
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = SinkClient::new(RpcClient::new(transport, Target::new(&topic)));
    client.cast_put(&Context::new(), "cast line".into()).await.unwrap();
    tokio::time::timeout(PATIENCE, seen.notified()).await.expect("the cast arrives");
    server.stop().await;
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_namespace_and_version_the_client_keeps_the_target() {
    struct Plain;
    #[rpc_endpoint]
    impl Plain {
        fn one(&self) -> u8 {
            1
        }
    }
    let transport = courier::connect("fake://").await.unwrap();
    let target = Target::new("t").with_namespace("kept").with_version(Version::new(2, 0));
    assert_eq!(Plain.info().methods[0].name, "one");
    let client = PlainClient::new(RpcClient::new(transport, target));
    assert_eq!(client.inner().target().namespace.as_deref(), Some("kept"));
    assert_eq!(client.inner().target().version, Some(Version::new(2, 0)));
}

#[test]
fn client_false_generates_no_client() {
    struct NoClient;
    #[rpc_endpoint(client = false)]
    impl NoClient {
        fn one(&self) -> u8 {
            1
        }
    }
    // A user type of the client's name does not collide with anything generated.
    #[allow(dead_code)]
    struct NoClientClient;
    assert_eq!(NoClient.info().methods.len(), 1);
}

/// Declares `Greeter` and `Watcher` with the context's type passed through `macro_rules!` `ty`
/// fragments, as a user's own macro would: the invisible groups around the types must not hide
/// the context from either macro (behind `&`, by value, and a whole `&Context` fragment).
macro_rules! endpoints_with_context_types {
    ($context:ty, $context_ref:ty) => {
        struct Greeter;

        #[rpc_endpoint(client = false)]
        impl Greeter {
            fn behind_ref(&self, ctx: &$context, greeting: String) -> String {
                format!("{greeting} {}", ctx.user().unwrap_or("nobody"))
            }

            fn by_value(&self, ctx: $context, greeting: String) -> String {
                format!("{greeting} {}", ctx.user().unwrap_or("nobody"))
            }

            async fn whole(&self, greeting: String, ctx: $context_ref) -> String {
                format!("{greeting} {}", ctx.user().unwrap_or("nobody"))
            }
        }

        #[derive(Default)]
        struct Watcher {
            users: Mutex<Vec<String>>,
        }

        #[notification_endpoint]
        impl Watcher {
            fn info(
                &self,
                ctx: &$context,
                _publisher_id: String,
                _event_type: String,
                _payload: Value,
                _metadata: Metadata,
            ) {
                self.users.lock().unwrap().push(format!("info:{}", ctx.user().unwrap_or("nobody")));
            }

            fn warn(
                &self,
                ctx: $context,
                _publisher_id: String,
                _event_type: String,
                _payload: Value,
                _metadata: Metadata,
            ) {
                self.users.lock().unwrap().push(format!("warn:{}", ctx.user().unwrap_or("nobody")));
            }

            async fn error(
                &self,
                ctx: $context_ref,
                _publisher_id: String,
                _event_type: String,
                _payload: Value,
                _metadata: Metadata,
            ) {
                self.users.lock().unwrap().push(format!("error:{}", ctx.user().unwrap_or("nobody")));
            }
        }
    };
}

endpoints_with_context_types!(Context, &Context);

#[tokio::test]
async fn an_rpc_context_typed_through_macro_rules_receives_the_request_context() {
    let greeter = Arc::new(Greeter);
    for method in ["behind_ref", "by_value", "whole"] {
        let (index, row) = greeter.info().method(method).unwrap_or_else(|| panic!("no row {method}"));
        assert_eq!(row.args, ["greeting"], "`{method}` takes the context as a keyword argument");
        let ctx = Context::new().with_user("carol");
        let invocation = Arc::clone(&greeter).invoke(index, ctx, args(json!({"greeting": "hi"})));
        assert_eq!(run(invocation).await.unwrap(), json!("hi carol"), "{method}");
    }
}

#[tokio::test]
async fn a_notification_context_typed_through_macro_rules_receives_the_sender_context() {
    let watcher = Arc::new(Watcher::default());
    for priority in [Priority::Info, Priority::Warn, Priority::Error] {
        let mut message = NotificationMessage::new(priority, "compute.host1", "instance.create", json!({}));
        message.context = Context::new().with_user("dave");
        match Arc::clone(&watcher).invoke(priority, vec![message]) {
            NotificationInvocation::Sync(f) => drop(f()),
            NotificationInvocation::Async(future) => drop(future.await),
        }
    }
    assert_eq!(watcher.users.lock().unwrap().as_slice(), ["info:dave", "warn:dave", "error:dave"]);
}
