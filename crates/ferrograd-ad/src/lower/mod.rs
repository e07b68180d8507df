//! Lowering: `syn::ItemFn` → IR. Resolves names (renaming shadowed bindings), infers the light
//! types, turns value-producing `if`/`match`/blocks into assignments, and reports every
//! unsupported construct with a span and a sentence saying what is supported.

mod arrays;
mod closures;
mod expr;
mod generic;
mod loops;
mod signature;
mod tuples;

use crate::ctxt::Ctxt;
use crate::ir::*;
use proc_macro2::Span;
use quote::ToTokens;
use std::collections::HashMap;
use syn::spanned::Spanned;

const SUPPORTED: &str = "supported: `let`, assignments (`= += -= *= /=`), arithmetic, float math methods, \
`if`/`else`, `match` on integers, `for` over ranges/slices, `while`, `loop`, `break`, `continue`, `return`, \
indexing of slices and local arrays, and calls to other `#[differentiable]` functions";

pub fn lower(cx: &Ctxt, item: &syn::ItemFn) -> Option<Func> {
    match generic::split_generic(cx, item) {
        Some((t, lowered)) => {
            let mut f = lower_fn(cx, &lowered)?;
            f.item = item.clone();
            f.generic_over = Some(t);
            Some(f)
        }
        None if cx.has_errors() => None,
        None => lower_fn(cx, item),
    }
}

fn lower_fn(cx: &Ctxt, item: &syn::ItemFn) -> Option<Func> {
    let mut l = Lower {
        cx,
        vars: Vec::new(),
        scopes: vec![HashMap::new()],
        name_count: HashMap::new(),
        loops: Vec::new(),
        n_loops: 0,
        n_stmts: 0,
        ret: RetKind::Unit,
        float_ty: None,
        tmp: 0,
        tensor: false,
        closures: Vec::new(),
        closure_depth: 0,
        tuples: Vec::new(),
    };
    l.check_signature(&item.sig);
    if !item.sig.generics.params.is_empty() || item.sig.generics.where_clause.is_some() {
        // One error on the generics: the parameter and return types that name them would
        // only repeat it.
        return None;
    }
    let params = l.params(&item.sig);
    l.tensor |= returns_tensor(&item.sig.output);
    if l.float_ty.is_none() && !returns_float(&item.sig.output) && !l.tensor {
        if !cx.has_errors() {
            cx.error_spanned(
                &item.sig,
                "`#[differentiable]` needs at least one `f64`/`f32` parameter (scalar or slice): \
                 integer-only functions have nothing to differentiate",
            );
        }
        return None;
    }
    let (ret, ret_ty) = l.ret_kind(&item.sig);
    l.ret = ret.clone();
    let ret_var = if ret.has_value() {
        let t = if ret == RetKind::Tensor {
            Ty::Tensor
        } else {
            Ty::Float
        };
        Some(l.new_var("__fg_retval", Span::call_site(), t, true))
    } else {
        None
    };
    let mut body = Vec::new();
    l.block_into(&item.block.stmts, Sink::Return, &mut body);
    let body = l.expand_arrays(body);
    if l.float_ty.is_none() && !l.tensor {
        cx.error_spanned(
            &item.sig,
            "`#[differentiable]` needs at least one `f64`/`f32` parameter (scalar or slice): \
             integer-only functions have nothing to differentiate",
        );
    }
    // (`ret_kind` has already reported an unsupported return type: don't repeat it.)
    let unit_output = match &item.sig.output {
        syn::ReturnType::Default => true,
        syn::ReturnType::Type(_, t) => matches!(&**t, syn::Type::Tuple(tt) if tt.elems.is_empty()),
    };
    let ret_reported = ret == RetKind::Unit && !unit_output;
    if !ret.has_value() && !ret_reported && !params.iter().any(|p| p.kind == Ty::FloatSliceMut) {
        cx.error_spanned(
            &item.sig,
            "a `#[differentiable]` function must return `f64`/`f32` (or `Result<f64, E>`) or write \
             its results into a `&mut [f64]` parameter",
        );
    }
    if cx.has_errors() {
        return None;
    }
    Some(Func {
        item: item.clone(),
        name: item.sig.ident.clone(),
        params,
        ret,
        float_ty: l.float_ty.unwrap_or_else(|| syn::parse_quote!(f64)),
        ret_ty,
        vars: l.vars,
        body,
        ret_var,
        generic_over: None,
        stashes: true,
    })
}

#[derive(Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "IR values are built once per expansion; boxing only adds noise"
)]
enum Sink {
    Return,
    Place(Place),
    Discard,
}

struct Lower<'a> {
    cx: &'a Ctxt,
    vars: Vec<Var>,
    scopes: Vec<HashMap<String, VarId>>,
    name_count: HashMap<String, usize>,
    loops: Vec<LoopId>,
    n_loops: usize,
    /// Statement ids handed out so far.
    n_stmts: StmtId,
    ret: RetKind,
    float_ty: Option<syn::Type>,
    tmp: usize,
    /// A tensor-level function (`&Tensor` parameters or a `Tensor` result).
    tensor: bool,
    /// Closures defined so far (`Ty::Closure(k)` indexes this).
    closures: Vec<closures::ClosureDef>,
    /// Lowering an inlined closure body (where `return` and `?` are errors).
    closure_depth: usize,
    /// Element variables of each local tuple (`Ty::Tuple(k)` indexes this).
    tuples: Vec<Vec<VarId>>,
}

fn float_name(ty: &syn::Type) -> Option<&'static str> {
    if let syn::Type::Path(p) = ty {
        if p.qself.is_none() && p.path.is_ident("f64") {
            return Some("f64");
        }
        if p.qself.is_none() && p.path.is_ident("f32") {
            return Some("f32");
        }
    }
    None
}

/// `usize`, `i32`, … (shared with `structs/` and `derive.rs`).
pub(crate) fn is_int_ty(ty: &syn::Type) -> bool {
    if let syn::Type::Path(p) = ty {
        if let Some(id) = p.path.get_ident() {
            return matches!(
                id.to_string().as_str(),
                "usize"
                    | "isize"
                    | "u8"
                    | "u16"
                    | "u32"
                    | "u64"
                    | "i8"
                    | "i16"
                    | "i32"
                    | "i64"
                    | "u128"
                    | "i128"
            );
        }
    }
    false
}

/// `f64`/`f32` or `Result<f64/f32, E>` (syntactically, without reporting anything).
fn returns_float(out: &syn::ReturnType) -> bool {
    let syn::ReturnType::Type(_, ty) = out else {
        return false;
    };
    if float_name(ty).is_some() {
        return true;
    }
    let syn::Type::Path(p) = &**ty else {
        return false;
    };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(a) = &last.arguments else {
        return false;
    };
    last.ident == "Result"
        && matches!(a.args.first(), Some(syn::GenericArgument::Type(t)) if float_name(t).is_some())
}

/// Does the type mention `f64`/`f32` anywhere (e.g. `Vec<f64>`)?
fn mentions_float(ty: &syn::Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "f64" || i == "f32"))
        || ty.to_token_stream().to_string().contains("f64")
        || ty.to_token_stream().to_string().contains("f32")
}

/// `Tensor` / `tch::Tensor`.
fn is_tensor_path(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none() && p.path.segments.last().map(|s| s.ident == "Tensor").unwrap_or(false))
}

fn returns_tensor(out: &syn::ReturnType) -> bool {
    matches!(out, syn::ReturnType::Type(_, t) if is_tensor_path(t))
}

fn is_bool_ty(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.is_ident("bool"))
}

impl<'a> Lower<'a> {
    fn new_var(&mut self, base: &str, span: Span, ty: Ty, synthetic: bool) -> VarId {
        let n = self.name_count.entry(base.to_string()).or_insert(0);
        let name = if *n == 0 {
            base.to_string()
        } else {
            format!("{base}__{n}")
        };
        *n += 1;
        self.vars.push(Var {
            name,
            span,
            ty,
            param: None,
            synthetic,
            hoist_init: None,
        });
        self.vars.len() - 1
    }

    fn fresh_tmp(&mut self, ty: Ty) -> VarId {
        self.tmp += 1;
        let name = format!("__fg_e{}", self.tmp);
        self.new_var(&name, Span::call_site(), ty, true)
    }

    fn bind(&mut self, name: &str, v: VarId) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name.to_string(), v);
        }
    }

    fn lookup(&self, name: &str) -> Option<VarId> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn note_float(&mut self, ty: &syn::Type) {
        if let Some(name) = float_name(ty) {
            match &self.float_ty {
                None => self.float_ty = Some(ty.clone()),
                Some(prev) if float_name(prev) != Some(name) => self.cx.error_spanned(
                    ty,
                    "mixing `f32` and `f64` in one `#[differentiable]` signature is not supported",
                ),
                _ => {}
            }
        }
    }

    // ---------------------------------------------------------------- statements

    fn block_into(&mut self, stmts: &[syn::Stmt], sink: Sink, out: &mut Block) {
        self.scopes.push(HashMap::new());
        let n = stmts.len();
        for (k, s) in stmts.iter().enumerate() {
            let last = k + 1 == n;
            match s {
                syn::Stmt::Local(local) => self.local(local, out),
                syn::Stmt::Expr(e, semi) => {
                    if last && semi.is_none() {
                        self.expr_into(e, sink.clone(), out);
                    } else {
                        self.expr_stmt(e, out);
                    }
                }
                syn::Stmt::Item(it) => self.cx.error_spanned(
                    it,
                    "items (nested `fn`, `struct`, `use`, …) are not supported inside a `#[differentiable]` function: move them outside",
                ),
                syn::Stmt::Macro(m) => self.cx.error_spanned(
                    m,
                    "macros are not supported inside a `#[differentiable]` function (their expansion is invisible to the AD compiler): remove it, or print from a non-differentiable caller",
                ),
            }
        }
        let ends_with_value = matches!(stmts.last(), Some(syn::Stmt::Expr(_, None)));
        if !ends_with_value {
            if let Sink::Place(p) = &sink {
                let _ = p;
                if let Some(last) = stmts.last() {
                    self.cx
                        .error_spanned(last, "this block must end with a value");
                }
            }
        }
        self.scopes.pop();
    }

    /// After a rejected pattern, binds its names (type unknown) so that their uses do not
    /// report `unknown variable` on top of the real error.
    fn bind_pattern_names(&mut self, pat: &syn::Pat) {
        struct Names<'p>(Vec<&'p syn::Ident>);
        impl<'p> syn::visit::Visit<'p> for Names<'p> {
            fn visit_pat_ident(&mut self, pi: &'p syn::PatIdent) {
                self.0.push(&pi.ident);
                syn::visit::visit_pat_ident(self, pi);
            }
        }
        let mut names = Names(Vec::new());
        syn::visit::Visit::visit_pat(&mut names, pat);
        for id in names.0 {
            let v = self.new_var(&id.to_string(), id.span(), Ty::Unknown, false);
            self.bind(&id.to_string(), v);
        }
    }

    fn local(&mut self, local: &syn::Local, out: &mut Block) {
        // Tuples: `let (a, b) = …`, `let t = (x, y)`, `let u = t`.
        if let Some(init) = &local.init {
            let rhs_tuple = match strip_paren(&init.expr) {
                syn::Expr::Tuple(t) => !t.elems.is_empty(),
                syn::Expr::Path(p) => p
                    .path
                    .get_ident()
                    .and_then(|id| self.lookup(&id.to_string()))
                    .map(|v| matches!(self.vars[v].ty, Ty::Tuple(_)))
                    .unwrap_or(false),
                _ => false,
            };
            let pat = match &local.pat {
                syn::Pat::Type(pt) => &*pt.pat,
                p => p,
            };
            if matches!(pat, syn::Pat::Tuple(_)) || (rhs_tuple && matches!(pat, syn::Pat::Ident(_)))
            {
                self.let_tuple(pat, &init.expr, out);
                return;
            }
        }
        let (ident, annot) = match &local.pat {
            syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                (pi.ident.clone(), None)
            }
            syn::Pat::Type(pt) => match &*pt.pat {
                syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    (pi.ident.clone(), Some((*pt.ty).clone()))
                }
                other => {
                    self.cx.error_spanned(
                        other,
                        "`let` must bind a single name (destructuring is not supported): bind each value with its own `let`",
                    );
                    self.bind_pattern_names(other);
                    return;
                }
            },
            other => {
                self.cx.error_spanned(
                    other,
                    "`let` must bind a single name (destructuring is not supported): bind each value with its own `let`",
                );
                self.bind_pattern_names(other);
                return;
            }
        };
        let annot_ty = annot.as_ref().map(|t| {
            if float_name(t).is_some() {
                Ty::Float
            } else if is_int_ty(t) {
                Ty::Int
            } else if is_bool_ty(t) {
                Ty::Bool
            } else if let syn::Type::Array(a) = t {
                if float_name(&a.elem).is_some() {
                    Ty::FloatArray
                } else {
                    Ty::IntSlice
                }
            } else {
                self.cx.error_spanned(t, "unsupported type annotation: use `f64`/`f32`, integers, `bool` or arrays of those");
                Ty::Unknown
            }
        });
        let init = match &local.init {
            Some(init) => {
                if let Some((_, d)) = &init.diverge {
                    self.cx.error_spanned(d, "`let … else` is not supported");
                }
                Some(&init.expr)
            }
            None => None,
        };
        if let Some(syn::Expr::Closure(c)) = init.map(|e| strip_paren(e)) {
            self.define_closure(&ident, c);
            return;
        }
        // Lower the initialiser before binding the name (it may read a shadowed binding).
        let value = init.map(|e| self.expr(e, out));
        let ty = match (&annot_ty, &value) {
            (Some(t), _) => *t,
            (None, Some(Some(v))) => self.ty_of(v),
            _ => Ty::Unknown,
        };
        if ty == Ty::Struct {
            if let Some(e) = init {
                self.cx.error_spanned(
                    e,
                    "a differentiable struct cannot be bound to another name: use the \
                     parameter itself (`g(p, x)`, `p.m(x)`), or bind its fields",
                );
            }
        }
        let v = self.new_var(&ident.to_string(), ident.span(), ty, false);
        if let Some(Some(Expr::Repeat(item, len))) = &value {
            if let Expr::Lit(lit) = &**item {
                self.vars[v].hoist_init =
                    Some(Expr::Repeat(Box::new(Expr::Lit(lit.clone())), len.clone()));
            }
        }
        self.bind(&ident.to_string(), v);
        if let Some(Some(value)) = value {
            out.push(Stmt::Assign {
                id: self.stmt_id(),
                target: Place::Var(v),
                value,
                decl: true,
                span: local.span(),
            });
        }
    }

    fn ty_of(&self, e: &Expr) -> Ty {
        ty_of(&self.vars, e)
    }

    fn join_ty(&mut self, v: VarId, t: Ty) {
        let cur = self.vars[v].ty;
        let new = match (cur, t) {
            (Ty::Unknown, t) => t,
            (Ty::Int, Ty::Float) => Ty::Float,
            (c, _) => c,
        };
        self.vars[v].ty = new;
    }

    /// An expression in statement position (value unused).
    fn expr_stmt(&mut self, e: &syn::Expr, out: &mut Block) {
        match e {
            syn::Expr::Assign(a) => {
                if let Some(k) = self.tuple_target(&a.left) {
                    self.assign_tuple(k, &a.right, a.span(), out);
                    return;
                }
                let Some(place) = self.place(&a.left, out) else {
                    return;
                };
                if let Some(v) = self.expr(&a.right, out) {
                    let t = self.ty_of(&v);
                    if let Place::Var(id) = &place {
                        self.join_ty(*id, t);
                    }
                    out.push(Stmt::Assign {
                        id: self.stmt_id(),
                        target: place,
                        value: v,
                        decl: false,
                        span: a.span(),
                    });
                }
            }
            syn::Expr::Binary(b) if compound_op(&b.op).is_some() => {
                let op = compound_op(&b.op).unwrap_or(syn::BinOp::Add(Default::default()));
                let Some(place) = self.place(&b.left, out) else {
                    return;
                };
                if let Some(v) = self.expr(&b.right, out) {
                    let t = self.ty_of(&v);
                    if let Place::Var(id) = &place {
                        self.join_ty(*id, t);
                    }
                    let cur = match &place {
                        Place::Var(id) => Expr::Var(*id),
                        Place::Index(id, i) => Expr::Index(*id, Box::new(i.clone())),
                    };
                    out.push(Stmt::Assign {
                        id: self.stmt_id(),
                        target: place,
                        value: Expr::Binary(op, Box::new(cur), Box::new(v)),
                        decl: false,
                        span: b.span(),
                    });
                }
            }
            syn::Expr::Call(c) if self.closure_callee(&c.func).is_some() => {
                if let Some(k) = self.closure_callee(&c.func) {
                    self.inline_closure(k, c, Sink::Discard, out);
                }
            }
            syn::Expr::Call(_) | syn::Expr::Try(_) => {
                if let Some(c) = self.expr(e, out) {
                    out.push(Stmt::Call(self.stmt_id(), c));
                }
            }
            syn::Expr::MethodCall(m) => {
                self.cx.error_spanned(
                    m,
                    format!("method call `.{}()` used as a statement is not supported: only calls to functions that write `&mut [f64]` arguments may stand alone", m.method),
                );
            }
            syn::Expr::ForLoop(f) => self.for_loop(f, out),
            syn::Expr::While(w) => self.while_loop(w, out),
            syn::Expr::Loop(l) => {
                if let Some(lbl) = &l.label {
                    self.cx.error_spanned(
                        lbl,
                        "loop labels are not supported: restructure with a flag",
                    );
                }
                let id = self.new_loop();
                let mut body = Vec::new();
                self.block_into(&l.body.stmts, Sink::Discard, &mut body);
                self.loops.pop();
                out.push(Stmt::While {
                    id,
                    cond: None,
                    body,
                });
            }
            syn::Expr::Break(b) => {
                // A labelled `break` sits in a labelled loop or block, which is reported already.
                if b.expr.is_some() {
                    self.cx.error_spanned(
                        b,
                        "`break` with a value is not supported: assign to a variable, then `break`",
                    );
                }
                match self.loops.last() {
                    Some(id) => out.push(Stmt::Break(*id)),
                    None => self.cx.error_spanned(b, "`break` outside a loop"),
                }
            }
            syn::Expr::Continue(c) => {
                // A labelled `continue` sits in a labelled loop, which is reported already.
                match self.loops.last() {
                    Some(id) => out.push(Stmt::Continue(*id)),
                    None => self.cx.error_spanned(c, "`continue` outside a loop"),
                }
            }
            syn::Expr::Return(r) => self.ret_stmt(r.expr.as_deref(), r.span(), out),
            syn::Expr::If(_) | syn::Expr::Match(_) | syn::Expr::Block(_) => {
                self.expr_into(e, Sink::Discard, out)
            }
            syn::Expr::Paren(p) => self.expr_stmt(&p.expr, out),
            other => {
                // A pure expression statement has no effect; still check it is supported.
                let _ = self.expr(other, out);
            }
        }
    }

    fn new_loop(&mut self) -> LoopId {
        let id = self.n_loops;
        self.n_loops += 1;
        self.loops.push(id);
        id
    }

    fn stmt_id(&mut self) -> StmtId {
        self.n_stmts += 1;
        self.n_stmts - 1
    }

    fn ret_stmt(&mut self, e: Option<&syn::Expr>, span: Span, out: &mut Block) {
        if self.closure_depth > 0 {
            self.cx.error_at(
                span,
                "`return` inside a closure is not supported: make the closure's body an expression",
            );
            return;
        }
        let e = match e {
            None => {
                if self.ret.has_value() {
                    self.cx.error_at(
                        span,
                        "`return` without a value in a function returning a float",
                    );
                }
                out.push(Stmt::Return(self.stmt_id(), None));
                return;
            }
            Some(e) => e,
        };
        let e = if self.ret.is_result() {
            match strip_ok(e) {
                Ok(inner) => inner,
                Err(()) => {
                    self.cx.error_spanned(
                        e,
                        "in a `Result`-returning differentiable function, return `Ok(value)`; errors come from `?` on calls",
                    );
                    return;
                }
            }
        } else {
            Some(e)
        };
        match (e, self.ret.has_value()) {
            (Some(e), true) => {
                if let Some(v) = self.expr(e, out) {
                    out.push(Stmt::Return(self.stmt_id(), Some(v)));
                }
            }
            (None, false) => out.push(Stmt::Return(self.stmt_id(), None)),
            (Some(e), false) => {
                if !matches!(e, syn::Expr::Tuple(t) if t.elems.is_empty()) {
                    self.cx
                        .error_spanned(e, "this function returns `()`: `return` takes no value");
                }
                out.push(Stmt::Return(self.stmt_id(), None));
            }
            (None, true) => self
                .cx
                .error_at(span, "`Ok(())` in a function returning a float"),
        }
    }

    /// Lowers an expression whose value goes to `sink`.
    fn expr_into(&mut self, e: &syn::Expr, sink: Sink, out: &mut Block) {
        match e {
            syn::Expr::If(i) => {
                let cond = self.cond(&i.cond, out);
                let mut then_b = Vec::new();
                self.block_into(&i.then_branch.stmts, sink.clone(), &mut then_b);
                let mut else_b = Vec::new();
                match &i.else_branch {
                    Some((_, e)) => self.expr_into(e, sink.clone(), &mut else_b),
                    None => {
                        if let Sink::Place(_) = sink {
                            self.cx.error_spanned(i, "`if` used as a value needs an `else` branch");
                        }
                    }
                }
                if let Some(cond) = cond {
                    out.push(Stmt::If { cond, then_b, else_b });
                }
            }
            syn::Expr::Block(b) => {
                if b.label.is_some() {
                    self.cx.error_spanned(b, "labelled blocks are not supported");
                }
                self.block_into(&b.block.stmts, sink, out);
            }
            syn::Expr::Unsafe(u) => self.cx.error_spanned(
                u,
                "`unsafe` blocks are not supported in `#[differentiable]` functions: the AD compiler cannot see through them; move the unsafe code into a helper fn with a custom derivative (`g_pullback`/`g_pushforward`)",
            ),
            syn::Expr::Match(m) => self.match_into(m, sink, out),
            syn::Expr::Paren(p) => self.expr_into(&p.expr, sink, out),
            _ => match sink {
                Sink::Return if !self.ret.has_value() && strip_ok(e).is_err() => self.expr_stmt(e, out),
                Sink::Return => self.ret_stmt(Some(e), e.span(), out),
                Sink::Place(p) => {
                    if let Some(v) = self.expr(e, out) {
                        let t = self.ty_of(&v);
                        if let Place::Var(id) = &p {
                            self.join_ty(*id, t);
                        }
                        out.push(Stmt::Assign { id: self.stmt_id(), target: p, value: v, decl: false, span: e.span() });
                    }
                }
                Sink::Discard => self.expr_stmt(e, out),
            },
        }
    }

    fn match_into(&mut self, m: &syn::ExprMatch, sink: Sink, out: &mut Block) {
        let Some(scrut) = self.expr(&m.expr, out) else {
            return;
        };
        let scrut = match scrut {
            Expr::Var(v) => Expr::Var(v),
            other => {
                let t = self.fresh_tmp(Ty::Int);
                out.push(Stmt::Assign {
                    id: self.stmt_id(),
                    target: Place::Var(t),
                    value: other,
                    decl: true,
                    span: m.expr.span(),
                });
                Expr::Var(t)
            }
        };
        if self.ty_of(&scrut) == Ty::Float {
            self.cx.error_spanned(
                &m.expr,
                "`match` on a float is not supported: match on integers, or use `if`",
            );
            return;
        }
        // Build an if/else chain from the last arm backwards.
        let mut chain: Option<Block> = None;
        for arm in m.arms.iter().rev() {
            if !pattern_ok(&arm.pat) {
                self.cx.error_spanned(
                    &arm.pat,
                    "`match` arms may use integer literals, ranges, `|` and `_` only (no bindings)",
                );
                continue;
            }
            let mut body = Vec::new();
            self.expr_into(&arm.body, sink.clone(), &mut body);
            let is_wild = matches!(arm.pat, syn::Pat::Wild(_)) && arm.guard.is_none();
            let else_b = chain.take().unwrap_or_default();
            if is_wild {
                chain = Some(body);
                continue;
            }
            let mut cond = Expr::Matches(Box::new(scrut.clone()), arm.pat.clone());
            if let Some((_, g)) = &arm.guard {
                if let Some(g) = self.expr(g, out) {
                    cond = Expr::Binary(syn::parse_quote!(&&), Box::new(cond), Box::new(g));
                }
            }
            chain = Some(vec![Stmt::If {
                cond,
                then_b: body,
                else_b,
            }]);
        }
        out.extend(chain.unwrap_or_default());
    }

    fn cond(&mut self, e: &syn::Expr, out: &mut Block) -> Option<Expr> {
        if let syn::Expr::Let(l) = e {
            self.cx.error_spanned(l, "`if let` / `while let` are not supported: use a plain condition (`if n == 0`, `while k > 0`)");
            return None;
        }
        self.expr(e, out)
    }

    /// The tuple variable an assignment's left side names (`t = (a, b)`).
    fn tuple_target(&self, e: &syn::Expr) -> Option<usize> {
        let syn::Expr::Path(p) = strip_paren(e) else {
            return None;
        };
        let v = self.lookup(&p.path.get_ident()?.to_string())?;
        match self.vars[v].ty {
            Ty::Tuple(k) => Some(k),
            _ => None,
        }
    }

    fn place(&mut self, e: &syn::Expr, out: &mut Block) -> Option<Place> {
        if let syn::Expr::Field(f) = strip_paren(e) {
            if let Some(elem) = self.tuple_field(f) {
                return elem.map(Place::Var);
            }
        }
        match strip_paren(e) {
            syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                let name = p.path.segments[0].ident.to_string();
                match self.lookup(&name) {
                    Some(v) => Some(Place::Var(v)),
                    None => {
                        self.cx
                            .error_spanned(p, format!("unknown variable `{name}`"));
                        None
                    }
                }
            }
            syn::Expr::Index(ix) => {
                let base = match strip_paren(&ix.expr) {
                    syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                        self.lookup(&p.path.segments[0].ident.to_string())
                    }
                    _ => None,
                };
                let Some(b) = base else {
                    self.cx.error_spanned(
                        &ix.expr,
                        "only a slice or array variable can be indexed (`out[i] = …`)",
                    );
                    return None;
                };
                let i = self.expr(&ix.index, out)?;
                Some(Place::Index(b, i))
            }
            syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                self.cx.error_spanned(u, "assigning through `*` is not supported: take `&mut [f64]` and write `out[i] = …`");
                None
            }
            other => {
                self.cx.error_spanned(
                    other,
                    "unsupported assignment target: assign to a variable or to `slice[i]`",
                );
                None
            }
        }
    }
}

fn compound_op(op: &syn::BinOp) -> Option<syn::BinOp> {
    use syn::BinOp::*;
    Some(match op {
        AddAssign(t) => Add(syn::Token![+](t.spans[0])),
        SubAssign(t) => Sub(syn::Token![-](t.spans[0])),
        MulAssign(t) => Mul(syn::Token![*](t.spans[0])),
        DivAssign(t) => Div(syn::Token![/](t.spans[0])),
        RemAssign(t) => Rem(syn::Token![%](t.spans[0])),
        _ => return None,
    })
}

fn strip_paren(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Paren(p) => strip_paren(&p.expr),
        syn::Expr::Group(g) => strip_paren(&g.expr),
        e => e,
    }
}

fn strip_ref(e: &syn::Expr) -> &syn::Expr {
    match strip_paren(e) {
        syn::Expr::Reference(r) => strip_paren(&r.expr),
        e => e,
    }
}

fn strip_ok(e: &syn::Expr) -> Result<Option<&syn::Expr>, ()> {
    if let syn::Expr::Call(c) = strip_paren(e) {
        if let syn::Expr::Path(p) = &*c.func {
            if p.path.is_ident("Ok") && c.args.len() == 1 {
                let a = &c.args[0];
                if matches!(a, syn::Expr::Tuple(t) if t.elems.is_empty()) {
                    return Ok(None);
                }
                return Ok(Some(a));
            }
        }
    }
    Err(())
}

fn pattern_ok(p: &syn::Pat) -> bool {
    match p {
        syn::Pat::Lit(_) | syn::Pat::Range(_) | syn::Pat::Wild(_) => true,
        syn::Pat::Or(o) => o.cases.iter().all(pattern_ok),
        syn::Pat::Paren(pp) => pattern_ok(&pp.pat),
        _ => false,
    }
}
