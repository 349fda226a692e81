//! `#[rpc_endpoint]`: parse -> model -> check -> expand, one file each, each implementing
//! its stage's trait of the shared [`entry`](crate::internals::entry) pipeline.
//!
//! - [`parse`]: the grammar of `#[rpc_endpoint(...)]` and `#[rpc(...)]`.
//! - [`model`]: the impl block as plain data, one [`model::Method`] per table row.
//! - [`check`]: the rules, one function each (the impl block's own are shared:
//!   [`rules`](crate::internals::rules)).
//! - [`expand`]: the dispatch table and the `Endpoint` impl; [`client`]: the typed client.

mod check;
mod client;
mod expand;
mod model;
mod parse;

pub use model::Endpoint;
