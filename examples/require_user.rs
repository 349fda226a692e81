//! A server hook refusing calls without a `user` in the context: the caller gets the refusal
//! as an ordinary remote failure, allowed calls pass, and the hook sees every outcome.
//!
//! ```text
//! cargo run --example require_user                      # in memory (fake://)
//! cargo run --example require_user -- --url rabbit://guest:guest@127.0.0.1:5672/
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use courier::wire::Failure;
use courier::{
    Context, Error, RpcClient, RpcServer, Target,
    rpc::{Hook, MethodResult, RequestInfo},
    rpc_endpoint,
};

/// Refuses requests without a `user`; counts what it let through and how that went.
#[derive(Default)]
struct RequireUser {
    succeeded: AtomicUsize,
    failed: AtomicUsize,
}

impl Hook for RequireUser {
    fn before(&self, request: &RequestInfo<'_>) -> Result<(), Failure> {
        match request.context.user() {
            Some(_) => Ok(()),
            None => Err(Failure::new(
                "NotAuthorized",
                "courier.examples",
                format!("{}() needs a user in the request context", request.method),
            )),
        }
    }

    fn after(&self, request: &RequestInfo<'_>, outcome: &MethodResult) {
        let counter = if outcome.is_ok() { &self.succeeded } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        println!(
            "  hook: {}() by {:?} -> {}",
            request.method,
            request.context.user(),
            match outcome {
                Ok(value) => format!("ok {value}"),
                Err(failure) => format!("{}: {}", failure.class, failure.message),
            }
        );
    }
}

/// The demo service.
struct Greeter;

#[rpc_endpoint]
impl Greeter {
    async fn greet(&self, ctx: &Context) -> String {
        format!("hello, {}", ctx.user().unwrap_or("nobody"))
    }
}

/// Runs the demo.
#[derive(Parser)]
struct Args {
    /// Transport URL.
    #[arg(long, default_value = "fake://")]
    url: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let transport = courier::connect(&args.url).await?;
    let topic = format!("require-user-{}", std::process::id());
    let hook = std::sync::Arc::new(RequireUser::default());

    let server = RpcServer::builder(transport.clone(), Target::new(&topic).with_server("demo-host"))
        .endpoint(Greeter)
        .with_hook(hook.clone())
        .build()?;
    server.start().await?;
    let client = GreeterClient::new(RpcClient::new(transport.clone(), Target::new(&topic)));

    let greeting = client.greet(&Context::new().with_user("alice")).await?;
    println!("with a user: {greeting}");
    match client.greet(&Context::new()).await {
        Err(Error::Remote(failure)) => {
            println!("without a user: refused ({}: {})", failure.class, failure.message);
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }

    server.wait().await;
    transport.cleanup().await;
    println!(
        "the hook saw {} successes and {} failures",
        hook.succeeded.load(Ordering::Relaxed),
        hook.failed.load(Ordering::Relaxed)
    );
    Ok(())
}
