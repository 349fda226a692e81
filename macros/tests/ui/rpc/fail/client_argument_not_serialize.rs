use courier::rpc_endpoint;

struct Compute;

#[derive(serde::Deserialize)]
struct Flavor {
    vcpus: u32,
}

#[rpc_endpoint]
impl Compute {
    fn resize(&self, flavor: Flavor) -> u32 {
        flavor.vcpus
    }
}

fn main() {}
