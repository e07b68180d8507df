//! Functions generic over the scalar type (`fn f<T: Real>(x: T, y: &[T]) -> T`).
//!
//! The AD compiler never needs the concrete float type: generated code calls the rules through
//! `ferrograd::Real`/`Partials`. So a generic function is lowered as if written for `f64` (the
//! type parameter substituted), and emitted in the emitters' generic mode: types over the
//! generic scalar, literals through `Real::from_f64`, the derivative functions generic too. One
//! definition then serves `f32`, `f64` and dual numbers.

use crate::ctxt::Ctxt;
use syn::visit_mut::VisitMut;

/// The scalar type parameter of `item` (`T` in `fn f<T: Real>`), with `item` rewritten for
/// lowering (`T` → `f64`, `T::from_f64(..)` → `f64::from_f64(..)`). `None` if `item` is not
/// generic; generics of any other shape are reported.
pub fn split_generic(cx: &Ctxt, item: &syn::ItemFn) -> Option<(syn::Ident, syn::ItemFn)> {
    let g = &item.sig.generics;
    if g.params.is_empty() && g.where_clause.is_none() {
        return None;
    }
    let unsupported =
        "generic `#[differentiable]` functions may have one type parameter bounded by \
        `Real` (`fn f<T: Real>(x: T) -> T`), and no other generics";
    let mut tys = g.params.iter().filter_map(|p| match p {
        syn::GenericParam::Type(t) => Some(t),
        _ => None,
    });
    let (Some(tp), None) = (tys.next(), tys.next()) else {
        cx.error_spanned(g, unsupported);
        return None;
    };
    if g.params.len() != 1 {
        cx.error_spanned(g, unsupported);
        return None;
    }
    let is_real = |b: &syn::TypeParamBound| {
        matches!(b, syn::TypeParamBound::Trait(t)
            if t.path.segments.last().map(|s| s.ident == "Real").unwrap_or(false))
    };
    let mut bounded = tp.bounds.iter().any(is_real);
    if let Some(w) = &g.where_clause {
        for pred in &w.predicates {
            match pred {
                syn::WherePredicate::Type(pt) if matches!(&pt.bounded_ty, syn::Type::Path(p) if p.path.is_ident(&tp.ident)) =>
                {
                    bounded |= pt.bounds.iter().any(is_real);
                }
                other => {
                    cx.error_spanned(other, unsupported);
                    return None;
                }
            }
        }
    }
    if !bounded {
        cx.error_spanned(
            tp,
            "the scalar type parameter must be bounded by `ferrograd::Real` (`T: Real`)",
        );
        return None;
    }
    // Mixing the generic scalar with a concrete float type would need conversions the
    // generated code cannot see.
    let mut types = proc_macro2::TokenStream::new();
    for a in &item.sig.inputs {
        if let syn::FnArg::Typed(pt) = a {
            quote::ToTokens::to_tokens(&pt.ty, &mut types);
        }
    }
    quote::ToTokens::to_tokens(&item.sig.output, &mut types);
    if mentions_float(types) {
        cx.error_spanned(
            &item.sig,
            "a generic `#[differentiable]` function uses its type parameter for every float: replace `f64`/`f32` by it",
        );
        return None;
    }
    let mut lowered = item.clone();
    lowered.sig.generics = syn::Generics::default();
    Substitute(tp.ident.clone()).visit_item_fn_mut(&mut lowered);
    Some((tp.ident.clone(), lowered))
}

/// Does a type mention `f64` or `f32`?
fn mentions_float(ts: proc_macro2::TokenStream) -> bool {
    ts.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == "f64" || i == "f32",
        proc_macro2::TokenTree::Group(g) => mentions_float(g.stream()),
        _ => false,
    })
}

/// `T` → `f64` in types and in paths (`T::from_f64`).
struct Substitute(syn::Ident);

impl VisitMut for Substitute {
    fn visit_path_mut(&mut self, p: &mut syn::Path) {
        if let Some(first) = p.segments.first_mut() {
            if first.ident == self.0 && first.arguments.is_none() {
                first.ident = syn::Ident::new("f64", first.ident.span());
            }
        }
        syn::visit_mut::visit_path_mut(self, p);
    }
}
