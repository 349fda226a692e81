//! The grammar of `#[notification_endpoint(batch, crate = "...")]` and of the
//! `#[notification(skip)]` method attribute.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser as _;
use syn::spanned::Spanned as _;
use syn::{Attribute, ImplItem, ItemImpl, LitStr, Path};

use crate::parse::Errors;

/// The arguments of `#[notification_endpoint(...)]`.
#[derive(Default)]
pub struct Args {
    /// `batch`: methods take `Vec<NotificationMessage<T>>`.
    pub batch: Option<Span>,
    /// `crate = "::path"`: how generated code names the courier crate.
    pub krate: Option<Path>,
}

impl Args {
    /// Parses the attribute's arguments, recording errors.
    pub fn parse(attr: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Self::default();
        let parser = syn::meta::parser(|meta| args.parse_one(&meta, errors));
        if let Err(error) = parser.parse2(attr) {
            errors.push(error);
        }
        args
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
        if meta.path.is_ident("batch") {
            if self.batch.replace(meta.path.span()).is_some() {
                errors.spanned(&meta.path, "duplicate `batch` argument; remove one");
            }
        } else if meta.path.is_ident("crate") {
            let lit: LitStr = meta.value()?.parse().map_err(|e| {
                syn::Error::new(e.span(), "`crate` takes a string literal, e.g. `crate = \"::courier\"`")
            })?;
            match lit.parse::<Path>() {
                Ok(path) => {
                    if self.krate.replace(path).is_some() {
                        errors.spanned(&meta.path, "duplicate `crate` argument; remove one");
                    }
                }
                Err(_) => errors.spanned(
                    &lit,
                    "`crate` must be a path to the courier crate, e.g. `crate = \"::courier\"`",
                ),
            }
        } else {
            errors.spanned(
                &meta.path,
                "unknown `notification_endpoint` argument; expected `batch` or `crate = \"...\"`",
            );
            if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
        }
        Ok(())
    }
}

/// Whether a method carries `#[notification(skip)]`; other `#[notification(...)]` forms are
/// recorded as errors.
pub fn is_skipped(attrs: &[Attribute], errors: &mut Errors) -> bool {
    let mut skip = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("notification")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error("unknown `notification` argument; expected `#[notification(skip)]`"))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    skip
}

/// Removes every `#[notification(...)]` from the impl's items (they are not real attributes).
pub fn strip_attrs(item: &mut ItemImpl, errors: &mut Errors) {
    for impl_item in &mut item.items {
        let (attrs, is_fn) = match impl_item {
            ImplItem::Fn(f) => (&mut f.attrs, true),
            ImplItem::Const(c) => (&mut c.attrs, false),
            ImplItem::Type(t) => (&mut t.attrs, false),
            ImplItem::Macro(m) => (&mut m.attrs, false),
            _ => continue,
        };
        attrs.retain(|attr| {
            let ours = attr.path().is_ident("notification");
            if ours && !is_fn {
                errors.spanned(attr, "`#[notification(...)]` applies only to methods; remove it");
            }
            !ours
        });
    }
}
