//! Every feature at once, warning-free: sync and async methods, the context by reference and
//! by value in any position, `Option` arguments, `Result` returns (also through an alias),
//! renames, skips, private names, raw identifiers, `Self` in signatures, doc comments.
#![deny(warnings, missing_docs)]

use std::borrow::Cow;

use courier::rpc::{Endpoint, MethodKind, RemoteException};
use courier::{Context, rpc_endpoint};
use serde::{Deserialize, Serialize};

/// The endpoint.
#[derive(Clone, Serialize, Deserialize)]
pub struct Compute {
    /// Its name.
    pub name: String,
}

/// An error.
#[derive(Debug)]
pub struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl RemoteException for Failed {}

/// Errors of this crate.
pub mod errors {
    /// An alias with one argument, named `Result` so the macro sees a result.
    pub type Result<T> = std::result::Result<T, super::Failed>;
}

#[rpc_endpoint(namespace = "compute", version = "1.3.2")]
impl Compute {
    /// Documented, and copied onto the client.
    pub fn sync_plain(&self, a: u32, b: Option<String>) -> String {
        format!("{a}{}", b.unwrap_or_default())
    }

    async fn async_ctx_last(&self, a: Vec<u8>, ctx: &Context) -> usize {
        a.len() + ctx.as_map().len()
    }

    fn ctx_by_value(&self, ctx: Context) -> Option<String> {
        ctx.user().map(str::to_owned)
    }

    fn results(&self, ok: bool) -> Result<Cow<'static, str>, Failed> {
        if ok { Ok(Cow::Borrowed("ok")) } else { Err(Failed) }
    }

    async fn alias(&self) -> errors::Result<()> {
        Ok(())
    }

    fn io(&self) -> std::io::Result<u8> {
        Ok(1)
    }

    fn r#type(&self, r#type: String, mut count: u8) -> String {
        count += 1;
        format!("{type}{count}")
    }

    fn me(&self, other: Self) -> Self {
        Self { name: format!("{}+{}", self.name, other.name) }
    }

    fn names(&self) -> &[String] {
        std::slice::from_ref(&self.name)
    }

    fn unit(&self) {}

    async fn async_unit(&self, _ignored: bool) {}

    #[rpc(name = "os-start")]
    fn start(&self) -> bool {
        true
    }

    #[rpc(skip)]
    fn skipped(&mut self) {}

    #[rpc(skip)]
    fn helper<T: Default>() -> T {
        T::default()
    }

    fn _private(self) {}
}

fn main() {
    let rows: Vec<(&str, MethodKind)> = Compute::RPC_METHODS.iter().map(|m| (m.name, m.kind)).collect();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[1], ("async_ctx_last", MethodKind::Async));
    assert_eq!(rows[11], ("os-start", MethodKind::Sync));
    assert_eq!(Compute::RPC_METHODS[6].name, "type");
    assert_eq!(Compute::RPC_METHODS[6].args, ["type", "count"]);
    let mut compute = Compute { name: "c".into() };
    compute.skipped();
    let () = Compute::helper();
    compute.clone()._private();
    assert_eq!(compute.info().version, Some(courier::Version::new(1, 3).with_revision(2)));
    let _client: fn(courier::RpcClient) -> ComputeClient = ComputeClient::new;
    async fn typed(client: &ComputeClient, ctx: &Context) -> Result<(), courier::Error> {
        let _: String = client.sync_plain(ctx, 1, None).await?;
        let _: usize = client.async_ctx_last(ctx, vec![1]).await?;
        let _: Option<String> = client.ctx_by_value(ctx).await?;
        let _: Cow<'static, str> = client.results(ctx, true).await?;
        let () = client.alias(ctx).await?;
        let _: u8 = client.io(ctx).await?;
        let _: String = client.r#type(ctx, "t".into(), 1).await?;
        let _: Compute = client.me(ctx, Compute { name: "o".into() }).await?;
        let _: Vec<String> = client.names(ctx).await?;
        let () = client.unit(ctx).await?;
        let () = client.async_unit(ctx, true).await?;
        let _: bool = client.start(ctx).await?;
        client.cast_start(ctx).await?;
        client.cast_type(ctx, "t".into(), 1).await?;
        let _ = client.inner().clone();
        Ok(())
    }
    let _ = typed;
}
