use courier::{Context, rpc_endpoint};

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize(&self, ctx: &Context, flavor: u32, again: Context) -> u32 {
        let _ = (ctx, again);
        flavor
    }
}

fn main() {}
