//! courier's metrics (feature `metrics`) scraped by Prometheus: the exporter
//! `metrics-exporter-prometheus` is installed as the `metrics` recorder, a server and a client
//! exchange calls on `fake://`, and `/metrics` is served on 127.0.0.1.
//!
//! ```text
//! cargo run --example prometheus                       # serves http://127.0.0.1:9464/metrics
//! cargo run --example prometheus -- --port 9100        # or COURIER_METRICS_PORT=9100
//! cargo run --example prometheus -- --once             # print one scrape and exit
//! curl -s http://127.0.0.1:9464/metrics | grep courier_
//! ```
//!
//! The exporter is used without its HTTP listener feature (which pulls in hyper with HTTP/2):
//! the few lines of `serve` below answer every request with the rendered scrape.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use courier::{Context, RpcClient, RpcServer, Target, rpc::RemoteException, rpc_endpoint};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A refusal the service returns now and then.
#[derive(Debug)]
struct OutOfStock;

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of stock")
    }
}

impl RemoteException for OutOfStock {}

/// The demo service.
struct Shop;

#[rpc_endpoint]
impl Shop {
    /// Sync: runs on the blocking pool.
    fn price(&self, items: u32) -> u32 {
        items * 3
    }

    /// Async: fails for large orders.
    async fn order(&self, items: u32) -> Result<u32, OutOfStock> {
        if items > 10 { Err(OutOfStock) } else { Ok(items) }
    }
}

/// Serves courier's metrics for Prometheus.
#[derive(Parser)]
struct Args {
    /// Port of the scrape endpoint on 127.0.0.1.
    #[arg(long, env = "COURIER_METRICS_PORT", default_value_t = 9464)]
    port: u16,
    /// Print one scrape after the first round of traffic and exit.
    #[arg(long)]
    once: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let handle = PrometheusBuilder::new().install_recorder()?;

    let transport = courier::connect("fake://").await?;
    let server = RpcServer::builder(transport.clone(), Target::new("shop").with_server("shop-1"))
        .endpoint(Shop)
        .build()?;
    server.start().await?;
    let client = ShopClient::new(RpcClient::new(transport, Target::new("shop")));
    let ctx = Context::new().with_user("alice");

    traffic(&client, &ctx).await;
    if args.once {
        server.wait().await;
        print!("{}", handle.render());
        return Ok(());
    }

    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = TcpListener::bind(address).await?;
    println!("serving courier metrics on http://{address}/metrics (Ctrl-C to stop)");
    tokio::spawn(serve(listener, handle.clone()));
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticks.tick() => {
                traffic(&client, &ctx).await;
                // Histograms are summarised on upkeep; the exporter leaves scheduling it to us.
                handle.run_upkeep();
            }
        }
    }
    server.wait().await;
    Ok(())
}

/// A round of calls: successes, a remote failure and a method nobody has.
async fn traffic(client: &ShopClient, ctx: &Context) {
    for items in 1..=3 {
        let _ = client.price(ctx, items).await;
    }
    let _ = client.order(ctx, 2).await;
    let _ = client.order(ctx, 50).await; // OutOfStock: courier_messages_failed_total
    let args = serde_json::Map::new();
    let _ = client.inner().call(ctx, "refund", args).await; // courier_messages_rejected_total
}

/// Answers every HTTP request on `listener` with the current scrape.
async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let handle = handle.clone();
        tokio::spawn(async move {
            // The request itself does not matter: read (some of) it, then answer.
            let mut request = [0_u8; 1024];
            let _ = stream.read(&mut request).await;
            let body = handle.render();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}
