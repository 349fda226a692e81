//! courier in one process: a server whose endpoint mixes blocking (`fn`) and `async fn`
//! methods, and a client calling both. While a blocking method holds its thread, async calls
//! keep answering: the mixed executor runs each kind on its own pool.
//!
//! ```text
//! cargo run --example quickstart                      # in memory (fake://)
//! cargo run --example quickstart -- --url rabbit://guest:guest@127.0.0.1:5672/
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use courier::{Context, RpcClient, RpcServer, Target, rpc::MethodKind, rpc_endpoint};

/// The demo service.
struct Inventory;

#[rpc_endpoint]
impl Inventory {
    /// Blocking code (say, a database driver without async support): runs on the sync pool.
    fn count_items(&self, shelf: String, seconds: f64) -> u64 {
        std::thread::sleep(Duration::from_secs_f64(seconds));
        shelf.len() as u64 * 10
    }

    /// Async code: runs as a tokio task.
    async fn ping(&self, ctx: &Context) -> String {
        format!("pong for {}", ctx.user().unwrap_or("anonymous"))
    }
}

/// Runs the demo.
#[derive(Parser)]
struct Args {
    /// Transport URL.
    #[arg(long, default_value = "fake://")]
    url: String,
    /// How long the blocking call blocks, in seconds.
    #[arg(long, default_value_t = 1.0)]
    block: f64,
}

fn pool_of(method: &str) -> &'static str {
    let row = Inventory::RPC_METHODS.iter().find(|m| m.name == method).expect("a method of the table");
    match row.kind {
        MethodKind::Sync => "sync pool (spawn_blocking)",
        MethodKind::Async => "async pool (tokio task)",
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let transport = courier::connect(&args.url).await?;
    let topic = format!("quickstart-{}", std::process::id());

    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("demo-host"))
        .endpoint(Inventory)
        .build()?;
    server.start().await?;
    println!("server consuming on topic {topic} via {}", args.url.split('@').next_back().unwrap_or_default());
    for method in Inventory::RPC_METHODS {
        println!("  {:<12} -> {}", method.name, pool_of(method.name));
    }

    let client = InventoryClient::new(RpcClient::new(transport.clone(), Target::new(&topic)));
    let ctx = Context::new().with_user("alice");

    let started = Instant::now();
    let blocking = {
        let (client, ctx) = (client.clone(), ctx.clone());
        tokio::spawn(async move { client.count_items(&ctx, "books".into(), args.block).await })
    };
    let mut answered = 0;
    while !blocking.is_finished() {
        let reply = client.ping(&ctx).await?;
        answered += 1;
        if answered <= 3 {
            println!("ping [{}]: {reply} after {:?}", pool_of("ping"), started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = blocking.await??;
    println!(
        "count_items [{}]: {items} after {:?}; {answered} async calls answered meanwhile",
        pool_of("count_items"),
        started.elapsed()
    );

    let report = server.wait().await;
    transport.cleanup().await;
    println!("server stopped ({} requests abandoned)", report.abandoned);
    Ok(())
}
