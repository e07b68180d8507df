//! Whole-array values, rewritten element by element.
//!
//! The emitters differentiate a float array only through its elements: `a[i] = e` saves and
//! restores one element and moves one element's adjoint. A whole-array assignment (`let v =
//! [x, x * y]`, `v = [e; N]`, `let w = v`, an array literal passed to a call) would need a
//! rule of its own for every shape; instead this pass rewrites each one into a declaration
//! with constant elements followed by element-wise assignments, so the only whole-array
//! assignments left in the IR have constant values (zero tangent, and an adjoint that the
//! reverse sweep simply clears). Array literals inside expressions become temporaries.
//!
//! This is the fix for a class of silently wrong derivatives (issue 9): before it, the
//! emitters treated every whole-array value as a constant.

use super::*;

impl Lower<'_> {
    /// Rewrites every whole-array float assignment in `b` element-wise (see the module docs).
    pub(super) fn expand_arrays(&mut self, b: Block) -> Block {
        let mut out = Vec::with_capacity(b.len());
        for s in b {
            match s {
                Stmt::Assign {
                    id,
                    target,
                    mut value,
                    decl,
                    span,
                } => {
                    let whole_array =
                        matches!(&target, Place::Var(v) if self.vars[*v].ty == Ty::FloatArray);
                    if whole_array {
                        // Literals nested inside the items first (`[g(&[x, y]), z]`).
                        match &mut value {
                            Expr::Array(items) => {
                                for it in items.iter_mut() {
                                    self.hoist_array_literals(it, &mut out, span);
                                }
                            }
                            Expr::Repeat(item, _) => {
                                self.hoist_array_literals(item, &mut out, span)
                            }
                            _ => {}
                        }
                        self.array_assign(target.var(), value, decl, span, &mut out);
                    } else {
                        self.hoist_array_literals(&mut value, &mut out, span);
                        let target = match target {
                            Place::Index(v, mut i) => {
                                self.reject_array_literals(&mut i, span);
                                Place::Index(v, i)
                            }
                            t => t,
                        };
                        out.push(Stmt::Assign {
                            id,
                            target,
                            value,
                            decl,
                            span,
                        });
                    }
                }
                Stmt::Call(id, mut e) => {
                    self.hoist_array_literals(&mut e, &mut out, Span::call_site());
                    out.push(Stmt::Call(id, e));
                }
                Stmt::Return(id, Some(mut e)) => {
                    self.hoist_array_literals(&mut e, &mut out, Span::call_site());
                    out.push(Stmt::Return(id, Some(e)));
                }
                Stmt::If {
                    mut cond,
                    then_b,
                    else_b,
                } => {
                    self.hoist_array_literals(&mut cond, &mut out, Span::call_site());
                    let then_b = self.expand_arrays(then_b);
                    let else_b = self.expand_arrays(else_b);
                    out.push(Stmt::If {
                        cond,
                        then_b,
                        else_b,
                    });
                }
                Stmt::For {
                    id,
                    var,
                    iter,
                    body,
                } => {
                    let Iter::Range {
                        mut lo,
                        mut hi,
                        inclusive,
                        mut adaptors,
                    } = iter;
                    // Bounds and step are evaluated once, before the first iteration.
                    let at = Span::call_site();
                    self.hoist_array_literals(&mut lo, &mut out, at);
                    self.hoist_array_literals(&mut hi, &mut out, at);
                    for a in &mut adaptors {
                        if let Adaptor::StepBy(k) = a {
                            self.hoist_array_literals(k, &mut out, at);
                        }
                    }
                    let body = self.expand_arrays(body);
                    out.push(Stmt::For {
                        id,
                        var,
                        iter: Iter::Range {
                            lo,
                            hi,
                            inclusive,
                            adaptors,
                        },
                        body,
                    });
                }
                Stmt::While { id, cond, body } => {
                    // (`while_loop` rejected float array literals in the condition.)
                    let body = self.expand_arrays(body);
                    out.push(Stmt::While { id, cond, body });
                }
                other => out.push(other),
            }
        }
        out
    }

    /// `v = value` for a float array `v`, as element-wise assignments.
    fn array_assign(&mut self, v: VarId, value: Expr, decl: bool, span: Span, out: &mut Block) {
        match value {
            Expr::Array(items) => {
                let n = items.len();
                // `v = [v[1], v[0]]` reads `v`: evaluate every item before writing any.
                let reads_v = items.iter().any(|it| reads_var(it, v));
                let items: Vec<Expr> = if reads_v {
                    items
                        .into_iter()
                        .map(|it| {
                            let t = self.fresh_tmp(Ty::Float);
                            out.push(Stmt::Assign {
                                id: self.stmt_id(),
                                target: Place::Var(t),
                                value: it,
                                decl: true,
                                span,
                            });
                            Expr::Var(t)
                        })
                        .collect()
                } else {
                    items
                };
                let len = Expr::Lit(syn::Lit::Int(syn::LitInt::new(&format!("{n}usize"), span)));
                self.declare_zeros(v, len, decl, span, out);
                for (k, it) in items.into_iter().enumerate() {
                    let idx = Expr::Lit(syn::Lit::Int(syn::LitInt::new(&format!("{k}usize"), span)));
                    out.push(Stmt::Assign {
                        id: self.stmt_id(),
                        target: Place::Index(v, idx),
                        value: it,
                        decl: false,
                        span,
                    });
                }
            }
            Expr::Repeat(item, len_syn) => {
                let Some(len) = self.array_len(&len_syn) else {
                    return;
                };
                let constant = matches!(&*item, Expr::Lit(_) | Expr::Const(_));
                if constant && decl {
                    // `let v = [0.0; N]`: a constant declaration, kept as written.
                    out.push(Stmt::Assign {
                        id: self.stmt_id(),
                        target: Place::Var(v),
                        value: Expr::Repeat(item, len_syn),
                        decl,
                        span,
                    });
                    return;
                }
                let elem = if constant {
                    *item
                } else {
                    let t = self.fresh_tmp(Ty::Float);
                    out.push(Stmt::Assign {
                        id: self.stmt_id(),
                        target: Place::Var(t),
                        value: *item,
                        decl: true,
                        span,
                    });
                    Expr::Var(t)
                };
                self.declare_zeros(v, len.clone(), decl, span, out);
                self.elementwise_loop(v, len, |_| elem.clone(), span, out);
            }
            Expr::Var(src) if self.vars[src].ty == Ty::FloatArray => {
                if decl {
                    // The primal copy gives `v` its length and values; the loop below gives
                    // each element its derivative.
                    out.push(Stmt::Assign {
                        id: self.stmt_id(),
                        target: Place::Var(v),
                        value: Expr::Var(src),
                        decl: true,
                        span,
                    });
                }
                if src != v {
                    let len = Expr::Method(
                        Box::new(Expr::Var(v)),
                        syn::Ident::new("len", span),
                        vec![],
                    );
                    self.elementwise_loop(
                        v,
                        len,
                        |k| Expr::Index(src, Box::new(Expr::Var(k))),
                        span,
                        out,
                    );
                }
            }
            _ => self.cx.error_at(
                span,
                "a float array can be assigned as a whole only from an array literal (`[a, b]`), \
                 a repeat (`[e; N]`) or another array variable; assign its elements instead (`v[i] = …`)",
            ),
        }
    }

    /// `v = [0.0; len]` when `v` is declared here (a fresh variable with constant elements),
    /// and a hoisting initialiser that fixes its type.
    fn declare_zeros(&mut self, v: VarId, len: Expr, decl: bool, span: Span, out: &mut Block) {
        let zero = Expr::Lit(syn::Lit::Float(syn::LitFloat::new("0.0", span)));
        let len_syn: Option<syn::Expr> = match &len {
            Expr::Lit(l) => Some(syn::parse_quote!(#l)),
            Expr::Const(p) => Some(syn::parse_quote!(#p)),
            _ => None,
        };
        if self.vars[v].hoist_init.is_none() {
            self.vars[v].hoist_init = len_syn
                .clone()
                .map(|n| Expr::Repeat(Box::new(zero.clone()), n));
        }
        if decl {
            let len_syn = len_syn.unwrap_or_else(|| syn::parse_quote!(0));
            out.push(Stmt::Assign {
                id: self.stmt_id(),
                target: Place::Var(v),
                value: Expr::Repeat(Box::new(zero), len_syn),
                decl: true,
                span,
            });
        }
    }

    /// `for k in 0..len { v[k] = elem(k) }`.
    fn elementwise_loop(
        &mut self,
        v: VarId,
        len: Expr,
        elem: impl Fn(VarId) -> Expr,
        span: Span,
        out: &mut Block,
    ) {
        let k = self.fresh_tmp(Ty::Int);
        let id = self.n_loops;
        self.n_loops += 1;
        out.push(Stmt::For {
            id,
            var: Some(k),
            iter: Iter::Range {
                lo: Expr::Lit(syn::parse_quote!(0usize)),
                hi: len,
                inclusive: false,
                adaptors: vec![],
            },
            body: vec![Stmt::Assign {
                id: self.stmt_id(),
                target: Place::Index(v, Expr::Var(k)),
                value: elem(k),
                decl: false,
                span,
            }],
        });
    }

    /// The length of `[e; len]` as an IR expression (a literal or a named constant).
    fn array_len(&mut self, len: &syn::Expr) -> Option<Expr> {
        match strip_paren(len) {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => Some(Expr::Lit(syn::Lit::Int(syn::LitInt::new(
                &format!("{}usize", i.base10_digits()),
                i.span(),
            )))),
            syn::Expr::Path(p) if p.qself.is_none() => Some(Expr::Const(p.path.clone())),
            other => {
                self.cx.error_spanned(
                    other,
                    "the length of an array of derivative-carrying values must be an integer literal or a named constant",
                );
                None
            }
        }
    }

    /// Replaces each float array literal inside `e` by a temporary filled element-wise before
    /// the statement (`g(&[x, y])` → `t = [0.0; 2]; t[0] = x; t[1] = y; g(&t)`).
    fn hoist_array_literals(&mut self, e: &mut Expr, out: &mut Block, span: Span) {
        if let Expr::Array(_) | Expr::Repeat(..) = e {
            if ty_of(&self.vars, e) == Ty::FloatArray {
                match e {
                    Expr::Array(items) => {
                        for it in items.iter_mut() {
                            self.hoist_array_literals(it, out, span);
                        }
                    }
                    Expr::Repeat(it, _) => self.hoist_array_literals(it, out, span),
                    _ => {}
                }
                let t = self.fresh_tmp(Ty::FloatArray);
                let value = std::mem::replace(e, Expr::Var(t));
                self.array_assign(t, value, true, span, out);
                return;
            }
        }
        crate::visit::children_mut(e, &mut |c| self.hoist_array_literals(c, out, span));
    }

    /// Float array literals in an index, which is evaluated after the value.
    fn reject_array_literals(&mut self, e: &mut Expr, span: Span) {
        if has_float_array_literal(&self.vars, e) {
            self.cx.error_at(
                span,
                "a float array literal in an index is not supported: bind it with `let` first",
            );
        }
    }
}

/// Does `e` contain an array literal of floats?
pub(super) fn has_float_array_literal(vars: &[Var], e: &Expr) -> bool {
    crate::visit::any_expr(e, &mut |c| {
        matches!(c, Expr::Array(_) | Expr::Repeat(..)) && ty_of(vars, c) == Ty::FloatArray
    })
}

fn reads_var(e: &Expr, v: VarId) -> bool {
    let mut found = false;
    Func::for_each_read(e, &mut |r| found |= r == v);
    found
}
