//! Primal code: IR expressions back to tokens, with renamed variables. In *generic* mode
//! (used for Hessians) float literals and casts go through `Real::from_f64` so that the same
//! code runs on dual numbers.

use crate::ir::*;
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};

/// The scalar type parameter of generic-mode code.
pub fn generic_ty() -> syn::Ident {
    syn::Ident::new("__FgT", Span::call_site())
}

pub fn var_ident(f: &Func, v: VarId) -> syn::Ident {
    let var = &f.vars[v];
    syn::Ident::new(
        &var.name,
        if var.synthetic {
            Span::call_site()
        } else {
            var.span
        },
    )
}

#[derive(Clone, Copy)]
pub struct ExprCx<'a> {
    pub f: &'a Func,
    /// Float literals and casts through `Real::from_f64` (generic scalar code).
    pub generic: bool,
    /// Calls go to the `__fg_<g>_pullback_generic::<T>` functions emitted for Hessians
    /// (otherwise to `g_pullback`, generic or not as `g` is).
    pub generic_callees: bool,
    /// The Hessian's sweep (`reverse::emit_hessian_sweep`): calls of this function's outlined
    /// loops go to their `_const` variants, which take its constant event slices as plain
    /// values (`vectorize::constant_events`).
    pub constant_events: bool,
}

impl ExprCx<'_> {
    /// The function a call of `path` runs (`suffix`: `_pullback`, `_value_pullback`, …): see
    /// [`callee`]; in the Hessian's sweep, an outlined loop's `_const` variant.
    pub fn callee(&self, path: &syn::Path, suffix: &str) -> TokenStream {
        if self.constant_events && self.generic_callees {
            let loop_prefix = format!("__fg_{}_loop", self.f.name);
            if let Some(id) = path.get_ident() {
                if id.to_string().starts_with(&loop_prefix) {
                    return generic_callee(path, &format!("{suffix}_const"));
                }
            }
        }
        callee(path, suffix, self.generic_callees)
    }

    pub fn float_const(&self, inner: TokenStream) -> TokenStream {
        if self.generic {
            let t = generic_ty();
            quote!(<#t as ::ferrograd::__private::Real>::from_f64(#inner))
        } else {
            inner
        }
    }

    pub fn expr(&self, e: &Expr) -> TokenStream {
        match e {
            Expr::Lit(l) => match l {
                syn::Lit::Float(fl) if self.generic => {
                    let digits =
                        syn::LitFloat::new(&format!("{}f64", fl.base10_digits()), fl.span());
                    self.float_const(digits.to_token_stream())
                }
                syn::Lit::Int(i) if self.generic && matches!(i.suffix(), "f32" | "f64") => {
                    let digits =
                        syn::LitFloat::new(&format!("{}.0f64", i.base10_digits()), i.span());
                    self.float_const(digits.to_token_stream())
                }
                l => l.to_token_stream(),
            },
            Expr::Const(p) => {
                if self.generic && self.f.ty_of(e) == Ty::Float {
                    self.float_const(quote!((#p as f64)))
                } else {
                    p.to_token_stream()
                }
            }
            Expr::Var(v) => var_ident(self.f, *v).to_token_stream(),
            Expr::Index(v, i) => {
                let b = var_ident(self.f, *v);
                let i = self.expr(i);
                quote!(#b[#i])
            }
            Expr::Neg(a) => {
                let a = self.expr(a);
                quote!((-#a))
            }
            Expr::Not(a) => {
                let a = self.expr(a);
                quote!((!#a))
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                quote!((#a #op #b))
            }
            Expr::Method(r, m, args) => {
                let r = self.expr(r);
                let args = args.iter().map(|a| self.expr(a));
                quote!(#r.#m(#(#args),*))
            }
            Expr::Call {
                path, args, try_, ..
            } => {
                let path = self.callee(path, "");
                let args = args.iter().map(|a| self.expr(a));
                let q = try_.then(|| quote!(?));
                quote!(#path(#(#args),*)#q)
            }
            Expr::Cast(a, ty, t) => {
                let inner = self.expr(a);
                if self.generic && *t == Ty::Float {
                    self.float_const(quote!(((#inner) as f64)))
                } else {
                    quote!(((#inner) as #ty))
                }
            }
            Expr::Ref(a, m) => {
                let a = self.expr(a);
                if *m {
                    quote!(&mut #a)
                } else {
                    quote!(&#a)
                }
            }
            Expr::Array(items) => {
                let items = items.iter().map(|a| self.expr(a));
                quote!([#(#items),*])
            }
            Expr::Repeat(a, n) => {
                let a = self.expr(a);
                quote!([#a; #n])
            }
            Expr::Matches(a, p) => {
                let a = self.expr(a);
                quote!(::core::matches!(#a, #p))
            }
            Expr::Raw(t) => t.clone(),
            Expr::SliceOf(a) => {
                let a = self.expr(a);
                quote!(&(#a)[..])
            }
            Expr::Field(a, m) => {
                let a = self.expr(a);
                quote!((#a).#m)
            }
            Expr::IndexOf(a, i) => {
                let (a, i) = (self.expr(a), self.expr(i));
                quote!((#a)[#i])
            }
            Expr::SubSlice {
                var,
                lo,
                hi,
                mutable,
            } => {
                let b = var_ident(self.f, *var);
                let r = self.range(lo.as_deref(), hi.as_deref());
                if *mutable {
                    quote!(&mut #b[#r])
                } else {
                    quote!(&#b[#r])
                }
            }
        }
    }

    /// `lo..hi`, `lo..`, `..hi` or `..`.
    pub fn range(&self, lo: Option<&Expr>, hi: Option<&Expr>) -> TokenStream {
        let lo = lo.map(|e| self.expr(e));
        let hi = hi.map(|e| self.expr(e));
        quote!(#lo..#hi)
    }

    pub fn place(&self, p: &Place) -> TokenStream {
        match p {
            Place::Var(v) => var_ident(self.f, *v).to_token_stream(),
            Place::Index(v, i) => {
                let b = var_ident(self.f, *v);
                let i = self.expr(i);
                quote!(#b[#i])
            }
        }
    }
}

/// `path::g` → `path::g<suffix>`, or in generic mode `path::__fg_g<suffix>_generic::<__FgT>`.
pub fn callee(path: &syn::Path, suffix: &str, generic: bool) -> TokenStream {
    if generic {
        generic_callee(path, suffix)
    } else {
        let mut p = path.clone();
        if let Some(last) = p.segments.last_mut() {
            last.ident = syn::Ident::new(&format!("{}{}", last.ident, suffix), last.ident.span());
        }
        p.to_token_stream()
    }
}

fn generic_callee(path: &syn::Path, suffix: &str) -> TokenStream {
    let mut p = path.clone();
    if let Some(last) = p.segments.last_mut() {
        last.ident = syn::Ident::new(
            &format!("__fg_{}{}_generic", last.ident, suffix),
            last.ident.span(),
        );
    }
    let t = generic_ty();
    quote!(#p::<#t>)
}
