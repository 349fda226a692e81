use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint(client = false)]
impl Compute {
    fn resize(&self, instance: &'static str) -> usize {
        instance.len()
    }
}

fn main() {}
