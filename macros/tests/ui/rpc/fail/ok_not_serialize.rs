use courier::rpc_endpoint;

struct Compute;

#[derive(serde::Deserialize)]
struct Flavor {
    vcpus: u32,
}

#[rpc_endpoint]
impl Compute {
    async fn flavor(&self) -> Result<Flavor, String> {
        Ok(Flavor { vcpus: 1 })
    }
}

fn main() {}
