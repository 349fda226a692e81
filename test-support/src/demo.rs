//! The demo endpoints of `examples/server.rs`, compiled in so the tests serve exactly what the
//! example serves, and [`DemoServer`], which serves them in-process.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::PATIENCE;

#[allow(dead_code, missing_docs)] // the example's `main` and CLI are not used here
#[path = "../../examples/server.rs"]
mod server_example;

pub use server_example::demo::*;

/// The demo endpoints, served in-process on `topic` as `name`.
pub struct DemoServer {
    /// The server.
    pub server: courier::RpcServer,
    /// The calls its `Demo` endpoint starts.
    pub calls: broadcast::Receiver<Handled>,
    /// Calls taken off `calls` by a [`wait_call`](Self::wait_call) that wanted another: a later
    /// wait finds them here (messages run concurrently, so they may start in any order).
    unclaimed: Vec<Handled>,
}

impl DemoServer {
    /// Starts serving; returns once it consumes.
    pub async fn start(transport: Arc<dyn courier::Transport>, topic: &str, name: &str) -> Self {
        let endpoint = Demo::new(name);
        let calls = endpoint.subscribe();
        let server = courier::RpcServer::builder(transport, courier::Target::new(topic).with_server(name))
            .endpoint(endpoint)
            .endpoint(DemoV2)
            .build()
            .expect("a valid server");
        server.start().await.expect("the demo server starts consuming");
        Self { server, calls, unclaimed: Vec::new() }
    }

    /// The first call its endpoint started that matches and that no earlier wait returned, in
    /// the order they started.
    pub async fn wait_call(&mut self, what: &str, pred: impl Fn(&Handled) -> bool) -> Handled {
        if let Some(at) = self.unclaimed.iter().position(&pred) {
            return self.unclaimed.remove(at);
        }
        let (calls, unclaimed) = (&mut self.calls, &mut self.unclaimed);
        let wait = async {
            loop {
                match calls.recv().await {
                    Ok(call) if pred(&call) => return call,
                    Ok(call) => unclaimed.push(call),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("the demo endpoint is gone"),
                }
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("the demo server never handled {what} within {PATIENCE:?}"))
    }
}
