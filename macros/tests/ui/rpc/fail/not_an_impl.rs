use courier::rpc_endpoint;

#[rpc_endpoint]
struct Compute;

fn main() {}
