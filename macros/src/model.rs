//! Stage 2: the endpoint as plain data.
//!
//! [`Endpoint::from_ast`] lowers the parsed `impl` block into what the expansion needs: one
//! [`Method`] per exposed method, each argument classified as a wire argument or the context.
//! Lowering never rejects anything; it keeps what [`check`](crate::check) needs to (the
//! receiver, the generics, the raw patterns), so every user error is reported in one place.

use proc_macro2::Span;
use quote::format_ident;
use syn::ext::IdentExt as _;
use syn::{
    Attribute, FnArg, GenericArgument, Generics, Ident, ImplItem, ItemImpl, LitStr, Pat, Path, PathArguments,
    ReceiverKind, ReturnType, Type, Visibility,
};

use crate::parse::{EndpointArgs, Errors, MethodAttrs};

/// An `#[rpc_endpoint]` impl block.
pub struct Endpoint {
    /// How generated code names the courier crate (`::courier` unless `crate = "..."`).
    pub krate: Path,
    /// The type the impl block is for.
    pub self_ty: Type,
    /// The type's name, as reported in `EndpointInfo::type_name`.
    pub type_name: String,
    /// `namespace = "..."`, if given.
    pub namespace: Option<LitStr>,
    /// `version = "..."`, if given.
    pub version: Option<LitStr>,
    /// The typed client to generate (`None` with `client = false`).
    pub client: Option<Client>,
    /// The impl block's generics (the macro supports none).
    pub generics: Generics,
    /// `Some` when the impl block implements a trait (the macro needs an inherent impl).
    pub trait_path: Option<Path>,
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
    /// How it runs: decided by `async`.
    pub kind: Kind,
    /// How it takes `self`.
    pub receiver: Receiver,
    /// The method's own generics (the macro supports none).
    pub generics: Generics,
    /// `unsafe fn` (not supported).
    pub unsafety: Option<Span>,
    /// Its parameters after the receiver.
    pub args: Vec<Arg>,
    /// What it returns.
    pub ret: Return,
    /// Its doc comments, copied onto the typed client's methods.
    pub docs: Vec<Attribute>,
    /// The method's name: where errors about the method as a whole point.
    pub span: Span,
}

/// How a method runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain `fn`: runs on the blocking pool.
    Sync,
    /// An `async fn`: runs as a task.
    Async,
}

/// How a method takes `self`.
pub enum Receiver {
    /// `&self`: the only supported receiver.
    Ref,
    /// `&mut self`.
    RefMut(syn::Receiver),
    /// `self` or `mut self`.
    Value(syn::Receiver),
    /// `self: Type`.
    Typed(syn::Receiver),
    /// No receiver: an associated function.
    None,
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

impl Endpoint {
    /// Lowers the parsed impl block; records the grammar errors of `#[rpc(...)]` attributes.
    pub fn from_ast(args: EndpointArgs, item: &ItemImpl, errors: &mut Errors) -> Self {
        let type_name = type_name(&item.self_ty);
        let client = match &args.client {
            Some(flag) if !flag.value => None,
            _ => Some(Client {
                ident: client_ident(&type_name),
                vis: args.client_vis.map_or_else(|| syn::parse_quote!(pub), |(vis, _)| vis),
            }),
        };
        let mut methods = Vec::new();
        for impl_item in &item.items {
            let ImplItem::Fn(f) = impl_item else { continue };
            let attrs = MethodAttrs::parse(&f.attrs, errors);
            if attrs.skip.is_some() {
                continue;
            }
            let wire_name =
                attrs.name.as_ref().map_or_else(|| f.sig.ident.unraw().to_string(), LitStr::value);
            if attrs.name.is_none() && wire_name.starts_with('_') {
                // oslo's access policy: private names are never callable.
                continue;
            }
            methods.push(Method::from_ast(f, wire_name, attrs.name));
        }
        Self {
            krate: args.krate.map_or_else(|| syn::parse_quote!(::courier), |(path, _)| path),
            self_ty: (*item.self_ty).clone(),
            type_name,
            namespace: args.namespace,
            version: args.version,
            client,
            generics: item.generics.clone(),
            trait_path: item.trait_.as_ref().map(|(path, _)| path.clone()),
            methods,
        }
    }
}

impl Method {
    fn from_ast(f: &syn::ImplItemFn, wire_name: String, rename: Option<LitStr>) -> Self {
        let sig = &f.sig;
        let receiver = match sig.receiver() {
            None => Receiver::None,
            Some(r) => match &r.kind {
                ReceiverKind::Reference(_, _, None) => Receiver::Ref,
                ReceiverKind::Reference(..) => Receiver::RefMut(r.clone()),
                ReceiverKind::Value => Receiver::Value(r.clone()),
                _ => Receiver::Typed(r.clone()),
            },
        };
        let args = sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(pat_type) => Some(Arg::from_ast(&pat_type.pat, &pat_type.ty)),
                FnArg::Receiver(_) => None,
            })
            .collect();
        Self {
            ident: sig.ident.clone(),
            wire_name,
            rename,
            kind: if sig.asyncness.is_some() { Kind::Async } else { Kind::Sync },
            receiver,
            generics: sig.generics.clone(),
            unsafety: match &sig.safety {
                syn::Safety::Unsafe(token) => Some(token.span),
                _ => None,
            },
            args,
            ret: Return::from_ast(&sig.output),
            docs: f.attrs.iter().filter(|attr| attr.path().is_ident("doc")).cloned().collect(),
            span: sig.ident.span(),
        }
    }
}

impl Arg {
    fn from_ast(pat: &Pat, ty: &Type) -> Self {
        let ident = match pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.clone()),
            _ => None,
        };
        let role = match ty {
            Type::Reference(r) if is_context(&r.elem) => {
                if r.mutability.is_some() {
                    ArgRole::ContextMut
                } else {
                    ArgRole::Context { by_ref: true }
                }
            }
            ty if is_context(ty) => ArgRole::Context { by_ref: false },
            ty => ArgRole::Wire {
                optional: generic_args(ty, "Option").and_then(|args| args.into_iter().next()),
            },
        };
        Self { ident, pat: pat.clone(), ty: ty.clone(), role }
    }
}

impl Return {
    fn from_ast(output: &ReturnType) -> Self {
        let ReturnType::Type(_, ty) = output else { return Self::Unit };
        match generic_args(ty, "Result") {
            Some(args) => {
                let mut args = args.into_iter();
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

/// The last path segment of a path type.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

/// Whether the type is syntactically `Context` (last path segment, no arguments).
fn is_context(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|seg| seg.ident == "Context" && seg.arguments.is_none())
}

/// The type arguments of a type whose last path segment is `name`; `Some(vec![])` for `name`
/// without arguments, `None` for another type.
fn generic_args(ty: &Type, name: &str) -> Option<Vec<Type>> {
    let seg = last_segment(ty).filter(|seg| seg.ident == name)?;
    Some(match &seg.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// The type's name: the last path segment's identifier, or the type as written.
fn type_name(ty: &Type) -> String {
    match last_segment(ty) {
        Some(seg) => seg.ident.unraw().to_string(),
        None => quote::quote!(#ty).to_string().replace(' ', ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(attr: proc_macro2::TokenStream, item: ItemImpl) -> (Endpoint, syn::Result<()>) {
        let mut errors = Errors::default();
        let args = EndpointArgs::parse(attr, &mut errors);
        let endpoint = Endpoint::from_ast(args, &item, &mut errors);
        (endpoint, errors.finish())
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
        assert_eq!(endpoint.type_name, "Compute");
        assert!(endpoint.client.is_none());
        let names: Vec<_> = endpoint.methods.iter().map(|m| m.wire_name.as_str()).collect();
        assert_eq!(names, ["resize", "ping", "start"]);

        let resize = &endpoint.methods[0];
        assert!(resize.kind == Kind::Sync && matches!(resize.receiver, Receiver::Ref));
        assert!(matches!(resize.args[0].role, ArgRole::Context { by_ref: true }));
        assert!(matches!(&resize.args[1].role, ArgRole::Wire { optional: Some(_) }));
        assert!(matches!(&resize.ret, Return::Result { ok: Some(_), err: Some(_), .. }));

        let ping = &endpoint.methods[1];
        assert!(ping.kind == Kind::Async && matches!(ping.ret, Return::Unit));
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
