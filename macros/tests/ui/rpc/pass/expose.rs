//! `#[rpc(expose)]` marks a row for oslo's explicit access policy, alone or with a wire name,
//! on sync and async methods; unmarked rows are not exposed.
#![deny(warnings)]

pub struct Compute;

#[courier::rpc_endpoint]
impl Compute {
    #[rpc(expose)]
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }

    #[rpc(expose, name = "get_console")]
    async fn console(&self) -> String {
        "tty0".into()
    }

    #[rpc(name = "status")]
    fn state(&self) -> bool {
        true
    }
}

fn main() {
    let rows: Vec<_> = Compute::RPC_METHODS.iter().map(|m| (m.name, m.exposed)).collect();
    assert_eq!(rows, [("resize", true), ("get_console", true), ("status", false)]);
    let _ = (Compute.resize(1), Compute.console(), Compute.state(), ComputeClient::new);
}
