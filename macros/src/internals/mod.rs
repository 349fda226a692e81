//! What both endpoint macros share, as serde's derives share `internals/`: the error collector
//! ([`ctxt`]), the attribute grammar ([`attr`]), the lowered impl block and method signature
//! ([`ast`]), the type-shape helpers ([`ty`]), the rules that read the same for both
//! ([`rules`]), the emission helpers ([`emit`]) and the one `parse -> model -> check -> expand`
//! pipeline that drives a macro, with one trait per stage ([`entry`]).

pub mod ast;
pub mod attr;
pub mod ctxt;
pub mod emit;
pub mod entry;
pub mod rules;
pub mod ty;

pub use ctxt::Ctxt;
pub use entry::{Check, Expand, Lower, Names, Parse};
