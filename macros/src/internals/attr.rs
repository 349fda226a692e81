//! The attribute grammar both macros share: `key = "value"` arguments, flags, `crate = ".."`,
//! unknown arguments (recorded, then skipped with their value so parsing goes on), the
//! `#[rpc(..)]` / `#[notification(..)]` method attributes and their removal from the item.
//!
//! Parsing keeps every value next to the tokens it came from, so later stages can point their
//! errors at the offending argument. Grammar errors are recorded and parsing goes on, so one
//! expansion reports all of them.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, Parser as _};
use syn::spanned::Spanned as _;
use syn::{Attribute, ImplItem, ItemImpl, LitStr, Path};

use super::Ctxt;

/// Parses a macro's arguments, one `parse_one` call per argument, recording grammar errors.
pub fn parse_args(
    attr: TokenStream,
    errors: &Ctxt,
    mut parse_one: impl FnMut(&ParseNestedMeta) -> syn::Result<()>,
) {
    let parser = syn::meta::parser(|meta| parse_one(&meta));
    if let Err(error) = parser.parse2(attr) {
        errors.push(error);
    }
}

/// Reads every `#[<name>(...)]` among `attrs`, one `parse_one` call per argument; `usage` is
/// the expected form, for an attribute that is not a list.
pub fn parse_method_attrs(
    attrs: &[Attribute],
    name: &str,
    usage: &str,
    errors: &Ctxt,
    mut parse_one: impl FnMut(&ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(name)) {
        let result = match &attr.meta {
            syn::Meta::List(_) => attr.parse_nested_meta(|meta| parse_one(&meta)),
            _ => Err(syn::Error::new_spanned(attr, format_args!("expected {usage}"))),
        };
        if let Err(error) = result {
            errors.push(error);
        }
    }
}

/// Removes every `#[<name>(...)]` from the impl's items (they are not real attributes),
/// recording an error for those not on a method.
pub fn strip_method_attrs(item: &mut ItemImpl, name: &str, errors: &Ctxt) {
    for impl_item in &mut item.items {
        let (attrs, is_fn) = match impl_item {
            ImplItem::Fn(f) => (&mut f.attrs, true),
            ImplItem::Const(c) => (&mut c.attrs, false),
            ImplItem::Type(t) => (&mut t.attrs, false),
            ImplItem::Macro(m) => (&mut m.attrs, false),
            _ => continue,
        };
        attrs.retain(|attr| {
            let ours = attr.path().is_ident(name);
            if ours && !is_fn {
                errors.spanned(attr, format_args!("`#[{name}(...)]` applies only to methods; remove it"));
            }
            !ours
        });
    }
}

/// Stores `value`, recording an error when the argument was given before.
pub fn set_once<T>(slot: &mut Option<T>, meta: &ParseNestedMeta, value: T, errors: &Ctxt) {
    if slot.replace(value).is_some() {
        errors
            .spanned(&meta.path, format_args!("duplicate `{}` argument; remove one", path_text(&meta.path)));
    }
}

/// A flag argument such as `skip` or `batch`: remembers where it was written.
pub fn set_flag(slot: &mut Option<Span>, meta: &ParseNestedMeta, errors: &Ctxt) {
    set_once(slot, meta, meta.path.span(), errors);
}

/// The string literal of `key = "..."`.
pub fn string_value(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let value = meta.value()?;
    value.parse::<LitStr>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format_args!(
                "`{}` takes a string literal, e.g. `{} = \"...\"`",
                path_text(&meta.path),
                path_text(&meta.path)
            ),
        )
    })
}

/// `key = "..."` whose string must parse as a `T` (a path, a visibility): stores the value with
/// its literal, or records `invalid` at the literal.
pub fn parsed_string<T: Parse>(
    slot: &mut Option<(T, LitStr)>,
    meta: &ParseNestedMeta,
    invalid: &str,
    errors: &Ctxt,
) -> syn::Result<()> {
    let lit = string_value(meta)?;
    match lit.parse::<T>() {
        Ok(value) => set_once(slot, meta, (value, lit), errors),
        Err(_) => errors.spanned(&lit, invalid),
    }
    Ok(())
}

/// `crate = "::courier"`: how generated code names the courier crate.
pub fn crate_path(
    slot: &mut Option<(Path, LitStr)>,
    meta: &ParseNestedMeta,
    errors: &Ctxt,
) -> syn::Result<()> {
    parsed_string(
        slot,
        meta,
        "`crate` must be a path to the courier crate, e.g. `crate = \"::courier\"`",
        errors,
    )
}

/// The crate path generated code uses: `crate = ".."`, or `::courier`.
pub fn crate_or_default(krate: Option<(Path, LitStr)>) -> Path {
    krate.map_or_else(|| syn::parse_quote!(::courier), |(path, _)| path)
}

/// Records an unknown argument of `owner` (a macro or method attribute), then consumes its
/// value (`= expr` or `(..)`) so the arguments after it are still parsed.
pub fn unknown(meta: &ParseNestedMeta, owner: &str, expected: &str, errors: &Ctxt) -> syn::Result<()> {
    errors.spanned(
        &meta.path,
        format_args!("unknown `{owner}` argument `{}`; expected {expected}", path_text(&meta.path)),
    );
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

fn path_text(path: &Path) -> String {
    path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::")
}
