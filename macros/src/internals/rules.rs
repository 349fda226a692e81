//! The rules that read the same for both macros, worded through each macro's [`Names`].
//! Each records a spanned, lower-case error naming the fix.

use proc_macro2::{Ident, Span};
use syn::{Generics, Path};

use super::ast::{Block, Receiver};
use super::{Ctxt, Names};

/// The rules of the impl block itself.
pub fn block(names: &Names, block: &Block, errors: &Ctxt) {
    inherent_impl(names, block.trait_path.as_ref(), errors);
    impl_generics(names, &block.generics, errors);
}

/// The macro generates an inherent `impl` next to the user's; a trait impl cannot host it.
fn inherent_impl(names: &Names, trait_path: Option<&Path>, errors: &Ctxt) {
    if let Some(path) = trait_path {
        errors.spanned(
            path,
            format_args!(
                "`#[{}]` goes on an inherent impl block (`impl Type {{ .. }}`), not a trait impl; \
                 move the methods into an inherent impl",
                names.macro_name
            ),
        );
    }
}

/// The generated table and impl are for one concrete type.
fn impl_generics(names: &Names, generics: &Generics, errors: &Ctxt) {
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.spanned(
            generics,
            format_args!(
                "`#[{}]` does not support generic impl blocks; implement the endpoint for a \
                 concrete type, e.g. `impl {}<Real> {{ .. }}`",
                names.macro_name, names.example_type
            ),
        );
    }
}

/// Calls run concurrently on a shared `Arc<Self>`: only `&self` works.
pub fn receiver(names: &Names, method: &Ident, receiver: &Receiver, errors: &Ctxt) {
    let (noun, skip) = (names.method_noun, names.skip_attr());
    match receiver {
        Receiver::Ref => {}
        Receiver::RefMut(receiver) => errors.spanned(
            receiver,
            format_args!(
                "{noun} takes `&self`, not `&mut self`, as calls run concurrently; keep mutable \
                 state behind a lock (e.g. a `Mutex` field), or mark `{method}` `{skip}`"
            ),
        ),
        Receiver::Value(receiver) => errors.spanned(
            receiver,
            format_args!(
                "{noun} takes `&self`, not `self` by value, as the endpoint is shared between \
                 calls; take `&self`, or mark `{method}` `{skip}`"
            ),
        ),
        Receiver::Typed(receiver) => errors.spanned(
            receiver,
            format_args!("{noun} takes `&self`; change the receiver to `&self`, or mark `{method}` `{skip}`"),
        ),
        Receiver::None => errors.at(
            method.span(),
            format_args!(
                "`{method}` has no `self` receiver, so it cannot be {noun}; add `&self`, or mark \
                 it `{skip}`"
            ),
        ),
    }
}

/// A remote caller cannot uphold a safety contract.
pub fn unsafe_method(names: &Names, method: &Ident, unsafety: Option<Span>, errors: &Ctxt) {
    if let Some(span) = unsafety {
        errors.at(
            span,
            format_args!(
                "{} cannot be `unsafe`, as a remote caller cannot uphold their contract; make \
                 `{method}` safe, or mark it `{}`",
                names.method_noun,
                names.skip_attr()
            ),
        );
    }
}
