// Every error is reported in one pass, and the impl is still emitted: `main` below compiles
// against it (no "no function `new`" error).
use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint(version = "one")]
impl Compute {
    fn new() -> Self {
        Compute
    }

    fn resize(&mut self, flavor: u32) -> u32 {
        flavor
    }

    #[rpc(name = "_hidden")]
    fn shown(&self) {}
}

fn main() {
    let mut compute = Compute::new();
    let _ = compute.resize(1);
}
