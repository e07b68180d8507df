//! `#[derive(ferrograd::Differentiable)]`: the `ferrograd::Differentiable` impl of a struct of
//! parameters (its `zero_like`, which gives adjoint and tangent values of the same shape).
//!
//! Fields are classified by their written type, as serde_derive does: integers, `bool` and
//! `char` (and arrays/`Vec`s of them) are inactive and copied; every other field (floats,
//! arrays and `Vec`s of floats, nested structs) must itself be `Differentiable`, which rustc
//! checks. References are rejected here: an adjoint has to own its storage.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

pub fn derive_differentiable(input: TokenStream) -> TokenStream {
    let item: syn::DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    match expand(&item) {
        Ok(t) => t,
        Err(e) => e.to_compile_error(),
    }
}

fn expand(item: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let syn::Data::Struct(data) = &item.data else {
        return Err(syn::Error::new_spanned(
            &item.ident,
            "`#[derive(Differentiable)]` applies to structs (of floats, float arrays, `Vec`s of floats and nested `Differentiable` structs)",
        ));
    };
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut bounds = Vec::new();
    let mut inits = Vec::new();
    let mut adds = Vec::new();
    for (k, field) in data.fields.iter().enumerate() {
        let member = match &field.ident {
            Some(id) => quote!(#id),
            None => {
                let i = syn::Index::from(k);
                quote!(#i)
            }
        };
        if let Some(r) = reference_in(&field.ty) {
            push(syn::Error::new(
                r,
                "a field of a `Differentiable` struct cannot be a reference: its adjoint \
                 (`d_p: &mut S`) must own its storage; own the data (`Vec<f64>`, `[f64; N]`) \
                 or pass the borrowed data as a separate slice parameter",
            ));
            continue;
        }
        let span = field.ty.span();
        if is_inactive(&field.ty) {
            inits.push(quote_spanned!(span=> #member: ::core::clone::Clone::clone(&self.#member)));
        } else {
            let ty = &field.ty;
            bounds.push(quote_spanned!(span=> #ty: ::ferrograd::__private::Differentiable));
            inits.push(
                quote_spanned!(span=> #member: ::ferrograd::__private::Differentiable::zero_like(&self.#member)),
            );
            adds.push(quote_spanned!(span=> ::ferrograd::__private::Differentiable::add_from(&mut self.#member, &other.#member);));
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let name = &item.ident;
    let (impl_g, ty_g, where_c) = item.generics.split_for_impl();
    let mut preds: Vec<TokenStream> = where_c
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    if !item.generics.params.is_empty() {
        // Generic structs need the field bounds spelled out; concrete ones are checked by
        // the calls in `zero_like` (with the field's span).
        preds.extend(bounds);
    }
    let where_tokens = if preds.is_empty() {
        TokenStream::new()
    } else {
        quote!(where #(#preds),*)
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_g ::ferrograd::__private::Differentiable for #name #ty_g #where_tokens {
            fn zero_like(&self) -> Self {
                #name { #(#inits),* }
            }
            fn add_from(&mut self, other: &Self) {
                let _ = other;
                #(#adds)*
            }
        }
    })
}

/// The span of a reference inside a field type, if any.
fn reference_in(ty: &syn::Type) -> Option<proc_macro2::Span> {
    match ty {
        syn::Type::Reference(r) => Some(r.and_token.span),
        syn::Type::Array(a) => reference_in(&a.elem),
        syn::Type::Slice(s) => reference_in(&s.elem),
        syn::Type::Paren(p) => reference_in(&p.elem),
        syn::Type::Tuple(t) => t.elems.iter().find_map(reference_in),
        syn::Type::Path(p) => p.path.segments.iter().find_map(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                syn::GenericArgument::Type(t) => reference_in(t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    }
}

/// Integers, `bool`, `char`, and arrays/`Vec`s of them: copied by `zero_like`.
fn is_inactive(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Array(a) => is_inactive(&a.elem),
        syn::Type::Paren(p) => is_inactive(&p.elem),
        syn::Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            let name = last.ident.to_string();
            if name == "Vec" {
                if let syn::PathArguments::AngleBracketed(a) = &last.arguments {
                    if let Some(syn::GenericArgument::Type(t)) = a.args.first() {
                        return is_inactive(t);
                    }
                }
                return false;
            }
            crate::lower::is_int_ty(ty)
                || (p.path.segments.len() == 1
                    && matches!(name.as_str(), "bool" | "char" | "String"))
        }
        _ => false,
    }
}
