//! TLS through rustls: with `ssl=true` and the right `ssl_ca_file` a call succeeds over the
//! broker's TLS listener (127.0.0.1:5671, set up by scripts/test-env.sh with a throwaway CA);
//! with a wrong CA, connecting fails with a clear error.

use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::paths::tls_url;
use courier_test_support::{PATIENCE, unique};

struct Secure;

#[rpc_endpoint]
impl Secure {
    async fn hello(&self) -> &'static str {
        "over tls"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_succeeds_over_tls_with_the_right_ca() {
    let topic = unique("tls");
    let transport = courier::connect(&tls_url("ca.pem")).await.expect("a TLS connection with the right CA");
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Secure)
        .build()
        .unwrap();
    server.start().await.unwrap();
    let client =
        SecureClient::new(RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE));
    assert_eq!(client.hello(&Context::new()).await.unwrap(), "over tls");
    server.wait().await;
    transport.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_clearly() {
    let error = courier::connect(&tls_url("wrong-ca.pem")).await.expect_err("a wrong CA must not connect");
    let text = error.to_string().to_lowercase();
    assert!(
        ["certificate", "tls", "ssl", "issuer"].iter().any(|word| text.contains(word)),
        "the error should say the certificate was refused: {error}"
    );
    assert!(!text.contains("guest:guest"), "no password in errors: {error}");
}
