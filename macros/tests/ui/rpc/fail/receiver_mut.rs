use courier::rpc_endpoint;

struct Compute {
    resized: u32,
}

#[rpc_endpoint]
impl Compute {
    fn resize(&mut self, flavor: u32) -> u32 {
        self.resized += 1;
        flavor
    }
}

fn main() {}
