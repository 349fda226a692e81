use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint(client_vis = "public")]
impl Compute {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
