//! Type-shape helpers: what a type is, read syntactically (a macro sees no types).
//!
//! Every helper sees through invisible groups and parentheses first: a type that reached the
//! macro through a `macro_rules!` `$t:ty` fragment arrives wrapped in a `Type::Group`, and
//! `(Context)` is `Context`.

use syn::ext::IdentExt as _;
use syn::{GenericArgument, PathArguments, PathSegment, Type};

/// The type without the invisible groups and parentheses around it.
pub fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        other => other,
    }
}

/// The last path segment of a path type.
pub fn last_segment(ty: &Type) -> Option<&PathSegment> {
    match peel(ty) {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

/// The type arguments of a type whose last path segment is `name`; `Some(vec![])` for `name`
/// without arguments, `None` for another type.
pub fn type_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let segment = last_segment(ty).filter(|segment| segment.ident == name)?;
    Some(match &segment.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// The first type argument of a type whose last path segment is `name`.
pub fn first_type_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    type_args(ty, name)?.into_iter().next()
}

/// How a parameter takes the request context.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContextKind {
    /// `&Context`.
    Ref,
    /// `Context`.
    Value,
    /// `&mut Context` (neither macro supports it).
    Mut,
}

/// Whether the type is the request context, matched by the name `Context` (the last path
/// segment, without type arguments), and how it is taken.
pub fn context_kind(ty: &Type) -> Option<ContextKind> {
    let is_context = |ty: &Type| is_named(ty, "Context");
    match peel(ty) {
        Type::Reference(r) if is_context(&r.elem) => {
            Some(if r.mutability.is_some() { ContextKind::Mut } else { ContextKind::Ref })
        }
        ty if is_context(ty) => Some(ContextKind::Value),
        _ => None,
    }
}

/// Whether `ty` (a path, not a reference) ends in `name` without generic arguments.
pub fn is_named(ty: &Type, name: &str) -> bool {
    last_segment(ty).is_some_and(|seg| seg.ident == name && seg.arguments.is_none())
}

/// The type's name, as an endpoint reports it: the last path segment's identifier (without
/// `r#`), or the type as written.
pub fn type_name(ty: &Type) -> String {
    match last_segment(ty) {
        Some(seg) => seg.ident.unraw().to_string(),
        None => quote::quote!(#ty).to_string().replace(' ', ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ty` wrapped in the invisible group a `macro_rules!` `$t:ty` fragment leaves.
    fn grouped(ty: Type) -> Type {
        let group = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote::quote!(#ty));
        let grouped: Type = syn::parse2(quote::quote!(#group)).expect("a type");
        assert!(matches!(grouped, Type::Group(_)));
        grouped
    }

    #[test]
    fn the_context_is_recognised_through_groups_and_parens() {
        assert_eq!(context_kind(&syn::parse_quote!(&Context)), Some(ContextKind::Ref));
        assert_eq!(context_kind(&syn::parse_quote!(courier::Context)), Some(ContextKind::Value));
        assert_eq!(context_kind(&syn::parse_quote!(&mut Context)), Some(ContextKind::Mut));
        assert_eq!(context_kind(&syn::parse_quote!(&(Context))), Some(ContextKind::Ref));
        assert_eq!(context_kind(&grouped(syn::parse_quote!(&Context))), Some(ContextKind::Ref));
        let inner = grouped(syn::parse_quote!(Context));
        assert_eq!(context_kind(&syn::parse_quote!(&#inner)), Some(ContextKind::Ref));
        assert_eq!(context_kind(&syn::parse_quote!(Context<T>)), None);
        assert_eq!(context_kind(&syn::parse_quote!(String)), None);
    }

    #[test]
    fn type_arguments_are_read_by_the_last_segment() {
        let ty: Type = syn::parse_quote!(std::result::Result<u8, E>);
        assert_eq!(type_args(&ty, "Result").map(|args| args.len()), Some(2));
        assert_eq!(type_args(&syn::parse_quote!(io::Result), "Result").map(|a| a.len()), Some(0));
        assert!(type_args(&ty, "Option").is_none());
        let vec = grouped(syn::parse_quote!(Vec<NotificationMessage<T>>));
        let message = first_type_arg(&vec, "Vec").expect("an argument");
        assert!(first_type_arg(message, "NotificationMessage").is_some());
    }

    #[test]
    fn type_names_drop_paths_and_raw_prefixes() {
        assert_eq!(type_name(&syn::parse_quote!(a::r#Compute)), "Compute");
        assert_eq!(type_name(&grouped(syn::parse_quote!(Audit))), "Audit");
        assert_eq!(type_name(&syn::parse_quote!([u8; 4])), "[u8;4]");
    }
}
