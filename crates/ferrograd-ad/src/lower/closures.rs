//! Closures defined and called inside differentiable code (`let scale = |a: f64| a * y;`).
//!
//! A closure is inlined at each call: its parameters become fresh variables assigned from the
//! arguments, and its body is lowered in the scope of its *definition* (so the names it
//! captures are the ones it saw, even if shadowed before the call). Captured variables are read
//! where the closure is called; Rust's borrow rules guarantee that a captured variable does not
//! change between the definition and a call, so this is the value the closure would see. The
//! derivatives then flow through the inlined code like any other (captured active variables
//! included). What cannot be inlined is an error: a closure used other than by a direct call
//! (passed, stored, returned), `move` closures (they copy captures at definition), and `return`
//! or `?` inside a closure body.

use super::*;

/// A closure recorded at its `let`.
#[derive(Clone)]
pub(super) struct ClosureDef {
    closure: syn::ExprClosure,
    scopes: Vec<HashMap<String, VarId>>,
}

impl Lower<'_> {
    /// `let f = |a: f64| a * y;`: records the closure; no code until it is called.
    pub(super) fn define_closure(&mut self, ident: &syn::Ident, c: &syn::ExprClosure) {
        if let Some(m) = &c.capture {
            self.cx.error_spanned(
                m,
                "`move` closures are not supported in `#[differentiable]` functions: drop `move` (the closure is inlined where it is called)",
            );
        }
        if let Some(a) = &c.asyncness {
            self.cx
                .error_spanned(a, "`async` closures are not supported");
        }
        let k = self.closures.len();
        self.closures.push(ClosureDef {
            closure: c.clone(),
            scopes: self.scopes.clone(),
        });
        let v = self.new_var(&ident.to_string(), ident.span(), Ty::Closure(k), false);
        self.bind(&ident.to_string(), v);
    }

    /// The closure a call's callee names, if any (`f(x)` with `let f = |a| …`).
    pub(super) fn closure_callee(&self, func: &syn::Expr) -> Option<usize> {
        let syn::Expr::Path(p) = strip_paren(func) else {
            return None;
        };
        let v = self.lookup(&p.path.get_ident()?.to_string())?;
        match self.vars[v].ty {
            Ty::Closure(k) => Some(k),
            _ => None,
        }
    }

    /// Inlines closure `k` called with `c`'s arguments; its value goes to `sink`.
    pub(super) fn inline_closure(
        &mut self,
        k: usize,
        c: &syn::ExprCall,
        sink: Sink,
        out: &mut Block,
    ) -> Option<()> {
        let def = self.closures[k].clone();
        let params = &def.closure.inputs;
        if params.len() != c.args.len() {
            self.cx.error_spanned(
                c,
                format!(
                    "this closure takes {} argument(s), {} given",
                    params.len(),
                    c.args.len()
                ),
            );
            return None;
        }
        // Arguments in the caller's scope, before the closure's scope is entered.
        let mut args = Vec::new();
        for a in &c.args {
            args.push(self.expr(a, out)?);
        }
        let saved = std::mem::replace(&mut self.scopes, def.scopes);
        self.scopes.push(HashMap::new());
        self.closure_depth += 1;
        for (pat, arg) in params.iter().zip(args) {
            let (ident, annot) = match pat {
                syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    (pi.ident.clone(), None)
                }
                syn::Pat::Type(pt) => match &*pt.pat {
                    syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        (pi.ident.clone(), Some(&*pt.ty))
                    }
                    other => {
                        self.cx
                            .error_spanned(other, "closure parameters must be plain names");
                        continue;
                    }
                },
                other => {
                    self.cx
                        .error_spanned(other, "closure parameters must be plain names");
                    continue;
                }
            };
            let ty = match annot {
                Some(t) if float_name(t).is_some() => Ty::Float,
                Some(t) if is_int_ty(t) => Ty::Int,
                Some(t) if is_bool_ty(t) => Ty::Bool,
                _ => self.ty_of(&arg),
            };
            let v = self.new_var(&ident.to_string(), ident.span(), ty, false);
            out.push(Stmt::Assign {
                id: self.stmt_id(),
                target: Place::Var(v),
                value: arg,
                decl: true,
                span: ident.span(),
            });
            self.bind(&ident.to_string(), v);
        }
        self.expr_into(&def.closure.body, sink, out);
        self.closure_depth -= 1;
        self.scopes = saved;
        Some(())
    }

    /// A closure used other than by a direct call.
    pub(super) fn closure_escapes(&self, at: &syn::ExprPath) {
        self.cx.error_spanned(
            at,
            "a closure can only be called directly in `#[differentiable]` code (`f(x)`): passing, storing or returning it is not supported",
        );
    }
}
