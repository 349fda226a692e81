use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize(&self, flavor: u32) -> impl std::future::Future<Output = u32> {
        async move { flavor }
    }
}

fn main() {}
