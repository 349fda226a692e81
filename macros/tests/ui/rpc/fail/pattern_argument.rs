use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize(&self, (vcpus, ram): (u32, u32)) -> u32 {
        vcpus * ram
    }
}

fn main() {}
