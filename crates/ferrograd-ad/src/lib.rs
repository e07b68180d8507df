//! The ferrograd AD compiler: source transformation of Rust functions into derivative code.
//!
//! A plain library on `syn`/`quote` so that every stage is unit-testable on `parse_quote!`
//! input; `ferrograd-macros` is a thin proc-macro wrapper around [`differentiable`].
//!
//! Pipeline (like serde_derive): [`lower`] parses the `syn::ItemFn` into a small IR with
//! structured control flow and reports every unsupported construct with a span; [`analysis`]
//! computes activity; [`normalize`] turns early exits into flags for reverse mode; the emitters
//! ([`reverse`], [`forward`], [`api`]) write the derivative functions with `quote!`, calling
//! derivative rules through traits (`ferrograd::Partials`, `ferrograd::Adjoint`) so that rustc
//! picks the implementation for `f64`, `f32` or dual numbers.

mod analysis;
mod api;
mod check;
mod ctxt;
mod derive;

pub use derive::derive_differentiable;
mod emit_expr;
mod forward;
mod ir;
mod linear;
mod lower;
mod normalize;
mod prims;
mod returns;
mod reverse;
mod structs;
mod tensor;
mod vectorize;
mod visit;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;

/// Options of `#[differentiable(...)]`.
#[derive(Default, Debug)]
pub struct Options {
    /// `wrt(a, b)`: `f_grad` takes adjoints for these parameters only.
    pub wrt: Option<Vec<syn::Ident>>,
    /// `hessian`: also emit `f_hessian` (and the generic pullback it needs).
    pub hessian: bool,
    /// `dump`: print the generated code at compile time.
    pub dump: bool,
    /// `reverse_only`: no `f_pushforward` (for functions calling kernels or custom
    /// derivatives that only have a pullback).
    pub reverse_only: bool,
    /// `simd`: reduction loops over events run on SIMD lanes (`vectorize.rs`).
    pub simd: bool,
    /// `parallel`: as `simd`, and large loops are split across rayon's threads.
    pub parallel: bool,
    /// The function is a method (its items go into an `impl` block): no stashes (see
    /// `ir::Func::stashes`).
    pub in_impl: bool,
}

pub fn parse_options(attr: TokenStream) -> syn::Result<Options> {
    let mut o = Options::default();
    if attr.is_empty() {
        return Ok(o);
    }
    let metas = syn::parse::Parser::parse2(
        Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
        attr,
    )?;
    for m in metas {
        match &m {
            syn::Meta::Path(p) if p.is_ident("hessian") => o.hessian = true,
            syn::Meta::Path(p) if p.is_ident("dump") => o.dump = true,
            syn::Meta::Path(p) if p.is_ident("reverse_only") => o.reverse_only = true,
            syn::Meta::Path(p) if p.is_ident("simd") => o.simd = true,
            syn::Meta::Path(p) if p.is_ident("parallel") => {
                o.simd = true;
                o.parallel = true;
            }
            syn::Meta::List(l) if l.path.is_ident("wrt") => {
                // `Ident::parse_any`: `wrt(self)` names a method's receiver.
                let ids = l.parse_args_with(|input: syn::parse::ParseStream| {
                    Punctuated::<syn::Ident, syn::Token![,]>::parse_terminated_with(
                        input,
                        syn::ext::IdentExt::parse_any,
                    )
                })?;
                o.wrt = Some(ids.into_iter().collect());
            }
            other => return Err(syn::Error::new_spanned(
                other,
                "unknown option: `#[differentiable]` accepts `wrt(a, b, …)`, `hessian`, `reverse_only`, `simd`, `parallel` and `dump`",
            )),
        }
    }
    Ok(o)
}

/// The generated items (without the original function), or the collected errors.
pub fn generate(opts: &Options, item: &syn::ItemFn) -> syn::Result<TokenStream> {
    generate_with(opts, item, &[])
}

/// [`generate`] for a function whose `simd` loops were outlined; `constant_events` names
/// the parameters that only feed those loops as constant events of the Hessian
/// (`vectorize::constant_events`).
fn generate_with(
    opts: &Options,
    item: &syn::ItemFn,
    constant_events: &[syn::Ident],
) -> syn::Result<TokenStream> {
    let cx = ctxt::Ctxt::default();
    let f = lower::lower(&cx, item);
    let wrt_idx: Option<Vec<usize>> = opts.wrt.as_ref().map(|ids| {
        ids.iter()
            .filter_map(|id| {
                let k = item.sig.inputs.iter().position(|a| match a {
                    syn::FnArg::Typed(pt) => {
                        matches!(&*pt.pat, syn::Pat::Ident(pi) if pi.ident == *id)
                    }
                    _ => false,
                });
                if k.is_none() {
                    cx.error_spanned(id, format!("`wrt({id})`: no parameter named `{id}`"));
                }
                k
            })
            .collect()
    });
    if let (Some(f), Some(w)) = (&f, &wrt_idx) {
        for (k, id) in w.iter().zip(opts.wrt.iter().flatten()) {
            if !f.params[*k].kind.is_differentiable() {
                cx.error_spanned(
                    id,
                    format!("`wrt({id})`: `{id}` is not a float or float slice"),
                );
            }
        }
    }
    if let Some(f) = &f {
        if opts.hessian && f.generic_over.is_some() {
            cx.error_spanned(
                &item.sig.generics,
                "`hessian` is not supported for generic functions yet: call `f_grad` with \
                 `ferrograd::Dual` for Hessian-vector products, or write the function for `f64`",
            );
        }
        let mut_param = f.params.iter().find(|p| p.kind == ir::Ty::FloatSliceMut);
        if opts.hessian && (f.ret != ir::RetKind::Float || mut_param.is_some()) {
            let msg = "`hessian` needs a function returning `f64`/`f32` with no `&mut` parameters";
            match mut_param {
                Some(p) => cx.error_spanned(&p.ty, msg),
                None => cx.error_spanned(&item.sig, msg),
            }
        }
    }
    let nested_mut_args = match &f {
        Some(f) => check::check(&cx, f),
        None => Vec::new(),
    };
    if let Some(e) = cx.take() {
        return Err(e);
    }
    let Some(mut f) = f else {
        return Err(syn::Error::new_spanned(
            &item.sig,
            "internal error: lowering failed without a diagnostic",
        ));
    };
    f.stashes = !opts.in_impl;
    let mut out = TokenStream::new();
    if tensor::is_tensor_fn(&f) {
        if opts.hessian || opts.wrt.is_some() {
            return Err(syn::Error::new_spanned(
                &item.sig,
                "`hessian` and `wrt` are not supported for tensor-level functions",
            ));
        }
        let tcx = ctxt::Ctxt::default();
        check::check_tensor(&tcx, &f);
        if let Some(e) = tcx.take() {
            return Err(e);
        }
        return Ok(tensor::emit(&f));
    }
    out.extend(reverse::emit(&f, reverse::RevKind::Pullback, None));
    out.extend(reverse::emit(
        &f,
        reverse::RevKind::Grad,
        wrt_idx.as_deref(),
    ));
    if !opts.reverse_only {
        out.extend(forward::emit(&f));
    }
    {
        // Read by callers' reverse sweeps (`reverse::Rev::written_buffer_saves`).
        let name = format_ident!("{}_ARG_MODES", f.name);
        let modes = f.params.iter().map(|p| {
            let mode = if p.kind != ir::Ty::FloatSliceMut {
                return quote!(::ferrograd::__private::ArgMode::In);
            } else if analysis::reads_incoming(&f, p.var) {
                quote!(::ferrograd::__private::ArgMode::InOut)
            } else {
                quote!(::ferrograd::__private::ArgMode::Out)
            };
            // A parameter that only stashes write is a stash of this function too (a constant
            // of the callees' crates, so decided where the constant is evaluated).
            match analysis::mut_arg_uses(&f, p.var) {
                Some(uses) if !uses.is_empty() && f.stashes => {
                    let all = stash_all(&uses);
                    quote!(if #all { ::ferrograd::__private::ArgMode::Stash } else { #mode })
                }
                _ => mode,
            }
        });
        let vis = &f.item.vis;
        let doc = format!(
            "How `{}` treats each parameter, for the reverse sweeps of its callers \
             (`ferrograd::ArgMode`).",
            f.name
        );
        out.extend(quote! {
            #[doc = #doc]
            #[allow(non_upper_case_globals)]
            #vis const #name: &[::ferrograd::__private::ArgMode] = &[#(#modes),*];
        });
    }
    // A stash must not be read elsewhere (its adjoint is handed over empty): see
    // `analysis::stash`.
    let mut others_of: std::collections::HashMap<ir::VarId, TokenStream> = Default::default();
    for (path, j, v) in analysis::mut_args(&f).into_iter().filter(|_| f.stashes) {
        let modes = emit_expr::callee(&path, "_ARG_MODES", false);
        // The body is walked once per buffer, not once per call it is handed to.
        let others = others_of
            .entry(v)
            .or_insert_with(|| match analysis::mut_arg_uses(&f, v) {
                Some(uses) => stash_all(&uses),
                None => quote!(false),
            })
            .clone();
        let msg = format!(
            "argument {} of `{}` is a stash (written for its pullback, not differentiated through), but `{}` is also read in `{}`, or written by a call that does not stash it: hand the stash a buffer that nothing else uses",
            j + 1,
            quote!(#path),
            user_var(&f.vars[v].name),
            user_fn(&f.name.to_string())
        );
        out.extend(quote! {
            const _: () = ::core::assert!(!#modes[#j].stash() || #others, #msg);
        });
    }
    for (path, j) in &nested_mut_args {
        let modes = emit_expr::callee(path, "_ARG_MODES", false);
        let msg = format!(
            "`{}` writes argument {} (a `&mut` slice) inside a larger expression in `{}`: make the call a statement of its own or the whole value of `let`",
            quote!(#path),
            j + 1,
            f.name
        );
        out.extend(quote! {
            const _: () = ::core::assert!(!#modes[#j].writes(), #msg);
        });
    }
    // (`f_jacobian` is written for the concrete float type; generic functions get the
    // pullback, gradient and pushforward, which are generic themselves.)
    if let Some(o) = api::jacobian_out(&f).filter(|_| f.generic_over.is_none()) {
        out.extend(api::emit_jacobian(&f, o));
    }
    if f.generic_over.is_some() {
        out.extend(api::emit_generic_aliases(&f));
    }
    if opts.hessian {
        out.extend(reverse::emit(&f, reverse::RevKind::GenericPullback, None));
        // What the generic pullbacks of callers run for a call of `f`.
        out.extend(reverse::emit(&f, reverse::RevKind::GenericPrimal, None));
        let constants: Vec<usize> = match &wrt_idx {
            Some(w) if reverse::generic_pullback_returns_value(&f) => f
                .params
                .iter()
                .enumerate()
                .filter(|(k, p)| {
                    p.kind == ir::Ty::FloatSlice
                        && !w.contains(k)
                        && constant_events.contains(&p.ident)
                })
                .map(|(k, _)| k)
                .collect(),
            _ => Vec::new(),
        };
        if let (Some(w), false) = (&wrt_idx, constants.is_empty()) {
            out.extend(reverse::emit_hessian_sweep(&f, w, &constants));
        }
        out.extend(api::emit_hessian(&f, wrt_idx.as_deref(), &constants));
    }
    Ok(out)
}

/// A variable's name as written: a struct field flattened to `a__pre` (`__fg_self__x` for
/// `self.x`) is `a.pre`.
fn user_var(name: &str) -> String {
    name.strip_prefix("__fg_")
        .unwrap_or(name)
        .replace("__", ".")
}

/// A function's name as written: the flat function of one with struct parameters is
/// `__fg_<name>_fields`.
fn user_fn(name: &str) -> &str {
    name.strip_prefix("__fg_")
        .and_then(|n| n.strip_suffix("_fields"))
        .unwrap_or(name)
}

/// `callee₁_ARG_MODES[j₁].stash() && …`: every one of these uses is a stash.
fn stash_all(uses: &[(syn::Path, usize)]) -> TokenStream {
    let each = uses.iter().map(|(p, k)| {
        let m = emit_expr::callee(p, "_ARG_MODES", false);
        quote!(#m[#k].stash())
    });
    quote!((true #(&& #each)*))
}

/// Pretty-printed generated code (for `f_GRAD_SOURCE` and `dump`).
pub fn pretty(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

/// The attribute: returns the original function followed by its derivatives and a
/// `f_GRAD_SOURCE` constant holding their source. On error: the original function plus
/// `compile_error!`s, so the user sees the real problem rather than a cascade.
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new_spanned(
                &item,
                "`#[differentiable]` applies to functions (`fn`) and methods taking `&self`; for a struct of parameters, use `#[derive(ferrograd::Differentiable)]`",
            );
            let ce = e.to_compile_error();
            return quote!(#item #ce);
        }
    };
    let opts = match parse_options(attr) {
        Ok(o) => o,
        Err(e) => {
            let ce = e.to_compile_error();
            return quote!(#item_fn #ce);
        }
    };
    // `let (a, b) = g(..)` of a tuple-returning `g` (`returns.rs`).
    let mut item_fn = item_fn;
    returns::rewrite_tuple_calls(&mut item_fn);
    if let Some((elem, arity)) = returns::tuple_return(&item_fn.sig) {
        return tuple_function(&opts, &item_fn, &elem, arity);
    }
    let method = item_fn
        .sig
        .inputs
        .iter()
        .any(|a| matches!(a, syn::FnArg::Receiver(_)));
    // Struct parameters and `&self`: compiled through a flat function (`structs.rs`).
    let impl_scalar = structs::impl_scalar(&item_fn.sig);
    let plan = match structs::plan(
        opts.wrt.as_deref(),
        opts.hessian,
        &item_fn,
        impl_scalar.as_ref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            let ce = e.to_compile_error();
            return quote!(#item_fn #ce);
        }
    };
    let Some(plan) = plan else {
        return match expand(&opts, &item_fn) {
            Ok((emitted, gen, src)) => with_source(&opts, &item_fn, quote!(#emitted #gen), &src),
            Err(e) => {
                let ce = e.to_compile_error();
                quote!(#item_fn #ce)
            }
        };
    };
    let probes = &plan.probes;
    let Some(flat) = &plan.flat else {
        // No float field: the function is compiled as written, its constant fields checked.
        return match expand(&opts, &item_fn) {
            Ok((emitted, gen, src)) => {
                with_source(&opts, &item_fn, quote!(#emitted #probes #gen), &src)
            }
            Err(e) => {
                let ce = e.to_compile_error();
                quote!(#item_fn #probes #ce)
            }
        };
    };
    let flat_opts = Options {
        wrt: plan.flat_wrt.clone(),
        in_impl: method,
        ..opts
    };
    let flat_ident = flat.sig.ident.clone();
    let result = expand(&flat_opts, flat).and_then(|(flat, gen, _)| {
        let wrappers = structs::wrappers(&plan, &item_fn, &gen)?;
        let span = item_fn.sig.ident.span();
        let flat_item = structs::hide(quote!(#flat), method, impl_scalar.as_ref(), span, None)?;
        let hidden = structs::hide(gen, method, impl_scalar.as_ref(), span, Some(&flat_ident))?;
        let src = pretty(&quote!(#flat_item #hidden #wrappers));
        Ok((quote!(#flat_item #hidden #wrappers), src))
    });
    match result {
        Ok((gen, src)) => with_source(&flat_opts, &item_fn, quote!(#item_fn #probes #gen), &src),
        Err(e) => {
            let ce = e.to_compile_error();
            quote!(#item_fn #probes #ce)
        }
    }
}

/// A function returning a tuple of floats, compiled as `__fg_f_tuple(params…, out)`.
fn tuple_function(
    opts: &Options,
    item_fn: &syn::ItemFn,
    elem: &syn::Type,
    arity: usize,
) -> TokenStream {
    let span = item_fn.sig.ident.span();
    let result = (|| {
        if opts.hessian || opts.simd {
            return Err(syn::Error::new_spanned(
                &item_fn.sig.output,
                "`hessian` and `simd` are not supported for functions returning tuples",
            ));
        }
        if let Ok(Some(_)) = structs::plan(None, false, item_fn, None) {
            return Err(syn::Error::new_spanned(
                &item_fn.sig.output,
                "functions returning tuples cannot take struct parameters or `&self` yet: \
                 return one value per function, or pass the fields",
            ));
        }
        let flat = returns::flat_fn(item_fn, elem, arity)?;
        let (flat, gen, _) = expand(opts, &flat)?;
        let wrappers = returns::wrappers(item_fn, elem, arity, &gen)?;
        let flat_item = structs::hide(quote!(#flat), false, None, span, None)?;
        let hidden = structs::hide(gen, false, None, span, None)?;
        let all = quote!(#flat_item #hidden #wrappers);
        let src = pretty(&all);
        Ok((all, src))
    })();
    match result {
        Ok((gen, src)) => with_source(opts, item_fn, quote!(#item_fn #gen), &src),
        Err(e) => {
            let ce = e.to_compile_error();
            quote!(#item_fn #ce)
        }
    }
}

/// The derivative items of `item_fn` (its `simd` loops outlined first) and their source.
fn expand(
    opts: &Options,
    item_fn: &syn::ItemFn,
) -> syn::Result<(syn::ItemFn, TokenStream, String)> {
    // `simd`: the function is compiled (and emitted) with its reduction loops outlined.
    let (item_fn, outlined, constant_events) = if opts.simd {
        vectorize::outline(opts, item_fn)?
    } else {
        (item_fn.clone(), TokenStream::new(), Vec::new())
    };
    let gen = generate_with(opts, &item_fn, &constant_events)?;
    let gen = quote!(#outlined #gen);
    let src = pretty(&gen);
    Ok((item_fn, gen, src))
}

/// `items` followed by `f_GRAD_SOURCE` (and the `dump` output).
fn with_source(
    opts: &Options,
    item_fn: &syn::ItemFn,
    items: TokenStream,
    src: &str,
) -> TokenStream {
    if opts.dump {
        eprintln!(
            "// ferrograd: code generated for `{}`\n{}",
            item_fn.sig.ident, src
        );
    }
    let konst = format_ident!("{}_GRAD_SOURCE", item_fn.sig.ident);
    let vis = &item_fn.vis;
    let doc = format!(
        "Source of the derivative functions generated for `{}` (like Clad's `.dump()`).",
        item_fn.sig.ident
    );
    quote! {
        #items
        #[doc = #doc]
        #[allow(non_upper_case_globals)]
        #vis const #konst: &str = #src;
    }
}
