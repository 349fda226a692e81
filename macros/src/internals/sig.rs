//! The parts of a method signature both macros lower the same way.

use proc_macro2::Span;
use syn::{ReceiverKind, Signature};

/// How a method runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A plain `fn`: runs on the blocking pool.
    Sync,
    /// An `async fn`: runs as a task.
    Async,
}

impl Kind {
    /// `Async` for an `async fn`.
    pub fn of(sig: &Signature) -> Self {
        if sig.asyncness.is_some() { Self::Async } else { Self::Sync }
    }
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

impl Receiver {
    /// The receiver of `sig`.
    pub fn of(sig: &Signature) -> Self {
        match sig.receiver() {
            None => Self::None,
            Some(r) => match &r.kind {
                ReceiverKind::Reference(_, _, None) => Self::Ref,
                ReceiverKind::Reference(..) => Self::RefMut(r.clone()),
                ReceiverKind::Value => Self::Value(r.clone()),
                _ => Self::Typed(r.clone()),
            },
        }
    }
}

/// Where `unsafe` is written, for an `unsafe fn`.
pub fn unsafety(sig: &Signature) -> Option<Span> {
    match &sig.safety {
        syn::Safety::Unsafe(token) => Some(token.span),
        _ => None,
    }
}
