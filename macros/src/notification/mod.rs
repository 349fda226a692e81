//! `#[notification_endpoint]`: parse -> model -> check -> expand, one file each, run by the
//! shared [`entry`](crate::internals::entry) pipeline.
//!
//! - [`parse`]: the grammar of `#[notification_endpoint(...)]` and `#[notification(skip)]`.
//! - [`model`]: the impl block as plain data, one [`model::Method`] per method, its
//!   parameters classified into a [`model::Shape`] (or why they fit none).
//! - [`check`]: the rules, one function each.
//! - [`expand`]: the static priority table and the `NotificationEndpoint` impl, with trait
//!   bounds asserted at the user's types.

mod check;
mod expand;
mod model;
mod parse;

use proc_macro2::TokenStream;
use syn::ItemImpl;

use crate::internals::{Ctxt, Frontend, Names};

/// The `#[notification_endpoint]` macro's stages.
pub struct Notification;

impl Frontend for Notification {
    const NAMES: Names = Names {
        macro_name: "notification_endpoint",
        method_attr: "notification",
        method_noun: "a notification method",
        example_type: "Audit",
    };
    type Args = parse::Args;
    type Endpoint = model::Endpoint;

    fn parse(attr: TokenStream, errors: &Ctxt) -> Self::Args {
        parse::Args::parse(attr, errors)
    }

    fn model(args: Self::Args, item: &ItemImpl, errors: &Ctxt) -> Self::Endpoint {
        model::Endpoint::from_ast(args, item, errors)
    }

    fn check(endpoint: &Self::Endpoint, errors: &Ctxt) {
        check::all(endpoint, errors);
    }

    fn expand(endpoint: &Self::Endpoint) -> TokenStream {
        expand::endpoint(endpoint)
    }
}
