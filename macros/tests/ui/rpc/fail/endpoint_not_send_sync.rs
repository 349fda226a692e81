use std::cell::Cell;

use courier::rpc_endpoint;

struct Compute {
    calls: Cell<u32>,
}

#[rpc_endpoint]
impl Compute {
    fn resize(&self, flavor: u32) -> u32 {
        self.calls.set(self.calls.get() + 1);
        flavor
    }
}

fn main() {}
