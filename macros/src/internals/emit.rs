//! Emission helpers both expansions use.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{LitStr, Path};

/// The `<crate>::__private` path (`::courier::__private` unless `crate = "..."`): generated
/// code names nothing else, so users can rename or re-export the crate.
pub fn private(krate: &Path) -> TokenStream {
    quote!(#krate::__private)
}

/// `Some("...")` / `None` as an `Option<&'static str>` expression.
pub fn option_str(p: &TokenStream, lit: Option<&LitStr>) -> TokenStream {
    match lit {
        Some(lit) => quote!(#p::Option::Some(#lit)),
        None => quote!(#p::Option::None),
    }
}

/// A `version = "X.Y[.Z]"` as a `Version` expression, parsed here so the runtime never parses
/// it; `None` when it does not parse (the check stage has reported that already).
pub fn version_expr(p: &TokenStream, lit: &LitStr) -> Option<TokenStream> {
    let value = lit.value();
    let parts: Vec<u64> = value.split('.').map(str::parse).collect::<Result<_, _>>().ok()?;
    let (major, minor, revision) = match parts[..] {
        [major, minor] => (major, minor, 0),
        [major, minor, revision] => (major, minor, revision),
        _ => return None,
    };
    let [major, minor, revision] = [major, minor, revision].map(proc_macro2::Literal::u64_unsuffixed);
    Some(quote!(#p::Version::new(#major, #minor).with_revision(#revision)))
}

/// `Some(Version)` / `None` as an `Option<Version>` expression.
pub fn option_version(p: &TokenStream, lit: Option<&LitStr>) -> TokenStream {
    match lit.and_then(|lit| version_expr(p, lit)) {
        Some(version) => quote!(#p::Option::Some(#version)),
        None => quote!(#p::Option::None),
    }
}

/// Wraps items in `const _: () = { ... };` so their helpers stay out of the user's namespace.
pub fn wrap_in_const(items: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, non_snake_case, clippy::all)]
        const _: () = {
            #items
        };
    }
}

/// The item next to the errors (tokio-macros' `token_stream_with_error`): emitting the item keeps
/// completion and the rest of the crate working while the errors are fixed.
pub fn with_error(mut item: TokenStream, error: syn::Error) -> TokenStream {
    item.extend(error.into_compile_error());
    item
}

/// `&INFO`, after `static INFO: <ty> = <ty> { <fields> };`: an endpoint's info, built at compile
/// time.
pub fn static_info(ty: &TokenStream, fields: TokenStream) -> TokenStream {
    quote! {
        static INFO: #ty = #ty { #fields };
        &INFO
    }
}
