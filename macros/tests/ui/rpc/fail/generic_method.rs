use courier::rpc_endpoint;

struct Compute;

#[rpc_endpoint]
impl Compute {
    fn resize<F: serde::de::DeserializeOwned>(&self, flavor: F) -> u32 {
        let _ = flavor;
        1
    }
}

fn main() {}
