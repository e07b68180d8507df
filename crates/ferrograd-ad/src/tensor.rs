//! Tensor-level reverse mode: straight-line functions over `&tch::Tensor` (LibTorch ops) get a
//! generated backward pass made of calls to `ferrograd_torch::rules::*_vjp`, plus
//! `f_autograd`, which runs the function as ONE LibTorch autograd node whose backward is the
//! generated code (forward by LibTorch, backward by ferrograd).
//!
//! Which methods have rules, how their arguments are passed and what their rules take and
//! return comes from the op table in `ferrograd-prims` (`crate::prims::TENSOR_OPS`); the
//! exceptions (`cross_entropy_for_logits` split in two nodes, `nll_loss`'s forward) are
//! commented where they are handled.
//!
//! Values are kept as named temporaries (three-address form); adjoints are `Option<Tensor>`
//! slots (`None` = symbolic zero), accumulated with `rules::acc`.
//!
//! Errors: every generated function returns `Result<_, ferrograd_torch::Error>`. Forward ops
//! are tch's fallible `f_*` forms and every rule checks its arguments, both followed by `?`,
//! so a tensor of the wrong shape, dtype, device or layout is an `Err` naming the op or rule
//! (in `f_autograd`'s backward it surfaces from `ferrograd_torch::backward`), never a panic.
//! A callee's `g_pullback` (generated or hand-written) returns `Result<(), E>` with
//! `ferrograd_torch::Error: From<E>`.

use crate::analysis::{analyse, Activity};
use crate::emit_expr::{var_ident, ExprCx};
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};

/// `x.cross_entropy_for_logits(t)` as tch defines it, `x.log_softmax(-1, Kind::Float)
/// .nll_loss(t)`: two nodes, so the backward reuses the saved log-probabilities.
pub fn cross_entropy_as_nll(recv: &Expr, m: &syn::Ident, args: &[Expr]) -> Expr {
    let ls = Expr::Method(
        Box::new(recv.clone()),
        syn::Ident::new("log_softmax", m.span()),
        vec![
            Expr::Neg(Box::new(Expr::Lit(syn::parse_quote!(1i64)))),
            Expr::Const(syn::parse_quote!(::ferrograd_torch::tch::Kind::Float)),
        ],
    );
    Expr::Method(
        Box::new(ls),
        syn::Ident::new("nll_loss", m.span()),
        args.to_vec(),
    )
}

/// Does `f` use tensors (then this emitter handles it)?
pub fn is_tensor_fn(f: &Func) -> bool {
    f.ret == RetKind::Tensor || f.params.iter().any(|p| p.kind == Ty::Tensor)
}

#[expect(clippy::large_enum_variant, reason = "built once per expansion")]
enum Arg {
    Tensor(usize),
    SomeTensor(usize),
    Other(Expr),
}

enum Node {
    /// A tensor variable (parameter or `let`).
    Var(VarId),
    /// An inactive tensor expression, evaluated once into a temporary.
    Const,
    Bin(char, usize, usize),
    /// Tensor ∘ float scalar: (op, tensor node, scalar tokens, scalar on the left).
    Scalar(char, usize, Expr, bool),
    Neg(usize),
    Method(String, usize, Vec<Arg>),
    Call(syn::Path, Vec<Arg>),
}

struct Graph<'a> {
    f: &'a Func,
    act: &'a Activity,
    cx: ExprCx<'a>,
    nodes: Vec<Node>,
    active: Vec<bool>,
    /// Forward code.
    fwd: TokenStream,
}

impl<'a> Graph<'a> {
    fn push(&mut self, n: Node, active: bool) -> usize {
        self.nodes.push(n);
        self.active.push(active);
        self.nodes.len() - 1
    }

    /// `&Tensor`-typed tokens for node `k`'s value.
    fn r(&self, k: usize) -> TokenStream {
        match &self.nodes[k] {
            Node::Var(v) => {
                let id = var_ident(self.f, *v);
                if self.f.vars[*v].param.is_some() {
                    quote!(#id)
                } else {
                    quote!((&#id))
                }
            }
            _ => {
                let t = format_ident!("__fg_t{}", k);
                quote!((&#t))
            }
        }
    }

    fn tensor_arg(&mut self, e: &Expr) -> usize {
        match e {
            Expr::Ref(inner, false) => self.node(inner),
            e => self.node(e),
        }
    }

    /// Builds the node of a tensor expression, emitting its forward computation. `e` passed
    /// `check::check_tensor`.
    fn node(&mut self, e: &Expr) -> usize {
        let active = self.act.expr_active(self.f, e);
        let k = match e {
            Expr::Var(v) if self.f.var_ty(*v) == Ty::Tensor => {
                return self.push(Node::Var(*v), self.act.is_active(*v))
            }
            Expr::Ref(inner, false) => return self.node(inner),
            _ if !active => {
                let k = self.push(Node::Const, false);
                let t = format_ident!("__fg_t{}", k);
                let v = self.cx.expr(e);
                self.fwd.extend(quote!(let #t = #v;));
                return k;
            }
            Expr::Neg(a) => {
                let a = self.node(a);
                self.push(Node::Neg(a), true)
            }
            Expr::Binary(op, a, b) => {
                let c = match op {
                    syn::BinOp::Add(_) => '+',
                    syn::BinOp::Sub(_) => '-',
                    syn::BinOp::Mul(_) => '*',
                    syn::BinOp::Div(_) => '/',
                    _ => unreachable!("other operators are rejected by check::check_tensor"),
                };
                let (ta, tb) = (self.f.ty_of(a), self.f.ty_of(b));
                if ta == Ty::Tensor && tb == Ty::Tensor {
                    let (a, b) = (self.tensor_arg(a), self.tensor_arg(b));
                    self.push(Node::Bin(c, a, b), true)
                } else if ta == Ty::Tensor {
                    let a = self.tensor_arg(a);
                    self.push(Node::Scalar(c, a, (**b).clone(), false), true)
                } else {
                    let bn = self.tensor_arg(b);
                    self.push(Node::Scalar(c, bn, (**a).clone(), true), true)
                }
            }
            Expr::Method(recv, m, args) if m == "cross_entropy_for_logits" => {
                return self.node(&cross_entropy_as_nll(recv, m, args));
            }
            Expr::Method(recv, m, args) => {
                let recv = self.tensor_arg(recv);
                let name = m.to_string();
                let mut out = Vec::new();
                for (j, a) in args.iter().enumerate() {
                    out.push(self.method_arg(&name, j, a));
                }
                self.push(Node::Method(name, recv, out), true)
            }
            Expr::Call { path, args, .. } => {
                let mut out = Vec::new();
                for a in args {
                    if self.f.ty_of(a) == Ty::Tensor {
                        out.push(Arg::Tensor(self.tensor_arg(a)));
                    } else {
                        out.push(Arg::Other(a.clone()));
                    }
                }
                self.push(Node::Call(path.clone(), out), true)
            }
            _ => unreachable!("other expressions are rejected by check::check_tensor"),
        };
        let t = format_ident!("__fg_t{}", k);
        let v = self.forward_tokens(k);
        self.fwd.extend(quote!(let #t = #v;));
        k
    }

    /// Argument `j` of method `m`, as the op table declares it: a `tensor` operand becomes a
    /// node, so does a `bias` written `Some(t)`; anything else is passed as written.
    fn method_arg(&mut self, m: &str, j: usize, a: &Expr) -> Arg {
        match tensor_op(m)
            .and_then(|op| op.args.get(j))
            .map(|(_, kind)| *kind)
        {
            Some(ArgKind::Tensor) => return Arg::Tensor(self.tensor_arg(a)),
            Some(ArgKind::Bias) => {
                if let Expr::Call { path, args, .. } = a {
                    if path.is_ident("Some") && args.len() == 1 {
                        return Arg::SomeTensor(self.tensor_arg(&args[0]));
                    }
                }
            }
            _ => {}
        }
        Arg::Other(a.clone())
    }

    fn arg_tokens(&self, a: &Arg) -> TokenStream {
        match a {
            Arg::Tensor(k) => self.r(*k),
            Arg::SomeTensor(k) => {
                let r = self.r(*k);
                quote!(::core::option::Option::Some(#r))
            }
            Arg::Other(e) => self.cx.expr(e),
        }
    }

    /// Forward code of node `k`: tch's fallible `f_*` form of the op followed by `?`, so a
    /// tensor LibTorch rejects is an `Err` from the generated function, not a panic.
    fn forward_tokens(&self, k: usize) -> TokenStream {
        match &self.nodes[k] {
            Node::Var(_) | Node::Const => self.r(k),
            Node::Bin(c, a, b) => {
                let (a, b) = (self.r(*a), self.r(*b));
                match c {
                    '+' => quote!(#a.f_add(#b)?),
                    '-' => quote!(#a.f_sub(#b)?),
                    '*' => quote!(#a.f_mul(#b)?),
                    _ => quote!(#a.f_div(#b)?),
                }
            }
            Node::Scalar(c, a, s, left) => {
                let a = self.r(*a);
                let s = self.cx.expr(s);
                let s = quote!(((#s) as f64));
                match (c, left) {
                    ('+', _) => quote!(#a.f_add_scalar(#s)?),
                    ('-', false) => quote!(#a.f_sub_scalar(#s)?),
                    // `s − a` as `−(a − s)`: the same value bit for bit.
                    ('-', true) => quote!(#a.f_sub_scalar(#s)?.f_neg()?),
                    ('*', _) => quote!(#a.f_mul_scalar(#s)?),
                    _ => quote!(#a.f_div_scalar(#s)?),
                }
            }
            Node::Neg(a) => {
                let a = self.r(*a);
                quote!(#a.f_neg()?)
            }
            Node::Method(m, recv, args) => {
                let recv = self.r(*recv);
                let args: Vec<_> = args.iter().map(|a| self.arg_tokens(a)).collect();
                if m == "nll_loss" {
                    // tch's `nll_loss(targets)` has no `f_` form; this is its definition.
                    return quote!(#recv.f_nll_loss(#(#args,)* ::core::option::Option::None::<::ferrograd_torch::tch::Tensor>, ::ferrograd_torch::tch::Reduction::Mean, -100)?);
                }
                let f = format_ident!("f_{}", m);
                quote!(#recv.#f(#(#args),*)?)
            }
            Node::Call(path, args) => {
                let args = args.iter().map(|a| self.arg_tokens(a));
                quote!(#path(#(#args),*))
            }
        }
    }

    /// The adjoint slot of node `k`.
    fn slot(&self, k: usize) -> TokenStream {
        match &self.nodes[k] {
            Node::Var(v) => format_ident!("__fg_d_{}", self.f.vars[*v].name).to_token_stream(),
            _ => format_ident!("__fg_a{}", k).to_token_stream(),
        }
    }

    fn give(&self, out: &mut TokenStream, k: usize, g: TokenStream) {
        if self.active[k] {
            let s = self.slot(k);
            out.extend(quote!(::ferrograd_torch::rules::acc(&mut #s, #g)?;));
        }
    }

    /// Reverse code of the computed node `k` (its adjoint is taken from its slot).
    fn reverse(&self, k: usize) -> TokenStream {
        let rl = quote!(::ferrograd_torch::rules);
        let mut body = TokenStream::new();
        let y = self.r(k);
        match &self.nodes[k] {
            Node::Var(_) | Node::Const => return TokenStream::new(),
            Node::Bin(c, a, b) => {
                let rule = format_ident!(
                    "{}_vjp",
                    match c {
                        '+' => "add",
                        '-' => "sub",
                        '*' => "mul",
                        _ => "div",
                    }
                );
                let (ra, rb) = (self.r(*a), self.r(*b));
                body.extend(quote!(let (__fg_ga, __fg_gb) = #rl::#rule(#ra, #rb, &__fg_d)?;));
                self.give(&mut body, *a, quote!(__fg_ga));
                self.give(&mut body, *b, quote!(__fg_gb));
            }
            Node::Scalar(c, a, s, left) => {
                let s = self.cx.expr(s);
                let g = match (c, left) {
                    ('+', _) => quote!(__fg_d.shallow_clone()),
                    ('-', false) => quote!(__fg_d.shallow_clone()),
                    ('-', true) => quote!(#rl::neg_vjp(&__fg_d)?),
                    ('*', _) => quote!(#rl::scale_vjp(&__fg_d, (#s) as f64)?),
                    _ => quote!(#rl::scale_vjp(&__fg_d, 1.0 / ((#s) as f64))?),
                };
                self.give(&mut body, *a, g);
            }
            Node::Neg(a) => self.give(&mut body, *a, quote!(#rl::neg_vjp(&__fg_d)?)),
            Node::Method(m, x, args) => {
                let Some(op) = tensor_op(m) else {
                    unreachable!("methods without a rule are rejected by check::check_tensor")
                };
                self.method_reverse(op, *x, args, &y, &mut body);
            }
            Node::Call(path, args) => {
                let p = crate::emit_expr::callee(path, "_pullback", false);
                let prim: Vec<_> = args.iter().map(|a| self.arg_tokens(a)).collect();
                let mut adj_decl = TokenStream::new();
                let mut adj_args = Vec::new();
                let mut after = TokenStream::new();
                for (j, a) in args.iter().enumerate() {
                    if let Arg::Tensor(n) = a {
                        let g = format_ident!("__fg_c{}", j);
                        adj_decl
                            .extend(quote!(let mut #g = ::ferrograd_torch::tch::Tensor::new();));
                        adj_args.push(quote!(&mut #g));
                        if self.active[*n] {
                            let s = self.slot(*n);
                            after.extend(quote!(if #g.defined() { #rl::acc(&mut #s, #g)?; }));
                        }
                    }
                }
                body.extend(quote!(#adj_decl #p(#(#prim,)* &__fg_d #(, #adj_args)*)?; #after));
            }
        }
        let slot = self.slot(k);
        quote!(if let ::core::option::Option::Some(__fg_d) = #slot.take() { #body })
    }

    /// Reverse code of method node `y = x.m(args)` as its line in the op table says: the rule
    /// called on what it takes, its gradients given to the operands they belong to.
    fn method_reverse(
        &self,
        op: &TensorOp,
        x: usize,
        args: &[Arg],
        y: &TokenStream,
        body: &mut TokenStream,
    ) {
        let rl = quote!(::ferrograd_torch::rules);
        let rx = self.r(x);
        let arg = |name: &str| {
            let (j, kind) = op
                .arg(name)
                .expect("the table's names are checked by its tests");
            (kind, &args[j])
        };
        let params: Vec<TokenStream> = op
            .params
            .iter()
            .map(|p| match *p {
                "x" => rx.clone(),
                "y" => y.clone(),
                "d" => quote!(&__fg_d),
                name => match arg(name) {
                    (ArgKind::List, a) => {
                        let a = self.arg_tokens(a);
                        quote!(&(#a)[..])
                    }
                    (ArgKind::Bias, Arg::Other(_)) => quote!(::core::option::Option::None),
                    (_, a) => self.arg_tokens(a),
                },
            })
            .collect();
        let call = |rule: &str| {
            let rule = format_ident!("{}", rule);
            quote!(#rl::#rule(#(#params),*)?)
        };
        if op.grads.len() == 1 {
            // A lone gradient is the receiver's (checked by the table's tests).
            self.give(body, x, call(op.rule));
            return;
        }
        // Several: bound to `__fg_ga` (the receiver) and `__fg_g<argument>`.
        let bind = |g: &str| match g {
            "x" => format_ident!("__fg_ga"),
            g => format_ident!("__fg_g{}", g),
        };
        let binds: Vec<_> = op.grads.iter().map(|g| bind(g)).collect();
        let main = call(op.rule);
        match (op.without_x, &self.nodes[x]) {
            // A parameter input may not need its gradient (data): decided at run time
            // (`__fg_need_<p>`), calling the rule that skips it (for `linear`: the `d·w` product).
            (Some((rule, grads)), Node::Var(v)) if self.f.vars[*v].param.is_some() => {
                let need = format_ident!("__fg_need_{}", self.f.vars[*v].name);
                let rest: Vec<_> = grads.iter().map(|g| bind(g)).collect();
                let all = op.grads.iter().map(|g| match *g {
                    "x" => quote!(::ferrograd_torch::tch::Tensor::new()),
                    g => bind(g).to_token_stream(),
                });
                let other = call(rule);
                body.extend(quote! {
                    let (#(#binds),*) = if #need {
                        #main
                    } else {
                        let (#(#rest),*) = #other;
                        (#(#all),*)
                    };
                });
            }
            _ => body.extend(quote!(let (#(#binds),*) = #main;)),
        }
        let receiver = Arg::Tensor(x);
        for (g, id) in op.grads.iter().zip(&binds) {
            let operand = if *g == "x" { &receiver } else { arg(g).1 };
            match operand {
                Arg::Tensor(k) => self.give(body, *k, id.to_token_stream()),
                Arg::SomeTensor(b) if self.active[*b] => {
                    let s = self.slot(*b);
                    body.extend(quote!(if let ::core::option::Option::Some(__fg_g) = #id { #rl::acc(&mut #s, __fg_g)?; }));
                }
                // An inactive bias, or none.
                _ => {}
            }
        }
    }
}

/// Emits `f_pullback`, `f_grad` and `f_autograd` for a tensor-level function that passed
/// `check::check_tensor`.
pub fn emit(f: &Func) -> TokenStream {
    let act = analyse(f, None);
    let ecx = ExprCx {
        f,
        generic: false,
        generic_callees: false,
        constant_events: false,
    };
    let mut g = Graph {
        f,
        act: &act,
        cx: ecx,
        nodes: Vec::new(),
        active: Vec::new(),
        fwd: TokenStream::new(),
    };
    // Statement list: `let v = e;` … `return e`.
    let mut stmts: Vec<(Option<VarId>, usize)> = Vec::new(); // (bound variable, root node)
    let mut ret_node = None;
    let mut scalar_lets = TokenStream::new();
    let mut saved_names: Vec<syn::Ident> = Vec::new();
    for s in &f.body {
        match s {
            Stmt::Assign {
                target: Place::Var(v),
                value,
                decl: true,
                span,
                ..
            } => {
                if f.var_ty(*v) != Ty::Tensor {
                    // Non-tensor locals (sizes, scalars) are plain primal code.
                    let id = var_ident(f, *v);
                    let e = ecx.expr(value);
                    g.fwd.extend(quote!(let #id = #e;));
                    scalar_lets.extend(quote!(let #id = #e;));
                    continue;
                }
                let root = g.node(value);
                let id = var_ident(f, *v);
                let r = g.r(root);
                g.fwd.extend(quote!(let #id = #r.shallow_clone();));
                saved_names.push(id);
                let _ = span;
                stmts.push((Some(*v), root));
            }
            Stmt::Return(_, Some(e)) => ret_node = Some(g.node(e)),
            _ => unreachable!("rejected by check::check_tensor"),
        }
    }
    let root = ret_node.expect("check::check_tensor: a final tensor expression");
    // Reverse sweep: the root's nodes, then each statement's nodes, last first.
    let mut rev = TokenStream::new();
    let mut node_owner = vec![usize::MAX; g.nodes.len()];
    let mut bounds = Vec::new();
    let mut start = 0;
    for (i, (_, r)) in stmts.iter().enumerate() {
        for o in node_owner.iter_mut().take(r + 1).skip(start) {
            *o = i;
        }
        bounds.push((start, *r));
        start = r + 1;
    }
    bounds.push((start, root));
    for (i, (lo, hi)) in bounds.iter().enumerate().rev() {
        if i < stmts.len() {
            // `let v = <root>`: the variable's adjoint feeds the root node.
            let (Some(v), r) = stmts[i] else { continue };
            if act.is_active(v) && !matches!(g.nodes[r], Node::Var(_)) {
                let dv = format_ident!("__fg_d_{}", f.vars[v].name);
                let s = g.slot(r);
                rev.extend(quote!(if let ::core::option::Option::Some(__fg_g) = #dv.take() { ::ferrograd_torch::rules::acc(&mut #s, __fg_g)?; }));
            } else if let Node::Var(w) = g.nodes[r] {
                let dv = format_ident!("__fg_d_{}", f.vars[v].name);
                let dw = format_ident!("__fg_d_{}", f.vars[w].name);
                rev.extend(quote!(if let ::core::option::Option::Some(__fg_g) = #dv.take() { ::ferrograd_torch::rules::acc(&mut #dw, __fg_g)?; }));
            }
        }
        for k in (*lo..=*hi).rev() {
            if g.active[k] {
                rev.extend(g.reverse(k));
            }
        }
    }
    // Adjoint slots.
    let mut slots = TokenStream::new();
    for k in 0..g.nodes.len() {
        if !matches!(g.nodes[k], Node::Var(_)) {
            let s = g.slot(k);
            slots.extend(quote!(let mut #s: ::core::option::Option<::ferrograd_torch::tch::Tensor> = ::core::option::Option::None;));
        }
    }
    for (v, var) in f.vars.iter().enumerate() {
        if var.ty == Ty::Tensor && Some(v) != f.ret_var {
            let s = format_ident!("__fg_d_{}", var.name);
            slots.extend(quote!(let mut #s: ::core::option::Option<::ferrograd_torch::tch::Tensor> = ::core::option::Option::None;));
        }
    }
    let root_slot = g.slot(root);
    let need_all: TokenStream = f
        .params
        .iter()
        .filter(|p| p.kind == Ty::Tensor)
        .map(|p| {
            let n = format_ident!("__fg_need_{}", f.vars[p.var].name);
            quote!(let #n = true;)
        })
        .collect();
    let need_rt: TokenStream = f
        .params
        .iter()
        .filter(|p| p.kind == Ty::Tensor)
        .map(|p| {
            let n = format_ident!("__fg_need_{}", f.vars[p.var].name);
            let id = &p.ident;
            quote!(let #n = #id.requires_grad();)
        })
        .collect();
    let root_ref = g.r(root);
    let tensor_params: Vec<&Param> = f.params.iter().filter(|p| p.kind == Ty::Tensor).collect();
    let mut writeback = TokenStream::new();
    let mut adj_params = Vec::new();
    for p in &tensor_params {
        let d = format_ident!("d_{}", p.ident);
        let s = format_ident!("__fg_d_{}", f.vars[p.var].name);
        adj_params.push(quote!(#d: &mut ::ferrograd_torch::tch::Tensor));
        writeback.extend(quote!(::ferrograd_torch::rules::acc_into(#d, #s)?;));
    }
    let params: Vec<_> = f
        .params
        .iter()
        .map(|p| {
            let id = &p.ident;
            let ty = &p.ty;
            quote!(#id: #ty)
        })
        .collect();
    let fwd = &g.fwd;
    let name = &f.name;
    let vis = &f.item.vis;
    let pull = format_ident!("{}_pullback", name);
    let grad = format_ident!("{}_grad", name);
    let node = format_ident!("{}_autograd", name);
    let allow = quote!(#[allow(unused_mut, unused_variables, unused_parens, non_snake_case, clippy::all, clippy::pedantic, clippy::nursery)]);
    let doc_p = format!("Reverse mode of [`{name}`] generated by `#[differentiable]`: LibTorch ops forward, ferrograd rules backward; adds into the `d_*` tensors (undefined tensors are set). An `Err` (from LibTorch or a rule's argument checks) names the op or rule.");
    let doc_g = format!(
        "Gradient of [`{name}`] (seed: ones) generated by `#[differentiable]`; returns the value, or the `Err` of an op or rule."
    );
    let doc_n = format!("[`{name}`] as ONE LibTorch autograd node whose backward is the code generated by ferrograd: mixes with native ops, `VarStore`s and optimizers.");
    // Autograd node: non-tensor parameters are captured by value.
    let copyable = f
        .params
        .iter()
        .all(|p| matches!(p.kind, Ty::Tensor | Ty::Int | Ty::Bool | Ty::Float));
    let mut node_fn = TokenStream::new();
    if copyable && !tensor_params.is_empty() {
        let inputs: Vec<_> = tensor_params.iter().map(|p| p.ident.clone()).collect();
        // Forward runs the generated forward sweep and keeps its intermediates for the
        // backward (no recomputation); backward runs the generated reverse sweep on them.
        for (k, n) in g.nodes.iter().enumerate() {
            if !matches!(n, Node::Var(_)) {
                saved_names.push(format_ident!("__fg_t{}", k));
            }
        }
        // Save only what the reverse sweep reads (LibTorch keeps saved tensors alive until
        // the node's backward has run; the rest is freed right after the forward).
        let mut used = std::collections::HashSet::new();
        for ts in [&rev, &scalar_lets] {
            collect_idents(ts.clone(), &mut used);
        }
        saved_names.retain(|id| used.contains(&id.to_string()));
        let bind_in: Vec<_> = tensor_params
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let id = &p.ident;
                quote!(let #id: &::ferrograd_torch::tch::Tensor = &__fg_in[#j];)
            })
            .collect();
        let grads: Vec<_> = tensor_params
            .iter()
            .map(|p| format_ident!("__fg_d_{}", f.vars[p.var].name))
            .collect();
        let n_saved = saved_names.len();
        node_fn = quote! {
            #[doc = #doc_n]
            #allow
            #vis fn #node(#(#params),*) -> ::core::result::Result<::ferrograd_torch::tch::Tensor, ::ferrograd_torch::Error> {
                // The intermediates travel as LibTorch saved variables (released after
                // backward, as a native op's are).
                ::ferrograd_torch::node::apply_fn_saving(
                    ::core::stringify!(#name),
                    &[#(#inputs),*],
                    move |__fg_in: &[::ferrograd_torch::tch::Tensor]| {
                        #(#bind_in)*
                        #fwd
                        let __fg_out = #root_ref.shallow_clone();
                        ::core::result::Result::Ok((__fg_out, ::std::vec![#(#saved_names),*]))
                    },
                    move |__fg_in: &[::ferrograd_torch::tch::Tensor], __fg_sv: &[::ferrograd_torch::tch::Tensor], __fg_dy: &::ferrograd_torch::tch::Tensor| {
                        #(#bind_in)*
                        if __fg_sv.len() != #n_saved {
                            return ::core::result::Result::Err(::ferrograd_torch::Error::msg(::std::format!("`{}`: the forward state is missing (the graph was freed by an earlier backward?)", ::core::stringify!(#name))));
                        }
                        let mut __fg_it = __fg_sv.iter();
                        #(let #saved_names = __fg_it.next().map_or_else(::ferrograd_torch::tch::Tensor::new, ::ferrograd_torch::tch::Tensor::shallow_clone);)*
                        #scalar_lets
                        #need_rt
                        #slots
                        ::ferrograd_torch::rules::acc(&mut #root_slot, __fg_dy.shallow_clone())?;
                        #rev
                        ::core::result::Result::Ok(::std::vec![#(#grads),*])
                    },
                )
            }
        };
    }
    quote! {
        #[doc = #doc_p]
        #allow
        #vis fn #pull(#(#params,)* d_ret: &::ferrograd_torch::tch::Tensor, #(#adj_params),*) -> ::core::result::Result<(), ::ferrograd_torch::Error> {
            #fwd
            #need_all
            #slots
            ::ferrograd_torch::rules::acc(&mut #root_slot, d_ret.shallow_clone())?;
            #rev
            #writeback
            ::core::result::Result::Ok(())
        }
        #[doc = #doc_g]
        #allow
        #vis fn #grad(#(#params,)* #(#adj_params),*) -> ::core::result::Result<::ferrograd_torch::tch::Tensor, ::ferrograd_torch::Error> {
            #fwd
            #need_all
            #slots
            ::ferrograd_torch::rules::acc(&mut #root_slot, #root_ref.f_ones_like()?)?;
            #rev
            #writeback
            ::core::result::Result::Ok(#root_ref.shallow_clone())
        }
        #node_fn
    }
}

/// Every identifier in `ts`, inside groups too.
fn collect_idents(ts: TokenStream, out: &mut std::collections::HashSet<String>) {
    for tt in ts {
        match tt {
            proc_macro2::TokenTree::Ident(id) => {
                out.insert(id.to_string());
            }
            proc_macro2::TokenTree::Group(g) => collect_idents(g.stream(), out),
            _ => {}
        }
    }
}
