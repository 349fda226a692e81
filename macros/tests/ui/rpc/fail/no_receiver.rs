use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    pub fn new() -> Self {
        Compute
    }

    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
