use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    #[rpc(name = "_resize")]
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
