//! The parts of an impl block both macros lower the same way, documented like serde's
//! `internals/ast.rs`: the block itself ([`Block`]) and the pieces of a method signature
//! ([`MethodSig`]).

use proc_macro2::Span;
use syn::{Generics, ItemImpl, LitStr, Path, ReceiverKind, Signature, Type};

use super::{attr, ty};

/// What both macros keep of the impl block itself.
pub struct Block {
    /// How generated code names the courier crate (`::courier` unless `crate = "..."`).
    pub krate: Path,
    /// The type the impl block is for.
    pub self_ty: Type,
    /// The type's name, as the endpoint reports it (`type_name` of its info).
    pub type_name: String,
    /// The impl block's generics (neither macro supports any).
    pub generics: Generics,
    /// `Some` when the impl block implements a trait (both macros need an inherent impl).
    pub trait_path: Option<Path>,
}

impl Block {
    /// Lowers `item`; `krate` is the `crate = "..."` argument, if given.
    pub fn from_ast(item: &ItemImpl, krate: Option<(Path, LitStr)>) -> Self {
        Self {
            krate: attr::crate_or_default(krate),
            self_ty: (*item.self_ty).clone(),
            type_name: ty::type_name(&item.self_ty),
            generics: item.generics.clone(),
            trait_path: item.trait_.as_ref().map(|(path, _)| path.clone()),
        }
    }
}

/// How a method runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A plain `fn`: runs on the blocking pool.
    Sync,
    /// An `async fn`: runs as a task.
    Async,
}

/// What both macros keep of a method's signature, besides its name and parameters.
pub struct MethodSig {
    /// How it runs: decided by `async`.
    pub kind: Kind,
    /// How it takes `self`.
    pub receiver: Receiver,
    /// The method's own generics (neither macro supports any).
    pub generics: Generics,
    /// Where `unsafe` is written, for an `unsafe fn` (not supported).
    pub unsafety: Option<Span>,
}

impl MethodSig {
    /// Lowers `sig`.
    pub fn of(sig: &Signature) -> Self {
        Self {
            kind: Kind::of(sig),
            receiver: Receiver::of(sig),
            generics: sig.generics.clone(),
            unsafety: unsafety(sig),
        }
    }
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
fn unsafety(sig: &Signature) -> Option<Span> {
    match &sig.safety {
        syn::Safety::Unsafe(token) => Some(token.span),
        _ => None,
    }
}
