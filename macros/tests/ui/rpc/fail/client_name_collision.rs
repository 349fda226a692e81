use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn new(&self) -> u32 {
        1
    }

    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }

    fn cast_resize(&self) {}
}

fn main() {}
