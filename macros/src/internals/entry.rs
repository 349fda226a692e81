//! The one pipeline both macros run (tokio's `main` and `test` share one the same way):
//! parse the item, then `parse -> model -> check -> expand`, all errors into one [`Ctxt`].

use proc_macro2::TokenStream;
use quote::{ToTokens as _, quote};
use syn::ItemImpl;

use super::Ctxt;
use super::emit::with_error;

/// How one macro names itself and its parts in messages.
pub struct Names {
    /// The attribute, e.g. `rpc_endpoint`.
    pub macro_name: &'static str,
    /// The method attribute, e.g. `rpc` for `#[rpc(skip)]`.
    pub method_attr: &'static str,
    /// What an exposed method is called, with its article: `an RPC method`.
    pub method_noun: &'static str,
    /// A type name for examples in messages, e.g. `Compute`.
    pub example_type: &'static str,
}

impl Names {
    /// `#[rpc(skip)]`.
    pub fn skip_attr(&self) -> String {
        format!("#[{}(skip)]", self.method_attr)
    }
}

/// The stages of one endpoint macro, each in its own file.
pub trait Frontend {
    /// How the macro names itself in messages.
    const NAMES: Names;
    /// The parsed attribute arguments.
    type Args;
    /// The impl block as plain data.
    type Endpoint;

    /// Stage 1: the attribute's arguments.
    fn parse(attr: TokenStream, errors: &Ctxt) -> Self::Args;
    /// Stage 2: lowers the impl block; records only grammar errors of method attributes.
    fn model(args: Self::Args, item: &ItemImpl, errors: &Ctxt) -> Self::Endpoint;
    /// Stage 3: every rule the endpoint must follow.
    fn check(endpoint: &Self::Endpoint, errors: &Ctxt);
    /// Stage 4: the generated items; runs only when no stage recorded an error.
    fn expand(endpoint: &Self::Endpoint) -> TokenStream;
}

/// Runs the macro `F` on `item`: the user's impl (method attributes removed) and the generated
/// items, or, on errors, the user's impl next to every error.
pub fn run<F: Frontend>(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut item_impl = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(item_impl)) => item_impl,
        Ok(other) => {
            let names = F::NAMES;
            let error = syn::Error::new_spanned(
                other,
                format_args!(
                    "`#[{}]` goes on an inherent impl block: `impl {} {{ .. }}`",
                    names.macro_name, names.example_type
                ),
            );
            return with_error(item, error);
        }
        // Keep the item as written so the editor still sees it; rustc reports its syntax error.
        Err(error) => return with_error(item, error),
    };
    let errors = Ctxt::new();
    let args = F::parse(attr, &errors);
    let endpoint = F::model(args, &item_impl, &errors);
    F::check(&endpoint, &errors);
    super::attr::strip_method_attrs(&mut item_impl, F::NAMES.method_attr, &errors);
    match errors.check() {
        Ok(()) => {
            let generated = F::expand(&endpoint);
            quote!(#item_impl #generated)
        }
        Err(error) => with_error(item_impl.into_token_stream(), error),
    }
}
