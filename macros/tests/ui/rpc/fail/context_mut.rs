use courier::{Context, rpc_endpoint};

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize(&self, ctx: &mut Context, flavor: u32) -> u32 {
        ctx.insert("resized", true);
        flavor
    }
}

fn main() {}
