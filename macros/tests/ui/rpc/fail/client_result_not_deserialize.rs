use courier::rpc_endpoint;

struct Compute;

#[derive(serde::Serialize)]
struct Flavor {
    vcpus: u32,
}

#[rpc_endpoint]
impl Compute {
    fn flavor(&self) -> Flavor {
        Flavor { vcpus: 1 }
    }
}

fn main() {}
