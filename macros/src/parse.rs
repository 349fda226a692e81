//! Stage 1: the grammar of `#[rpc_endpoint(...)]` and of the `#[rpc(...)]` method attributes.
//!
//! Parsing keeps every value next to the tokens it came from, so later stages can point their
//! errors at the offending argument. Grammar errors are pushed to [`Errors`] and parsing goes
//! on, so one expansion reports all of them.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned as _;
use syn::{Attribute, ImplItem, ItemImpl, LitBool, LitStr, Path, Visibility};

/// Collects user errors; [`Errors::finish`] turns them into one combined `syn::Error`.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    /// Records an error.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Records an error at `span`.
    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error spanning `tokens`.
    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// `Err` with every recorded error, if any.
    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The arguments of `#[rpc_endpoint(...)]`, each with its literal (for spans).
#[derive(Default)]
pub struct EndpointArgs {
    /// `namespace = "..."`.
    pub namespace: Option<LitStr>,
    /// `version = "X.Y"`.
    pub version: Option<LitStr>,
    /// `crate = "::path"`: how generated code names the courier crate.
    pub krate: Option<(Path, LitStr)>,
    /// `client = false` turns the typed client off.
    pub client: Option<LitBool>,
    /// `client_vis = "pub(crate)"`: the typed client's visibility.
    pub client_vis: Option<(Visibility, LitStr)>,
}

const ENDPOINT_ARGS: &str = "`namespace`, `version`, `crate`, `client` or `client_vis`";

impl EndpointArgs {
    /// Parses the attribute's arguments, recording grammar errors.
    pub fn parse(attr: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Self::default();
        let parser = syn::meta::parser(|meta| args.parse_one(&meta, errors));
        if let Err(error) = parser.parse2(attr) {
            errors.push(error);
        }
        args
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        match key.as_str() {
            "namespace" => set_once(&mut self.namespace, meta, string_value(meta)?, errors),
            "version" => set_once(&mut self.version, meta, string_value(meta)?, errors),
            "client" => set_once(&mut self.client, meta, meta.value()?.parse()?, errors),
            "crate" => {
                let lit = string_value(meta)?;
                match lit.parse::<Path>() {
                    Ok(path) => set_once(&mut self.krate, meta, (path, lit), errors),
                    Err(_) => errors.spanned(
                        &lit,
                        "`crate` must be a path to the courier crate, e.g. `crate = \"::courier\"`",
                    ),
                }
            }
            "client_vis" => {
                let lit = string_value(meta)?;
                match lit.parse::<Visibility>() {
                    Ok(vis) => set_once(&mut self.client_vis, meta, (vis, lit), errors),
                    Err(_) => errors.spanned(
                        &lit,
                        "`client_vis` must be a visibility, e.g. `client_vis = \"pub(crate)\"`",
                    ),
                }
            }
            _ => {
                errors.spanned(
                    &meta.path,
                    format_args!(
                        "unknown `rpc_endpoint` argument `{}`; expected {ENDPOINT_ARGS}",
                        path_text(&meta.path)
                    ),
                );
                skip_value(meta)?;
            }
        }
        Ok(())
    }
}

/// What `#[rpc(...)]` says about a method.
#[derive(Default)]
pub struct MethodAttrs {
    /// `#[rpc(skip)]`: the method is not exposed.
    pub skip: Option<Span>,
    /// `#[rpc(name = "...")]`: the wire name.
    pub name: Option<LitStr>,
}

impl MethodAttrs {
    /// Reads (and records the errors of) every `#[rpc(...)]` among `attrs`.
    pub fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = Self::default();
        for attr in attrs.iter().filter(|attr| is_rpc_attr(attr)) {
            let result = match &attr.meta {
                syn::Meta::List(_) => attr.parse_nested_meta(|meta| out.parse_one(&meta, errors)),
                _ => Err(syn::Error::new_spanned(
                    attr,
                    "expected `#[rpc(skip)]` or `#[rpc(name = \"wire_name\")]`",
                )),
            };
            if let Err(error) = result {
                errors.push(error);
            }
        }
        out
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
        if meta.path.is_ident("skip") {
            if self.skip.replace(meta.path.span()).is_some() {
                errors.spanned(&meta.path, "duplicate `skip`; remove one");
            }
        } else if meta.path.is_ident("name") {
            set_once(&mut self.name, meta, string_value(meta)?, errors);
        } else {
            errors.spanned(
                &meta.path,
                format_args!(
                    "unknown `rpc` argument `{}`; expected `skip` or `name = \"wire_name\"`",
                    path_text(&meta.path)
                ),
            );
            skip_value(meta)?;
        }
        Ok(())
    }
}

/// Whether `attr` is one of ours: `#[rpc(...)]`.
pub fn is_rpc_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("rpc")
}

/// Removes every `#[rpc(...)]` from the impl's items (they are not real attributes), recording
/// an error for those not on a method.
pub fn strip_rpc_attrs(item: &mut ItemImpl, errors: &mut Errors) {
    for impl_item in &mut item.items {
        let (attrs, is_fn) = match impl_item {
            ImplItem::Fn(f) => (&mut f.attrs, true),
            ImplItem::Const(c) => (&mut c.attrs, false),
            ImplItem::Type(t) => (&mut t.attrs, false),
            ImplItem::Macro(m) => (&mut m.attrs, false),
            _ => continue,
        };
        attrs.retain(|attr| {
            let ours = is_rpc_attr(attr);
            if ours && !is_fn {
                errors.spanned(attr, "`#[rpc(...)]` applies only to methods; remove it");
            }
            !ours
        });
    }
}

fn set_once<T>(slot: &mut Option<T>, meta: &ParseNestedMeta, value: T, errors: &mut Errors) {
    if slot.replace(value).is_some() {
        errors
            .spanned(&meta.path, format_args!("duplicate `{}` argument; remove one", path_text(&meta.path)));
    }
}

fn string_value(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
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

/// Consumes `= <expr>` after an unknown key so parsing can go on.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _ignored: TokenStream = meta.input.parse::<proc_macro2::Group>()?.stream();
    }
    Ok(())
}

fn path_text(path: &Path) -> String {
    path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::")
}
