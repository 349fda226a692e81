//! `#[notification_endpoint]`: parse -> model (with its checks) -> expand, one file each.
//!
//! - [`parse`]: the grammar of `#[notification_endpoint(...)]` and `#[notification(skip)]`.
//! - [`model`]: the impl block as plain data (one [`model::Method`] per priority), built while
//!   checking every rule so all user errors are reported together, each at its tokens.
//! - [`expand`]: the static priority table and the `NotificationEndpoint` impl, with trait
//!   bounds asserted at the user's types.

mod expand;
mod model;
mod parse;

use proc_macro2::TokenStream;

use crate::parse::Errors;

/// parse -> model -> expand; on errors, the user's impl plus every error.
pub fn notification_endpoint(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut item_impl = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(item_impl)) => item_impl,
        Ok(other) => {
            let error = syn::Error::new_spanned(
                other,
                "`#[notification_endpoint]` goes on an inherent impl block: `impl Audit { .. }`",
            );
            return with_error(item, error);
        }
        Err(error) => return with_error(item, error),
    };
    let mut errors = Errors::default();
    let args = parse::Args::parse(attr, &mut errors);
    let endpoint = model::Endpoint::from_ast(args, &item_impl, &mut errors);
    parse::strip_attrs(&mut item_impl, &mut errors);
    match errors.finish() {
        Ok(()) => {
            let generated = expand::endpoint(&endpoint);
            quote::quote!(#item_impl #generated)
        }
        Err(error) => with_error(quote::ToTokens::into_token_stream(item_impl), error),
    }
}

fn with_error(mut item: TokenStream, error: syn::Error) -> TokenStream {
    item.extend(error.into_compile_error());
    item
}
