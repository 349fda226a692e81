pub struct Compute;

#[courier::rpc_endpoint]
impl Compute {
    #[rpc(skip, expose)]
    pub fn new() -> Self {
        Compute
    }
}

fn main() {}
