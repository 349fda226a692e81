//! `#[notification_endpoint]`: parse -> model -> check -> expand, one file each, each
//! implementing its stage's trait of the shared [`entry`](crate::internals::entry) pipeline.
//!
//! - [`parse`]: the grammar of `#[notification_endpoint(...)]` and `#[notification(skip)]`.
//! - [`model`]: the impl block as plain data, one [`model::Method`] per method, its
//!   parameters classified into a [`model::Shape`] (or why they fit none).
//! - [`check`]: the rules, one function each (the impl block's own are shared:
//!   [`rules`](crate::internals::rules)).
//! - [`expand`]: the static priority table and the `NotificationEndpoint` impl, with trait
//!   bounds asserted at the user's types.

mod check;
mod expand;
mod model;
mod parse;

pub use model::Endpoint;
