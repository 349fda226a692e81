use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }

    #[rpc(name = "resize")]
    fn resize_v2(&self, flavor: u32) -> u32 {
        flavor * 2
    }
}

fn main() {}
