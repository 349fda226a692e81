//! A demo RPC server that Python oslo.messaging clients (or courier clients) can call.
//!
//! ```text
//! cargo run --example server -- --server host1
//! cargo run --example server -- --url rabbit://guest:guest@127.0.0.1:5672/ --topic demo \
//!     --server host1 [--exchange openstack] [--executor mixed|blocking] [--sync-pool N] [--async-pool N]
//! ```
//!
//! It serves two endpoints on `--topic` as `--server`:
//!
//! - null namespace, version 1.0: `echo(payload)` (async), `echo_sync(payload)`, `add(a, b)`
//!   (64-bit; an overflow fails with `OverflowError`), `sleep(seconds)` (blocks its thread),
//!   `async_sleep(seconds)`, `fail(message)` (fails with `courier_demo.DemoError`), `context()`
//!   (the request context it received), `whoami()` (the server name);
//! - namespace `demo`, version 2.3: `which()` → `"demo-2.3"`.
//!
//! From Python (oslo.messaging):
//!
//! ```python
//! client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic="demo"))
//! client.call({"user": "alice"}, "add", a=2, b=3)                        # 5
//! client.prepare(namespace="demo", version="2.3").call({}, "which")     # "demo-2.3"
//! ```
//!
//! SIGINT or SIGTERM stops it gracefully: it stops taking messages, lets the calls in flight
//! finish and reply, then exits. A second signal exits at once.

use std::error::Error as StdError;

use clap::{Parser, ValueEnum};
use courier::{RpcServer, Target, executor::ExecutorConfig, transport::TransportConfig};

pub mod demo {
    //! The demo endpoints, shared with courier's interop tests.

    use std::borrow::Cow;
    use std::time::Duration;

    use courier::{Context, rpc::RemoteException, rpc_endpoint};
    use serde_json::{Value, json};
    use tokio::sync::broadcast;

    /// How many call events an observer may fall behind before it misses some.
    const EVENTS: usize = 256;

    /// A call a [`Demo`] endpoint started handling.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Handled {
        /// The server name the endpoint serves as.
        pub server: String,
        /// The method called.
        pub method: &'static str,
        /// Its arguments.
        pub args: Value,
    }

    /// The version 1.0 endpoint (null namespace).
    #[derive(Debug)]
    pub struct Demo {
        server: String,
        events: broadcast::Sender<Handled>,
    }

    impl Demo {
        /// The endpoint of the server named `server`.
        pub fn new(server: impl Into<String>) -> Self {
            Self { server: server.into(), events: broadcast::channel(EVENTS).0 }
        }

        /// Every call this endpoint starts from now on (e.g. to see that a cast arrived).
        pub fn subscribe(&self) -> broadcast::Receiver<Handled> {
            self.events.subscribe()
        }

        fn handled(&self, method: &'static str, args: Value) {
            tracing::info!(server = %self.server, "handling {method}");
            // No subscriber is fine: nobody is watching.
            let _ = self.events.send(Handled { server: self.server.clone(), method, args });
        }
    }

    #[rpc_endpoint]
    impl Demo {
        /// Returns its payload (async).
        async fn echo(&self, payload: Value) -> Value {
            self.handled("echo", json!({ "payload": &payload }));
            payload
        }

        /// Returns its payload (sync).
        fn echo_sync(&self, payload: Value) -> Value {
            self.handled("echo_sync", json!({ "payload": &payload }));
            payload
        }

        /// `a + b`, failing with `OverflowError` when that does not fit in 64 bits.
        fn add(&self, a: i64, b: i64) -> Result<i64, Overflow> {
            self.handled("add", json!({ "a": a, "b": b }));
            a.checked_add(b).ok_or(Overflow { a, b })
        }

        /// Blocks its thread for `seconds`, then returns them.
        fn sleep(&self, seconds: f64) -> Result<f64, InvalidSeconds> {
            self.handled("sleep", json!({ "seconds": seconds }));
            std::thread::sleep(to_duration(seconds)?);
            Ok(seconds)
        }

        /// Waits `seconds` without holding a thread, then returns them.
        async fn async_sleep(&self, seconds: f64) -> Result<f64, InvalidSeconds> {
            self.handled("async_sleep", json!({ "seconds": seconds }));
            tokio::time::sleep(to_duration(seconds)?).await;
            Ok(seconds)
        }

        /// Fails with `courier_demo.DemoError(message)`.
        fn fail(&self, message: String) -> Result<(), DemoError> {
            self.handled("fail", json!({ "message": &message }));
            Err(DemoError(message))
        }

        /// The request context this call arrived with, as a JSON object.
        async fn context(&self, ctx: &Context) -> Value {
            self.handled("context", json!({}));
            Value::Object(ctx.as_map().clone())
        }

        /// The name of the server that answered.
        async fn whoami(&self) -> String {
            self.handled("whoami", json!({}));
            self.server.clone()
        }
    }

    /// The version 2.3 endpoint of namespace `demo`.
    #[derive(Debug, Default)]
    pub struct DemoV2;

    #[rpc_endpoint(namespace = "demo", version = "2.3")]
    impl DemoV2 {
        /// Which endpoint answered: `"demo-2.3"`.
        async fn which(&self) -> String {
            "demo-2.3".to_owned()
        }
    }

    fn to_duration(seconds: f64) -> Result<Duration, InvalidSeconds> {
        Duration::try_from_secs_f64(seconds).map_err(|_| InvalidSeconds(seconds))
    }

    /// What `fail` returns: Python callers see `RemoteError` with `exc_type == "DemoError"`.
    #[derive(Debug)]
    pub struct DemoError(pub String);

    impl std::fmt::Display for DemoError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl RemoteException for DemoError {
        fn exception_class(&self) -> Cow<'_, str> {
            "DemoError".into()
        }
        fn exception_module(&self) -> Cow<'_, str> {
            "courier_demo".into()
        }
    }

    /// `add` overflowed: Python's builtin `OverflowError`.
    #[derive(Debug)]
    pub struct Overflow {
        a: i64,
        b: i64,
    }

    impl std::fmt::Display for Overflow {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} + {} does not fit in a 64-bit signed integer", self.a, self.b)
        }
    }

    impl RemoteException for Overflow {
        fn exception_class(&self) -> Cow<'_, str> {
            "OverflowError".into()
        }
        fn exception_module(&self) -> Cow<'_, str> {
            "builtins".into()
        }
    }

    /// A sleep of a negative, infinite or NaN number of seconds: Python's `ValueError`.
    #[derive(Debug)]
    pub struct InvalidSeconds(f64);

    impl std::fmt::Display for InvalidSeconds {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "seconds must be a finite, non-negative number, not {}", self.0)
        }
    }

    impl RemoteException for InvalidSeconds {
        fn exception_class(&self) -> Cow<'_, str> {
            "ValueError".into()
        }
        fn exception_module(&self) -> Cow<'_, str> {
            "builtins".into()
        }
    }
}

/// How the server runs its methods.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Executor {
    /// Async methods as tasks, sync methods on the blocking pool, each kind bounded.
    Mixed,
    /// One message at a time, in order.
    Blocking,
}

/// Serves the demo endpoints.
#[derive(Debug, Parser)]
#[command(about = "courier's demo RPC server (see the source for its methods)")]
struct Args {
    /// Transport URL.
    #[arg(long, default_value = "rabbit://guest:guest@127.0.0.1:5672/")]
    url: String,
    /// Topic to serve.
    #[arg(long, default_value = "demo")]
    topic: String,
    /// This server's name (callers may address it alone).
    #[arg(long)]
    server: String,
    /// Control exchange (oslo's `control_exchange`).
    #[arg(long, default_value = courier::transport::DEFAULT_CONTROL_EXCHANGE)]
    exchange: String,
    /// Executor.
    #[arg(long, value_enum, default_value_t = Executor::Mixed)]
    executor: Executor,
    /// Sync methods running at once (mixed executor).
    #[arg(long)]
    sync_pool: Option<usize>,
    /// Async methods running at once (mixed executor).
    #[arg(long)]
    async_pool: Option<usize>,
}

impl Args {
    fn executor_config(&self) -> ExecutorConfig {
        let mut config = match self.executor {
            Executor::Mixed => ExecutorConfig::default(),
            Executor::Blocking => ExecutorConfig::blocking(),
        };
        if let Some(size) = self.sync_pool {
            config = config.with_sync_pool(size);
        }
        if let Some(size) = self.async_pool {
            config = config.with_async_pool(size);
        }
        config
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();

    let config = TransportConfig::default().with_control_exchange(&args.exchange);
    let transport = courier::connect_with(&args.url, config).await?;
    let server = RpcServer::builder(transport.clone(), Target::new(&args.topic).with_server(&args.server))
        .endpoint(demo::Demo::new(&args.server))
        .endpoint(demo::DemoV2)
        .with_executor(args.executor_config())
        .build()?;
    server.start().await?;
    eprintln!("consuming on topic {} as server {}", args.topic, args.server);

    let signal = shutdown_signal().await?;
    eprintln!("{signal}: stopping; calls in flight finish and reply (signal again to quit now)");
    tokio::select! {
        report = async { server.stop().await; server.wait().await } => {
            transport.cleanup().await;
            eprintln!("stopped ({} calls abandoned)", report.abandoned);
            Ok(())
        }
        signal = shutdown_signal() => {
            eprintln!("{}: quitting without waiting for calls in flight", signal?);
            std::process::exit(130);
        }
    }
}

/// Waits for SIGINT or SIGTERM and names it.
async fn shutdown_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT"),
            _ = terminate.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "SIGINT")
    }
}
