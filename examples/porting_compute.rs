//! The Rust side of the porting guide (`docs/porting.md`): a nova-style compute endpoint ported
//! from Python one method at a time, serving the same topic as the Python service it replaces.
//!
//! ```text
//! # beside a Python `nova_compute.py server --topic compute --server py-compute`:
//! cargo run --example porting_compute -- --topic compute --server rs-compute --legacy-server py-compute
//! ```
//!
//! Methods already ported run in Rust; the one not ported yet is forwarded to the Python
//! server's own queue (`<topic>.<legacy-server>`), so both servers can take any call from the
//! shared topic queue at every step of the port. Ctrl-C stops it gracefully.

use clap::Parser;
use courier::{RpcClient, RpcServer, Target};

pub mod compute {
    //! The ported endpoint (its `ComputeManagerClient` is the typed client callers switch to).

    use std::borrow::Cow;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use courier::{Context, RpcClient, Version, rpc::RemoteException, rpc_endpoint};
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value};

    /// nova sends an instance as a dict of its fields; the fields this service reads.
    #[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
    pub struct Instance {
        /// The instance's id.
        pub uuid: String,
        /// Its virtual CPUs.
        pub vcpus: u32,
        /// Its memory in MiB.
        pub memory_mb: u64,
        /// The networks it is attached to.
        #[serde(default)]
        pub networks: Vec<String>,
    }

    /// What `get_instance_diagnostics` returns: the same keys as the Python dict.
    #[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
    pub struct Diagnostics {
        /// The instance's id.
        pub uuid: String,
        /// Its power state.
        pub state: String,
        /// Its virtual CPUs.
        pub cpu_count: u32,
        /// Its memory in MiB.
        pub memory_mb: u64,
        /// How many NICs it has.
        pub nic_count: usize,
    }

    /// A call forwarded to the Python service failed: the caller sees the Python exception's
    /// class, module and message (any failure the Python server sent, dispatcher errors
    /// included), as if the Python server had answered it directly.
    #[derive(Debug)]
    pub struct Forwarded(courier::Error);

    impl std::fmt::Display for Forwarded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self.0.failure() {
                Some(failure) => f.write_str(&failure.message),
                None => write!(f, "forwarding to the Python service failed: {}", self.0),
            }
        }
    }

    impl RemoteException for Forwarded {
        fn exception_class(&self) -> Cow<'_, str> {
            self.0.failure().map_or("MessagingException".into(), |failure| Cow::Borrowed(&failure.class))
        }

        fn exception_module(&self) -> Cow<'_, str> {
            self.0
                .failure()
                .map_or("oslo_messaging.exceptions".into(), |failure| Cow::Borrowed(&failure.module))
        }
    }

    /// nova's `ComputeManager`, ported: two methods run in Rust, one is forwarded.
    pub struct ComputeManager {
        legacy: RpcClient,
        served: Mutex<BTreeMap<&'static str, usize>>,
    }

    impl ComputeManager {
        /// `legacy` reaches the Python server that still implements the unported methods
        /// (a client whose target names that server). Forwarded calls ask for this endpoint's
        /// version: the Python endpoint refuses the client's default of 1.0.
        #[must_use]
        pub fn new(legacy: RpcClient) -> Self {
            Self { legacy: legacy.with_version(Version::new(5, 1)), served: Mutex::default() }
        }

        fn count(&self, method: &'static str) {
            *self.served.lock().expect("never poisoned").entry(method).or_default() += 1;
        }
    }

    #[rpc_endpoint(version = "5.1")]
    impl ComputeManager {
        /// Ported first, as a blocking `fn` (the Python code's shape); it runs on the sync pool.
        fn get_console_output(&self, instance: Instance, tail_length: Option<usize>) -> String {
            self.count("get_console_output");
            console_output(&instance, tail_length)
        }

        /// Ported next, and made `async`: it runs as a tokio task.
        async fn get_instance_diagnostics(&self, instance: Instance) -> Diagnostics {
            self.count("get_instance_diagnostics");
            Diagnostics {
                uuid: instance.uuid,
                state: "running".to_owned(),
                cpu_count: instance.vcpus,
                memory_mb: instance.memory_mb,
                nic_count: instance.networks.len(),
            }
        }

        /// Not ported yet: forwarded, arguments untouched, to the Python server.
        async fn reserve_block_device_name(
            &self,
            ctx: &Context,
            instance: Value,
            device: Option<Value>,
            volume_id: Value,
        ) -> Result<Value, Forwarded> {
            self.count("reserve_block_device_name");
            let mut args = Map::new();
            args.insert("instance".to_owned(), instance);
            args.insert("device".to_owned(), device.unwrap_or(Value::Null));
            args.insert("volume_id".to_owned(), volume_id);
            self.legacy.call(ctx, "reserve_block_device_name", args).await.map_err(Forwarded)
        }

        /// A cast in nova (no result).
        fn reboot_instance(&self, instance: Instance, reboot_type: String) {
            self.count("reboot_instance");
            tracing::info!(uuid = %instance.uuid, %reboot_type, "rebooting");
        }

        /// How many calls of each method this endpoint took (forwarded ones included).
        #[rpc(skip)]
        pub fn served(&self) -> BTreeMap<&'static str, usize> {
            self.served.lock().expect("never poisoned").clone()
        }
    }

    /// The console log's last `tail_length` lines (all of them when `None`), as the Python code.
    #[must_use]
    pub fn console_output(instance: &Instance, tail_length: Option<usize>) -> String {
        let lines: Vec<String> = (0..10).map(|n| format!("[{}] boot line {n}", instance.uuid)).collect();
        let keep = tail_length.map_or(lines.len(), |tail| tail.min(lines.len()));
        lines[lines.len() - keep..].join("\n")
    }
}

/// Serves the ported endpoint.
#[derive(Parser)]
struct Args {
    /// Transport URL.
    #[arg(long, default_value = "rabbit://guest:guest@127.0.0.1:5672/")]
    url: String,
    /// The topic both the Python and the Rust service serve.
    #[arg(long, default_value = "compute")]
    topic: String,
    /// This server's name.
    #[arg(long, default_value = "rs-compute")]
    server: String,
    /// The Python server that still implements the unported methods.
    #[arg(long, default_value = "py-compute")]
    legacy_server: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let transport = courier::connect(&args.url).await?;
    let legacy = RpcClient::new(transport.clone(), Target::new(&args.topic).with_server(&args.legacy_server));
    let server = RpcServer::builder(transport.clone(), Target::new(&args.topic).with_server(&args.server))
        .endpoint(compute::ComputeManager::new(legacy))
        .build()?;
    server.start().await?;
    eprintln!("consuming on topic {} as server {}", args.topic, args.server);
    tokio::signal::ctrl_c().await?;
    let report = server.wait().await;
    transport.cleanup().await;
    eprintln!("stopped ({} calls abandoned)", report.abandoned);
    Ok(())
}
