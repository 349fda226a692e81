//! What both endpoint macros share, as serde's derives share `internals/`: the error collector
//! ([`ctxt`]), the attribute grammar ([`attr`]), the type-shape helpers ([`ty`]), the rules
//! that read the same for both ([`rules`]), the emission helpers ([`emit`]) and the one
//! `parse -> model -> check -> expand` pipeline that drives a macro ([`entry`]).

pub mod attr;
pub mod ctxt;
pub mod emit;
pub mod entry;
pub mod rules;
pub mod sig;
pub mod ty;

pub use ctxt::Ctxt;
pub use entry::{Frontend, Names};
