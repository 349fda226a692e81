//! `#[rpc(idempotent)]` marks a row whose redeliveries may run again, alone or with other
//! flags (`drop_at_deadline` among them); unmarked rows are answered from the server's reply
//! cache.
#![deny(warnings)]

pub struct Volumes;

#[courier::rpc_endpoint]
impl Volumes {
    #[rpc(idempotent)]
    fn get(&self, id: u32) -> u32 {
        id
    }

    #[rpc(idempotent, expose, drop_at_deadline, name = "describe")]
    async fn show(&self) -> String {
        "vol".into()
    }

    fn create(&self) -> u32 {
        1
    }
}

fn main() {
    let rows: Vec<_> =
        Volumes::RPC_METHODS.iter().map(|m| (m.name, m.idempotent, m.exposed, m.drop_at_deadline)).collect();
    assert_eq!(
        rows,
        [("get", true, false, false), ("describe", true, true, true), ("create", false, false, false)]
    );
    let _ = (Volumes.get(1), Volumes.show(), Volumes.create(), VolumesClient::new);
}
