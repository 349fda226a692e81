//! The dispatcher's rules, as a caller sees them: namespaces and versions, NoSuchMethod vs
//! UnsupportedVersion, private methods, argument errors naming the argument, the ping method.

use courier::Version;
use courier::wire::Failure;
use courier::{Context, Error, RpcClient, RpcServer, Target, rpc::to_args, rpc_endpoint};
use courier_test_support::{PATIENCE, unique};
use serde_json::{Value, json};

struct Plain;

#[rpc_endpoint]
impl Plain {
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn greet(&self, name: String, punctuation: Option<String>) -> String {
        format!("hello {name}{}", punctuation.unwrap_or_default())
    }

    fn _private(&self) -> u32 {
        1
    }
}

struct Versioned;

#[rpc_endpoint(namespace = "demo", version = "2.3")]
impl Versioned {
    async fn which(&self) -> &'static str {
        "demo-2.3"
    }
}

async fn client(topic: &str) -> (RpcServer, RpcClient) {
    let transport = courier::connect("fake://").await.unwrap();
    let server = RpcServer::builder(transport.clone(), Target::new(topic).with_server("s1"))
        .endpoint(Plain)
        .endpoint(Versioned)
        .with_ping(true)
        .build()
        .unwrap();
    server.start().await.unwrap();
    (server, RpcClient::new(transport, Target::new(topic)).with_timeout(PATIENCE))
}

async fn call(client: &RpcClient, method: &str, args: Value) -> Result<Value, Error> {
    client.call(&Context::new(), method, to_args(&args).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_versions_route_like_oslo() {
    let topic = unique("routing");
    let (server, client) = client(&topic).await;
    let demo = client.prepare().with_namespace("demo");
    for version in ["2.0", "2.3"] {
        let answer =
            call(&demo.prepare().with_version(version.parse().unwrap()), "which", json!({})).await.unwrap();
        assert_eq!(answer, "demo-2.3", "version {version}");
    }
    for (namespace, version) in [("demo", "2.4"), ("demo", "3.0"), ("demo", "1.0"), ("other", "2.0")] {
        let err = call(
            &client.prepare().with_namespace(namespace).with_version(version.parse().unwrap()),
            "which",
            json!({}),
        )
        .await;
        match err {
            Err(Error::UnsupportedVersion { version: v, method, .. }) => {
                assert_eq!((v.as_str(), method.as_str()), (version, "which"))
            }
            other => panic!("{namespace} {version}: expected UnsupportedVersion, got {other:?}"),
        }
    }
    // The null namespace's version defaults to 1.0.
    assert_eq!(
        call(&client.prepare().with_version(Version::new(1, 0)), "add", json!({"a": 1, "b": 2}))
            .await
            .unwrap(),
        3
    );
    assert!(matches!(
        call(&client.prepare().with_version(Version::new(1, 1)), "add", json!({"a": 1, "b": 2})).await,
        Err(Error::UnsupportedVersion { .. })
    ));
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_private_methods_are_no_such_method() {
    let topic = unique("nosuch");
    let (server, client) = client(&topic).await;
    for method in ["nope", "_private", "__init__"] {
        match call(&client, method, json!({})).await {
            Err(Error::NoSuchMethod { method: m, .. }) => assert_eq!(m, method),
            other => panic!("{method}: expected NoSuchMethod, got {other:?}"),
        }
    }
    // A method of the namespaced endpoint is not in the null namespace.
    assert!(matches!(call(&client, "which", json!({})).await, Err(Error::NoSuchMethod { .. })));
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argument_errors_are_type_errors_naming_the_argument() {
    let topic = unique("args");
    let (server, client) = client(&topic).await;
    let cases = [
        (json!({"a": 1}), "'b'"),
        (json!({"a": 1, "b": 2, "c": 3}), "'c'"),
        (json!({"a": "one", "b": 2}), "'a'"),
        (json!({"a": 1.5, "b": 2}), "'a'"),
    ];
    for (args, named) in cases {
        match call(&client, "add", args.clone()).await {
            Err(Error::Remote(Failure { class, module, message, .. })) => {
                assert_eq!((class.as_str(), module.as_str()), ("TypeError", "builtins"), "{args}");
                assert!(message.contains(named), "{args}: {message}");
            }
            other => panic!("{args}: expected a TypeError, got {other:?}"),
        }
    }
    assert_eq!(call(&client, "greet", json!({"name": "ann"})).await.unwrap(), "hello ann");
    assert_eq!(
        call(&client, "greet", json!({"name": "ann", "punctuation": null})).await.unwrap(),
        "hello ann"
    );
    assert_eq!(
        call(&client, "greet", json!({"name": "ann", "punctuation": "!"})).await.unwrap(),
        "hello ann!"
    );
    server.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_method_answers_pong() {
    let topic = unique("ping");
    let (server, client) = client(&topic).await;
    assert_eq!(call(&client, "oslo_rpc_server_ping", json!({})).await.unwrap(), "pong");
    server.wait().await;
}

/// Answers with the namespace it was given, to tell two copies apart.
struct Named(&'static str);

#[rpc_endpoint(namespace = "compiled", version = "1.0")]
impl Named {
    async fn which(&self) -> &'static str {
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_target_given_at_run_time_replaces_the_macros() {
    let topic = unique("endpoint-target");
    let transport = courier::connect("fake://").await.unwrap();
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint_with_target(
            Named("baremetal"),
            Target::default().with_namespace("baremetal").with_version(Version::new(1, 4)),
        )
        // No namespace and no version: oslo's null namespace at 1.0.
        .endpoint_with_target(Named("null"), Target::default())
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE);
    let at = |namespace: Option<&str>, version: &str| {
        let prepared = client.prepare().with_version(version.parse().unwrap());
        match namespace {
            Some(namespace) => prepared.with_namespace(namespace),
            None => prepared,
        }
    };
    for version in ["1.0", "1.4"] {
        assert_eq!(call(&at(Some("baremetal"), version), "which", json!({})).await.unwrap(), "baremetal");
    }
    assert_eq!(call(&at(None, "1.0"), "which", json!({})).await.unwrap(), "null");
    // The macro's namespace is replaced, not added; versions beyond the target's are refused.
    for (namespace, version) in [(Some("compiled"), "1.0"), (Some("baremetal"), "1.5"), (None, "1.1")] {
        match call(&at(namespace, version), "which", json!({})).await {
            Err(Error::UnsupportedVersion { .. }) => {}
            other => panic!("{namespace:?} {version}: expected UnsupportedVersion, got {other:?}"),
        }
    }
    server.wait().await;
}
