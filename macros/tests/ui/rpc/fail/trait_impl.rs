use courier::rpc_endpoint;

struct Compute;

trait Resize {
    fn resize(&self, flavor: u32) -> u32;
}

#[rpc_endpoint]
impl Resize for Compute {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
