//! Procedural macros of courier (placeholder until the macro crate lands).
use proc_macro::TokenStream;

/// Placeholder.
#[proc_macro_attribute]
pub fn rpc_endpoint(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
