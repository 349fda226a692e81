//! TLS with a client certificate (oslo's `ssl_cert_file` / `ssl_key_file`) and the `EXTERNAL`
//! login (`rabbit_login_method=EXTERNAL`), on a private node whose TLS listener requires a
//! client certificate; without one, connecting fails with a clear error.

use courier::{Context, RpcClient, RpcServer, Target, rpc_endpoint};
use courier_test_support::node::PrivateBroker;
use courier_test_support::{PATIENCE, unique};

struct Echo;

#[rpc_endpoint]
impl Echo {
    async fn echo(&self, n: u64) -> u64 {
        n
    }
}

/// Serves and calls `echo` over `url`.
async fn round_trip(url: &str, n: u64) -> Result<u64, courier::Error> {
    let transport = courier::connect(url).await?;
    let topic = unique("tls-client-cert");
    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("s1"))
        .endpoint(Echo)
        .build()?;
    server.start().await?;
    let client =
        EchoClient::new(RpcClient::new(transport.clone(), Target::new(&topic)).with_timeout(PATIENCE));
    let answer = client.echo(&Context::new(), n).await;
    server.wait().await;
    transport.cleanup().await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_and_the_external_login() {
    let Some(broker) = PrivateBroker::start_with_client_cert_tls().await else { return };
    let pki = broker.pki().expect("a TLS node");
    let certificate =
        format!("ssl_cert_file={}&ssl_key_file={}", pki.client_cert.display(), pki.client_key.display());

    assert_eq!(
        round_trip(&broker.tls_url(&certificate), 7).await.expect("a call with a client certificate"),
        7
    );

    // EXTERNAL: the certificate is the login, so a wrong password must not matter.
    let external = broker.tls_url(&format!("{certificate}&rabbit_login_method=EXTERNAL")).replacen(
        "guest:guest@",
        "guest:not-the-password@",
        1,
    );
    assert_eq!(round_trip(&external, 8).await.expect("a call with the EXTERNAL login"), 8);
    // The same wrong password with the default login (AMQPLAIN) is refused: EXTERNAL did the work.
    let wrong_password = broker.tls_url(&certificate).replacen("guest:guest@", "guest:not-the-password@", 1);
    let error = courier::connect(&wrong_password).await.expect_err("a wrong password must be refused");
    assert!(error.to_string().to_lowercase().contains("refused"), "{error}");

    // Without a client certificate, the listener refuses the handshake.
    let error =
        courier::connect(&broker.tls_url("")).await.expect_err("no client certificate must not connect");
    let text = error.to_string().to_lowercase();
    assert!(
        ["certificate", "tls", "ssl", "handshake"].iter().any(|word| text.contains(word)),
        "the error should say the TLS handshake failed: {error}"
    );
    assert!(!text.contains("guest:guest"), "no password in errors: {error}");
}
