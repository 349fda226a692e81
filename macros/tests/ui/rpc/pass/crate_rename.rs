//! `crate = "..."` for a renamed or re-exported courier.
#![deny(warnings)]

extern crate courier as renamed;

mod reexport {
    pub use ::courier as rpc;
}

pub struct ByExternCrate;

#[renamed::rpc_endpoint(crate = "renamed")]
impl ByExternCrate {
    fn one(&self) -> u8 {
        1
    }
}

pub struct ByPath;

#[reexport::rpc::rpc_endpoint(crate = "crate::reexport::rpc", namespace = "n")]
impl ByPath {
    async fn two(&self, ctx: &reexport::rpc::Context) -> u8 {
        let _ = ctx;
        2
    }
}

fn main() {
    use renamed::rpc::Endpoint;
    assert_eq!(ByExternCrate.info().methods[0].name, "one");
    assert_eq!(ByPath.info().namespace, Some("n"));
    let _: fn(renamed::RpcClient) -> ByPathClient = ByPathClient::new;
    let _: fn(renamed::RpcClient) -> ByExternCrateClient = ByExternCrateClient::new;
}
