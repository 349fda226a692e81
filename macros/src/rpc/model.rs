//! Stage 2: the endpoint as plain data.
//!
//! [`Endpoint::from_ast`] lowers the parsed `impl` block into what the expansion needs: one
//! [`Method`] per exposed method, each argument classified as a wire argument or the context.
//! Lowering never rejects anything; it keeps what [`check`](super::check) needs to (the
//! receiver, the generics, the raw patterns), so every user error is reported in one place.

use proc_macro2::Span;
use quote::format_ident;
use syn::ext::IdentExt as _;
use syn::{Attribute, FnArg, Ident, ImplItem, ItemImpl, LitStr, Pat, ReturnType, Type, Visibility};

use super::parse::{EndpointArgs, MethodAttrs};
use crate::internals::ast::{Block, MethodSig};
pub use crate::internals::ast::{Kind, Receiver};
use crate::internals::ty::{self, ContextKind};
use crate::internals::{Ctxt, Lower, Names};

/// An `#[rpc_endpoint]` impl block.
pub struct Endpoint {
    /// The impl block: the crate path, the type and its name, generics, trait.
    pub block: Block,
    /// `namespace = "..."`, if given.
    pub namespace: Option<LitStr>,
    /// `version = "..."`, if given.
    pub version: Option<LitStr>,
    /// The typed client to generate (`None` with `client = false`).
    pub client: Option<Client>,
    /// The exposed methods, in declaration order: the rows of the dispatch table.
    pub methods: Vec<Method>,
}

/// The generated typed client.
pub struct Client {
    /// Its name: the type's name + `Client`.
    pub ident: Ident,
    /// Its visibility (`pub` unless `client_vis = "..."`).
    pub vis: Visibility,
}

/// An exposed method: one row of the dispatch table.
pub struct Method {
    /// The Rust name.
    pub ident: Ident,
    /// The name callers use on the wire.
    pub wire_name: String,
    /// The `#[rpc(name = "...")]` literal, when the wire name was set.
    pub rename: Option<LitStr>,
    /// `#[rpc(expose)]`: callable under oslo's explicit access policy.
    pub exposed: bool,
    /// `#[rpc(idempotent)]`: a redelivered call runs again rather than from the reply cache.
    pub idempotent: bool,
    /// `#[rpc(drop_at_deadline)]`: the (async) method's future is dropped at its caller's deadline.
    pub drop_at_deadline: bool,
    /// How it runs, takes `self`, its generics and `unsafe`.
    pub sig: MethodSig,
    /// Its parameters after the receiver.
    pub args: Vec<Arg>,
    /// What it returns.
    pub ret: Return,
    /// Its doc comments, copied onto the typed client's methods.
    pub docs: Vec<Attribute>,
    /// The method's name: where errors about the method as a whole point.
    pub span: Span,
}

/// A parameter after the receiver.
pub struct Arg {
    /// The binding, when the pattern is a plain identifier.
    pub ident: Option<Ident>,
    /// The pattern as written.
    pub pat: Pat,
    /// The type as written.
    pub ty: Type,
    /// What the parameter receives.
    pub role: ArgRole,
}

impl Arg {
    /// The wire name: the identifier as written, without `r#`.
    pub fn wire_name(&self) -> String {
        self.ident.as_ref().map(|ident| ident.unraw().to_string()).unwrap_or_default()
    }
}

/// What a parameter receives.
#[allow(clippy::large_enum_variant, reason = "built once per method at compile time; boxing buys nothing")]
pub enum ArgRole {
    /// A keyword argument; `optional` holds `T` of an `Option<T>` parameter, which may be absent.
    Wire {
        /// `T` of `Option<T>`.
        optional: Option<Type>,
    },
    /// The request context, as `&Context` (`by_ref`) or `Context`.
    Context {
        /// `&Context` rather than `Context`.
        by_ref: bool,
    },
    /// `&mut Context` (not supported).
    ContextMut,
    /// The call's `Cancellation` (by value): the server's, not a wire argument.
    Cancellation,
}

/// What a method returns.
#[allow(clippy::large_enum_variant, reason = "built once per method at compile time; boxing buys nothing")]
pub enum Return {
    /// Nothing (`()`): the caller gets JSON null.
    Unit,
    /// A plain `T: Serialize`.
    Plain(Type),
    /// A type whose last path segment is `Result`.
    Result {
        /// The whole return type.
        ty: Type,
        /// Its first type argument, `T` (absent for an alias without arguments).
        ok: Option<Type>,
        /// Its second type argument, `E` (absent for an alias like `io::Result<T>`).
        err: Option<Type>,
    },
}

impl Lower for Endpoint {
    type Args = EndpointArgs;
    const NAMES: Names = Names::new("rpc_endpoint", "rpc", "an RPC method", "Compute");

    fn from_ast(args: EndpointArgs, item: &ItemImpl, errors: &Ctxt) -> Self {
        let block = Block::from_ast(item, args.krate);
        let client = match &args.client {
            Some(flag) if !flag.value => None,
            _ => Some(Client {
                ident: client_ident(&block.type_name),
                vis: args.client_vis.map_or_else(|| syn::parse_quote!(pub), |(vis, _)| vis),
            }),
        };
        let mut methods = Vec::new();
        for impl_item in &item.items {
            let ImplItem::Fn(f) = impl_item else { continue };
            let attrs = MethodAttrs::parse(&f.attrs, errors);
            if attrs.skip.is_some() {
                if let Some(expose) = attrs.expose {
                    errors.at(
                        expose,
                        "`expose` and `skip` contradict each other: a skipped method is never \
                         callable; keep one of them",
                    );
                }
                continue;
            }
            let wire_name =
                attrs.name.as_ref().map_or_else(|| f.sig.ident.unraw().to_string(), LitStr::value);
            if attrs.name.is_none() && wire_name.starts_with('_') {
                // oslo's access policy: private names are never callable.
                continue;
            }
            if let Some(span) = attrs.drop_at_deadline
                && f.sig.asyncness.is_none()
            {
                errors.at(
                    span,
                    "`drop_at_deadline` applies to `async fn`s (a blocking thread cannot be \
                     stopped); a sync method reads its `Cancellation` and returns early instead",
                );
            }
            let flags = MethodFlags {
                exposed: attrs.expose.is_some(),
                idempotent: attrs.idempotent.is_some(),
                drop_at_deadline: attrs.drop_at_deadline.is_some(),
            };
            methods.push(Method::from_ast(f, wire_name, attrs.name, flags));
        }
        Self { block, namespace: args.namespace, version: args.version, client, methods }
    }

    fn block(&self) -> &Block {
        &self.block
    }
}

/// The `#[rpc(...)]` flags a method row carries.
struct MethodFlags {
    exposed: bool,
    idempotent: bool,
    drop_at_deadline: bool,
}

impl Method {
    fn from_ast(f: &syn::ImplItemFn, wire_name: String, rename: Option<LitStr>, flags: MethodFlags) -> Self {
        let signature = &f.sig;
        let args = signature
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(pat_type) => Some(Arg::from_ast(&pat_type.pat, &pat_type.ty)),
                FnArg::Receiver(_) => None,
            })
            .collect();
        Self {
            ident: signature.ident.clone(),
            wire_name,
            rename,
            exposed: flags.exposed,
            idempotent: flags.idempotent,
            drop_at_deadline: flags.drop_at_deadline,
            sig: MethodSig::of(signature),
            args,
            ret: Return::from_ast(&signature.output),
            docs: f.attrs.iter().filter(|attr| attr.path().is_ident("doc")).cloned().collect(),
            span: signature.ident.span(),
        }
    }
}

impl Arg {
    fn from_ast(pat: &Pat, ty: &Type) -> Self {
        let ident = match pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.clone()),
            _ => None,
        };
        let role = match ty::context_kind(ty) {
            _ if ty::is_named(ty, "Cancellation") => ArgRole::Cancellation,
            Some(ContextKind::Ref) => ArgRole::Context { by_ref: true },
            Some(ContextKind::Value) => ArgRole::Context { by_ref: false },
            Some(ContextKind::Mut) => ArgRole::ContextMut,
            None => ArgRole::Wire { optional: ty::first_type_arg(ty, "Option").cloned() },
        };
        Self { ident, pat: pat.clone(), ty: ty.clone(), role }
    }
}

impl Return {
    fn from_ast(output: &ReturnType) -> Self {
        let ReturnType::Type(_, ty) = output else { return Self::Unit };
        match ty::type_args(ty, "Result") {
            Some(args) => {
                let mut args = args.into_iter().cloned();
                Self::Result { ty: (**ty).clone(), ok: args.next(), err: args.next() }
            }
            None => Self::Plain((**ty).clone()),
        }
    }

    /// The type a caller decodes the result into: `T`, `T` of `Result<T, E>`, or `()`.
    /// `None` for a `Result` alias without type arguments.
    pub fn ok_type(&self) -> Option<Type> {
        match self {
            Self::Unit => Some(syn::parse_quote!(())),
            Self::Plain(ty) => Some(ty.clone()),
            Self::Result { ok, .. } => ok.clone(),
        }
    }
}

/// `<Type>Client` (`EndpointClient` for a type without a name, which `check` rejects).
fn client_ident(type_name: &str) -> Ident {
    if type_name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        format_ident!("{}Client", type_name)
    } else {
        format_ident!("EndpointClient")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::internals::Parse as _;

    fn lower(attr: proc_macro2::TokenStream, item: ItemImpl) -> (Endpoint, syn::Result<()>) {
        let errors = Ctxt::new();
        let args = EndpointArgs::parse(attr, &errors);
        let endpoint = Endpoint::from_ast(args, &item, &errors);
        (endpoint, errors.check())
    }

    #[test]
    fn methods_are_classified_from_their_signatures() {
        let (endpoint, result) = lower(
            quote::quote!(namespace = "ns", client = false),
            syn::parse_quote! {
                impl a::Compute {
                    fn resize(&self, ctx: &Context, flavor: Option<u32>) -> Result<u32, E> { todo!() }
                    async fn ping(&self, payload: Value, ctx: courier::Context) {}
                    #[rpc(name = "start")]
                    fn r#do(&self) -> io::Result<u8> { todo!() }
                    #[rpc(skip)]
                    fn helper() {}
                    fn _private(&self) {}
                }
            },
        );
        assert!(result.is_ok());
        assert_eq!(endpoint.block.type_name, "Compute");
        assert!(endpoint.client.is_none());
        let names: Vec<_> = endpoint.methods.iter().map(|m| m.wire_name.as_str()).collect();
        assert_eq!(names, ["resize", "ping", "start"]);

        let resize = &endpoint.methods[0];
        assert!(resize.sig.kind == Kind::Sync && matches!(resize.sig.receiver, Receiver::Ref));
        assert!(matches!(resize.args[0].role, ArgRole::Context { by_ref: true }));
        assert!(matches!(&resize.args[1].role, ArgRole::Wire { optional: Some(_) }));
        assert!(matches!(&resize.ret, Return::Result { ok: Some(_), err: Some(_), .. }));

        let ping = &endpoint.methods[1];
        assert!(ping.sig.kind == Kind::Async && matches!(ping.ret, Return::Unit));
        assert!(matches!(ping.args[0].role, ArgRole::Wire { optional: None }));
        assert!(matches!(ping.args[1].role, ArgRole::Context { by_ref: false }));

        let start = &endpoint.methods[2];
        assert_eq!(start.ident, "r#do");
        assert!(matches!(&start.ret, Return::Result { ok: Some(_), err: None, .. }));
    }

    #[test]
    fn the_client_is_named_after_the_type() {
        let (endpoint, _) =
            lower(quote::quote!(client_vis = "pub(crate)"), syn::parse_quote!(impl Compute {}));
        let client = endpoint.client.expect("a client");
        assert_eq!(client.ident, "ComputeClient");
        assert!(matches!(client.vis, Visibility::Restricted(_)));
    }

    #[test]
    fn grammar_errors_are_all_collected() {
        let (_, result) = lower(
            quote::quote!(topic = "x", version = "1.0", version = "1.1"),
            syn::parse_quote! {
                impl Compute {
                    #[rpc(rename = "y")]
                    fn a(&self) {}
                }
            },
        );
        let messages: Vec<String> = result.unwrap_err().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("unknown `rpc_endpoint` argument `topic`"));
        assert!(messages[1].starts_with("duplicate `version`"));
        assert!(messages[2].starts_with("unknown `rpc` argument `rename`"));
    }
}
