//! The error collector of one expansion (serde's `Ctxt`).

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// Collects every user error of one expansion, so a single run of the macro reports all of
/// them, each at its tokens.
///
/// Every stage records through a shared `&Ctxt`; [`Ctxt::check`] consumes it and hands the
/// errors over as one combined `syn::Error`. Dropping a `Ctxt` that was never checked panics
/// (outside an unwind), so a stage cannot record an error that nobody reports.
pub struct Ctxt {
    /// `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    /// An empty collector; it must be consumed with [`Ctxt::check`].
    pub fn new() -> Self {
        Self { errors: RefCell::new(Some(Vec::new())) }
    }

    /// Records an error.
    pub fn push(&self, error: syn::Error) {
        self.errors.borrow_mut().as_mut().expect("Ctxt used after check").push(error);
    }

    /// Records an error at `span`.
    pub fn at(&self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error spanning `tokens`.
    pub fn spanned(&self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Consumes the collector: `Err` with every recorded error, in the order recorded.
    pub fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().expect("Ctxt checked twice");
        errors
            .into_iter()
            .reduce(|mut all, next| {
                all.combine(next);
                all
            })
            .map_or(Ok(()), Err)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("a macro stage dropped its Ctxt without checking it for errors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_returns_every_error_in_order() {
        let ctxt = Ctxt::new();
        ctxt.at(Span::call_site(), "first");
        ctxt.spanned(quote::quote!(x), "second");
        let messages: Vec<String> = ctxt.check().unwrap_err().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn a_clean_ctxt_checks_ok() {
        assert!(Ctxt::new().check().is_ok());
    }

    #[test]
    #[should_panic(expected = "without checking it for errors")]
    fn dropping_an_unchecked_ctxt_panics() {
        let ctxt = Ctxt::new();
        ctxt.at(Span::call_site(), "lost");
        drop(ctxt);
    }
}
