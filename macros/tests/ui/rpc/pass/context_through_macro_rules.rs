//! A `Context` whose type reaches the macro through a `macro_rules!` `$t:ty` fragment (an
//! invisible group around the type) is still the request context, not a keyword argument:
//! behind `&`, by value, and as a whole `&Context` fragment.
#![deny(warnings)]

use courier::Context;
use courier::rpc::Endpoint;

pub struct Compute;

macro_rules! compute_endpoint {
    ($context:ty, $context_ref:ty) => {
        #[courier::rpc_endpoint(client = false)]
        impl Compute {
            fn behind_ref(&self, ctx: &$context, flavor: u32) -> u32 {
                let _ = ctx;
                flavor
            }

            fn by_value(&self, ctx: $context, flavor: u32) -> u32 {
                drop(ctx);
                flavor
            }

            async fn whole(&self, flavor: u32, ctx: $context_ref) -> u32 {
                let _ = ctx;
                flavor
            }
        }
    };
}

compute_endpoint!(Context, &Context);

fn main() {
    let methods = Compute.info().methods;
    assert_eq!(methods.len(), 3);
    for method in methods {
        assert_eq!(method.args, ["flavor"], "`{}` takes the context as a keyword argument", method.name);
    }
}
