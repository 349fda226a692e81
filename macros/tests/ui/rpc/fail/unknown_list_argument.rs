use courier::rpc_endpoint;

struct Compute;

// The unknown argument is skipped with its `(..)` group: `version` after it is still parsed.
#[rpc_endpoint(foo(x), version = "one")]
impl Compute {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
