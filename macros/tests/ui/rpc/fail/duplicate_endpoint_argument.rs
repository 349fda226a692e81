use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint(version = "1.0", version = "1.1")]
impl Compute {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
