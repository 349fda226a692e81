use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    #[rpc(skip)]
    const FLAVORS: u32 = 3;

    fn resize(&self, flavor: u32) -> u32 {
        flavor % Self::FLAVORS
    }
}

fn main() {}
