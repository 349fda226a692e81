use courier::rpc_endpoint;

struct Compute;

#[derive(Debug)]
struct QuotaExceeded;

#[rpc_endpoint]
impl Compute {
    fn resize(&self, flavor: u32) -> Result<u32, QuotaExceeded> {
        if flavor > 8 { Err(QuotaExceeded) } else { Ok(flavor) }
    }
}

fn main() {}
