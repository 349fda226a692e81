use courier::rpc_endpoint;

struct Compute<T>(T);

#[rpc_endpoint]
impl<T: Send + Sync + 'static> Compute<T> {
    fn resize(&self, flavor: u32) -> u32 {
        flavor
    }
}

fn main() {}
