//! Stage 1: the grammar of `#[rpc_endpoint(...)]` and of the `#[rpc(...)]` method attributes,
//! on the shared grammar of [`attr`].

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitBool, LitStr, Path, Visibility};

use crate::internals::{Ctxt, Parse, attr};

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

impl Parse for EndpointArgs {
    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &Ctxt) -> syn::Result<()> {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        match key.as_str() {
            "namespace" => attr::set_once(&mut self.namespace, meta, attr::string_value(meta)?, errors),
            "version" => attr::set_once(&mut self.version, meta, attr::string_value(meta)?, errors),
            "client" => attr::set_once(&mut self.client, meta, meta.value()?.parse()?, errors),
            "crate" => attr::crate_path(&mut self.krate, meta, errors)?,
            "client_vis" => attr::parsed_string(
                &mut self.client_vis,
                meta,
                "`client_vis` must be a visibility, e.g. `client_vis = \"pub(crate)\"`",
                errors,
            )?,
            _ => attr::unknown(meta, "rpc_endpoint", ENDPOINT_ARGS, errors)?,
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
    /// `#[rpc(expose)]`: callable under oslo's explicit access policy (its `@expose`).
    pub expose: Option<Span>,
    /// `#[rpc(idempotent)]`: a redelivered call may run again (no reply cache).
    pub idempotent: Option<Span>,
    /// `#[rpc(drop_at_deadline)]`: an async method's future is dropped at its caller's deadline.
    pub drop_at_deadline: Option<Span>,
}

impl MethodAttrs {
    /// Reads (and records the errors of) every `#[rpc(...)]` among `attrs`.
    pub fn parse(attrs: &[Attribute], errors: &Ctxt) -> Self {
        let mut out = Self::default();
        let usage = "`#[rpc(skip)]`, `#[rpc(expose)]`, `#[rpc(idempotent)]`, `#[rpc(drop_at_deadline)]` or `#[rpc(name = \"wire_name\")]`";
        attr::parse_method_attrs(attrs, "rpc", usage, errors, |meta| {
            if meta.path.is_ident("skip") {
                attr::set_flag(&mut out.skip, meta, errors);
            } else if meta.path.is_ident("expose") {
                attr::set_flag(&mut out.expose, meta, errors);
            } else if meta.path.is_ident("idempotent") {
                attr::set_flag(&mut out.idempotent, meta, errors);
            } else if meta.path.is_ident("drop_at_deadline") {
                attr::set_flag(&mut out.drop_at_deadline, meta, errors);
            } else if meta.path.is_ident("name") {
                attr::set_once(&mut out.name, meta, attr::string_value(meta)?, errors);
            } else {
                attr::unknown(
                    meta,
                    "rpc",
                    "`skip`, `expose`, `idempotent`, `drop_at_deadline` or `name = \"wire_name\"`",
                    errors,
                )?;
            }
            Ok(())
        });
        out
    }
}
