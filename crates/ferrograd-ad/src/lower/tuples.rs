//! Local tuples, by scalar replacement: `let t = (a, b)` becomes one variable per element
//! (`t.0`, `t.1` read and write them), and destructuring `let (a, b) = …` binds each name to
//! its element. Nothing of a tuple survives lowering, so the emitters see plain variables and
//! their derivatives are exact. Tuples as a whole (passed to calls, returned, nested) are
//! spanned errors.

use super::*;

impl Lower<'_> {
    /// `let t = (e0, e1, …)` (`ident` = `t`) or `let (a, b, …) = value` (`pat`).
    pub(super) fn let_tuple(&mut self, pat: &syn::Pat, init: &syn::Expr, out: &mut Block) {
        let Some(items) = self.tuple_items(init, out) else {
            self.bind_pattern_names(pat);
            return;
        };
        match pat {
            syn::Pat::Ident(pi) => {
                let elems: Vec<VarId> = items
                    .into_iter()
                    .enumerate()
                    .map(|(k, item)| {
                        let ty = self.ty_of(&item);
                        let v =
                            self.new_var(&format!("{}__{k}", pi.ident), pi.ident.span(), ty, false);
                        out.push(Stmt::Assign {
                            id: self.stmt_id(),
                            target: Place::Var(v),
                            value: item,
                            decl: true,
                            span: pi.ident.span(),
                        });
                        v
                    })
                    .collect();
                let k = self.tuples.len();
                self.tuples.push(elems);
                let t = self.new_var(&pi.ident.to_string(), pi.ident.span(), Ty::Tuple(k), false);
                self.bind(&pi.ident.to_string(), t);
            }
            syn::Pat::Tuple(pt) => {
                if pt.elems.len() != items.len() {
                    self.cx.error_spanned(
                        pt,
                        format!(
                            "this pattern binds {} values, the tuple has {}",
                            pt.elems.len(),
                            items.len()
                        ),
                    );
                    self.bind_pattern_names(pat);
                    return;
                }
                // All values are evaluated (above) before any name is bound.
                for (p, item) in pt.elems.iter().zip(items) {
                    match p {
                        syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                            let ty = self.ty_of(&item);
                            let v = self.new_var(&pi.ident.to_string(), pi.ident.span(), ty, false);
                            out.push(Stmt::Assign {
                                id: self.stmt_id(),
                                target: Place::Var(v),
                                value: item,
                                decl: true,
                                span: pi.ident.span(),
                            });
                            self.bind(&pi.ident.to_string(), v);
                        }
                        syn::Pat::Wild(_) => {}
                        other => {
                            self.cx.error_spanned(
                                other,
                                "tuple patterns may bind names or `_` (no nesting)",
                            );
                            self.bind_pattern_names(other);
                        }
                    }
                }
            }
            other => {
                self.cx
                    .error_spanned(other, "`let` must bind a name or a tuple of names");
                self.bind_pattern_names(other);
            }
        }
    }

    /// The element values of a tuple expression (`(a, b)` or a tuple variable), each lowered.
    /// A tuple literal's items are evaluated into temporaries first when there is more than
    /// one, so that `t = (t.1, t.0)` swaps.
    fn tuple_items(&mut self, e: &syn::Expr, out: &mut Block) -> Option<Vec<Expr>> {
        match strip_paren(e) {
            syn::Expr::Tuple(t) => {
                let mut items = Vec::new();
                for it in &t.elems {
                    if matches!(strip_paren(it), syn::Expr::Tuple(_)) {
                        self.cx.error_spanned(it, "nested tuples are not supported: bind the inner tuple with its own `let`");
                        return None;
                    }
                    let v = self.expr(it, out)?;
                    if self.tuple_var(&v).is_some() {
                        self.cx.error_spanned(it, "nested tuples are not supported: bind the inner tuple with its own `let`");
                        return None;
                    }
                    items.push(v);
                }
                Some(items)
            }
            syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                let v = self.lookup(&p.path.segments[0].ident.to_string())?;
                match self.vars[v].ty {
                    Ty::Tuple(k) => Some(self.tuples[k].iter().map(|&w| Expr::Var(w)).collect()),
                    _ => {
                        self.cx.error_spanned(p, "expected a tuple");
                        None
                    }
                }
            }
            other => {
                self.cx.error_spanned(
                    other,
                    "a tuple can be built from a tuple literal `(a, b)` or another tuple variable (functions returning tuples are not supported yet)",
                );
                None
            }
        }
    }

    /// `t = (e0, e1)` for a tuple variable `t`: elements assigned after all values are computed.
    pub(super) fn assign_tuple(
        &mut self,
        k: usize,
        value: &syn::Expr,
        span: Span,
        out: &mut Block,
    ) {
        let Some(items) = self.tuple_items(value, out) else {
            return;
        };
        let elems = self.tuples[k].clone();
        if items.len() != elems.len() {
            self.cx.error_at(
                span,
                format!(
                    "the tuple has {} elements, {} assigned",
                    elems.len(),
                    items.len()
                ),
            );
            return;
        }
        let temps: Vec<Expr> = items
            .into_iter()
            .map(|item| {
                let ty = self.ty_of(&item);
                let t = self.fresh_tmp(ty);
                out.push(Stmt::Assign {
                    id: self.stmt_id(),
                    target: Place::Var(t),
                    value: item,
                    decl: true,
                    span,
                });
                Expr::Var(t)
            })
            .collect();
        for (v, t) in elems.into_iter().zip(temps) {
            out.push(Stmt::Assign {
                id: self.stmt_id(),
                target: Place::Var(v),
                value: t,
                decl: false,
                span,
            });
        }
    }

    /// `t.k` of a tuple variable: its element variable (`Some(None)`: no such element,
    /// reported).
    pub(super) fn tuple_field(&mut self, f: &syn::ExprField) -> Option<Option<VarId>> {
        let elem = self.tuple_element(f)?;
        if elem.is_none() {
            self.cx.error_spanned(f, "no such tuple element");
        }
        Some(elem)
    }

    /// `t.k` of a tuple variable, without reporting anything.
    pub(super) fn tuple_element(&self, f: &syn::ExprField) -> Option<Option<VarId>> {
        let syn::Expr::Path(p) = strip_paren(&f.base) else {
            return None;
        };
        let v = self.lookup(&p.path.get_ident()?.to_string())?;
        let Ty::Tuple(k) = self.vars[v].ty else {
            return None;
        };
        Some(match &f.member {
            syn::Member::Unnamed(i) => self.tuples[k].get(i.index as usize).copied(),
            syn::Member::Named(_) => None,
        })
    }

    /// The tuple variable `e` names, if any.
    fn tuple_var(&self, e: &Expr) -> Option<usize> {
        match e {
            Expr::Var(v) => match self.vars[*v].ty {
                Ty::Tuple(k) => Some(k),
                _ => None,
            },
            _ => None,
        }
    }
}
