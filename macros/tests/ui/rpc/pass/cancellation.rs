//! A `Cancellation` parameter is the server's, not a wire argument: it is left out of the
//! table row's arguments and of the typed client, in sync and async methods, by any path.
#![deny(warnings)]

use courier::rpc::Cancellation;

pub struct Indexer;

#[courier::rpc_endpoint]
impl Indexer {
    fn rebuild(&self, chunks: u32, cancel: Cancellation) -> u32 {
        if cancel.is_cancelled() { 0 } else { chunks }
    }

    async fn wait(&self, cancel: courier::rpc::Cancellation, ctx: &courier::Context) -> bool {
        let _ = ctx;
        cancel.deadline().is_some()
    }
}

fn main() {
    let rows: Vec<_> = Indexer::RPC_METHODS.iter().map(|m| (m.name, m.args)).collect();
    assert_eq!(rows, [("rebuild", &["chunks"][..]), ("wait", &[][..])]);
    // Outside a server call nothing is cancelled.
    assert_eq!(Indexer.rebuild(3, Cancellation::current()), 3);
    let _client_takes_only_wire_arguments = |client: &IndexerClient| {
        let _ = client.rebuild(&courier::Context::new(), 3);
        let _ = client.wait(&courier::Context::new());
    };
}
