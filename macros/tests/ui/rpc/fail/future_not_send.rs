use std::rc::Rc;

use courier::rpc_endpoint;

struct Compute;

async fn yield_now() {}

#[rpc_endpoint]
impl Compute {
    async fn resize(&self, flavor: u32) -> u32 {
        let shared = Rc::new(flavor);
        yield_now().await;
        *shared
    }
}

fn main() {}
