//! Stage 1: the grammar of `#[notification_endpoint(batch, crate = "...")]` and of the
//! `#[notification(skip)]` method attribute, on the shared grammar of [`attr`].

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Path};

use crate::internals::{Ctxt, Parse, attr};

/// The arguments of `#[notification_endpoint(...)]`.
#[derive(Default)]
pub struct Args {
    /// `batch`: methods take `Vec<NotificationMessage<T>>`.
    pub batch: Option<Span>,
    /// `crate = "::path"`: how generated code names the courier crate.
    pub krate: Option<(Path, LitStr)>,
}

impl Parse for Args {
    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &Ctxt) -> syn::Result<()> {
        if meta.path.is_ident("batch") {
            attr::set_flag(&mut self.batch, meta, errors);
        } else if meta.path.is_ident("crate") {
            attr::crate_path(&mut self.krate, meta, errors)?;
        } else {
            attr::unknown(meta, "notification_endpoint", "`batch` or `crate`", errors)?;
        }
        Ok(())
    }
}

/// Whether a method carries `#[notification(skip)]`, recording the errors of every
/// `#[notification(...)]` among `attrs`.
pub fn is_skipped(attrs: &[Attribute], errors: &Ctxt) -> bool {
    let mut skip = None;
    attr::parse_method_attrs(attrs, "notification", "`#[notification(skip)]`", errors, |meta| {
        if meta.path.is_ident("skip") {
            attr::set_flag(&mut skip, meta, errors);
            Ok(())
        } else {
            attr::unknown(meta, "notification", "`skip`", errors)
        }
    });
    skip.is_some()
}
