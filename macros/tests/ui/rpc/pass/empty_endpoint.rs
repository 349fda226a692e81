//! An endpoint without methods (all skipped or private) still implements `Endpoint`.
#![deny(warnings)]

use courier::rpc::Endpoint;

pub struct Quiet;

#[courier::rpc_endpoint]
impl Quiet {
    #[rpc(skip)]
    pub fn new() -> Self {
        Quiet
    }

    fn _hidden(&self) {}
}

fn main() {
    assert!(Quiet::new().info().methods.is_empty());
    Quiet._hidden();
    let _ = QuietClient::new;
}
