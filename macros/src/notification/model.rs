//! The `#[notification_endpoint]` impl block as plain data, checked while it is built.
//!
//! [`Endpoint::from_ast`] keeps one [`Method`] per priority method and records every rule a
//! method breaks, at the offending tokens, so one expansion reports all of them.

use proc_macro2::Span;
use syn::{FnArg, GenericArgument, Ident, ImplItem, ItemImpl, Path, PathArguments, ReturnType, Type};

use super::parse::{self, Args};
use crate::parse::Errors;

/// oslo's priorities: the method names a notification endpoint may have.
pub const PRIORITIES: [&str; 7] = ["audit", "debug", "info", "warn", "error", "critical", "sample"];

/// The signature of a plain notification method, as error messages spell it.
const SINGLE_SIG: &str =
    "(&self, [ctx: &Context,] publisher_id: String, event_type: String, payload: T, metadata: Metadata)";
/// The signature of a batch notification method.
const BATCH_SIG: &str = "(&self, messages: Vec<NotificationMessage<T>>)";

/// A `#[notification_endpoint]` impl block.
pub struct Endpoint {
    /// How generated code names the courier crate (`::courier` unless `crate = "..."`).
    pub krate: Path,
    /// The type the impl block is for.
    pub self_ty: Type,
    /// The type's name, as reported in `NotificationEndpointInfo::type_name`.
    pub type_name: String,
    /// `#[notification_endpoint(batch)]`.
    pub batch: bool,
    /// The priority methods, in declaration order.
    pub methods: Vec<Method>,
}

/// One priority method.
pub struct Method {
    /// The Rust name, which is the priority (lower case).
    pub ident: Ident,
    /// The priority's `Priority` variant, e.g. `Info`.
    pub variant: Ident,
    /// `true` for `async fn`.
    pub is_async: bool,
    /// The parameters.
    pub shape: Shape,
    /// The return type as written (`None`: `()`).
    pub ret: Option<Type>,
}

/// What a method's parameters receive.
// A handful of these live for one expansion; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Shape {
    /// One message: `(&self, [ctx,] publisher_id, event_type, payload, metadata)`.
    Single {
        /// `Some(by_ref)` when the method takes the context (`&Context` or `Context`).
        context: Option<bool>,
        /// The types as written, in order: publisher_id, event_type, payload, metadata.
        publisher_id: Type,
        /// See `publisher_id`.
        event_type: Type,
        /// See `publisher_id`.
        payload: Type,
        /// See `publisher_id`.
        metadata: Type,
    },
    /// A batch: `(&self, messages: Vec<NotificationMessage<T>>)`; `None` when `T` is not written.
    Batch {
        /// The payload type `T`.
        payload: Option<Type>,
    },
}

impl Endpoint {
    /// Lowers and checks the impl block.
    pub fn from_ast(args: Args, item: &ItemImpl, errors: &mut Errors) -> Self {
        if let Some((path, _)) = &item.trait_ {
            errors.spanned(path, "`#[notification_endpoint]` needs an inherent impl block, not a trait impl: write `impl MyEndpoint { .. }`");
        }
        if !item.generics.params.is_empty() {
            errors.spanned(&item.generics, "`#[notification_endpoint]` does not support generic impl blocks; implement it for a concrete type");
        }
        let batch = args.batch.is_some();
        let candidates: Vec<&syn::ImplItemFn> = item
            .items
            .iter()
            .filter_map(|impl_item| match impl_item {
                ImplItem::Fn(f) if !parse::is_skipped(&f.attrs, errors) => Some(f),
                _ => None,
            })
            .collect();
        if candidates.is_empty() {
            errors.spanned(
                &item.self_ty,
                "a notification endpoint needs at least one priority method: `audit`, `debug`, `info`, `warn`, `error`, `critical` or `sample`",
            );
        }
        let methods =
            candidates.into_iter().filter_map(|f| Method::from_ast(&f.sig, batch, errors)).collect();
        Self {
            krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::courier)),
            type_name: type_name(&item.self_ty),
            self_ty: (*item.self_ty).clone(),
            batch,
            methods,
        }
    }
}

impl Method {
    fn from_ast(sig: &syn::Signature, batch: bool, errors: &mut Errors) -> Option<Self> {
        let name = sig.ident.to_string();
        let Some(priority) = PRIORITIES.iter().find(|p| **p == name) else {
            let hint = suggestion(&name).map(|p| format!(" (did you mean `{p}`?)")).unwrap_or_default();
            errors.spanned(
                &sig.ident,
                format_args!(
                    "`{name}` is not a notification priority{hint}: name the method `audit`, `debug`, `info`, `warn`, `error`, `critical` or `sample`, or mark it `#[notification(skip)]`"
                ),
            );
            return None;
        };
        let mut ok = true;
        let mut fail = |tokens: &dyn quote::ToTokens, message: String| {
            errors.spanned(tokens, message);
            ok = false;
        };
        if let syn::Safety::Unsafe(unsafety) = &sig.safety {
            fail(unsafety, format!("notification method `{name}` cannot be `unsafe`; remove `unsafe`"));
        }
        if !sig.generics.params.is_empty() {
            fail(
                &sig.generics,
                format!(
                    "notification method `{name}` cannot be generic: use a concrete payload type (e.g. `serde_json::Value`)"
                ),
            );
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r)) if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
            Some(FnArg::Receiver(r)) => fail(
                r,
                format!(
                    "notification method `{name}` must take `&self`: endpoints are shared between concurrent calls (keep mutable state behind a lock)"
                ),
            ),
            _ => fail(
                &sig.ident,
                format!(
                    "notification method `{name}` must take `&self` first; add `&self`, or mark a helper `#[notification(skip)]`"
                ),
            ),
        }
        let params: Vec<&syn::PatType> =
            inputs.filter_map(|arg| if let FnArg::Typed(t) = arg { Some(t) } else { None }).collect();
        let parens = sig.paren_token.span.join();
        let shape = if batch {
            batch_shape(&name, &params, parens, &mut fail)
        } else {
            single_shape(&name, &params, parens, &mut fail)
        };
        let ret = match &sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some((**ty).clone()),
        };
        let variant = Ident::new(&capitalized(priority), sig.ident.span());
        (ok && shape.is_some()).then(|| Self {
            ident: sig.ident.clone(),
            variant,
            is_async: sig.asyncness.is_some(),
            shape: shape.expect("checked above"),
            ret,
        })
    }
}

fn single_shape(
    name: &str,
    params: &[&syn::PatType],
    parens: Span,
    fail: &mut dyn FnMut(&dyn quote::ToTokens, String),
) -> Option<Shape> {
    let mut params = params.to_vec();
    let context = match params.first().map(|p| context_kind(&p.ty)) {
        Some(Some(ContextKind::Mut)) => {
            fail(
                &params[0].ty,
                format!("the context of `{name}` must be `&Context` or `Context`, not `&mut Context`"),
            );
            return None;
        }
        Some(Some(kind)) => {
            params.remove(0);
            Some(kind == ContextKind::Ref)
        }
        _ => None,
    };
    if let Some(misplaced) = params.iter().find(|p| context_kind(&p.ty).is_some()) {
        fail(
            &misplaced.ty,
            format!("the context of `{name}` must be its first parameter after `&self`: {SINGLE_SIG}"),
        );
        return None;
    }
    if params.len() != 4 {
        let hint = if params.len() == 1 && is_vec(&params[0].ty) {
            "; to receive batches, mark the endpoint `#[notification_endpoint(batch)]`"
        } else {
            ", in oslo's order"
        };
        let context = if context.is_some() { " besides the context" } else { "" };
        fail(
            &Spanned(parens),
            format!(
                "notification method `{name}` takes {SINGLE_SIG}: four parameters after the optional context, found {}{context}{hint}",
                params.len()
            ),
        );
        return None;
    }
    let ty = |i: usize| (*params[i].ty).clone();
    Some(Shape::Single { context, publisher_id: ty(0), event_type: ty(1), payload: ty(2), metadata: ty(3) })
}

fn batch_shape(
    name: &str,
    params: &[&syn::PatType],
    parens: Span,
    fail: &mut dyn FnMut(&dyn quote::ToTokens, String),
) -> Option<Shape> {
    let [param] = params else {
        fail(
            &Spanned(parens),
            format!(
                "batch notification method `{name}` takes {BATCH_SIG}, found {} parameter(s) after `&self`",
                params.len()
            ),
        );
        return None;
    };
    let message =
        generic_arg(&param.ty, "Vec").filter(|t| last_ident(t).is_some_and(|i| i == "NotificationMessage"));
    let Some(message) = message else {
        fail(
            &param.ty,
            format!(
                "batch notification method `{name}` takes {BATCH_SIG}: the messages of one priority, in a `Vec`"
            ),
        );
        return None;
    };
    Some(Shape::Batch { payload: generic_arg(message, "NotificationMessage").cloned() })
}

/// A span to hang an error on.
struct Spanned(Span);

impl quote::ToTokens for Spanned {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        tokens.extend(quote::quote_spanned!(self.0=> ()));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ContextKind {
    Ref,
    Value,
    Mut,
}

/// `&Context`, `Context` or `&mut Context`, matched by the type's last path segment.
fn context_kind(ty: &Type) -> Option<ContextKind> {
    match ty {
        Type::Reference(r) if last_ident(&r.elem).is_some_and(|i| i == "Context") => {
            Some(if r.mutability.is_some() { ContextKind::Mut } else { ContextKind::Ref })
        }
        ty if last_ident(ty).is_some_and(|i| i == "Context") => Some(ContextKind::Value),
        _ => None,
    }
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

fn is_vec(ty: &Type) -> bool {
    last_ident(ty).is_some_and(|i| i == "Vec")
}

/// The first type argument of `ty` when its last segment is `outer`.
fn generic_arg<'a>(ty: &'a Type, outer: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let segment = p.path.segments.last().filter(|s| s.ident == outer)?;
    let PathArguments::AngleBracketed(args) = &segment.arguments else { return None };
    args.args.iter().find_map(|a| if let GenericArgument::Type(t) = a { Some(t) } else { None })
}

/// A priority close to a wrong name: `warning` → `warn`, `Info` → `info`.
fn suggestion(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    PRIORITIES.into_iter().find(|p| lower == *p || (lower.starts_with(p) && lower.len() <= p.len() + 3))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
        other => quote::quote!(#other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_priorities() {
        assert_eq!(suggestion("warning"), Some("warn"));
        assert_eq!(suggestion("Info"), Some("info"));
        assert_eq!(suggestion("errors"), Some("error"));
        assert_eq!(suggestion("notify"), None);
    }
}
