//! The porting guide's scenario (docs/porting.md), run for real: a Python oslo.messaging
//! `RPCServer` serving a nova-style `ComputeManager` and courier's port of it
//! (`examples/porting_compute.rs`) consume one topic side by side. 200 calls from a Python
//! `RPCClient` (nova's rpcapi style), then the same 200 from courier's typed client: both servers
//! serve, every result is what the Python reference implementation returns, none is lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use courier::{Context, RpcClient, RpcServer, Target, Version};
use courier_test_support::paths::InteropEnv;
use courier_test_support::process::Peer;
use courier_test_support::{PATIENCE, broker, paths, unique};
use serde_json::{Value, json};

#[allow(dead_code)] // the example's `main` and arguments are not used here
#[path = "../examples/porting_compute.rs"]
mod porting_compute;

use porting_compute::compute::{ComputeManager, ComputeManagerClient, Instance};

const CALLS: usize = 200;
const PYTHON_SERVER: &str = "py-compute";
const RUST_SERVER: &str = "rs-compute";

fn nova_compute(env: &InteropEnv, args: &[&str]) -> Peer {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--url", broker::URL]);
    Peer::python(env, "nova_compute.py", &all)
}

/// `instance_for(n)` of nova_compute.py.
fn instance_for(n: usize) -> Instance {
    Instance {
        uuid: format!("inst-{n:04}"),
        vcpus: 1 + (n % 8) as u32,
        memory_mb: 512 * (1 + (n % 4) as u64),
        networks: (0..n % 3).map(|k| format!("net-{k}")).collect(),
    }
}

/// The n-th call of nova_compute.py's `call_plan`, through courier's typed clients.
async fn call_from_courier(
    v5_0: &ComputeManagerClient,
    v5_1: &ComputeManagerClient,
    n: usize,
) -> (String, Value) {
    let ctx = Context::new().with_user("porting-guide").with_request_id("req-porting");
    let instance = instance_for(n);
    let (method, result) = match n % 3 {
        0 => {
            let tail = [None, Some(0), Some(3), Some(20)][n % 4];
            ("get_console_output", v5_0.get_console_output(&ctx, instance, tail).await.map(|s| json!(s)))
        }
        1 => (
            "get_instance_diagnostics",
            v5_0.get_instance_diagnostics(&ctx, instance).await.map(|d| serde_json::to_value(d).unwrap()),
        ),
        _ => {
            let device = n.is_multiple_of(2).then(|| json!("/dev/vdz"));
            let volume_id = json!(format!("vol-{}", "x".repeat(n % 11)));
            let instance = serde_json::to_value(instance).unwrap();
            (
                "reserve_block_device_name",
                v5_1.reserve_block_device_name(&ctx, instance, device, volume_id).await,
            )
        }
    };
    let result = result.unwrap_or_else(|e| panic!("courier call {n} ({method}) failed: {e}"));
    (method.to_owned(), result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_courier_servers_share_a_topic_through_the_port() {
    let Some(env) = paths::interop_env("python_and_courier_servers_share_a_topic_through_the_port") else {
        return;
    };
    let topic = unique("porting");
    let transport = broker::transport().await;

    let mut python_server = nova_compute(&env, &["server", "--topic", &topic, "--server", PYTHON_SERVER]);
    python_server.ready().await;
    let legacy = RpcClient::new(Arc::clone(&transport), Target::new(&topic).with_server(PYTHON_SERVER));
    let endpoint = Arc::new(ComputeManager::new(legacy));
    let server = RpcServer::builder(Arc::clone(&transport), Target::new(&topic).with_server(RUST_SERVER))
        .endpoint_arc(endpoint.clone())
        .build()
        .expect("a valid server");
    server.start().await.expect("the courier server consumes");

    // The Python caller, unchanged: nova's ComputeAPI against both servers.
    let calls = CALLS.to_string();
    let mut python_client = nova_compute(&env, &["client", "--topic", &topic, "--calls", &calls]);
    let mut python_results = BTreeMap::new();
    let done = loop {
        let line = python_client.next_json(PATIENCE).await;
        match line["event"].as_str() {
            Some("result") => {
                python_results.insert(line["n"].as_u64().unwrap() as usize, line["result"].clone());
            }
            Some("done") => break line,
            _ => {}
        }
    };
    assert_eq!(done["errors"], json!([]), "calls failed: {done}");
    assert_eq!(done["mismatches"], json!([]), "results differ from the Python reference: {done}");
    assert_eq!(done["ok"], json!(CALLS), "{done}");
    assert_eq!(python_results.len(), CALLS);

    // Who served what: every call came off the shared queue to exactly one of the two servers;
    // the Python server also sees the calls courier forwarded (the method not ported yet).
    let rust_served = endpoint.served();
    let rust_total: usize = rust_served.values().sum();
    let forwarded = rust_served.get("reserve_block_device_name").copied().unwrap_or(0);
    let python_total = CALLS - rust_total + forwarded;
    let mut python_direct = 0;
    for _ in 0..python_total {
        let line =
            python_server.wait_json(PATIENCE, "a handled call", |line| line["event"] == "handled").await;
        assert_eq!(line["server"], PYTHON_SERVER);
        python_direct += 1;
    }
    python_direct -= forwarded;
    assert!(rust_total > 0, "the courier server took no call off the shared topic: {rust_served:?}");
    assert!(python_direct > 0, "the Python server took no call off the shared topic");
    assert_eq!(python_direct + rust_total, CALLS);

    // Then the caller switches to courier's typed client: the same calls, the same results.
    let v5_0 = ComputeManagerClient::new(RpcClient::new(
        Arc::clone(&transport),
        Target::new(&topic).with_version(Version::new(5, 0)),
    ));
    let v5_1 = ComputeManagerClient::new(RpcClient::new(
        Arc::clone(&transport),
        Target::new(&topic).with_version(Version::new(5, 1)),
    ));
    let before = endpoint.served().values().sum::<usize>();
    for n in 0..CALLS {
        let (method, result) = call_from_courier(&v5_0, &v5_1, n).await;
        assert_eq!(
            result, python_results[&n],
            "call {n} ({method}) answered differently from courier's client"
        );
    }
    let rust_now = endpoint.served().values().sum::<usize>() - before;
    assert!(
        rust_now > 0 && rust_now < CALLS,
        "both servers should serve courier's calls too ({rust_now} of {CALLS} by courier)"
    );

    server.wait().await;
    python_server.close_stdin();
    let (_, _) = python_server.exit().await;
    transport.cleanup().await;
}
