//! `client_vis` sets the typed client's visibility; `client = false` leaves it out, so the
//! user may define a type of that name.
#![deny(warnings)]

mod inner {
    pub struct Crated;

    #[courier::rpc_endpoint(client_vis = "pub(crate)")]
    impl Crated {
        fn one(&self) -> u8 {
            1
        }
    }

    pub struct Clientless;

    #[courier::rpc_endpoint(client = false)]
    impl Clientless {
        fn one(&self) -> u8 {
            1
        }
    }

    pub struct ClientlessClient;
}

fn main() {
    let _: fn(courier::RpcClient) -> inner::CratedClient = inner::CratedClient::new;
    let _ = inner::ClientlessClient;
    let _ = inner::Clientless;
    let _ = inner::Crated;
}
