use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize(&self, flavor: impl Into<u32>) -> u32 {
        flavor.into()
    }
}

fn main() {}
