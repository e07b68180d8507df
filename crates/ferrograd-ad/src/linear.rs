//! Linearisation of one expression into three-address nodes, and the derivative code for a
//! node list: values (recomputed in the reverse sweep), adjoint propagation (reverse mode) and
//! tangents (forward mode). Rules are emitted as calls to `ferrograd::Partials`, so the macro
//! never names a concrete type.

use crate::analysis::Activity;
use crate::emit_expr::{callee, ExprCx};
use crate::ir::*;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

#[derive(Clone, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "IR values are built once per expansion; boxing only adds noise"
)]
pub enum CallArg {
    /// A float scalar argument (a node of the expression).
    Scalar(usize),
    /// A float slice/array argument: its tokens as written and its base variable.
    Buffer {
        expr: Expr,
        var: VarId,
        mutable: bool,
        /// `&x[lo..hi]`: the bounds (the adjoint and tangent are the same range of `x`'s).
        range: Option<(Option<Expr>, Option<Expr>)>,
    },
    /// A struct passed whole (`Ty::Struct`): its adjoint `d_p: &mut S`, tangent `t_p: &S`.
    Struct { expr: Expr, var: VarId },
    /// A non-differentiable argument (integers, bools, labels).
    Other(Expr),
}

#[derive(Clone, Debug)]
pub enum Nk {
    /// An inactive subexpression: evaluated as written, carries no derivative.
    Const(Expr),
    Leaf(VarId),
    Elem(VarId, Expr),
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    Div(usize, usize),
    Rem(usize, usize),
    Neg(usize),
    Unary(syn::Ident, usize),
    Powi(usize, Expr),
    Binary(syn::Ident, usize, usize),
    MulAdd(usize, usize, usize),
    Call {
        path: syn::Path,
        args: Vec<CallArg>,
        try_: bool,
    },
}

pub struct Lin {
    pub nodes: Vec<Nk>,
    pub active: Vec<bool>,
    /// Partials of unary nodes computed by the forward sweep and taped (see `reverse.rs`).
    pub pre: std::collections::HashMap<usize, TokenStream>,
    /// Unique prefix of this expression's temporaries.
    pub prefix: String,
    /// Reduction fusion of an outlined loop (`analysis/fusion.rs`): its call's pullback is emitted as
    /// `let <ident> = <callee>_value_pullback(…)`, which also returns the call's value.
    pub fused_value: Option<syn::Ident>,
}

impl Lin {
    pub fn build(f: &Func, act: &Activity, e: &Expr, prefix: String) -> (Lin, usize) {
        let mut l = Lin {
            nodes: Vec::new(),
            active: Vec::new(),
            pre: std::collections::HashMap::new(),
            prefix,
            fused_value: None,
        };
        let root = l.add(f, act, e);
        (l, root)
    }

    fn push(&mut self, k: Nk, active: bool) -> usize {
        self.nodes.push(k);
        self.active.push(active);
        self.nodes.len() - 1
    }

    fn add(&mut self, f: &Func, act: &Activity, e: &Expr) -> usize {
        if !act.expr_active(f, e) {
            return self.push(Nk::Const(e.clone()), false);
        }
        match e {
            Expr::Var(v) => self.push(Nk::Leaf(*v), true),
            Expr::Index(v, i) => self.push(Nk::Elem(*v, (**i).clone()), true),
            Expr::Neg(a) | Expr::Ref(a, _) if matches!(e, Expr::Ref(..)) => self.add(f, act, a),
            Expr::Neg(a) => {
                let a = self.add(f, act, a);
                self.push(Nk::Neg(a), true)
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.add(f, act, a), self.add(f, act, b));
                let k = match op {
                    syn::BinOp::Add(_) => Nk::Add(a, b),
                    syn::BinOp::Sub(_) => Nk::Sub(a, b),
                    syn::BinOp::Mul(_) => Nk::Mul(a, b),
                    syn::BinOp::Div(_) => Nk::Div(a, b),
                    _ => Nk::Rem(a, b),
                };
                self.push(k, true)
            }
            Expr::Method(r, m, args) => {
                let name = m.to_string();
                let r = self.add(f, act, r);
                let k = if name == "powi" {
                    Nk::Powi(r, args[0].clone())
                } else if name == "mul_add" {
                    let a = self.add(f, act, &args[0]);
                    let b = self.add(f, act, &args[1]);
                    Nk::MulAdd(r, a, b)
                } else if BINARY_METHODS.contains(&name.as_str()) {
                    let a = self.add(f, act, &args[0]);
                    Nk::Binary(m.clone(), r, a)
                } else {
                    Nk::Unary(m.clone(), r)
                };
                self.push(k, true)
            }
            Expr::Call {
                path, args, try_, ..
            } => {
                let mut cargs = Vec::new();
                for a in args {
                    let t = f.ty_of(a);
                    let ca = if t == Ty::Float {
                        CallArg::Scalar(self.add(f, act, a))
                    } else if let Some(v) = struct_var(f, a) {
                        CallArg::Struct {
                            expr: a.clone(),
                            var: v,
                        }
                    } else if t.is_float_buffer() {
                        match buffer_base(a) {
                            Some((v, m, range)) => CallArg::Buffer {
                                expr: a.clone(),
                                var: v,
                                mutable: m || (range.is_none() && f.var_ty(v) == Ty::FloatSliceMut),
                                range,
                            },
                            None => CallArg::Other(a.clone()),
                        }
                    } else {
                        CallArg::Other(a.clone())
                    };
                    cargs.push(ca);
                }
                self.push(
                    Nk::Call {
                        path: path.clone(),
                        args: cargs,
                        try_: *try_,
                    },
                    true,
                )
            }
            _ => self.push(Nk::Const(e.clone()), false),
        }
    }

    fn is_computed(&self, k: usize) -> bool {
        !matches!(self.nodes[k], Nk::Const(_) | Nk::Leaf(_) | Nk::Elem(..))
    }

    fn operands(&self, k: usize) -> Vec<usize> {
        match &self.nodes[k] {
            Nk::Const(_) | Nk::Leaf(_) | Nk::Elem(..) => vec![],
            Nk::Add(a, b)
            | Nk::Sub(a, b)
            | Nk::Mul(a, b)
            | Nk::Div(a, b)
            | Nk::Rem(a, b)
            | Nk::Binary(_, a, b) => {
                vec![*a, *b]
            }
            Nk::Neg(a) | Nk::Unary(_, a) | Nk::Powi(a, _) => vec![*a],
            Nk::MulAdd(a, b, c) => vec![*a, *b, *c],
            Nk::Call { args, .. } => args
                .iter()
                .filter_map(|a| match a {
                    CallArg::Scalar(n) => Some(*n),
                    _ => None,
                })
                .collect(),
        }
    }

    /// Active unary nodes whose partial is worth computing in the forward sweep and taping
    /// (transcendental rules; cheap ones like `abs` or `recip` are recomputed).
    pub fn preaccumulable(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&k| {
                self.active[k]
                    && matches!(&self.nodes[k], Nk::Unary(m, a) if self.active[*a] && crate::prims::is_expensive(&m.to_string()))
            })
            .collect()
    }

    /// `Partials::<m>_d(x, y)` of unary node `k` (all values computed).
    pub fn partial_tokens(&self, cx: &ExprCx, k: usize) -> TokenStream {
        match &self.nodes[k] {
            Nk::Unary(m, a) => {
                let (va, y) = (self.val(cx, *a), self.val(cx, k));
                let rule = format_ident!("{}_d", m);
                quote!(::ferrograd::__private::Partials::#rule(#va, #y))
            }
            _ => TokenStream::new(),
        }
    }

    /// Which node values the reverse sweep reads (to-be-recorded at the expression level).
    pub fn needed_values(&self) -> Vec<bool> {
        let n = self.nodes.len();
        let mut need = vec![false; n];
        for k in (0..n).rev() {
            if self.active[k] {
                match &self.nodes[k] {
                    Nk::Mul(a, b) => {
                        if self.active[*a] {
                            need[*b] = true;
                        }
                        if self.active[*b] {
                            need[*a] = true;
                        }
                    }
                    Nk::MulAdd(a, b, _) => {
                        if self.active[*a] {
                            need[*b] = true;
                        }
                        if self.active[*b] {
                            need[*a] = true;
                        }
                    }
                    Nk::Div(a, b) => {
                        need[*b] = true;
                        if self.active[*b] {
                            need[k] = true;
                            need[*a] = true;
                        }
                    }
                    Nk::Rem(a, b) if self.active[*b] => {
                        need[*a] = true;
                        need[*b] = true;
                    }
                    Nk::Unary(_, _) if self.pre.contains_key(&k) => {}
                    Nk::Unary(m, a) => {
                        need[*a] = true;
                        // Rules written in terms of the result reuse it; the others need only
                        // the argument (no recomputation of e.g. `sin` in the reverse sweep).
                        if crate::prims::uses_result(&m.to_string()) {
                            need[k] = true;
                        }
                    }
                    Nk::Powi(a, _) => {
                        need[*a] = true;
                    }
                    Nk::Binary(_, a, b) => {
                        need[*a] = true;
                        need[*b] = true;
                        need[k] = true;
                    }
                    Nk::Call { .. } => {
                        for o in self.operands(k) {
                            need[o] = true;
                        }
                    }
                    _ => {}
                }
            }
            if need[k] && self.is_computed(k) {
                for o in self.operands(k) {
                    need[o] = true;
                }
            }
        }
        need
    }

    /// Variables the reverse sweep reads for this expression.
    pub fn needed_vars(&self, need: &[bool], out: &mut Vec<VarId>) {
        for (k, node) in self.nodes.iter().enumerate() {
            let mut read = |e: &Expr| Func::for_each_read(e, &mut |v| out.push(v));
            match node {
                Nk::Const(e) if need[k] => read(e),
                Nk::Leaf(v) if need[k] => out.push(*v),
                Nk::Elem(v, i) => {
                    read(i);
                    if need[k] {
                        out.push(*v);
                    }
                }
                Nk::Powi(_, n) => read(n),
                Nk::Call { args, .. } if self.active[k] => {
                    for a in args {
                        match a {
                            CallArg::Buffer { expr, .. }
                            | CallArg::Struct { expr, .. }
                            | CallArg::Other(expr) => read(expr),
                            CallArg::Scalar(_) => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn tmp(&self, k: usize) -> syn::Ident {
        format_ident!("{}_{}", self.prefix, k)
    }

    /// The value of node `k` as an expression (after `emit_values` for computed nodes).
    pub fn val(&self, cx: &ExprCx, k: usize) -> TokenStream {
        match &self.nodes[k] {
            Nk::Const(e) => {
                let t = cx.expr(e);
                quote!((#t))
            }
            Nk::Leaf(v) => cx.expr(&Expr::Var(*v)),
            Nk::Elem(v, i) => cx.expr(&Expr::Index(*v, Box::new(i.clone()))),
            _ => {
                let t = self.tmp(k);
                quote!(#t)
            }
        }
    }

    fn op_tokens(&self, cx: &ExprCx, k: usize) -> TokenStream {
        let v = |n: &usize| self.val(cx, *n);
        match &self.nodes[k] {
            Nk::Add(a, b) => {
                let (a, b) = (v(a), v(b));
                quote!(#a + #b)
            }
            Nk::Sub(a, b) => {
                let (a, b) = (v(a), v(b));
                quote!(#a - #b)
            }
            Nk::Mul(a, b) => {
                let (a, b) = (v(a), v(b));
                quote!(#a * #b)
            }
            Nk::Div(a, b) => {
                let (a, b) = (v(a), v(b));
                quote!(#a / #b)
            }
            Nk::Rem(a, b) => {
                let (a, b) = (v(a), v(b));
                quote!(#a % #b)
            }
            Nk::Neg(a) => {
                let a = v(a);
                quote!(-#a)
            }
            Nk::Unary(m, a) => {
                let a = v(a);
                quote!(#a.#m())
            }
            Nk::Powi(a, n) => {
                let a = v(a);
                let n = cx.expr(n);
                quote!(#a.powi(#n))
            }
            Nk::Binary(m, a, b) => {
                let (a, b) = (v(a), v(b));
                quote!(#a.#m(#b))
            }
            Nk::MulAdd(a, b, c) => {
                let (a, b, c) = (v(a), v(b), v(c));
                quote!(#a.mul_add(#b, #c))
            }
            Nk::Call { path, args, try_ } => {
                let p = cx.callee(path, "");
                let args = args.iter().map(|a| self.arg_val(cx, a));
                let q = try_.then(|| quote!(?));
                quote!(#p(#(#args),*)#q)
            }
            Nk::Const(_) | Nk::Leaf(_) | Nk::Elem(..) => self.val(cx, k),
        }
    }

    fn arg_val(&self, cx: &ExprCx, a: &CallArg) -> TokenStream {
        match a {
            CallArg::Scalar(n) => self.val(cx, *n),
            CallArg::Buffer { expr, .. } | CallArg::Struct { expr, .. } | CallArg::Other(expr) => {
                cx.expr(expr)
            }
        }
    }

    /// `let tmp = …;` for every needed computed node, operands first.
    pub fn emit_values(&self, cx: &ExprCx, need: &[bool]) -> TokenStream {
        let mut out = TokenStream::new();
        for (k, &needed) in need.iter().enumerate() {
            if needed && self.is_computed(k) {
                let t = self.tmp(k);
                let op = self.op_tokens(cx, k);
                out.extend(quote!(let #t = #op;));
            }
        }
        out
    }

    /// Reverse mode: propagates `seed` (the adjoint of the root; `None` for a call statement)
    /// down to the variables' adjoints, accumulating with `+=`.
    pub fn emit_adjoints(
        &self,
        cx: &ExprCx,
        root: usize,
        seed: Option<TokenStream>,
        adj_var: &dyn Fn(VarId) -> TokenStream,
    ) -> TokenStream {
        let n = self.nodes.len();
        let mut adj: Vec<Option<TokenStream>> = vec![None; n];
        adj[root] = seed.clone();
        let mut out = TokenStream::new();
        let mut leaf_adds: Vec<(String, TokenStream, TokenStream)> = Vec::new();
        for k in (0..n).rev() {
            if !self.active[k] {
                continue;
            }
            let is_stmt_call = k == root && seed.is_none();
            let d = match (&adj[k], is_stmt_call) {
                (Some(d), _) => d.clone(),
                (None, true) => TokenStream::new(),
                (None, false) => continue,
            };
            let mut give =
                |out: &mut TokenStream, node: usize, contrib: TokenStream, name: &str| {
                    if self.active[node] {
                        let t = format_ident!("{}_{}{}", self.prefix, name, node);
                        out.extend(quote!(let #t = #contrib;));
                        adj[node] = Some(quote!(#t));
                    }
                };
            let v = |n: &usize| self.val(cx, *n);
            match &self.nodes[k] {
                Nk::Const(_) => {}
                Nk::Leaf(var) => {
                    let a = adj_var(*var);
                    leaf_adds.push((a.to_string(), a, d));
                }
                Nk::Elem(var, i) => {
                    let a = adj_var(*var);
                    let i = cx.expr(i);
                    let place = quote!(#a[#i]);
                    leaf_adds.push((place.to_string(), place, d));
                }
                Nk::Add(a, b) => {
                    give(&mut out, *a, d.clone(), "a");
                    give(&mut out, *b, d, "a");
                }
                Nk::Sub(a, b) => {
                    give(&mut out, *a, d.clone(), "a");
                    give(&mut out, *b, quote!(-#d), "a");
                }
                Nk::Neg(a) => give(&mut out, *a, quote!(-#d), "a"),
                Nk::Mul(a, b) => {
                    let (va, vb) = (v(a), v(b));
                    give(&mut out, *a, quote!(#d * #vb), "a");
                    give(&mut out, *b, quote!(#d * #va), "a");
                }
                Nk::Div(a, b) => {
                    let (va, vb, y) = (v(a), v(b), self.val(cx, k));
                    let p = format_ident!("{}_p{}", self.prefix, k);
                    if self.active[*b] {
                        out.extend(
                            quote!(let #p = ::ferrograd::__private::Partials::div_d(#va, #vb, #y);),
                        );
                        give(&mut out, *a, quote!(#d * #p.0), "a");
                        give(&mut out, *b, quote!(#d * #p.1), "a");
                    } else {
                        give(&mut out, *a, quote!(#d / #vb), "a");
                    }
                }
                Nk::Rem(a, b) => {
                    let (va, vb) = (v(a), v(b));
                    give(&mut out, *a, d.clone(), "a");
                    give(&mut out, *b, quote!(-(#d * (#va / #vb).trunc())), "a");
                }
                Nk::Unary(_, a) if self.pre.contains_key(&k) => {
                    let p = &self.pre[&k];
                    give(&mut out, *a, quote!(#d * #p), "a");
                }
                Nk::Unary(m, a) => {
                    let va = v(a);
                    // Rules that do not read `y` get the argument in its place (ignored).
                    let y = if crate::prims::uses_result(&m.to_string()) {
                        self.val(cx, k)
                    } else {
                        va.clone()
                    };
                    let rule = format_ident!("{}_d", m);
                    give(
                        &mut out,
                        *a,
                        quote!(#d * ::ferrograd::__private::Partials::#rule(#va, #y)),
                        "a",
                    );
                }
                Nk::Powi(a, nexp) => {
                    let va = v(a);
                    let y = va.clone(); // `powi_d` does not read the result
                    let nexp = cx.expr(nexp);
                    give(
                        &mut out,
                        *a,
                        quote!(#d * ::ferrograd::__private::Partials::powi_d(#va, #nexp, #y)),
                        "a",
                    );
                }
                Nk::Binary(m, a, b) => {
                    let (va, vb, y) = (v(a), v(b), self.val(cx, k));
                    let rule = format_ident!("{}_d", m);
                    let p = format_ident!("{}_p{}", self.prefix, k);
                    out.extend(
                        quote!(let #p = ::ferrograd::__private::Partials::#rule(#va, #vb, #y);),
                    );
                    give(&mut out, *a, quote!(#d * #p.0), "a");
                    give(&mut out, *b, quote!(#d * #p.1), "a");
                }
                Nk::MulAdd(a, b, c) => {
                    let (va, vb) = (v(a), v(b));
                    give(&mut out, *a, quote!(#d * #vb), "a");
                    give(&mut out, *b, quote!(#d * #va), "a");
                    give(&mut out, *c, d, "a");
                }
                Nk::Call { path, args, try_ } => {
                    let p = cx.callee(path, "_pullback");
                    let mut prim = Vec::new();
                    let mut adjs = Vec::new();
                    let mut after = Vec::new();
                    let mut given: Vec<VarId> = Vec::new();
                    let mut add_back: Vec<TokenStream> = Vec::new();
                    for (j, a) in args.iter().enumerate() {
                        prim.push(self.arg_val(cx, a));
                        match a {
                            CallArg::Scalar(node) => {
                                let t = format_ident!("{}_c{}_{}", self.prefix, k, j);
                                let val = self.val(cx, *node);
                                out.extend(
                                    quote!(let mut #t = ::ferrograd::__private::Adjoint::zero_like(&#val);),
                                );
                                adjs.push(quote!(&mut #t));
                                after.push((*node, t));
                            }
                            CallArg::Buffer {
                                var,
                                range,
                                mutable,
                                ..
                            } => {
                                if self.active_buffer(*var, adj_var) {
                                    let a = adj_var(*var);
                                    let r = range_tokens(cx, range);
                                    if given.contains(var) {
                                        // The same buffer passed twice (`g(&v, &v)`,
                                        // `g(&v[..2], &v[1..])`): the second adjoint goes to
                                        // scratch, added in after the call.
                                        let t = format_ident!("{}_c{}_{}", self.prefix, k, j);
                                        out.extend(quote!(let mut #t = ::ferrograd::__private::zeros_like(&#a[#r]);));
                                        adjs.push(quote!(&mut #t[..]));
                                        add_back.push(quote!(::ferrograd::__private::add_into(&mut #a[#r], &#t);));
                                    } else {
                                        given.push(*var);
                                        if *mutable && cx.f.stashes {
                                            // A stash (`ArgMode::Stash`; a constant, so the
                                            // branch folds away) gets an empty adjoint: nothing
                                            // else reads it (asserted in `lib.rs`).
                                            let modes = callee(path, "_ARG_MODES", false);
                                            adjs.push(quote!(if #modes[#j].stash() {
                                                ::core::default::Default::default()
                                            } else {
                                                &mut #a[#r]
                                            }));
                                        } else {
                                            adjs.push(quote!(&mut #a[#r]));
                                        }
                                    }
                                } else {
                                    // No derivative wanted: an empty adjoint slice. Kernels skip
                                    // that work; generated pullbacks substitute scratch.
                                    adjs.push(quote!(&mut []));
                                }
                            }
                            CallArg::Struct { expr, var } => {
                                if self.active_buffer(*var, adj_var) {
                                    let a = adj_var(*var);
                                    adjs.push(quote!(&mut *#a));
                                } else {
                                    // No derivative wanted: a scratch adjoint of its shape.
                                    let e = cx.expr(expr);
                                    adjs.push(
                                        quote!(&mut ::ferrograd::__private::Differentiable::zero_like(#e)),
                                    );
                                }
                            }
                            CallArg::Other(_) => {}
                        }
                    }
                    let mut all = prim;
                    if !is_stmt_call {
                        all.push(d.clone());
                    }
                    all.extend(adjs);
                    let q = try_.then(|| quote!(?));
                    match &self.fused_value {
                        Some(fv) => {
                            let p = cx.callee(path, "_value_pullback");
                            out.extend(quote!(let #fv = #p(#(#all),*)#q;));
                        }
                        None => out.extend(quote!(#p(#(#all),*)#q;)),
                    }
                    out.extend(add_back);
                    for (node, t) in after {
                        if self.active[node] {
                            adj[node] = Some(quote!(#t));
                        }
                    }
                }
            }
        }
        // One `+=` per adjoint location: contributions to the same variable or element (as in
        // `x[i] * x[i]`) are summed first, saving read-modify-writes of memory.
        let mut seen: Vec<String> = Vec::new();
        for (key, place, _) in &leaf_adds {
            if seen.contains(key) {
                continue;
            }
            seen.push(key.clone());
            let terms: Vec<&TokenStream> = leaf_adds
                .iter()
                .filter(|(k, _, _)| k == key)
                .map(|(_, _, d)| d)
                .collect();
            out.extend(quote!(#place += #(#terms)+*;));
        }
        let _ = Span::call_site();
        out
    }

    fn active_buffer(&self, v: VarId, adj_var: &dyn Fn(VarId) -> TokenStream) -> bool {
        !adj_var(v).is_empty()
    }

    /// Forward mode: values and tangents of every node; returns (value, tangent) of the root.
    /// `tan_var` gives a variable's tangent (empty tokens when inactive).
    pub fn emit_tangents(
        &self,
        cx: &ExprCx,
        tan_var: &dyn Fn(VarId) -> TokenStream,
        out: &mut TokenStream,
        is_stmt_call: bool,
    ) -> Vec<Option<TokenStream>> {
        let n = self.nodes.len();
        let mut tan: Vec<Option<TokenStream>> = vec![None; n];
        for k in 0..n {
            let t = &tan;
            let tk = format_ident!("{}_t{}", self.prefix, k);
            let v = |n: &usize| self.val(cx, *n);
            let tv = |n: &usize| t[*n].clone();
            let new_tan: Option<TokenStream> = match &self.nodes[k] {
                Nk::Const(_) => None,
                Nk::Leaf(var) => {
                    let t = tan_var(*var);
                    (!t.is_empty()).then_some(t)
                }
                Nk::Elem(var, i) => {
                    let t = tan_var(*var);
                    let i = cx.expr(i);
                    (!t.is_empty()).then(|| quote!(#t[#i]))
                }
                Nk::Call { path, args, try_ } => {
                    let p = cx.callee(path, "_pushforward");
                    let mut prim = Vec::new();
                    let mut tans = Vec::new();
                    for a in args {
                        prim.push(self.arg_val(cx, a));
                        match a {
                            CallArg::Scalar(node) => {
                                match &tan[*node] {
                                    Some(t) => tans.push(t.clone()),
                                    None => {
                                        let val = self.val(cx, *node);
                                        tans.push(quote!(::ferrograd::__private::Adjoint::zero_like(&#val)))
                                    }
                                }
                            }
                            CallArg::Buffer {
                                var,
                                expr,
                                mutable,
                                range,
                            } => {
                                let t = tan_var(*var);
                                let r = range_tokens(cx, range);
                                let e = cx.expr(expr);
                                // A buffer passed twice is read only (Rust allows no `&mut`
                                // alias): shared tangents, which may alias.
                                let twice = args
                                    .iter()
                                    .filter(
                                        |b| matches!(b, CallArg::Buffer { var: w, .. } if w == var),
                                    )
                                    .count()
                                    > 1;
                                let mutable = *mutable && !twice;
                                tans.push(match (t.is_empty(), mutable) {
                                    (false, true) => quote!(&mut #t[#r]),
                                    (false, false) => quote!(&#t[#r]),
                                    (true, true) => {
                                        quote!(&mut ::ferrograd::__private::zeros_like(&(#e)[..])[..])
                                    }
                                    (true, false) => {
                                        quote!(&::ferrograd::__private::zeros_like(&(#e)[..])[..])
                                    }
                                });
                            }
                            CallArg::Struct { expr, var } => {
                                let t = tan_var(*var);
                                if t.is_empty() {
                                    let e = cx.expr(expr);
                                    tans.push(quote!(&::ferrograd::__private::Differentiable::zero_like(#e)));
                                } else {
                                    tans.push(t);
                                }
                            }
                            CallArg::Other(_) => {}
                        }
                    }
                    let q = try_.then(|| quote!(?));
                    if is_stmt_call && k + 1 == n {
                        out.extend(quote!(#p(#(#prim,)* #(#tans),*)#q;));
                        None
                    } else {
                        let vk = self.tmp(k);
                        out.extend(quote!(let (#vk, #tk) = #p(#(#prim,)* #(#tans),*)#q;));
                        tan[k] = Some(quote!(#tk));
                        continue;
                    }
                }
                _ => {
                    let vk = self.tmp(k);
                    let op = self.op_tokens(cx, k);
                    out.extend(quote!(let #vk = #op;));
                    let y = quote!(#vk);
                    let sum = |terms: Vec<TokenStream>| -> Option<TokenStream> {
                        if terms.is_empty() {
                            None
                        } else {
                            Some(quote!(#(#terms)+*))
                        }
                    };
                    match &self.nodes[k] {
                        Nk::Add(a, b) => sum([tv(a), tv(b)].into_iter().flatten().collect()),
                        Nk::Sub(a, b) => match (tv(a), tv(b)) {
                            (Some(x), Some(z)) => Some(quote!(#x - #z)),
                            (Some(x), None) => Some(x),
                            (None, Some(z)) => Some(quote!(-#z)),
                            (None, None) => None,
                        },
                        Nk::Neg(a) => tv(a).map(|x| quote!(-#x)),
                        Nk::Mul(a, b) => {
                            let (va, vb) = (v(a), v(b));
                            sum([
                                tv(a).map(|x| quote!(#x * #vb)),
                                tv(b).map(|z| quote!(#va * #z)),
                            ]
                            .into_iter()
                            .flatten()
                            .collect())
                        }
                        Nk::Div(a, b) => {
                            let (va, vb) = (v(a), v(b));
                            let p = format_ident!("{}_p{}", self.prefix, k);
                            out.extend(
                                quote!(let #p = ::ferrograd::__private::Partials::div_d(#va, #vb, #y);),
                            );
                            sum([
                                tv(a).map(|x| quote!(#x * #p.0)),
                                tv(b).map(|z| quote!(#z * #p.1)),
                            ]
                            .into_iter()
                            .flatten()
                            .collect())
                        }
                        Nk::Rem(a, b) => {
                            let (va, vb) = (v(a), v(b));
                            sum([tv(a), tv(b).map(|z| quote!(-(#z * (#va / #vb).trunc())))]
                                .into_iter()
                                .flatten()
                                .collect())
                        }
                        Nk::Unary(m, a) => {
                            let va = v(a);
                            let rule = format_ident!("{}_d", m);
                            tv(a).map(
                                |x| quote!(#x * ::ferrograd::__private::Partials::#rule(#va, #y)),
                            )
                        }
                        Nk::Powi(a, nexp) => {
                            let va = v(a);
                            let nexp = cx.expr(nexp);
                            tv(a)
                                .map(|x| quote!(#x * ::ferrograd::__private::Partials::powi_d(#va, #nexp, #y)))
                        }
                        Nk::Binary(m, a, b) => {
                            let (va, vb) = (v(a), v(b));
                            let rule = format_ident!("{}_d", m);
                            let p = format_ident!("{}_p{}", self.prefix, k);
                            out.extend(
                                quote!(let #p = ::ferrograd::__private::Partials::#rule(#va, #vb, #y);),
                            );
                            sum([
                                tv(a).map(|x| quote!(#x * #p.0)),
                                tv(b).map(|z| quote!(#z * #p.1)),
                            ]
                            .into_iter()
                            .flatten()
                            .collect())
                        }
                        Nk::MulAdd(a, b, c) => {
                            let (va, vb) = (v(a), v(b));
                            sum([
                                tv(a).map(|x| quote!(#x * #vb)),
                                tv(b).map(|z| quote!(#va * #z)),
                                tv(c),
                            ]
                            .into_iter()
                            .flatten()
                            .collect())
                        }
                        _ => None,
                    }
                }
            };
            if let Some(t) = new_tan {
                if self.is_computed(k) {
                    out.extend(quote!(let #tk = #t;));
                    tan[k] = Some(quote!(#tk));
                } else {
                    tan[k] = Some(t);
                }
            }
        }
        tan
    }
}

/// A sub-slice's bounds.
type Range = Option<(Option<Expr>, Option<Expr>)>;

/// The buffer variable passed as a call argument (`x`, `&x`, `&mut x`, `&x[a..b]`), whether it
/// is `&mut`, and the sub-slice's bounds.
fn buffer_base(e: &Expr) -> Option<(VarId, bool, Range)> {
    match e {
        Expr::Var(v) => Some((*v, false, None)),
        Expr::Ref(inner, m) => match &**inner {
            Expr::Var(v) => Some((*v, *m, None)),
            _ => None,
        },
        Expr::SubSlice {
            var,
            lo,
            hi,
            mutable,
        } => Some((
            *var,
            *mutable,
            Some((lo.as_deref().cloned(), hi.as_deref().cloned())),
        )),
        _ => None,
    }
}

/// `lo..hi` of a buffer argument (`..` for the whole buffer).
fn range_tokens(cx: &ExprCx, range: &Range) -> TokenStream {
    match range {
        Some((lo, hi)) => cx.range(lo.as_ref(), hi.as_ref()),
        None => quote!(..),
    }
}

/// The variable of a whole-struct argument (`p` or `&p` with `p: Ty::Struct`).
fn struct_var(f: &Func, a: &Expr) -> Option<VarId> {
    match a {
        Expr::Var(v) if f.var_ty(*v) == Ty::Struct => Some(*v),
        Expr::Ref(inner, false) => struct_var(f, inner),
        _ => None,
    }
}
