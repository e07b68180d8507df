//! Lowering of loops: `for` over ranges (with `.rev()`/`.step_by(k)`) and over slices or
//! arrays (`.iter()`, `.iter().enumerate()`), `while` and `loop`.

use super::*;

impl Lower<'_> {
    pub(super) fn for_loop(&mut self, f: &syn::ExprForLoop, out: &mut Block) {
        if let Some(lbl) = &f.label {
            self.cx.error_spanned(
                lbl,
                "loop labels are not supported: restructure with a flag",
            );
        }
        // Iteration over a range (with adaptors) or over the elements of a slice/array.
        let (base, adaptors, enumerate) = split_iter(&f.expr);
        let range = match strip_paren(base) {
            syn::Expr::Range(r) => Some(r),
            _ => None,
        };
        self.scopes.push(HashMap::new());
        let mut body = Vec::new();
        let id;
        if let Some(r) = range {
            if enumerate {
                self.cx.error_spanned(
                    &f.expr,
                    "`.enumerate()` over a range is not supported: the range value is the index",
                );
            }
            let (Some(lo), Some(hi)) = (&r.start, &r.end) else {
                self.cx.error_spanned(
                    r,
                    "ranges in `for` loops need both bounds (`a..b` or `a..=b`)",
                );
                self.scopes.pop();
                return;
            };
            let lo = self.expr(lo, out);
            let hi = self.expr(hi, out);
            let mut ads = Vec::new();
            for a in adaptors {
                match a {
                    IterAdaptor::Rev => ads.push(Adaptor::Rev),
                    IterAdaptor::StepBy(e) => {
                        if let Some(k) = self.expr(e, out) {
                            ads.push(Adaptor::StepBy(k))
                        }
                    }
                    IterAdaptor::Other(m) => self.cx.error_spanned(
                        m,
                        "unsupported iterator adaptor in a `for` loop: use a range with `.rev()` / `.step_by(k)`, or iterate a slice with `.iter()` / `.iter().enumerate()`",
                    ),
                }
            }
            let var = match &*f.pat {
                syn::Pat::Ident(pi) => {
                    let v = self.new_var(&pi.ident.to_string(), pi.ident.span(), Ty::Int, false);
                    self.bind(&pi.ident.to_string(), v);
                    Some(v)
                }
                syn::Pat::Wild(_) => None,
                other => {
                    self.cx.error_spanned(
                        other,
                        "the loop variable of a range loop must be a name or `_`",
                    );
                    None
                }
            };
            id = self.new_loop();
            self.block_into(&f.body.stmts, Sink::Discard, &mut body);
            if let (Some(lo), Some(hi)) = (lo, hi) {
                out.push(Stmt::For {
                    id,
                    var,
                    iter: Iter::Range {
                        lo,
                        hi,
                        inclusive: matches!(r.limits, syn::RangeLimits::Closed(_)),
                        adaptors: ads,
                    },
                    body,
                });
            }
        } else {
            // `for c in xs`, `for &c in xs.iter()`, `for (k, c) in xs.iter().enumerate()`.
            if adaptors.iter().any(|a| !matches!(a, IterAdaptor::Other(_))) {
                self.cx.error_spanned(&f.expr, "`.rev()`/`.step_by()` over slices is not supported: iterate an index range instead");
            }
            let base_var = match strip_ref(base) {
                syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                    let name = p.path.segments[0].ident.to_string();
                    self.lookup(&name)
                }
                lit @ (syn::Expr::Array(_) | syn::Expr::Repeat(_)) => {
                    // `for e in [x, y]`: iterate a temporary (filled element-wise later).
                    let value = self.expr(lit, out);
                    value.map(|value| {
                        let ty = self.ty_of(&value);
                        let t = self.fresh_tmp(ty);
                        out.push(Stmt::Assign {
                            id: self.stmt_id(),
                            target: Place::Var(t),
                            value,
                            decl: true,
                            span: lit.span(),
                        });
                        t
                    })
                }
                _ => None,
            };
            let Some(bv) = base_var else {
                self.cx.error_spanned(
                    &f.expr,
                    "unsupported `for` iterator: use a range (`a..b`, `.rev()`, `.step_by(k)`) or a slice/array variable \
                     (`xs`, `&xs`, `xs.iter()`, `xs.iter().enumerate()`)",
                );
                self.scopes.pop();
                return;
            };
            if !matches!(
                self.vars[bv].ty,
                Ty::FloatSlice | Ty::FloatSliceMut | Ty::FloatArray | Ty::IntSlice
            ) {
                self.cx
                    .error_spanned(&f.expr, "`for` over a value that is not a slice or array");
            }
            let idx = self.fresh_tmp(Ty::Int);
            let (kpat, vpat) = if enumerate {
                match &*f.pat {
                    syn::Pat::Tuple(t) if t.elems.len() == 2 => (Some(&t.elems[0]), &t.elems[1]),
                    other => {
                        self.cx
                            .error_spanned(other, "`.enumerate()` loops must bind a pair `(i, x)`");
                        self.scopes.pop();
                        return;
                    }
                }
            } else {
                (None, &*f.pat)
            };
            if let Some(k) = kpat {
                match k {
                    syn::Pat::Ident(pi) => {
                        let kv =
                            self.new_var(&pi.ident.to_string(), pi.ident.span(), Ty::Int, false);
                        self.bind(&pi.ident.to_string(), kv);
                        body.push(Stmt::Assign {
                            id: self.stmt_id(),
                            target: Place::Var(kv),
                            value: Expr::Var(idx),
                            decl: true,
                            span: pi.span(),
                        });
                    }
                    syn::Pat::Wild(_) => {}
                    other => self
                        .cx
                        .error_spanned(other, "the index of `.enumerate()` must be a name or `_`"),
                }
            }
            let vpat = match vpat {
                syn::Pat::Reference(r) => &*r.pat,
                p => p,
            };
            match vpat {
                syn::Pat::Ident(pi) => {
                    let elem_ty = self.vars[bv].ty.elem();
                    let ev = self.new_var(&pi.ident.to_string(), pi.ident.span(), elem_ty, false);
                    self.bind(&pi.ident.to_string(), ev);
                    body.push(Stmt::Assign {
                        id: self.stmt_id(),
                        target: Place::Var(ev),
                        value: Expr::Index(bv, Box::new(Expr::Var(idx))),
                        decl: true,
                        span: pi.span(),
                    });
                }
                syn::Pat::Wild(_) => {}
                other => self.cx.error_spanned(
                    other,
                    "the element of a slice loop must be a name, `&name` or `_`",
                ),
            }
            id = self.new_loop();
            self.block_into(&f.body.stmts, Sink::Discard, &mut body);
            // `for e in a` over a local array iterates a copy (Rust moves the `Copy` array
            // into the iterator), so writes to `a` in the body must not be seen: iterate a
            // snapshot taken before the loop when the body writes `a`.
            let by_value = !iterates_by_ref(&f.expr) && self.vars[bv].ty == Ty::FloatArray;
            let bv = if by_value && writes_var(&body, bv) {
                let snap = self.fresh_tmp(Ty::FloatArray);
                out.push(Stmt::Assign {
                    id: self.stmt_id(),
                    target: Place::Var(snap),
                    value: Expr::Var(bv),
                    decl: true,
                    span: f.expr.span(),
                });
                for st in body.iter_mut() {
                    if let Stmt::Assign {
                        value: Expr::Index(b, i),
                        ..
                    } = st
                    {
                        if *b == bv && matches!(**i, Expr::Var(k) if k == idx) {
                            *b = snap;
                        }
                    }
                }
                snap
            } else {
                bv
            };
            let len = Expr::Method(
                Box::new(Expr::Var(bv)),
                syn::Ident::new("len", Span::call_site()),
                vec![],
            );
            out.push(Stmt::For {
                id,
                var: Some(idx),
                iter: Iter::Range {
                    lo: Expr::Lit(syn::parse_quote!(0usize)),
                    hi: len,
                    inclusive: false,
                    adaptors: vec![],
                },
                body,
            });
        }
        self.loops.pop();
        self.scopes.pop();
    }

    pub(super) fn while_loop(&mut self, w: &syn::ExprWhile, out: &mut Block) {
        if let Some(lbl) = &w.label {
            self.cx.error_spanned(
                lbl,
                "loop labels are not supported: restructure with a flag",
            );
        }
        let mut pre = Vec::new();
        let cond = self.cond(&w.cond, &mut pre);
        if let Some(c) = &cond {
            if arrays::has_float_array_literal(&self.vars, c) {
                self.cx.error_spanned(
                    &w.cond,
                    "a float array literal in a `while` condition is not supported: bind it with `let` before the loop",
                );
            }
        }
        if !pre.is_empty() {
            self.cx.error_spanned(
                &w.cond,
                "`while` conditions must be simple expressions (no `if`/`match`/blocks)",
            );
        }
        let id = self.new_loop();
        let mut body = Vec::new();
        self.block_into(&w.body.stmts, Sink::Discard, &mut body);
        self.loops.pop();
        if let Some(cond) = cond {
            out.push(Stmt::While {
                id,
                cond: Some(cond),
                body,
            });
        }
    }
}

enum IterAdaptor<'a> {
    Rev,
    StepBy(&'a syn::Expr),
    Other(&'a syn::ExprMethodCall),
}

/// Splits `base.iter().enumerate().rev().step_by(k)` into the base, the adaptors in the written
/// order, and whether `.enumerate()` was present (`.iter()` is dropped).
fn split_iter(e: &syn::Expr) -> (&syn::Expr, Vec<IterAdaptor<'_>>, bool) {
    let mut ads = Vec::new();
    let mut enumerate = false;
    let mut cur = strip_paren(e);
    while let syn::Expr::MethodCall(m) = cur {
        let name = m.method.to_string();
        match (name.as_str(), m.args.len()) {
            ("rev", 0) => ads.push(IterAdaptor::Rev),
            ("step_by", 1) => ads.push(IterAdaptor::StepBy(&m.args[0])),
            ("enumerate", 0) => enumerate = true,
            ("iter", 0) | ("into_iter", 0) => {}
            _ => ads.push(IterAdaptor::Other(m)),
        }
        cur = strip_paren(&m.receiver);
    }
    ads.reverse();
    (cur, ads, enumerate)
}

/// `xs.iter()…` or `&xs`: the loop borrows its sequence (the body cannot write it).
fn iterates_by_ref(e: &syn::Expr) -> bool {
    let mut cur = strip_paren(e);
    loop {
        match cur {
            syn::Expr::MethodCall(m) => {
                if m.method == "iter" {
                    return true;
                }
                cur = strip_paren(&m.receiver);
            }
            syn::Expr::Reference(_) => return true,
            _ => return false,
        }
    }
}

/// Does a statement of `b` (nested blocks included) write variable `v` or an element of it,
/// directly or through a `&mut` call argument?
fn writes_var(b: &Block, v: VarId) -> bool {
    crate::visit::any_stmt(b, &mut |s| match s {
        Stmt::Assign { target, value, .. } => target.var() == v || call_writes(value, v),
        Stmt::Call(_, e) => call_writes(e, v),
        _ => false,
    })
}

fn call_writes(e: &Expr, v: VarId) -> bool {
    match e {
        Expr::Call { args, .. } => args.iter().any(
            |a| matches!(a, Expr::Ref(inner, true) if matches!(**inner, Expr::Var(w) if w == v)),
        ),
        _ => false,
    }
}
