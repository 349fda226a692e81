//! `#[rpc_endpoint]`: parse -> model -> check -> expand, one file each, run by the shared
//! [`entry`](crate::internals::entry) pipeline.
//!
//! - [`parse`]: the grammar of `#[rpc_endpoint(...)]` and `#[rpc(...)]`.
//! - [`model`]: the impl block as plain data, one [`model::Method`] per table row.
//! - [`check`]: the rules, one function each.
//! - [`expand`]: the dispatch table and the `Endpoint` impl; [`client`]: the typed client.

mod check;
mod client;
mod expand;
mod model;
mod parse;

use proc_macro2::TokenStream;
use syn::ItemImpl;

use crate::internals::{Ctxt, Frontend, Names};

/// The `#[rpc_endpoint]` macro's stages.
pub struct Rpc;

impl Frontend for Rpc {
    const NAMES: Names = Names {
        macro_name: "rpc_endpoint",
        method_attr: "rpc",
        method_noun: "an RPC method",
        example_type: "Compute",
    };
    type Args = parse::EndpointArgs;
    type Endpoint = model::Endpoint;

    fn parse(attr: TokenStream, errors: &Ctxt) -> Self::Args {
        parse::EndpointArgs::parse(attr, errors)
    }

    fn model(args: Self::Args, item: &ItemImpl, errors: &Ctxt) -> Self::Endpoint {
        model::Endpoint::from_ast(args, item, errors)
    }

    fn check(endpoint: &Self::Endpoint, errors: &Ctxt) {
        check::all(endpoint, errors);
    }

    fn expand(endpoint: &Self::Endpoint) -> TokenStream {
        let table = expand::endpoint(endpoint);
        let client = client::client(endpoint);
        quote::quote!(#table #client)
    }
}
