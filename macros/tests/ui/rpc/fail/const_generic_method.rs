use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize<const N: usize>(&self, flavor: u32) -> u32 {
        flavor + N as u32
    }
}

fn main() {}
