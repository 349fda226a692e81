use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint(namespace = "compute", topic = "compute")]
impl Compute {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
