//! Stage 2: the `#[notification_endpoint]` impl block as plain data.
//!
//! [`Endpoint::from_ast`] keeps one [`Method`] per method that is not skipped, its name matched
//! to a priority and its parameters classified into a [`Shape`], or into the [`ShapeError`]
//! saying why they fit none. Lowering never rejects anything: [`check`](super::check) words
//! and reports every problem, so all of them are reported together, each at its tokens.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::{FnArg, Ident, ImplItem, ItemImpl, ReturnType, Type};

use super::parse::{self, Args};
use crate::internals::ast::{Block, MethodSig};
use crate::internals::ty::{self, ContextKind};
use crate::internals::{Ctxt, Lower, Names};

/// oslo's priorities: the method names a notification endpoint may have.
pub const PRIORITIES: [&str; 7] = ["audit", "debug", "info", "warn", "error", "critical", "sample"];

/// A `#[notification_endpoint]` impl block.
pub struct Endpoint {
    /// The impl block: the crate path, the type and its name, generics, trait.
    pub block: Block,
    /// `#[notification_endpoint(batch)]`.
    pub batch: bool,
    /// The methods not marked `#[notification(skip)]`, in declaration order.
    pub methods: Vec<Method>,
}

/// A method of the block: a priority method once it passes the checks.
pub struct Method {
    /// The Rust name, which should be a priority (lower case).
    pub ident: Ident,
    /// The name without `r#`.
    pub name: String,
    /// The priority's `Priority` variant, e.g. `Info`; `None` when the name is no priority.
    pub variant: Option<Ident>,
    /// How it runs, takes `self`, its generics and `unsafe`.
    pub sig: MethodSig,
    /// What the parameters after `&self` receive, or why they fit no shape.
    pub shape: Result<Shape, ShapeError>,
    /// The parentheses of the parameter list: where arity errors point.
    pub params_span: Span,
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

/// Why a method's parameters fit no [`Shape`]: the first problem found.
pub enum ShapeError {
    /// The context is taken as `&mut Context`.
    ContextMut(Type),
    /// A context parameter that is not the first after `&self`.
    MisplacedContext(Type),
    /// A plain method without exactly four parameters after the optional context.
    Arity {
        /// How many there are.
        found: usize,
        /// Whether a context came first.
        with_context: bool,
        /// One `Vec<..>` parameter: a batch method on a plain endpoint.
        looks_like_batch: bool,
    },
    /// A batch method without exactly one parameter after `&self`.
    BatchArity {
        /// How many there are.
        found: usize,
    },
    /// A batch method whose parameter is not `Vec<NotificationMessage<T>>`.
    NotBatch(Type),
}

impl Lower for Endpoint {
    type Args = Args;
    const NAMES: Names =
        Names::new("notification_endpoint", "notification", "a notification method", "Audit");

    fn from_ast(args: Args, item: &ItemImpl, errors: &Ctxt) -> Self {
        let batch = args.batch.is_some();
        let methods = item
            .items
            .iter()
            .filter_map(|impl_item| match impl_item {
                ImplItem::Fn(f) if !parse::is_skipped(&f.attrs, errors) => Some(f),
                _ => None,
            })
            .map(|f| Method::from_ast(&f.sig, batch))
            .collect();
        Self { block: Block::from_ast(item, args.krate), batch, methods }
    }

    fn block(&self) -> &Block {
        &self.block
    }
}

impl Method {
    fn from_ast(signature: &syn::Signature, batch: bool) -> Self {
        let name = signature.ident.unraw().to_string();
        let variant = PRIORITIES
            .iter()
            .find(|p| **p == name)
            .map(|priority| Ident::new(&capitalized(priority), signature.ident.span()));
        let params: Vec<&Type> = signature
            .inputs
            .iter()
            .filter_map(|arg| if let FnArg::Typed(t) = arg { Some(&*t.ty) } else { None })
            .collect();
        Self {
            ident: signature.ident.clone(),
            name,
            variant,
            sig: MethodSig::of(signature),
            shape: if batch { batch_shape(&params) } else { single_shape(&params) },
            params_span: signature.paren_token.span.join(),
            ret: match &signature.output {
                ReturnType::Default => None,
                ReturnType::Type(_, ty) => Some((**ty).clone()),
            },
        }
    }
}

fn single_shape(params: &[&Type]) -> Result<Shape, ShapeError> {
    let mut params = params.to_vec();
    let context = match params.first().and_then(|ty| ty::context_kind(ty)) {
        Some(ContextKind::Mut) => return Err(ShapeError::ContextMut(params[0].clone())),
        Some(kind) => {
            params.remove(0);
            Some(kind == ContextKind::Ref)
        }
        None => None,
    };
    if let Some(misplaced) = params.iter().find(|ty| ty::context_kind(ty).is_some()) {
        return Err(ShapeError::MisplacedContext((*misplaced).clone()));
    }
    let [publisher_id, event_type, payload, metadata] = params[..] else {
        return Err(ShapeError::Arity {
            found: params.len(),
            with_context: context.is_some(),
            looks_like_batch: params.len() == 1 && ty::type_args(params[0], "Vec").is_some(),
        });
    };
    Ok(Shape::Single {
        context,
        publisher_id: publisher_id.clone(),
        event_type: event_type.clone(),
        payload: payload.clone(),
        metadata: metadata.clone(),
    })
}

fn batch_shape(params: &[&Type]) -> Result<Shape, ShapeError> {
    let [param] = params else { return Err(ShapeError::BatchArity { found: params.len() }) };
    let message = ty::first_type_arg(param, "Vec")
        .filter(|message| ty::last_segment(message).is_some_and(|seg| seg.ident == "NotificationMessage"))
        .ok_or_else(|| ShapeError::NotBatch((*param).clone()))?;
    Ok(Shape::Batch { payload: ty::first_type_arg(message, "NotificationMessage").cloned() })
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::internals::Parse as _;

    fn lower(attr: proc_macro2::TokenStream, item: ItemImpl) -> Endpoint {
        let errors = Ctxt::new();
        let endpoint = Endpoint::from_ast(Args::parse(attr, &errors), &item, &errors);
        errors.check().expect("no grammar errors");
        endpoint
    }

    #[test]
    fn methods_are_matched_to_priorities_and_shapes() {
        let endpoint = lower(
            quote::quote!(),
            syn::parse_quote! {
                impl a::Audit {
                    fn info(&self, ctx: &Context, p: String, e: String, payload: Value, m: Metadata) {}
                    async fn r#error(&self, p: String, e: String, payload: Value, m: Metadata) {}
                    fn warning(&self, p: String, e: String, payload: Value, m: Metadata) {}
                    fn audit(&self, messages: Vec<NotificationMessage<Value>>) {}
                    #[notification(skip)]
                    fn new() -> Self { Audit }
                }
            },
        );
        assert_eq!(endpoint.block.type_name, "Audit");
        let variants: Vec<_> =
            endpoint.methods.iter().map(|m| m.variant.as_ref().map(ToString::to_string)).collect();
        assert_eq!(variants, [Some("Info".into()), Some("Error".into()), None, Some("Audit".into())]);
        assert!(matches!(endpoint.methods[0].shape, Ok(Shape::Single { context: Some(true), .. })));
        assert!(endpoint.methods[1].sig.kind == crate::internals::ast::Kind::Async);
        assert!(matches!(
            endpoint.methods[3].shape,
            Err(ShapeError::Arity { found: 1, with_context: false, looks_like_batch: true })
        ));
    }

    #[test]
    fn batch_methods_take_one_vec_of_messages() {
        let endpoint = lower(
            quote::quote!(batch),
            syn::parse_quote! {
                impl Audit {
                    fn info(&self, messages: Vec<NotificationMessage<Event>>) {}
                    fn warn(&self, messages: Vec<NotificationMessage>) {}
                    fn error(&self, messages: Vec<Event>) {}
                    fn debug(&self) {}
                }
            },
        );
        let shapes = &endpoint.methods;
        assert!(matches!(shapes[0].shape, Ok(Shape::Batch { payload: Some(_) })));
        assert!(matches!(shapes[1].shape, Ok(Shape::Batch { payload: None })));
        assert!(matches!(shapes[2].shape, Err(ShapeError::NotBatch(_))));
        assert!(matches!(shapes[3].shape, Err(ShapeError::BatchArity { found: 0 })));
    }
}
