//! Reverse mode: emits `f_pullback`, `f_grad` and the generic pullback used for Hessians.
//!
//! Each statement yields a (forward, reverse) pair (Clad's scheme). The forward sweep runs the
//! primal code and records what the reverse sweep needs: branch decisions, trip counts, loop
//! variables of non-trivial iterators, and the old values of overwritten variables that the
//! reverse sweep reads. What to record, recompute and fuse is decided beforehand, in the
//! `analysis::Plan` this emitter reads. Inside loops records go on the pooled tape;
//! elsewhere into plain locals. The reverse sweep walks the statements backwards, restoring
//! overwritten values, recomputing intermediate values from restored state, and accumulating
//! adjoints with `+=`.

use crate::analysis::{Activity, Plan};
use crate::emit_expr::{callee, generic_ty, var_ident, ExprCx};
use crate::ir::*;
use crate::linear::Lin;
use crate::normalize::{normalize, LoopFlags};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RevKind {
    /// `f_pullback(params…, [d_ret], d_p…)`: every differentiable parameter gets an adjoint.
    Pullback,
    /// `f_grad(params…, d_p…) -> R`: seed 1, adjoints for the `wrt` parameters (and outputs).
    Grad,
    /// `__fg_f_pullback_generic::<T>`: the pullback over any `T: Real` (Hessians).
    GenericPullback,
    /// `__fg_f_generic::<T>(params…) -> T`: the primal over any `T: Real`, what the generic
    /// pullbacks of callers run for a call of `f` (a Hessian of a function calling another
    /// `hessian` function). The forward sweep with nothing active: plain primal code.
    GenericPrimal,
}

/// Which parameters get an adjoint argument in `kind`.
pub fn adjoint_params(f: &Func, kind: RevKind, wrt: Option<&[usize]>) -> Vec<usize> {
    f.params
        .iter()
        .enumerate()
        .filter(|(k, p)| {
            kind != RevKind::GenericPrimal
                && p.kind.is_differentiable()
                && (kind != RevKind::Grad
                    || p.kind == Ty::FloatSliceMut
                    || wrt.map(|w| w.contains(k)).unwrap_or(true))
        })
        .map(|(k, _)| k)
        .collect()
}

pub fn adjoint_name(p: &Param) -> syn::Ident {
    format_ident!("d_{}", p.ident)
}

/// `S` of a struct parameter `p: &S` (the type of its adjoint and tangent).
pub fn struct_type(ty: &syn::Type) -> syn::Type {
    match ty {
        syn::Type::Reference(r) => (*r.elem).clone(),
        t => t.clone(),
    }
}

/// Replaces `f64`/`f32` in a type by the generic scalar.
pub fn generic_type(ty: &syn::Type) -> syn::Type {
    use syn::visit_mut::VisitMut;
    struct R;
    impl VisitMut for R {
        fn visit_type_path_mut(&mut self, p: &mut syn::TypePath) {
            if p.path.is_ident("f64") || p.path.is_ident("f32") {
                let t = generic_ty();
                *p = syn::parse_quote!(#t);
            } else {
                syn::visit_mut::visit_type_path_mut(self, p);
            }
        }
    }
    let mut t = ty.clone();
    R.visit_type_mut(&mut t);
    t
}

/// The return type of a generic function's derivative: `f64` (the lowered `T`) → `__FgT`.
pub fn generic_return(ret: &syn::ReturnType) -> TokenStream {
    match ret {
        syn::ReturnType::Default => TokenStream::new(),
        syn::ReturnType::Type(arrow, ty) => {
            let ty = generic_type(ty);
            quote!(#arrow #ty)
        }
    }
}

/// `Result<X, E>` with `X` replaced (for `Result`-returning functions).
pub fn result_with(ret: &syn::ReturnType, x: syn::Type) -> syn::Type {
    if let syn::ReturnType::Type(_, ty) = ret {
        let mut ty = (**ty).clone();
        if let syn::Type::Path(p) = &mut ty {
            if let Some(last) = p.path.segments.last_mut() {
                if let syn::PathArguments::AngleBracketed(a) = &mut last.arguments {
                    if let Some(syn::GenericArgument::Type(t)) = a.args.first_mut() {
                        *t = x;
                    }
                }
            }
        }
        return ty;
    }
    x
}

pub fn emit(f: &Func, kind: RevKind, wrt: Option<&[usize]>) -> TokenStream {
    emit_with(f, kind, wrt, None)
}

/// `__fg_f_hessian_sweep::<T>(params…, d_wrt…) -> T`: what `f_hessian` runs on dual numbers
/// when `f` has constant event slices (`vectorize::constant_events`, the parameters
/// `constants`). It is `f_grad` over any `T: Real` with only the `wrt` parameters active, and
/// the constant slices typed `&[Plain<T>]`: they are handed over as the caller stores them
/// and read by the outlined loops' `_const` variants, where their tangents are known zeros.
/// The NLL's Hessian no longer copies its events into dual numbers on every call, nor loads
/// five registers per event.
pub fn emit_hessian_sweep(f: &Func, wrt: &[usize], constants: &[usize]) -> TokenStream {
    emit_with(f, RevKind::Grad, Some(wrt), Some(constants))
}

fn emit_with(
    f: &Func,
    kind: RevKind,
    wrt: Option<&[usize]>,
    sweep: Option<&[usize]>,
) -> TokenStream {
    let norm = normalize(f);
    let mut g = f.clone();
    g.body = norm.body.clone();
    let act_wrt = match kind {
        RevKind::Grad => wrt,
        RevKind::GenericPrimal => Some(&[][..]),
        _ => None,
    };
    let plan = Plan::new(&g, act_wrt, &norm.loops);
    let act = &plan.act;
    // Generic scalar code: the Hessian's pullback over dual numbers, and every derivative of a
    // function generic over `T: Real`.
    let generic_kind =
        matches!(kind, RevKind::GenericPullback | RevKind::GenericPrimal) || sweep.is_some();
    let generic = generic_kind || f.generic_over.is_some();
    let cx = ExprCx {
        f: &g,
        generic,
        generic_callees: generic_kind,
        constant_events: sweep.is_some(),
    };
    let seed_val = if kind == RevKind::Grad {
        cx.float_const(quote!(1.0))
    } else {
        quote!(d_ret)
    };
    let sig_adj = adjoint_params(f, kind, wrt);
    let mut e = Rev {
        f: &g,
        cx,
        act,
        plan: &plan,
        seed_val: seed_val.clone(),
        fusing: false,
        loops: &norm.loops,
        slots: Vec::new(),
        uses_tape: false,
        counter: 0,
        sig_adj: sig_adj.iter().map(|k| f.params[*k].var).collect(),
        restore_conds: Vec::new(),
        restored_flag: false,
    };
    let (fwd, rev) = e.block(&g.body, false);

    // ---- assemble
    let ft: syn::Type = if generic {
        syn::parse_quote!(__FgT)
    } else {
        f.float_ty.clone()
    };
    let mut params = Vec::new();
    for (k, p) in f.params.iter().enumerate() {
        let id = &p.ident;
        let ty = if sweep.is_some_and(|c| c.contains(&k)) {
            syn::parse_quote!(&[::ferrograd::__private::Plain<__FgT>])
        } else if generic {
            generic_type(&p.ty)
        } else {
            p.ty.clone()
        };
        let m = p.mutable.then(|| quote!(mut));
        params.push(quote!(#m #id: #ty));
    }
    let d_ret = if !matches!(kind, RevKind::Grad | RevKind::GenericPrimal) && f.ret.has_value() {
        Some(quote!(d_ret: #ft))
    } else {
        None
    };
    let mut adj_params = Vec::new();
    for k in &sig_adj {
        let p = &f.params[*k];
        let name = adjoint_name(p);
        adj_params.push(match p.kind {
            Ty::Float => quote!(#name: &mut #ft),
            Ty::Struct => {
                let s = if generic {
                    generic_type(&struct_type(&p.ty))
                } else {
                    struct_type(&p.ty)
                };
                quote!(#name: &mut #s)
            }
            _ => quote!(#name: &mut [#ft]),
        });
    }
    let mut prologue = TokenStream::new();
    if generic {
        prologue.extend(quote!(
            #[allow(unused_imports)]
            use ::ferrograd::__private::Real as _;
        ));
    }
    if e.uses_tape {
        prologue.extend(quote!(let mut __fg_tape = ::ferrograd::__private::PooledTape::acquire();));
    }
    for fl in &norm.flags {
        prologue.extend(quote!(let mut #fl = false;));
    }
    let mut hulls: Vec<VarId> = plan.records.hulls.iter().copied().collect();
    hulls.sort_unstable();
    for v in hulls {
        let hull = hull_ident(var_ident(&g, v));
        prologue.extend(quote!(let mut #hull = ::ferrograd::__private::Hull::EMPTY;));
    }
    if e.restored_flag {
        prologue.extend(quote!(let mut __fg_restored = false;));
    }
    // Local accumulators for scalar parameters, hoisted locals and their adjoints.
    // An empty adjoint slice means "this derivative is not wanted" (what a caller passes for
    // a buffer without a derivative): substitute scratch so indexing stays in bounds.
    {
        for k in &sig_adj {
            let p = &f.params[*k];
            let name = adjoint_name(p);
            // Passed only whole to calls (`&mut d_x[..]`), an empty adjoint goes through as
            // it is: callees skip what is not wanted (an outlined event loop over 100k events
            // then writes no adjoints instead of filling scratch).
            let whole_only = only_whole_uses(&fwd, &name) && only_whole_uses(&rev, &name);
            if p.kind.is_float_buffer() && !whole_only {
                let id = &p.ident;
                let scratch = format_ident!("__fg_noadj_{}", p.ident);
                prologue.extend(quote! {
                    let mut #scratch = ::std::vec::Vec::new();
                    let #name: &mut [#ft] = if #name.is_empty() && !#id.is_empty() {
                        #scratch = ::ferrograd::__private::zeros_like(#id);
                        &mut #scratch[..]
                    } else {
                        #name
                    };
                });
            }
        }
    }
    for p in &f.params {
        if p.kind == Ty::Float && act.is_active(p.var) {
            let a = e.adj(p.var);
            let id = &p.ident;
            prologue.extend(quote!(let mut #a = ::ferrograd::__private::Adjoint::zero_like(&#id);));
        }
    }
    for (v, var) in g.vars.iter().enumerate() {
        if var.param.is_some()
            || plan.records.unhoisted.contains(&v)
            || is_loop_var(&g.body, v)
            || matches!(var.ty, Ty::Closure(_) | Ty::Tuple(_))
        {
            continue;
        }
        let id = var_ident(&g, v);
        let init = match &var.hoist_init {
            Some(e) => cx.expr(e),
            None => quote!(::core::default::Default::default()),
        };
        prologue.extend(quote!(let mut #id = #init;));
        if act.is_active(v) {
            prologue.extend(e.adj_decl(v));
        }
    }
    prologue.extend(e.slots.iter().cloned());

    let mut epilogue = TokenStream::new();
    let value_capture = f.ret_var.map(|r| {
        let id = var_ident(&g, r);
        quote!(let __fg_value = #id;)
    });
    let seed = match (f.ret_var, kind) {
        (Some(r), _) if act.is_active(r) => {
            let a = e.adj(r);
            let s = if kind == RevKind::Grad {
                cx.float_const(quote!(1.0))
            } else {
                quote!(d_ret)
            };
            Some(quote!(#a += #s;))
        }
        _ => None,
    };
    for k in &sig_adj {
        let p = &f.params[*k];
        if p.kind == Ty::Float && act.is_active(p.var) {
            let a = e.adj(p.var);
            let name = adjoint_name(p);
            epilogue.extend(quote!(*#name += #a;));
        }
    }
    if !e.restore_conds.is_empty() {
        let conds = &e.restore_conds;
        // The reverse sweep restored `&mut` outputs to their inputs: run the primal again so
        // that they hold the results, as after a call of `f`.
        let name = &f.name;
        let args = f.params.iter().map(|p| {
            let id = &p.ident;
            if p.kind == Ty::FloatSliceMut {
                quote!(&mut *#id)
            } else {
                quote!(#id)
            }
        });
        let q = f.ret.is_result().then(|| quote!(?));
        // (Functions with `&mut` parameters have no Hessian, so this is `f` itself, generic
        // or not.)
        let call = quote!(#name);
        epilogue.extend(quote!(if #(#conds)||* { let _ = #call(#(#args),*)#q; }));
    }
    let vis = &f.item.vis;
    let user_generics = if f.generic_over.is_some() {
        quote!(<__FgT: ::ferrograd::__private::Real>)
    } else {
        quote!()
    };
    let (fname, generics, ret) = match kind {
        _ if sweep.is_some() => (
            format_ident!("__fg_{}_hessian_sweep", f.name),
            quote!(<__FgT: ::ferrograd::__private::Real>),
            generic_return(&f.ret_ty),
        ),
        RevKind::Pullback => {
            let ret = if f.ret.is_result() {
                let r = result_with(&f.ret_ty, syn::parse_quote!(()));
                quote!(-> #r)
            } else {
                quote!()
            };
            (
                format_ident!("{}_pullback", f.name),
                user_generics.clone(),
                ret,
            )
        }
        RevKind::Grad => (
            format_ident!("{}_grad", f.name),
            user_generics.clone(),
            if f.generic_over.is_some() {
                generic_return(&f.ret_ty)
            } else {
                f.ret_ty.to_token_stream()
            },
        ),
        RevKind::GenericPullback => {
            let ret = if f.ret.is_result() {
                let r = result_with(&f.ret_ty, syn::parse_quote!(()));
                quote!(-> #r)
            } else if generic_pullback_returns_value(f) {
                quote!(-> __FgT)
            } else {
                quote!()
            };
            (
                format_ident!("__fg_{}_pullback_generic", f.name),
                quote!(<__FgT: ::ferrograd::__private::Real>),
                ret,
            )
        }
        RevKind::GenericPrimal => (
            format_ident!("__fg_{}_generic", f.name),
            quote!(<__FgT: ::ferrograd::__private::Real>),
            generic_return(&f.ret_ty),
        ),
    };
    let tail = match (kind, &f.ret) {
        (RevKind::Grad | RevKind::GenericPrimal, RetKind::Float) => quote!(__fg_value),
        (RevKind::GenericPullback, _) if generic_pullback_returns_value(f) => quote!(__fg_value),
        (RevKind::Grad, RetKind::ResultFloat) => quote!(::core::result::Result::Ok(__fg_value)),
        (_, r) if r.is_result() => quote!(::core::result::Result::Ok(())),
        _ => quote!(),
    };
    let value_capture = if matches!(kind, RevKind::Grad | RevKind::GenericPrimal)
        || (kind == RevKind::GenericPullback && generic_pullback_returns_value(f))
    {
        value_capture
    } else {
        None
    };
    let doc = match kind {
        _ if sweep.is_some() => String::new(),
        RevKind::Pullback => format!(
            "Reverse-mode derivative of [`{}`] generated by `#[differentiable]`: takes the output adjoint `d_ret` and adds the parameter adjoints into the trailing `d_*` arguments.",
            f.name
        ),
        RevKind::Grad => format!(
            "Gradient of [`{}`] generated by `#[differentiable]`: adds ∂f/∂p into the trailing `d_*` arguments and returns f.",
            f.name
        ),
        RevKind::GenericPullback | RevKind::GenericPrimal => String::new(),
    };
    let hidden = generic_kind.then(|| quote!(#[doc(hidden)]));
    let mut all_params = params;
    if let Some(d) = d_ret {
        all_params.push(d);
    }
    all_params.extend(adj_params);
    quote! {
        #[doc = #doc]
        #hidden
        #[allow(unused_mut, unused_variables, unused_assignments, unused_parens, non_snake_case, clippy::all, clippy::pedantic, clippy::nursery)]
        #[inline]
        #vis fn #fname #generics (#(#all_params),*) #ret {
            #prologue
            #fwd
            #value_capture
            #seed
            #rev
            #epilogue
            #tail
        }
    }
}

/// Whether `__fg_f_pullback_generic` returns f's value (over `__FgT`), which the forward sweep
/// computed anyway: for a function returning a float (not a `Result`) that is not generic
/// itself (a generic function's `__fg_f_pullback_generic` forwards to its `f_pullback`, which
/// returns nothing). `f_hessian` returns that value instead of running the primal again.
pub fn generic_pullback_returns_value(f: &Func) -> bool {
    f.ret == RetKind::Float && f.ret_var.is_some() && f.generic_over.is_none()
}

/// Does every use of the adjoint `name` in `ts` read it whole (`name[..]`)?
fn only_whole_uses(ts: &TokenStream, name: &syn::Ident) -> bool {
    use proc_macro2::{Delimiter, TokenTree};
    let toks: Vec<TokenTree> = ts.clone().into_iter().collect();
    toks.iter().enumerate().all(|(i, t)| match t {
        TokenTree::Ident(id) if id == name => matches!(
            toks.get(i + 1),
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket
                && g.stream().to_string().replace(' ', "") == ".."
        ),
        TokenTree::Group(g) => only_whole_uses(&g.stream(), name),
        _ => true,
    })
}

struct Rev<'a> {
    f: &'a Func,
    cx: ExprCx<'a>,
    act: &'a Activity,
    plan: &'a Plan,
    seed_val: TokenStream,
    /// Emitting the body of a fused reduction loop (values are live: nothing to tape).
    fusing: bool,
    loops: &'a HashMap<LoopId, LoopFlags>,
    slots: Vec<TokenStream>,
    uses_tape: bool,
    counter: usize,
    sig_adj: Vec<VarId>,
    /// Conditions under which the reverse sweep leaves a `&mut` parameter restored to its
    /// input (then the pullback runs the primal once more, see `emit`).
    restore_conds: Vec<TokenStream>,
    /// Whether a run-time-decided record may restore a `&mut` parameter (`__fg_restored`).
    restored_flag: bool,
}

impl Rev<'_> {
    fn next(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    /// The adjoint of variable `v` (empty tokens when `v` is inactive).
    fn adj(&self, v: VarId) -> TokenStream {
        if !self.act.is_active(v) {
            return TokenStream::new();
        }
        let var = &self.f.vars[v];
        if let Some(k) = var.param {
            let p = &self.f.params[k];
            if p.kind != Ty::Float {
                if self.sig_adj.contains(&v) {
                    return adjoint_name(p).to_token_stream();
                }
                return TokenStream::new();
            }
        }
        format_ident!("__fg_d_{}", var.name).to_token_stream()
    }

    fn adj_decl(&self, v: VarId) -> TokenStream {
        let a = self.adj(v);
        let id = var_ident(self.f, v);
        if self.f.var_ty(v) == Ty::FloatArray {
            quote!(let mut #a = ::ferrograd::__private::ArrayAdjoint::zero_like(&#id);)
        } else {
            quote!(let mut #a = ::ferrograd::__private::Adjoint::zero_like(&#id);)
        }
    }

    /// Records `val` for the reverse sweep: returns (forward code, expression that recalls it).
    fn record(&mut self, val: TokenStream, in_loop: bool) -> (TokenStream, TokenStream) {
        if in_loop {
            self.uses_tape = true;
            (quote!(__fg_tape.push(#val);), quote!(__fg_tape.pop()))
        } else {
            let s = format_ident!("__fg_s{}", self.next());
            self.slots
                .push(quote!(let mut #s = ::core::default::Default::default();));
            (quote!(#s = #val;), quote!(#s))
        }
    }

    fn block(&mut self, b: &Block, in_loop: bool) -> (TokenStream, TokenStream) {
        let mut fwd = TokenStream::new();
        let mut revs = Vec::new();
        for s in b {
            let (f, r) = self.stmt(s, in_loop);
            fwd.extend(f);
            revs.push(r);
        }
        let mut rev = TokenStream::new();
        for r in revs.into_iter().rev() {
            rev.extend(r);
        }
        (fwd, rev)
    }

    /// A fused reduction loop (see `analysis::fusion`): each iteration's reverse code runs
    /// right after its forward code.
    fn fused_loop(
        &mut self,
        acc: VarId,
        var: Option<VarId>,
        iter: &Iter,
        body: &Block,
    ) -> (TokenStream, TokenStream) {
        let cx = self.cx;
        self.fusing = true;
        let (fb, rb) = self.block(body, true);
        self.fusing = false;
        let Iter::Range {
            lo,
            hi,
            inclusive,
            adaptors,
        } = iter;
        let dots = if *inclusive { quote!(..=) } else { quote!(..) };
        let it = iter_tokens(&cx, &cx.expr(lo), &dots, &cx.expr(hi), adaptors);
        let pat = match var {
            Some(v) => var_ident(self.f, v).to_token_stream(),
            None => quote!(_),
        };
        let d_acc = self.adj(acc);
        let seed = &self.seed_val;
        let fwd = quote! {
            #d_acc += #seed;
            for #pat in #it { #fb #rb }
        };
        (fwd, TokenStream::new())
    }

    /// Prepends the recomputation of the loop's recomputable locals to a reverse iteration.
    fn with_recompute(&self, id: LoopId, rb: TokenStream) -> TokenStream {
        if rb.is_empty() {
            return rb;
        }
        let mut out = TokenStream::new();
        for (v, e) in self.plan.recompute.per_loop.get(&id).into_iter().flatten() {
            let id = var_ident(self.f, *v);
            let e = self.cx.expr(e);
            out.extend(quote!(#id = #e;));
        }
        out.extend(rb);
        out
    }

    /// Saves of the `&mut` float buffers that the call at the root of `e` may write, as
    /// (forward code before the call, reverse code before its pullback, reverse code after).
    ///
    /// Whether the callee writes an argument, and whether its pullback takes it as it was
    /// before the call or as the call left it, is the callee's `<g>_ARG_MODES` (see
    /// `ferrograd::ArgMode`); the argument's syntax does not say. The forward sweep records the
    /// buffer before the call, on the pooled tape (no allocation in steady state), when the
    /// pullback needs it (`InOut`) or when this function's own reverse sweep reads the buffer's
    /// earlier contents, and the reverse sweep puts it back. The conditions are constants, so
    /// for the common case (a kernel writing a fresh output) the code folds away.
    fn written_buffer_saves(
        &mut self,
        id: StmtId,
        e: &Expr,
    ) -> (TokenStream, TokenStream, TokenStream) {
        let hull_adds = self.hull_adds(e);
        let bufs = written_buffers(self.f, e);
        if bufs.is_empty() {
            return (hull_adds, TokenStream::new(), TokenStream::new());
        }
        let args: &[Expr] = match e {
            Expr::Call { args, .. } => args,
            _ => &[],
        };
        // Without a derivative through the call its pullback is not called: only this
        // function's own readers can need the old contents.
        let active = self.act.expr_active(self.f, e);
        self.uses_tape = true;
        let (mut push_a, mut push_b, mut before, mut after) = (
            TokenStream::new(),
            TokenStream::new(),
            TokenStream::new(),
            TokenStream::new(),
        );
        let mut pops = Vec::new();
        for (path, j, v) in bufs.iter() {
            let modes = callee(path, "_ARG_MODES", false);
            let mode = quote!(#modes[#j]);
            let writes = quote!(#mode.writes());
            let needs = if active {
                quote!(#mode.needs_before())
            } else {
                quote!(false)
            };
            // A call can only change the range it was lent, so that range is all it records.
            let range = match args.get(*j) {
                Some(Expr::SubSlice { lo, hi, .. }) => self.cx.range(lo.as_deref(), hi.as_deref()),
                _ => quote!(..),
            };
            let buf = var_ident(self.f, *v);
            let restores_param = self.f.vars[*v]
                .param
                .is_some_and(|k| self.f.params[k].kind == Ty::FloatSliceMut);
            let caller = self.plan.records.buffers_read_before.contains(&(id, *v));
            let keep = if caller && self.plan.records.hulls.contains(v) {
                // Decided at run time (`analysis::record`): the forward sweep tapes the
                // decision, which the reverse sweep pops before the range.
                let flag = format_ident!("__fg_keep{}", self.next());
                let hull = hull_ident(buf.clone());
                push_a.extend(quote! {
                    let #flag = (#writes && #hull.overlaps(#buf.len(), #range)) || #needs;
                    if #flag { __fg_tape.push_slice(&#buf[#range]); }
                    __fg_tape.push(#flag);
                });
                if restores_param {
                    self.restored_flag = true;
                    self.restore_conds.push(quote!(__fg_restored));
                    push_a.extend(quote!(__fg_restored |= #flag;));
                }
                pops.push((
                    quote!({
                        let #flag: bool = __fg_tape.pop();
                        if #flag { __fg_tape.pop_slice_into(&mut #buf[#range]); }
                    }),
                    needs.clone(),
                    buf,
                    range,
                ));
                continue;
            } else {
                quote!(((#writes && #caller) || #needs))
            };
            if restores_param {
                self.restore_conds.push(keep.clone());
            }
            push_a.extend(quote!(if #keep { __fg_tape.push_slice(&#buf[#range]); }));
            pops.push((
                quote!(if #keep { __fg_tape.pop_slice_into(&mut #buf[#range]); }),
                needs,
                buf,
                range,
            ));
        }
        for (_, needs, buf, range) in &pops {
            push_b.extend(quote!(if #needs { __fg_tape.push_slice(&#buf[#range]); }));
        }
        // Pops mirror the pushes: all second copies (the callee's inputs), then all first ones.
        for (pop_keep, needs, buf, range) in pops.iter().rev() {
            before.extend(quote!(if #needs { __fg_tape.pop_slice_into(&mut #buf[#range]); }));
            after.extend(pop_keep.clone());
        }
        push_a.extend(push_b);
        push_a.extend(hull_adds);
        (push_a, before, after)
    }

    /// Widens the hull of every run-time-checked buffer (`analysis::record`) by the ranges
    /// that the calls in `e` hand on: their pullbacks read them in the reverse sweep.
    fn hull_adds(&self, e: &Expr) -> TokenStream {
        let hulls = &self.plan.records.hulls;
        let mut out = TokenStream::new();
        if hulls.is_empty() {
            return out;
        }
        crate::visit::each_expr(e, &mut |x| {
            let Expr::Call { args, .. } = x else { return };
            for a in args {
                let (v, range) = match a {
                    Expr::Var(v) => (*v, quote!(..)),
                    Expr::Ref(inner, _) => match **inner {
                        Expr::Var(v) => (v, quote!(..)),
                        _ => continue,
                    },
                    Expr::SubSlice { var, lo, hi, .. } => {
                        (*var, self.cx.range(lo.as_deref(), hi.as_deref()))
                    }
                    _ => continue,
                };
                if hulls.contains(&v) {
                    let buf = var_ident(self.f, v);
                    let hull = hull_ident(buf.clone());
                    out.extend(quote!(#hull.add(#buf.len(), #range);));
                }
            }
        });
        out
    }

    fn stmt(&mut self, s: &Stmt, in_loop: bool) -> (TokenStream, TokenStream) {
        let cx = self.cx;
        match s {
            Stmt::Assign {
                id,
                target,
                value,
                decl,
                ..
            } => self.assign(*id, target, value, *decl, in_loop),
            Stmt::Call(id, e) => {
                let fwd = {
                    let t = cx.expr(e);
                    quote!(#t;)
                };
                let (save, before, after) = self.written_buffer_saves(*id, e);
                if !self.act.expr_active(self.f, e) {
                    return (quote!(#save #fwd), quote!(#before #after));
                }
                let prefix = format!("__fg_r{}", self.next());
                let (lin, root) = Lin::build(self.f, self.act, e, prefix);
                let need = lin.needed_values();
                let vals = lin.emit_values(&cx, &need);
                let adj = |v: VarId| self.adj(v);
                let back = lin.emit_adjoints(&cx, root, None, &adj);
                (quote!(#save #fwd), quote!({ #before #vals #back #after }))
            }
            Stmt::If {
                cond,
                then_b,
                else_b,
            } => {
                let (ft, rt) = self.block(then_b, in_loop);
                let (fe, re) = self.block(else_b, in_loop);
                let c = cx.expr(cond);
                if rt.is_empty() && re.is_empty() {
                    let els = (!fe.is_empty()).then(|| quote!(else { #fe }));
                    return (quote!(if #c { #ft } #els), TokenStream::new());
                }
                let cv = format_ident!("__fg_c{}", self.next());
                let (rec, recall) = self.record(quote!(#cv), in_loop);
                // Recorded after the branch ran, so that it is on top of the tape when the
                // reverse sweep needs it (LIFO).
                let fwd = quote! {
                    let #cv: bool = #c;
                    if #cv { #ft } else { #fe }
                    #rec
                };
                let rev = quote!(if #recall { #rt } else { #re });
                (fwd, rev)
            }
            Stmt::For {
                id,
                var,
                iter,
                body,
            } => match self.plan.fusion.reduction {
                Some((l, acc)) if l == *id => self.fused_loop(acc, *var, iter, body),
                _ => self.for_loop(*id, *var, iter, body, in_loop),
            },
            Stmt::While { id, cond, body } => {
                let (fb, rb) = self.block(body, true);
                let rb = self.with_recompute(*id, rb);
                let lf = self.loops.get(id).cloned().unwrap_or_default();
                let (brk_reset, cont_reset, check) = flag_code(&lf);
                let head = match cond {
                    Some(c) => {
                        let c = cx.expr(c);
                        quote!(while #c)
                    }
                    None => quote!(loop),
                };
                if rb.is_empty() {
                    return (
                        quote!(#brk_reset #head { #cont_reset #fb #check }),
                        TokenStream::new(),
                    );
                }
                let n = format_ident!("__fg_n{}", self.next());
                let (rec, recall) = self.record(quote!(#n), in_loop);
                let fwd = quote! {
                    #brk_reset
                    let mut #n: usize = 0;
                    #head { #n += 1; #cont_reset #fb #check }
                    #rec
                };
                let rev = quote!({
                    let #n: usize = #recall;
                    for _ in 0..#n { #rb }
                });
                (fwd, rev)
            }
            Stmt::Raw(t) => (t.clone(), TokenStream::new()),
            Stmt::Break(_) | Stmt::Continue(_) | Stmt::Return(_, _) => {
                // Removed by `normalize`.
                (TokenStream::new(), TokenStream::new())
            }
        }
    }

    fn assign(
        &mut self,
        id: StmtId,
        target: &Place,
        value: &Expr,
        decl: bool,
        in_loop: bool,
    ) -> (TokenStream, TokenStream) {
        let cx = self.cx;
        let v = target.var();
        if let Some((fused, acc)) = self.plan.fusion.outlined_call {
            if fused == id {
                return self.fused_call(target, value, acc);
            }
        }
        let unhoisted_decl =
            decl && self.plan.records.unhoisted.contains(&v) && matches!(target, Place::Var(_));
        let save = self.plan.records.saves.contains(&id);
        let place = cx.place(target);
        let target_active = self.act.is_active(v)
            && match target {
                Place::Var(_) => self.f.var_ty(v) == Ty::Float,
                Place::Index(..) => self.f.var_ty(v).is_float_buffer(),
            };
        let value_active = self.act.expr_active(self.f, value);
        let k = self.next();
        let prefix = format!("__fg_r{k}");
        // Inside a two-sweep loop, the local partials of transcendental functions are computed
        // by the forward sweep (next to the primal value, so `sin`/`cos` of one argument become
        // one `sincos`) and taped, instead of recomputed by the reverse sweep (JAX's linearize).
        let (buf_save, buf_before, buf_after) = self.written_buffer_saves(id, value);
        let lin =
            (target_active && value_active).then(|| Lin::build(self.f, self.act, value, prefix));
        let pre_nodes: Vec<usize> = match &lin {
            Some((l, _)) if in_loop && !self.fusing => l.preaccumulable(),
            _ => Vec::new(),
        };
        let mut fwd = buf_save;
        let val = match &lin {
            Some((l, root)) if !pre_nodes.is_empty() => {
                let all = vec![true; l.nodes.len()];
                fwd.extend(l.emit_values(&cx, &all));
                for j in &pre_nodes {
                    let p = l.partial_tokens(&cx, *j);
                    let (rec, _) = self.record(p, true);
                    fwd.extend(rec);
                }
                l.val(&cx, *root)
            }
            _ => cx.expr(value),
        };
        let mut restore = TokenStream::new();
        if save {
            let (rec, recall) = self.record(place.clone(), in_loop);
            fwd.extend(rec);
            restore = quote!(#place = #recall;);
            if let Some(k) = self.f.vars[v].param {
                if self.f.params[k].kind == Ty::FloatSliceMut {
                    self.restore_conds.push(quote!(true));
                }
            }
        }
        if unhoisted_decl {
            let id = var_ident(self.f, v);
            fwd.extend(quote!(let mut #id = #val;));
            if self.act.is_active(v) {
                fwd.extend(self.adj_decl(v));
            }
        } else {
            fwd.extend(quote!(#place = #val;));
        }
        if !target_active {
            if !buf_before.is_empty() || !buf_after.is_empty() {
                return (fwd, quote!({ #restore #buf_before #buf_after }));
            }
            if self.act.is_active(v)
                && matches!(target, Place::Var(_))
                && self.f.var_ty(v) == Ty::FloatArray
            {
                // A whole-array assignment has a constant value (`lower::arrays` rewrote every
                // other one element-wise): the old elements are dead, so are their adjoints.
                let a = self.adj(v);
                return (
                    fwd,
                    quote!({ #a = ::ferrograd::__private::ArrayAdjoint::zero_like(&#a); #restore }),
                );
            }
            return (fwd, restore);
        }
        if let (Some(acc), Some(r), Expr::Var(src)) =
            (self.plan.fusion.accumulator(), self.f.ret_var, value)
        {
            if v == r && *src == acc && (buf_before.is_empty() && buf_after.is_empty()) {
                // Seeded before the fused reduction loop instead.
                return (fwd, restore);
            }
        }
        let a = self.adj(v);
        let adj_place = match target {
            Place::Var(_) => a.clone(),
            Place::Index(_, i) => {
                let i = cx.expr(i);
                quote!(#a[#i])
            }
        };
        let dv = format_ident!("__fg_dv{}", k);
        let mut rev = quote! {
            let #dv = #adj_place;
            #adj_place = ::ferrograd::__private::Adjoint::zero_like(&#dv);
            #restore
        };
        if let Some((mut l, root)) = lin {
            // Taped partials come back last pushed first.
            for j in pre_nodes.iter().rev() {
                let pj = format_ident!("__fg_r{}_pp{}", k, j);
                rev.extend(
                    quote!(let #pj = ::ferrograd::__private::same_type(__fg_tape.pop(), || #dv);),
                );
                l.pre.insert(*j, quote!(#pj));
            }
            let need = l.needed_values();
            rev.extend(buf_before);
            rev.extend(l.emit_values(&cx, &need));
            let adj = |v: VarId| self.adj(v);
            rev.extend(l.emit_adjoints(&cx, root, Some(quote!(#dv)), &adj));
        } else {
            rev.extend(buf_before);
        }
        rev.extend(buf_after);
        (fwd, quote!({ #rev }))
    }

    /// `s = s ± loop(…)` run fused (see `analysis::fusion`): the seed goes into `s`'s
    /// adjoint, then the statement's reverse code runs in the forward sweep with the loop's
    /// pullback call returning the value too; nothing is left for the reverse sweep.
    fn fused_call(
        &mut self,
        target: &Place,
        value: &Expr,
        acc: VarId,
    ) -> (TokenStream, TokenStream) {
        let cx = self.cx;
        let k = self.next();
        let prefix = format!("__fg_r{k}");
        let (mut l, root) = Lin::build(self.f, self.act, value, prefix);
        let fv = format_ident!("__fg_fused{}", k);
        l.fused_value = Some(fv.clone());
        let d_acc = self.adj(acc);
        let seed = &self.seed_val;
        let dv = format_ident!("__fg_dv{}", k);
        let need = l.needed_values();
        let values = l.emit_values(&cx, &need);
        let adj = |v: VarId| self.adj(v);
        let adjoints = l.emit_adjoints(&cx, root, Some(quote!(#dv)), &adj);
        let place = cx.place(target);
        let op = match value {
            Expr::Binary(syn::BinOp::Sub(_), ..) => quote!(-),
            _ => quote!(+),
        };
        let fwd = quote! {
            #d_acc += #seed;
            let #dv = #d_acc;
            #d_acc = ::ferrograd::__private::Adjoint::zero_like(&#dv);
            #values
            #adjoints
            #place = #place #op #fv;
        };
        (fwd, TokenStream::new())
    }

    fn for_loop(
        &mut self,
        id: LoopId,
        var: Option<VarId>,
        iter: &Iter,
        body: &Block,
        in_loop: bool,
    ) -> (TokenStream, TokenStream) {
        let cx = self.cx;
        let (fb, rb) = self.block(body, true);
        let rb = self.with_recompute(id, rb);
        let lf = self.loops.get(&id).cloned().unwrap_or_default();
        let (brk_reset, cont_reset, check) = flag_code(&lf);
        let Iter::Range {
            lo,
            hi,
            inclusive,
            adaptors,
        } = iter;
        let pat = match var {
            Some(v) => var_ident(self.f, v).to_token_stream(),
            None => quote!(_),
        };
        let (lo_t, hi_t) = (cx.expr(lo), cx.expr(hi));
        let dots = if *inclusive { quote!(..=) } else { quote!(..) };
        if rb.is_empty() {
            let it = iter_tokens(&cx, &lo_t, &dots, &hi_t, adaptors);
            return (
                quote!(#brk_reset for #pat in #it { #cont_reset #fb #check }),
                TokenStream::new(),
            );
        }
        let k = self.next();
        let n = format_ident!("__fg_n{}", k);
        if adaptors.is_empty() {
            // Fast path: the reverse sweep regenerates the loop variable from (lo, trip count).
            let lov = format_ident!("__fg_lo{}", k);
            let (rec_lo, recall_lo) = self.record(quote!(#lov), in_loop);
            let (rec_n, recall_n) = self.record(quote!(#n), in_loop);
            let fwd = quote! {
                #brk_reset
                let #lov = #lo_t;
                let mut #n: usize = 0;
                for #pat in #lov #dots #hi_t { #n += 1; #cont_reset #fb #check }
                #rec_lo
                #rec_n
            };
            let rev = quote!({
                let #n: usize = #recall_n;
                let #lov = ::ferrograd::__private::same_type(#recall_lo, || #lo_t);
                for #pat in ::ferrograd::__private::rev_range(#lov, #n) { #rb }
            });
            return (fwd, rev);
        }
        // General iterator: the loop variable goes on the tape at the end of each iteration.
        let it = iter_tokens(&cx, &lo_t, &dots, &hi_t, adaptors);
        self.uses_tape = true;
        let (push, pop) = match var {
            Some(v) => {
                let id = var_ident(self.f, v);
                (
                    quote!(__fg_tape.push(#id);),
                    quote!(let #id = ::ferrograd::__private::same_type(__fg_tape.pop(), || #lo_t);),
                )
            }
            None => (quote!(), quote!()),
        };
        let (rec_n, recall_n) = self.record(quote!(#n), in_loop);
        let fwd = quote! {
            #brk_reset
            let mut #n: usize = 0;
            for #pat in #it { #n += 1; #cont_reset #fb #push #check }
            #rec_n
        };
        let rev = quote!({
            let #n: usize = #recall_n;
            for _ in 0..#n { #pop #rb }
        });
        (fwd, rev)
    }
}

pub fn iter_tokens(
    cx: &ExprCx,
    lo: &TokenStream,
    dots: &TokenStream,
    hi: &TokenStream,
    adaptors: &[Adaptor],
) -> TokenStream {
    let mut t = quote!((#lo #dots #hi));
    for a in adaptors {
        match a {
            Adaptor::Rev => t = quote!(#t.rev()),
            Adaptor::StepBy(k) => {
                let k = cx.expr(k);
                t = quote!(#t.step_by(#k))
            }
        }
    }
    t
}

fn flag_code(lf: &LoopFlags) -> (TokenStream, TokenStream, TokenStream) {
    let brk = lf
        .brk
        .as_ref()
        .map(|b| quote!(#b = false;))
        .unwrap_or_default();
    let cont = lf
        .cont
        .as_ref()
        .map(|c| quote!(#c = false;))
        .unwrap_or_default();
    let check = if lf.check.is_empty() {
        TokenStream::new()
    } else {
        let c = &lf.check;
        quote!(if #(#c)||* { break; })
    };
    (brk, cont, check)
}

/// The run-time hull of buffer `buf` (`analysis::record`).
fn hull_ident(buf: syn::Ident) -> syn::Ident {
    format_ident!("__fg_hull_{}", buf)
}
