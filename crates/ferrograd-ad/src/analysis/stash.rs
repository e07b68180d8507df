//! Stashes (`ArgMode::Stash`): buffers a kernel writes for its own pullback, whose adjoint the
//! call site hands over empty. That is sound only if nothing else in the function reads the
//! buffer (no derivative could reach it through a read that the empty adjoint would drop).
//! Whether a callee's argument is a stash is a constant of the callee's crate, not known while
//! the macro runs, so the check is emitted as a constant assertion over those constants (see
//! `lib.rs`), built from the uses found here.

use crate::ir::*;
use crate::visit::{children, each_stmt, stmt_exprs};

/// The variable a call argument hands over as a `&mut` float buffer, if it is one (the forms
/// of [`written_buffers`]).
fn mut_arg_var(f: &Func, a: &Expr) -> Option<VarId> {
    match a {
        Expr::Ref(inner, true) => match &**inner {
            Expr::Var(v) if f.var_ty(*v).is_float_buffer() => Some(*v),
            _ => None,
        },
        Expr::Var(v) if f.var_ty(*v) == Ty::FloatSliceMut => Some(*v),
        Expr::SubSlice {
            var, mutable: true, ..
        } => Some(*var),
        _ => None,
    }
}

/// Every use of `v`: `None` if anything reads it other than as the `&mut` argument of a call
/// (`.len()` excepted), else each `(callee, position)` it is handed to as a `&mut` argument.
pub fn mut_arg_uses(f: &Func, v: VarId) -> Option<Vec<(syn::Path, usize)>> {
    let (mut uses, mut read) = (Vec::new(), false);
    each_stmt(&f.body, &mut |s| {
        stmt_exprs(s, &mut |e| walk(f, e, v, &mut uses, &mut read))
    });
    (!read).then_some(uses)
}

fn walk(f: &Func, e: &Expr, v: VarId, uses: &mut Vec<(syn::Path, usize)>, read: &mut bool) {
    match e {
        Expr::Method(r, m, args)
            if m == "len" && args.is_empty() && matches!(**r, Expr::Var(_)) =>
        {
            return;
        }
        Expr::Call { path, args, .. } => {
            for (j, a) in args.iter().enumerate() {
                if mut_arg_var(f, a) == Some(v) {
                    uses.push((path.clone(), j));
                    // The bounds of a sub-slice are read; the buffer itself is not.
                    if let Expr::SubSlice { .. } = a {
                        children(a, &mut |c| walk(f, c, v, uses, read));
                    }
                } else {
                    walk(f, a, v, uses, read);
                }
            }
            return;
        }
        Expr::Var(w) | Expr::Index(w, _) | Expr::SubSlice { var: w, .. } if *w == v => {
            *read = true;
        }
        _ => {}
    }
    children(e, &mut |c| walk(f, c, v, uses, read));
}

/// Every `(callee, position, variable)` of a `&mut` float buffer handed to a call, once each.
pub fn mut_args(f: &Func) -> Vec<(syn::Path, usize, VarId)> {
    let mut all: Vec<(syn::Path, usize, VarId)> = Vec::new();
    each_stmt(&f.body, &mut |s| {
        stmt_exprs(s, &mut |e| collect(f, e, &mut all))
    });
    all
}

fn collect(f: &Func, e: &Expr, all: &mut Vec<(syn::Path, usize, VarId)>) {
    if let Expr::Call { path, args, .. } = e {
        for (j, a) in args.iter().enumerate() {
            if let Some(v) = mut_arg_var(f, a) {
                if !all.iter().any(|(p, k, w)| p == path && *k == j && *w == v) {
                    all.push((path.clone(), j, v));
                }
            }
        }
    }
    children(e, &mut |c| collect(f, c, all));
}
