//! Stage 3: the rules an endpoint must follow, one function per rule.
//!
//! Each rule records a spanned, lower-case error naming the fix; [`all`] runs every rule so
//! one expansion reports every problem. Trait bounds (serde, `RemoteException`, `Send`) are not
//! checked here: the expansion asserts them on the user's own tokens (see `expand.rs`).

use proc_macro2::TokenTree;
use quote::ToTokens;
use syn::{GenericParam, Type};

use super::model::{ArgRole, Endpoint, Method, Receiver, Return};
use crate::internals::{Check, Ctxt, Lower as _, rules, ty};

impl Check for Endpoint {
    /// Runs every rule after the impl block's own (which the pipeline runs).
    fn check(&self, errors: &Ctxt) {
        let (endpoint, names) = (self, &Self::NAMES);
        namespace(endpoint, errors);
        version(endpoint, errors);
        for method in &endpoint.methods {
            rules::receiver(names, &method.ident, &method.sig.receiver, errors);
            method_generics(method, errors);
            rules::unsafe_method(names, &method.ident, method.sig.unsafety, errors);
            arg_patterns(method, errors);
            borrowed_args(method, errors);
            impl_trait(method, errors);
            context_params(method, errors);
            private_wire_name(method, errors);
        }
        duplicate_wire_names(endpoint, errors);
        client_names(endpoint, errors);
    }
}

/// An empty namespace is not oslo's null namespace: say nothing instead.
fn namespace(endpoint: &Endpoint, errors: &Ctxt) {
    if let Some(lit) = &endpoint.namespace
        && lit.value().trim().is_empty()
    {
        errors.spanned(lit, "`namespace` must not be empty; leave it out for oslo's null namespace");
    }
}

/// oslo versions are `X.Y` or `X.Y.Z`, integers each.
fn version(endpoint: &Endpoint, errors: &Ctxt) {
    let Some(lit) = &endpoint.version else { return };
    let value = lit.value();
    let parts: Vec<&str> = value.split('.').collect();
    let valid = (2..=3).contains(&parts.len())
        && parts.iter().all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        errors.spanned(
            lit,
            format_args!(
                "invalid version `{value}`: it must be `X.Y` or `X.Y.Z` with integer parts, e.g. \
                 `version = \"1.3\"`"
            ),
        );
    }
}

/// The dispatcher must know every argument type, so no generic methods.
fn method_generics(method: &Method, errors: &Ctxt) {
    let generics = &method.sig.generics;
    if generics.params.iter().all(|param| matches!(param, GenericParam::Lifetime(_)))
        && !generics.params.is_empty()
    {
        errors.spanned(
            generics,
            format_args!(
                "an RPC method cannot have lifetime parameters, as arguments are decoded into owned \
                 values; use owned types, or mark `{}` `#[rpc(skip)]`",
                method.ident
            ),
        );
    } else if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.spanned(
            generics,
            format_args!(
                "an RPC method cannot be generic, as the dispatcher must know every argument type; use \
                 concrete types, or mark `{}` `#[rpc(skip)]`",
                method.ident
            ),
        );
    }
}

/// The argument's identifier is its keyword name on the wire.
fn arg_patterns(method: &Method, errors: &Ctxt) {
    for arg in &method.args {
        if arg.ident.is_none() && !matches!(arg.role, ArgRole::Context { .. } | ArgRole::Cancellation) {
            errors.spanned(
                &arg.pat,
                "an RPC argument must be a plain identifier, as the identifier is the \
                 keyword argument's name; bind the argument to a name and destructure it in the body",
            );
        }
    }
}

/// `impl Trait` has no concrete type to decode into (or encode from).
fn impl_trait(method: &Method, errors: &Ctxt) {
    for arg in &method.args {
        if mentions_impl(&arg.ty) {
            errors.spanned(
                &arg.ty,
                "`impl Trait` arguments are not supported, as the dispatcher must know the type to \
                 decode; use a concrete type",
            );
        }
    }
    let ret = match &method.ret {
        Return::Unit => None,
        Return::Plain(ty) | Return::Result { ty, .. } => Some(ty),
    };
    if let Some(ty) = ret.filter(|ty| mentions_impl(ty)) {
        errors.spanned(
            ty,
            "`impl Trait` return types are not supported; return a concrete type (write \
             `async fn` rather than returning `impl Future`)",
        );
    }
}

/// At most one context parameter, by reference or by value.
fn context_params(method: &Method, errors: &Ctxt) {
    let mut seen = false;
    for arg in &method.args {
        match arg.role {
            ArgRole::Wire { .. } | ArgRole::Cancellation => {}
            ArgRole::ContextMut => errors.spanned(
                &arg.ty,
                "the request context is passed as `&Context` or `Context`, not `&mut Context`; \
                 take it by value to modify your copy",
            ),
            ArgRole::Context { .. } if seen => errors.spanned(
                &arg.ty,
                "a method receives the request context once; remove this second `Context` parameter",
            ),
            ArgRole::Context { .. } => seen = true,
        }
    }
}

/// oslo never dispatches to names starting with `_`; an empty name cannot be called either.
fn private_wire_name(method: &Method, errors: &Ctxt) {
    let Some(lit) = &method.rename else { return };
    if method.wire_name.starts_with('_') {
        errors.spanned(
            lit,
            "wire names starting with `_` are private and never callable (oslo's access policy); \
             choose a name without the leading `_`, or mark the method `#[rpc(skip)]`",
        );
    } else if method.wire_name.is_empty() {
        errors.spanned(lit, "the wire name must not be empty; choose a name callers can use");
    }
}

/// Dispatch by name needs each name once.
fn duplicate_wire_names(endpoint: &Endpoint, errors: &Ctxt) {
    for (index, method) in endpoint.methods.iter().enumerate() {
        if let Some(first) = endpoint.methods[..index].iter().find(|m| m.wire_name == method.wire_name) {
            let message = format!(
                "duplicate wire name `{}`: `{}` has it already; give one of them another name with \
                 `#[rpc(name = \"...\")]`",
                method.wire_name, first.ident
            );
            match &method.rename {
                Some(lit) => errors.spanned(lit, message),
                None => errors.spanned(&method.ident, message),
            }
        }
    }
}

/// The typed client has `new`, `inner`, and `<name>` plus `cast_<name>` per method.
fn client_names(endpoint: &Endpoint, errors: &Ctxt) {
    let Some(client) = &endpoint.client else { return };
    let mut taken: Vec<(String, &Method)> = vec![];
    // A method without a receiver has its own error already.
    for method in endpoint.methods.iter().filter(|m| !matches!(m.sig.receiver, Receiver::None)) {
        let name = syn::ext::IdentExt::unraw(&method.ident).to_string();
        for generated in [name.clone(), format!("cast_{name}")] {
            let owner = if generated == "new" || generated == "inner" {
                Some("the client itself".to_owned())
            } else {
                taken
                    .iter()
                    .find(|(n, _)| *n == generated)
                    .map(|(_, m)| format!("the client of `{}`", m.ident))
            };
            if let Some(owner) = owner {
                errors.at(
                    method.span,
                    format_args!(
                        "`{}` would need the typed client method `{}::{generated}`, which {owner} uses; \
                         rename the Rust method (keep its wire name with `#[rpc(name = \"{}\")]`), or turn \
                         the client off with `#[rpc_endpoint(client = false)]`",
                        method.ident, client.ident, method.wire_name
                    ),
                );
            }
            taken.push((generated, method));
        }
    }
}

/// Arguments are decoded into owned values: a borrowed type cannot be (serde's borrowing
/// needs the JSON to outlive the call).
fn borrowed_args(method: &Method, errors: &Ctxt) {
    for arg in &method.args {
        if let (ArgRole::Wire { .. }, Type::Reference(reference)) = (&arg.role, ty::peel(&arg.ty)) {
            let elem = &reference.elem;
            let owned = match &**elem {
                Type::Path(path) if path.path.is_ident("str") => "String".to_owned(),
                Type::Slice(slice) => {
                    let inner = &slice.elem;
                    format!("Vec<{}>", quote::quote!(#inner))
                }
                other => quote::quote!(#other).to_string(),
            };
            errors.spanned(
                &arg.ty,
                format_args!(
                    "argument `{}` of `{}` is borrowed, but arguments are decoded into owned values; \
                     take `{owned}` instead",
                    arg.wire_name(),
                    method.ident
                ),
            );
        }
    }
}

/// Whether `impl` appears anywhere in the type.
fn mentions_impl(ty: &Type) -> bool {
    fn walk(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::internals::entry::errors_of;

    #[test]
    fn versions_are_two_or_three_integers() {
        let empty_impl: syn::ItemImpl = syn::parse_quote!(impl Compute {});
        for good in ["1.0", "1.3", "2.10.1"] {
            assert!(
                errors_of::<Endpoint>(quote::quote!(version = #good), empty_impl.clone()).is_empty(),
                "{good}"
            );
        }
        for bad in ["1", "1.", "1.x", "1.2.3.4", " 1.2", "-1.0", ""] {
            let errors = errors_of::<Endpoint>(quote::quote!(version = #bad), empty_impl.clone());
            assert!(errors.len() == 1 && errors[0].starts_with("invalid version"), "{bad}: {errors:?}");
        }
    }

    #[test]
    fn skipped_and_private_methods_are_not_checked() {
        let errors = errors_of::<Endpoint>(
            quote::quote!(),
            syn::parse_quote! {
                impl Compute {
                    #[rpc(skip)]
                    fn new() -> Self { Compute }
                    fn _reset(&mut self) {}
                    #[rpc(skip)]
                    fn generic<T>(&self, t: T) {}
                }
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn every_rule_reports_and_they_all_collect() {
        let errors = errors_of::<Endpoint>(
            quote::quote!(),
            syn::parse_quote! {
                impl Compute {
                    fn a(&mut self) {}
                    fn b<T>(&self, t: T) {}
                    fn c(&self, (x, y): (u8, u8), z: impl Into<u8>, w: &str) {}
                    fn d(&self, ctx: &Context, again: Context) {}
                    #[rpc(name = "a")]
                    fn e(&self) {}
                    fn new(&self) {}
                }
            },
        );
        let starts = [
            "an RPC method takes `&self`, not `&mut self`",
            "an RPC method cannot be generic",
            "an RPC argument must be a plain identifier",
            "argument `w` of `c` is borrowed",
            "`impl Trait` arguments are not supported",
            "a method receives the request context once",
            "duplicate wire name `a`",
            "`new` would need the typed client method `ComputeClient::new`",
        ];
        assert_eq!(errors.len(), starts.len(), "{errors:#?}");
        for start in starts {
            assert!(
                errors.iter().any(|e| e.starts_with(start)),
                "no error starting with {start:?}: {errors:#?}"
            );
        }
    }
}
