use courier::rpc_endpoint;

struct Compute;

struct Flavor {
    vcpus: u32,
}

#[rpc_endpoint(client = false)]
impl Compute {
    fn resize(&self, instance: String, flavor: Flavor) -> u32 {
        let _ = instance;
        flavor.vcpus
    }
}

fn main() {}
