//! The one pipeline both macros run (tokio's `main` and `test` share one the same way): parse
//! the item, then `parse -> model -> check -> expand`, every error into one [`Ctxt`].
//!
//! Each macro implements one stage trait per stage file: [`Parse`] for its arguments in
//! `parse.rs`, [`Lower`] for its endpoint in `model.rs`, [`Check`] in `check.rs`, [`Expand`]
//! in `expand.rs`; [`run`] chains them.

use proc_macro2::TokenStream;
use quote::{ToTokens as _, quote};
use syn::ItemImpl;
use syn::meta::ParseNestedMeta;

use super::ast::Block;
use super::emit::with_error;
use super::{Ctxt, rules};

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
    /// The names, in the order of the fields.
    pub const fn new(
        macro_name: &'static str,
        method_attr: &'static str,
        method_noun: &'static str,
        example_type: &'static str,
    ) -> Self {
        Self { macro_name, method_attr, method_noun, example_type }
    }

    /// `#[rpc(skip)]`.
    pub fn skip_attr(&self) -> String {
        format!("#[{}(skip)]", self.method_attr)
    }
}

/// Stage 1: the macro's arguments, parsed one at a time.
pub trait Parse: Default {
    /// Parses one argument, recording the errors parsing can go on after.
    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &Ctxt) -> syn::Result<()>;

    /// Parses the attribute's arguments, recording grammar errors.
    fn parse(tokens: TokenStream, errors: &Ctxt) -> Self {
        let mut args = Self::default();
        super::attr::parse_args(tokens, errors, |meta| args.parse_one(meta, errors));
        args
    }
}

/// Stage 2: the impl block as plain data.
pub trait Lower: Sized {
    /// The parsed attribute arguments.
    type Args: Parse;
    /// How the macro names itself in messages.
    const NAMES: Names;

    /// Lowers the impl block, never rejecting anything; records only the grammar errors of
    /// method attributes.
    fn from_ast(args: Self::Args, item: &ItemImpl, errors: &Ctxt) -> Self;

    /// The impl block itself, whose rules [`run`] checks for every macro.
    fn block(&self) -> &Block;
}

/// Stage 3: the rules.
pub trait Check {
    /// Records a spanned error per broken rule.
    fn check(&self, errors: &Ctxt);
}

/// Stage 4: the generated items.
pub trait Expand {
    /// The generated items; runs only when no stage recorded an error.
    fn expand(&self) -> TokenStream;
}

/// Runs the macro of endpoint `E` on `item`: the user's impl (method attributes removed) and the
/// generated items, or, on errors, the user's impl next to every error.
pub fn run<E: Lower + Check + Expand>(attr: TokenStream, item: TokenStream) -> TokenStream {
    let names = E::NAMES;
    let mut item_impl = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(item_impl)) => item_impl,
        Ok(other) => {
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
    let endpoint = lower::<E>(attr, &item_impl, &errors);
    super::attr::strip_method_attrs(&mut item_impl, names.method_attr, &errors);
    match errors.check() {
        Ok(()) => {
            let generated = endpoint.expand();
            quote!(#item_impl #generated)
        }
        Err(error) => with_error(item_impl.into_token_stream(), error),
    }
}

/// Parse, model and check.
fn lower<E: Lower + Check>(attr: TokenStream, item: &ItemImpl, errors: &Ctxt) -> E {
    let args = E::Args::parse(attr, errors);
    let endpoint = E::from_ast(args, item, errors);
    rules::block(&E::NAMES, endpoint.block(), errors);
    endpoint.check(errors);
    endpoint
}

/// The messages of every error parse, model and check record for `item` (for unit tests).
#[cfg(test)]
pub fn errors_of<E: Lower + Check>(attr: TokenStream, item: ItemImpl) -> Vec<String> {
    let errors = Ctxt::new();
    let _endpoint = lower::<E>(attr, &item, &errors);
    errors.check().err().map(|e| e.into_iter().map(|e| e.to_string()).collect()).unwrap_or_default()
}
