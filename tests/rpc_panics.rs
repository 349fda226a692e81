//! A panic in a sync or an async method becomes a failure reply naming the panic; the server
//! lives on.

use courier::wire::Failure;
use courier::{Context, Error, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::{PATIENCE, unique};

struct Fragile;

#[rpc_endpoint]
impl Fragile {
    fn sync_boom(&self, what: String) -> u32 {
        panic!("sync {what} exploded")
    }

    async fn async_boom(&self, what: String) -> u32 {
        tokio::task::yield_now().await;
        panic!("async {what} exploded")
    }

    fn fine(&self) -> u32 {
        7
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_become_runtime_errors_and_the_server_lives_on() {
    let topic = unique("panics");
    let transport = courier::connect("fake://").await.unwrap();
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Fragile)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client = FragileClient::new(RpcClient::new(transport, Target::new(&topic)).with_timeout(PATIENCE));
    let ctx = Context::new();

    for (method, result) in [
        ("sync_boom", client.sync_boom(&ctx, "disk".into()).await),
        ("async_boom", client.async_boom(&ctx, "disk".into()).await),
    ] {
        match result {
            Err(Error::Remote(Failure { class, module, message, .. })) => {
                assert_eq!((class.as_str(), module.as_str()), ("RuntimeError", "builtins"));
                assert!(message.contains(method), "{message}");
                assert!(message.contains("disk exploded"), "{message}");
            }
            other => panic!("{method}: expected a remote RuntimeError, got {other:?}"),
        }
        assert_eq!(client.fine(&ctx).await.unwrap(), 7, "the next call after {method} works");
    }
    server.wait().await;
}
