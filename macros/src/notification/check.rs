//! Stage 3: the rules a notification endpoint must follow, one function per rule.
//!
//! Each rule records a spanned, lower-case error naming the fix; [`all`] runs every rule so one
//! expansion reports every problem. A method whose name is no priority gets that error only:
//! its other problems may vanish once it is renamed or skipped. Trait bounds (payload
//! `Deserialize`, the return type, `Send`) are asserted by the expansion at the user's types.

use super::model::{Endpoint, Method, PRIORITIES, ShapeError};
use crate::internals::{Check, Ctxt, Lower as _, rules};

/// The signature of a plain notification method, as error messages spell it.
const SINGLE_SIG: &str =
    "(&self, [ctx: &Context,] publisher_id: String, event_type: String, payload: T, metadata: Metadata)";
/// The signature of a batch notification method.
const BATCH_SIG: &str = "(&self, messages: Vec<NotificationMessage<T>>)";
/// The priorities, as error messages list them.
const PRIORITY_LIST: &str = "`audit`, `debug`, `info`, `warn`, `error`, `critical` or `sample`";

impl Check for Endpoint {
    /// Runs every rule after the impl block's own (which the pipeline runs).
    fn check(&self, errors: &Ctxt) {
        let (endpoint, names) = (self, &Self::NAMES);
        some_method(endpoint, errors);
        for method in &endpoint.methods {
            if !priority_name(method, errors) {
                continue;
            }
            rules::unsafe_method(names, &method.ident, method.sig.unsafety, errors);
            method_generics(method, errors);
            rules::receiver(names, &method.ident, &method.sig.receiver, errors);
            parameters(method, errors);
        }
    }
}

/// A listener subscribes per priority: an endpoint without one would receive nothing.
fn some_method(endpoint: &Endpoint, errors: &Ctxt) {
    if endpoint.methods.is_empty() {
        errors.spanned(
            &endpoint.block.self_ty,
            format_args!("a notification endpoint needs at least one priority method: {PRIORITY_LIST}"),
        );
    }
}

/// The method's name says which priority it receives; `false` when it names none.
fn priority_name(method: &Method, errors: &Ctxt) -> bool {
    if method.variant.is_some() {
        return true;
    }
    let name = &method.name;
    let hint = suggestion(name).map(|p| format!(" (did you mean `{p}`?)")).unwrap_or_default();
    errors.spanned(
        &method.ident,
        format_args!(
            "`{name}` is not a notification priority{hint}: name the method {PRIORITY_LIST}, or \
             mark it `#[notification(skip)]`"
        ),
    );
    false
}

/// The listener decodes the payload into one concrete type.
fn method_generics(method: &Method, errors: &Ctxt) {
    let generics = &method.sig.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.spanned(
            generics,
            format_args!(
                "a notification method cannot be generic, as the listener must know the payload \
                 type; use a concrete payload type (e.g. `serde_json::Value`), or mark `{}` \
                 `#[notification(skip)]`",
                method.ident
            ),
        );
    }
}

/// oslo's dispatcher passes the parameters by position, in its order.
fn parameters(method: &Method, errors: &Ctxt) {
    let Err(problem) = &method.shape else { return };
    let name = &method.name;
    match problem {
        ShapeError::ContextMut(ty) => errors.spanned(
            ty,
            format_args!(
                "the context of `{name}` is passed as `&Context` or `Context`, not `&mut Context`; \
                 take it by value to modify your copy"
            ),
        ),
        ShapeError::MisplacedContext(ty) => errors.spanned(
            ty,
            format_args!("the context of `{name}` must be its first parameter after `&self`: {SINGLE_SIG}"),
        ),
        ShapeError::Arity { found, with_context, looks_like_batch } => {
            let hint = if *looks_like_batch {
                "; to receive batches, mark the endpoint `#[notification_endpoint(batch)]`"
            } else {
                ", in oslo's order"
            };
            let context = if *with_context { " besides the context" } else { "" };
            errors.at(
                method.params_span,
                format_args!(
                    "notification method `{name}` takes {SINGLE_SIG}: four parameters after the \
                     optional context, found {found}{context}{hint}"
                ),
            );
        }
        ShapeError::BatchArity { found } => errors.at(
            method.params_span,
            format_args!(
                "batch notification method `{name}` takes {BATCH_SIG}, found {found} parameter(s) \
                 after `&self`"
            ),
        ),
        ShapeError::NotBatch(ty) => errors.spanned(
            ty,
            format_args!(
                "batch notification method `{name}` takes {BATCH_SIG}: the messages of one \
                 priority, in a `Vec`"
            ),
        ),
    }
}

/// A priority close to a wrong name: `warning` → `warn`, `Info` → `info`.
fn suggestion(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    PRIORITIES.into_iter().find(|p| lower == *p || (lower.starts_with(p) && lower.len() <= p.len() + 3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::internals::entry::errors_of;

    #[test]
    fn suggests_close_priorities() {
        assert_eq!(suggestion("warning"), Some("warn"));
        assert_eq!(suggestion("Info"), Some("info"));
        assert_eq!(suggestion("errors"), Some("error"));
        assert_eq!(suggestion("notify"), None);
    }

    #[test]
    fn every_rule_reports_and_they_all_collect() {
        let errors = errors_of::<Endpoint>(
            quote::quote!(),
            syn::parse_quote! {
                impl Audit {
                    fn warning(&mut self) {}
                    unsafe fn info(&self, p: String, e: String, payload: Value, m: Metadata) {}
                    fn warn<T>(&mut self, p: String, e: String, payload: T, m: Metadata) {}
                    fn error(&self, p: String, ctx: &Context, e: String, payload: Value, m: Metadata) {}
                    fn audit(&self, ctx: &mut Context, p: String, e: String, payload: Value, m: Metadata) {}
                    fn debug(&self, p: String) {}
                }
            },
        );
        let starts = [
            "`warning` is not a notification priority (did you mean `warn`?)",
            "a notification method cannot be `unsafe`",
            "a notification method cannot be generic",
            "a notification method takes `&self`, not `&mut self`",
            "the context of `error` must be its first parameter",
            "the context of `audit` is passed as `&Context` or `Context`",
            "notification method `debug` takes (&self,",
        ];
        assert_eq!(errors.len(), starts.len(), "{errors:#?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{error:?} does not start with {start:?}");
        }
    }

    #[test]
    fn an_endpoint_needs_a_priority_method() {
        let errors = errors_of::<Endpoint>(
            quote::quote!(),
            syn::parse_quote! {
                impl Audit {
                    #[notification(skip)]
                    fn new() -> Self { Audit }
                }
            },
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("a notification endpoint needs at least one priority method"));
    }
}
