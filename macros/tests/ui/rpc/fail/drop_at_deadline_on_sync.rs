pub struct Compute;

#[courier::rpc_endpoint]
impl Compute {
    #[rpc(drop_at_deadline)]
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
