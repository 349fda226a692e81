use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint(crate = "not a path")]
impl Compute {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
