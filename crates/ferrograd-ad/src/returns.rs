//! Functions that return tuples of floats: `fn polar(x: f64, y: f64) -> (f64, f64)`.
//!
//! A tuple result is a fixed number of float outputs, which the pipeline already
//! differentiates when they are written into a `&mut` slice. So such a function is compiled as
//! `__fg_polar_tuple(x, y, __fg_out: &mut [f64])` (every `(a, b)` in return position becomes
//! `__fg_out[0] = a; __fg_out[1] = b;`), and the user's names are thin wrappers:
//! `polar_pullback(x, y, d_ret0, d_ret1, d_x, d_y)` (one seed per element),
//! `polar_pushforward(x, y, t_x, t_y) -> ((f64, f64), (f64, f64))` (values, tangents) and
//! `polar_jacobian(x, y, jac)` (one row per element). In a differentiable caller,
//! `let (r, phi) = polar(x, y);` becomes a call of `__fg_polar_tuple` into a local array, whose
//! derivatives are found by name like any other call's.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::visit_mut::VisitMut;

/// The element type and arity of a tuple-of-floats return type (`None` for other types).
pub fn tuple_return(sig: &syn::Signature) -> Option<(syn::Type, usize)> {
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let syn::Type::Tuple(t) = &**ty else {
        return None;
    };
    if t.elems.len() < 2 {
        return None;
    }
    let first = t.elems.first()?.clone();
    let generic = sig.generics.params.iter().find_map(|g| match g {
        syn::GenericParam::Type(t) => Some(t.ident.to_string()),
        _ => None,
    });
    let is_float = |ty: &syn::Type| {
        matches!(ty, syn::Type::Path(p) if p.qself.is_none() && p.path.get_ident().is_some_and(|i| {
            i == "f64" || i == "f32" || Some(i.to_string()) == generic
        }))
    };
    let same = t.elems.iter().all(|e| {
        is_float(e) && e.to_token_stream().to_string() == first.to_token_stream().to_string()
    });
    same.then_some((first, t.elems.len()))
}

fn tuple_name(name: &syn::Ident) -> syn::Ident {
    format_ident!("__fg_{}_tuple", name)
}

/// The compiled form of a tuple-returning function: `__fg_f_tuple(params…, __fg_out)`.
pub fn flat_fn(item: &syn::ItemFn, elem: &syn::Type, arity: usize) -> syn::Result<syn::ItemFn> {
    let mut flat = item.clone();
    flat.sig.ident = tuple_name(&item.sig.ident);
    flat.sig.output = syn::ReturnType::Default;
    flat.sig
        .inputs
        .push(syn::parse_quote!(__fg_out: &mut [#elem]));
    flat.attrs.retain(|a| !a.path().is_ident("doc"));
    let mut rw = ReturnWrites { arity, error: None };
    rw.visit_block_mut(&mut flat.block);
    if let Some(syn::Stmt::Expr(tail, None)) = flat.block.stmts.last_mut() {
        let t = rw.tail(tail.clone());
        *tail = t;
    }
    match rw.error {
        Some(e) => Err(e),
        None => Ok(flat),
    }
}

/// Rewrites `return (a, b)` and the tail `(a, b)` into writes of `__fg_out`.
struct ReturnWrites {
    arity: usize,
    error: Option<syn::Error>,
}

impl ReturnWrites {
    fn writes(&mut self, e: syn::Expr) -> syn::Expr {
        match e {
            syn::Expr::Tuple(t) if t.elems.len() == self.arity => {
                let idx = (0..self.arity).map(syn::Index::from);
                let elems = t.elems.iter();
                syn::parse_quote!({ #(__fg_out[#idx] = #elems;)* })
            }
            syn::Expr::Paren(p) => self.writes(*p.expr),
            syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                // A local tuple: its fields.
                let fields = (0..self.arity).map(syn::Index::from);
                let idx = (0..self.arity).map(syn::Index::from);
                syn::parse_quote!({ #(__fg_out[#idx] = #p.#fields;)* })
            }
            other => {
                let err = syn::Error::new_spanned(
                    &other,
                    "a function returning a tuple must return a tuple expression `(a, b)` or a \
                     local tuple variable here",
                );
                match &mut self.error {
                    Some(all) => all.combine(err),
                    None => self.error = Some(err),
                }
                other
            }
        }
    }

    /// The tail of the body: tuples, and `if`/blocks whose branches end in tuples.
    fn tail(&mut self, e: syn::Expr) -> syn::Expr {
        match e {
            syn::Expr::If(mut i) => {
                self.block_tail(&mut i.then_branch);
                if let Some((_, el)) = &mut i.else_branch {
                    let new = self.tail((**el).clone());
                    **el = new;
                }
                syn::Expr::If(i)
            }
            syn::Expr::Block(mut b) => {
                self.block_tail(&mut b.block);
                syn::Expr::Block(b)
            }
            other => self.writes(other),
        }
    }

    fn block_tail(&mut self, b: &mut syn::Block) {
        if let Some(syn::Stmt::Expr(tail, None)) = b.stmts.last_mut() {
            let t = self.tail(tail.clone());
            *tail = t;
        }
    }
}

impl VisitMut for ReturnWrites {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        if let syn::Expr::Return(r) = e {
            if let Some(v) = r.expr.take() {
                let w = self.writes(*v);
                *e = syn::parse_quote!({ #w return; });
                return;
            }
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// The user-named wrappers over the tuple function's generated derivatives (`gen`).
pub fn wrappers(
    item: &syn::ItemFn,
    elem: &syn::Type,
    arity: usize,
    gen: &TokenStream,
) -> syn::Result<TokenStream> {
    let file: syn::File = syn::parse2(gen.clone())?;
    let name = &item.sig.ident;
    let flat = tuple_name(name);
    let vis = &item.vis;
    let generics = &item.sig.generics;
    let user_t = generics.params.iter().find_map(|g| match g {
        syn::GenericParam::Type(t) => Some(t.ident.clone()),
        _ => None,
    });
    let turbofish = user_t.as_ref().map(|t| quote!(::<#t>));
    let n_primal = item.sig.inputs.len();
    let find = |suffix: &str| {
        let want = format_ident!("{}{}", flat, suffix);
        file.items.iter().find_map(|i| match i {
            syn::Item::Fn(f) if f.sig.ident == want => Some(f.clone()),
            _ => None,
        })
    };
    let rename = |t: TokenStream| -> TokenStream {
        match &user_t {
            Some(u) => crate::structs::rename_generic(t, Some(u)),
            None => t,
        }
    };
    let primal_args: Vec<TokenStream> = item
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(pt) => match &*pt.pat {
                syn::Pat::Ident(pi) => {
                    let id = &pi.ident;
                    Some(quote!(#id))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    let inputs: Vec<TokenStream> = item.sig.inputs.iter().map(|a| quote!(#a)).collect();
    let zero = quote!(<#elem as ::core::default::Default>::default());
    let mut out = TokenStream::new();

    if let Some(pb) = find("_pullback") {
        let seeds: Vec<syn::Ident> = (0..arity).map(|k| format_ident!("d_ret{}", k)).collect();
        let mut ins = inputs.clone();
        ins.extend(seeds.iter().map(|s| quote!(#s: #elem)));
        let mut args = primal_args.clone();
        args.push(quote!(&mut __fg_value[..]));
        for a in pb.sig.inputs.iter().skip(n_primal + 1) {
            let syn::FnArg::Typed(pt) = a else { continue };
            let syn::Pat::Ident(pi) = &*pt.pat else {
                continue;
            };
            if pi.ident == "d___fg_out" {
                args.push(quote!(&mut __fg_seed[..]));
            } else {
                ins.push(rename(quote!(#a)));
                let id = &pi.ident;
                args.push(quote!(#id));
            }
        }
        let wrapper = format_ident!("{}_pullback", name);
        let call_name = format_ident!("{}_pullback", flat);
        let doc = format!(
            "Reverse-mode derivative of [`{name}`] generated by `#[differentiable]`: one seed per \
             element of the result (`d_ret0`, `d_ret1`, …), parameter adjoints added into the \
             trailing `d_*` arguments."
        );
        out.extend(quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments, non_snake_case)]
            #[inline]
            #vis fn #wrapper #generics (#(#ins),*) {
                let mut __fg_value = [#zero; #arity];
                let mut __fg_seed = [#(#seeds),*];
                #call_name #turbofish (#(#args),*);
            }
        });
    }

    if let Some(pf) = find("_pushforward") {
        let mut ins = inputs.clone();
        let mut args = primal_args.clone();
        args.push(quote!(&mut __fg_value[..]));
        for a in pf.sig.inputs.iter().skip(n_primal + 1) {
            let syn::FnArg::Typed(pt) = a else { continue };
            let syn::Pat::Ident(pi) = &*pt.pat else {
                continue;
            };
            if pi.ident == "t___fg_out" {
                args.push(quote!(&mut __fg_tangent[..]));
            } else {
                ins.push(rename(quote!(#a)));
                let id = &pi.ident;
                args.push(quote!(#id));
            }
        }
        let wrapper = format_ident!("{}_pushforward", name);
        let call_name = format_ident!("{}_pushforward", flat);
        let tys = (0..arity).map(|_| elem.clone());
        let tys2 = (0..arity).map(|_| elem.clone());
        let vi = (0..arity).map(syn::Index::from);
        let ti = (0..arity).map(syn::Index::from);
        let doc = format!(
            "Forward mode of [`{name}`] generated by `#[differentiable]`: the result and its \
             tangent along `t_*`, as tuples."
        );
        out.extend(quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments, non_snake_case, clippy::type_complexity)]
            #[inline]
            #vis fn #wrapper #generics (#(#ins),*) -> ((#(#tys),*), (#(#tys2),*)) {
                let mut __fg_value = [#zero; #arity];
                let mut __fg_tangent = [#zero; #arity];
                #call_name #turbofish (#(#args),*);
                ((#(__fg_value[#vi]),*), (#(__fg_tangent[#ti]),*))
            }
        });
    }

    if let Some(jac) = find("_jacobian") {
        let mut ins = inputs.clone();
        let mut args = primal_args.clone();
        args.push(quote!(&mut __fg_value[..]));
        for a in jac.sig.inputs.iter().skip(n_primal + 1) {
            ins.push(quote!(#a));
            if let syn::FnArg::Typed(pt) = a {
                if let syn::Pat::Ident(pi) = &*pt.pat {
                    let id = &pi.ident;
                    args.push(quote!(#id));
                }
            }
        }
        let wrapper = format_ident!("{}_jacobian", name);
        let call_name = format_ident!("{}_jacobian", flat);
        let ret = &jac.sig.output;
        let doc = format!(
            "Jacobian of [`{name}`] generated by `#[differentiable]`: one row per element of the \
             result, row-major over the differentiable inputs flattened in parameter order."
        );
        out.extend(quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments, non_snake_case)]
            #[inline]
            #vis fn #wrapper #generics (#(#ins),*) #ret {
                let mut __fg_value = [#zero; #arity];
                #call_name (#(#args),*)
            }
        });
    }
    Ok(out)
}

/// In a differentiable body: `let (a, b) = g(args);` → a call of `__fg_g_tuple` into a local
/// array, then `let a = arr[0]; let b = arr[1];` (the tuple function's derivatives are then
/// found by name).
pub fn rewrite_tuple_calls(item: &mut syn::ItemFn) {
    // The zero the array starts from: `0.0`, or `T::from_f64(0.0)` in a function generic over
    // `T: Real` (the rewritten function is also the emitted primal).
    let zero = match item.sig.generics.params.iter().find_map(|g| match g {
        syn::GenericParam::Type(t) => Some(t.ident.clone()),
        _ => None,
    }) {
        Some(t) => quote!(#t::from_f64(0.0)),
        None => quote!(0.0),
    };
    let mut rw = TupleCalls { n: 0, zero };
    rw.visit_block_mut(&mut item.block);
}

struct TupleCalls {
    n: usize,
    zero: TokenStream,
}

impl VisitMut for TupleCalls {
    fn visit_block_mut(&mut self, b: &mut syn::Block) {
        let mut out = Vec::with_capacity(b.stmts.len());
        for mut s in std::mem::take(&mut b.stmts) {
            syn::visit_mut::visit_stmt_mut(self, &mut s);
            let syn::Stmt::Local(l) = &s else {
                out.push(s);
                continue;
            };
            let pat = match &l.pat {
                syn::Pat::Tuple(t) => Some(t),
                _ => None,
            };
            let call = l.init.as_ref().and_then(|i| match &*i.expr {
                syn::Expr::Call(c) if i.diverge.is_none() => Some(c),
                _ => None,
            });
            let (Some(pat), Some(call)) = (pat, call) else {
                out.push(s);
                continue;
            };
            let syn::Expr::Path(fp) = &*call.func else {
                out.push(s);
                continue;
            };
            let mut path = fp.path.clone();
            let Some(last) = path.segments.last_mut() else {
                out.push(s);
                continue;
            };
            last.ident = tuple_name(&last.ident);
            self.n += 1;
            let arr = syn::Ident::new(&format!("__fg_tup{}", self.n), Span::call_site());
            let k = pat.elems.len();
            let args = &call.args;
            let comma = (!args.is_empty() && !args.trailing_punct()).then(|| quote!(,));
            let zero = &self.zero;
            out.push(syn::parse_quote!(let mut #arr = [#zero; #k];));
            out.push(syn::parse_quote!(#path(#args #comma &mut #arr);));
            for (j, p) in pat.elems.iter().enumerate() {
                if matches!(p, syn::Pat::Wild(_)) {
                    continue;
                }
                out.push(syn::parse_quote!(let #p = #arr[#j];));
            }
        }
        b.stmts = out;
    }
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
