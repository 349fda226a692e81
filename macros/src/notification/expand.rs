//! The static priority table and the `NotificationEndpoint` impl.
//!
//! As in the RPC expansion, trait bounds are asserted at the user's types through small local
//! traits carrying `#[diagnostic::on_unimplemented]` messages that name the method: the
//! payload type (`DeserializeOwned`), the return type (something a listener can interpret) and
//! an async method's future (`Send`).

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::model::{Endpoint, Shape};
use crate::internals::Expand;
use crate::internals::ast::Kind;
use crate::internals::emit::{private, static_info, wrap_in_const};

impl Expand for Endpoint {
    fn expand(&self) -> TokenStream {
        endpoint(self)
    }
}

/// A method as the expansion sees it: one that passed the checks.
struct Method<'a> {
    ident: &'a Ident,
    variant: &'a Ident,
    kind: Kind,
    shape: &'a Shape,
    ret: Option<&'a syn::Type>,
}

impl<'a> Method<'a> {
    /// `None` for a method [`check`](super::check) rejected; the expansion runs only when it
    /// rejected none.
    fn of(method: &'a super::model::Method) -> Option<Self> {
        Some(Self {
            ident: &method.ident,
            variant: method.variant.as_ref()?,
            kind: method.sig.kind,
            shape: method.shape.as_ref().ok()?,
            ret: method.ret.as_ref(),
        })
    }
}

/// The whole expansion, inside `const _: () = { .. };`.
fn endpoint(endpoint: &Endpoint) -> TokenStream {
    let p = private(&endpoint.block.krate);
    let self_ty = &endpoint.block.self_ty;
    let type_name = &endpoint.block.type_name;
    let batch = endpoint.batch;
    let methods: Vec<Method> = endpoint.methods.iter().filter_map(Method::of).collect();
    let rows = methods.iter().map(|m| {
        let variant = m.variant;
        let kind = match m.kind {
            Kind::Async => quote!(Async),
            Kind::Sync => quote!(Sync),
        };
        quote!(#p::PriorityMethod { priority: #p::Priority::#variant, kind: #p::MethodKind::#kind })
    });
    let helpers = methods.iter().map(|m| helpers(&p, m));
    let arms = methods.iter().map(|m| arm(&p, type_name, m));
    let info = static_info(
        &quote!(#p::NotificationEndpointInfo),
        quote!(type_name: #type_name, batch: #batch, methods: &[#(#rows),*],),
    );
    let priority = Ident::new("__courier_priority", Span::mixed_site());
    let messages = messages_ident();
    wrap_in_const(quote! {
            #(#helpers)*

            #[automatically_derived]
            impl #p::NotificationEndpoint for #self_ty {
                fn endpoint_info(&self) -> &'static #p::NotificationEndpointInfo {
                    #info
                }

                #[allow(unused_variables)]
                fn invoke(
                    self: #p::Arc<Self>,
                    #priority: #p::Priority,
                    #messages: #p::Vec<#p::NotificationMessage>,
                ) -> #p::NotificationInvocation {
                    match #priority {
                        #(#arms,)*
                        _ => #p::notification::unsupported(#type_name, #priority),
                    }
                }
            }
    })
}

fn messages_ident() -> Ident {
    Ident::new("__courier_messages", Span::mixed_site())
}

fn payload_trait(method: &Method) -> Ident {
    format_ident!("__CourierPayload_{}", method.ident)
}

fn outcome_trait(method: &Method) -> Ident {
    format_ident!("__CourierOutcome_{}", method.ident)
}

fn send_fn(method: &Method) -> Ident {
    format_ident!("__courier_send_{}", method.ident)
}

/// The payload type as written (`serde_json::Value` when a batch method leaves it out).
fn payload_type(p: &TokenStream, method: &Method) -> TokenStream {
    match method.shape {
        Shape::Single { payload, .. } | Shape::Batch { payload: Some(payload) } => quote!(#payload),
        Shape::Batch { payload: None } => quote!(#p::serde_json::Value),
    }
}

/// The assertion traits of one method.
fn helpers(p: &TokenStream, method: &Method) -> TokenStream {
    let name = method.ident.to_string();
    let payload = payload_trait(method);
    let outcome = outcome_trait(method);
    let payload_message = format!("the payload type of `{name}` does not implement `Deserialize`");
    let outcome_message = format!("`{name}` must return `()`, `NotificationResult`, or a `Result` of either");
    let mut out = quote! {
        #[diagnostic::on_unimplemented(
            message = #payload_message,
            label = "this type must implement `serde::de::DeserializeOwned`",
            note = "payloads are decoded from JSON: derive `serde::Deserialize` for the type and use owned types, or take `serde_json::Value`",
        )]
        trait #payload: #p::Sized {
            fn single(
                __courier_messages: #p::Vec<#p::NotificationMessage>,
                __courier_method: &str,
            ) -> #p::Result<#p::NotificationMessage<Self>, #p::NotificationError>;
            fn batch(
                __courier_messages: #p::Vec<#p::NotificationMessage>,
                __courier_method: &str,
            ) -> #p::Result<#p::Vec<#p::NotificationMessage<Self>>, #p::NotificationError>;
        }
        impl<T: #p::serde::de::DeserializeOwned> #payload for T {
            fn single(
                __courier_messages: #p::Vec<#p::NotificationMessage>,
                __courier_method: &str,
            ) -> #p::Result<#p::NotificationMessage<Self>, #p::NotificationError> {
                #p::notification::single(__courier_messages, __courier_method)
            }
            fn batch(
                __courier_messages: #p::Vec<#p::NotificationMessage>,
                __courier_method: &str,
            ) -> #p::Result<#p::Vec<#p::NotificationMessage<Self>>, #p::NotificationError> {
                #p::notification::batch(__courier_messages, __courier_method)
            }
        }

        #[diagnostic::on_unimplemented(
            message = #outcome_message,
            label = "a notification listener cannot interpret this type",
            note = "return nothing or `NotificationResult::Handled` to acknowledge, `NotificationResult::Requeue` to requeue; an `Err` (any error type, a `String` or a `&str`) is logged and counts as a requeue",
        )]
        trait #outcome {
            fn outcome(self) -> #p::NotificationOutcome;
        }
        impl<T: #p::IntoNotificationOutcome> #outcome for T {
            fn outcome(self) -> #p::NotificationOutcome {
                #p::IntoNotificationOutcome::into_outcome(self)
            }
        }
    };
    if method.kind == Kind::Async {
        let send = send_fn(method);
        let send_trait = format_ident!("__CourierSend_{}", method.ident);
        let message = format!("the future returned by `{name}` is not `Send`");
        out.extend(quote! {
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "this future must be `Send`",
                note = "async methods run as tokio tasks, which may move between threads: do not hold a value that is not `Send` (`Rc`, `RefCell` borrows, `std::sync::MutexGuard`) across an `.await`",
            )]
            trait #send_trait: #p::Send {}
            impl<F: #p::Send> #send_trait for F {}
            fn #send<'a, F>(__courier_future: F) -> #p::Pin<#p::Box<dyn #p::Future<Output = F::Output> + #p::Send + 'a>>
            where
                F: #p::Future + #send_trait + 'a,
            {
                #p::Box::pin(__courier_future)
            }
        });
    }
    out
}

/// One `Priority::X => invocation` arm of `invoke`.
fn arm(p: &TokenStream, type_name: &str, method: &Method) -> TokenStream {
    let messages = messages_ident();
    let message = Ident::new("__courier_message", Span::mixed_site());
    let value = Ident::new("__courier_value", Span::mixed_site());
    let ident = method.ident;
    let variant = method.variant;
    let method_name = format!("{type_name}.{ident}");
    let payload_ty = payload_type(p, method);
    let payload = payload_trait(method);
    let span = match method.shape {
        Shape::Single { payload, .. } | Shape::Batch { payload: Some(payload) } => payload.span(),
        Shape::Batch { payload: None } => ident.span(),
    };
    let (decode, call) = match method.shape {
        Shape::Single { context, publisher_id, event_type, metadata, .. } => {
            let decode = quote_spanned!(span=> <#payload_ty as #payload>::single(#messages, #method_name)?);
            let (a, b, d) = (local("publisher_id"), local("event_type"), local("metadata"));
            let bind = |name: &Ident, ty: &syn::Type, field: &str| {
                let field = Ident::new(field, Span::mixed_site());
                quote_spanned!(ty.span()=> let #name: #ty = #message.#field;)
            };
            let binds = [
                bind(&a, publisher_id, "publisher_id"),
                bind(&b, event_type, "event_type"),
                bind(&d, metadata, "metadata"),
            ];
            let ctx = match context {
                Some(true) => quote!(&#message.context,),
                Some(false) => quote!(#message.context,),
                None => quote!(),
            };
            let decode = quote! {
                let #message = #decode;
                #(#binds)*
            };
            let payload = Ident::new("payload", Span::mixed_site());
            (decode, quote_spanned!(ident.span()=> Self::#ident(&self, #ctx #a, #b, #message.#payload, #d)))
        }
        Shape::Batch { .. } => {
            let decode = quote_spanned!(span=> <#payload_ty as #payload>::batch(#messages, #method_name)?);
            (quote!(let #message = #decode;), quote_spanned!(ident.span()=> Self::#ident(&self, #message)))
        }
    };
    let call = if method.kind == Kind::Async {
        let send = send_fn(method);
        let checked = quote_spanned!(ident.span()=> #send(#call));
        quote!(#checked.await)
    } else {
        call
    };
    let outcome = outcome_trait(method);
    let finish = match method.ret {
        Some(ty) => quote_spanned!(ty.span()=> <#ty as #outcome>::outcome(#value)),
        None => quote!(#outcome::outcome(#value)),
    };
    let body = quote! {
        #decode
        let #value = #call;
        #finish
    };
    if method.kind == Kind::Async {
        quote!(#p::Priority::#variant => #p::notification::async_invocation(async move { #body }))
    } else {
        quote!(#p::Priority::#variant => #p::notification::sync_invocation(move || { #body }))
    }
}

fn local(name: &str) -> Ident {
    Ident::new(&format!("__courier_{name}"), Span::mixed_site())
}
