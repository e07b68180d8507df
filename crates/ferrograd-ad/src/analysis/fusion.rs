//! Reduction-loop fusion: where the adjoint of a returned accumulator is the output seed all
//! along, so the reverse code of a loop (or of an outlined loop's call) runs inside the forward
//! sweep instead of after it.

use super::record::Records;
use super::{Activity, Recompute};
use crate::ir::*;
use crate::normalize::LoopFlags;
use crate::visit::any_stmt;
use std::collections::HashMap;

/// The fused part of a function (at most one of each; both end it, followed by `return s`).
pub struct Fusion {
    /// The reduction loop run fused, and its accumulator `s`.
    pub reduction: Option<(LoopId, VarId)>,
    /// The statement `s = s ± loop(…)` run fused, and its accumulator `s`.
    pub outlined_call: Option<(StmtId, VarId)>,
}

impl Fusion {
    /// The accumulator of the fused part: its adjoint is seeded before it, not by `return s`.
    pub fn accumulator(&self) -> Option<VarId> {
        self.reduction
            .map(|(_, s)| s)
            .or(self.outlined_call.map(|(_, s)| s))
    }
}

pub fn fusion(
    f: &Func,
    act: &Activity,
    rc: &Recompute,
    rec: &Records,
    loops: &HashMap<LoopId, LoopFlags>,
) -> Fusion {
    Fusion {
        reduction: fusable_reduction(f, act, rc, rec, loops),
        outlined_call: fusable_outlined_call(f, act),
    }
}

/// `(stmt, s)` when the function ends with `stmt` directly followed by `return s` (trailing
/// raw statements aside): where both reduction fusions look for their loop.
fn returned_after(f: &Func) -> Option<(&Stmt, VarId)> {
    let ret = f.ret_var?;
    let b = &f.body;
    let mut k = b.len();
    while k > 0 && matches!(b[k - 1], Stmt::Raw(_)) {
        k -= 1;
    }
    if k < 2 {
        return None;
    }
    match &b[k - 1] {
        Stmt::Assign {
            target: Place::Var(r),
            value: Expr::Var(s),
            ..
        } if *r == ret => Some((&b[k - 2], *s)),
        _ => None,
    }
}

/// Reduction-loop fusion: a top-level loop that only accumulates `s = s ± e` (with `e` not
/// reading `s`, everything else loop-local) directly followed by `return s`. The adjoint of `s`
/// is then the output seed during the whole loop, known before it runs, so each iteration's
/// reverse runs right after its forward: one loop, no tape, no recomputation.
/// A loop whose body records something (an old value, a written buffer) needs the tape after
/// all, so it is not fused.
fn fusable_reduction(
    f: &Func,
    act: &Activity,
    rc: &Recompute,
    rec: &Records,
    loops: &HashMap<LoopId, LoopFlags>,
) -> Option<(LoopId, VarId)> {
    let (before, s) = returned_after(f)?;
    let (id, body) = match before {
        Stmt::For { id, body, .. } => (*id, body),
        _ => return None,
    };
    let lf = loops.get(&id)?;
    if lf.brk.is_some()
        || lf.cont.is_some()
        || !lf.check.is_empty()
        || !act.is_active(s)
        || f.var_ty(s) != Ty::Float
    {
        return None;
    }
    fn ok_block(f: &Func, act: &Activity, rc: &Recompute, b: &Block, s: VarId) -> bool {
        b.iter().all(|st| match st {
            Stmt::Assign { target: Place::Var(t), value, .. } => {
                let mut reads_s = false;
                if *t == s {
                    match value {
                        Expr::Binary(syn::BinOp::Add(_) | syn::BinOp::Sub(_), a, e) if matches!(**a, Expr::Var(v) if v == s) => {
                            Func::for_each_read(e, &mut |v| reads_s |= v == s);
                            !reads_s
                        }
                        _ => false,
                    }
                } else {
                    Func::for_each_read(value, &mut |v| reads_s |= v == s);
                    !reads_s && (!act.is_active(*t) || rc.vars.contains(t))
                }
            }
            Stmt::Assign { target: Place::Index(t, _), .. } => !act.is_active(*t),
            Stmt::Call(_, e) => !act.expr_active(f, e),
            Stmt::If { cond, then_b, else_b } => {
                let mut reads_s = false;
                Func::for_each_read(cond, &mut |v| reads_s |= v == s);
                !reads_s && ok_block(f, act, rc, then_b, s) && ok_block(f, act, rc, else_b, s)
            }
            _ => false,
        })
    }
    let records = any_stmt(body, &mut |st| match st {
        Stmt::Assign { id, value, .. } => {
            rec.saves.contains(id) || !written_buffers(f, value).is_empty()
        }
        Stmt::Call(_, e) => !written_buffers(f, e).is_empty(),
        _ => false,
    });
    (ok_block(f, act, rc, body, s) && !records).then_some((id, s))
}

/// Reduction fusion for a loop that `#[differentiable(simd)]` outlined (`vectorize.rs`):
/// `s = s ± __fg_f_loopN(…)` directly followed by `return s`. As for `fusable_reduction`, the
/// adjoint of `s` is the output seed there, so the forward sweep calls the loop's
/// `_value_pullback`, which returns the value and adds the adjoints in one pass over the
/// events, instead of a value pass now and a pullback pass in the reverse sweep.
fn fusable_outlined_call(f: &Func, act: &Activity) -> Option<(StmtId, VarId)> {
    let (before, s) = returned_after(f)?;
    let Stmt::Assign {
        id,
        target: Place::Var(t),
        value,
        ..
    } = before
    else {
        return None;
    };
    let Expr::Binary(syn::BinOp::Add(_) | syn::BinOp::Sub(_), a, c) = value else {
        return None;
    };
    let Expr::Call {
        path, args, try_, ..
    } = &**c
    else {
        return None;
    };
    let name = path.segments.last()?.ident.to_string();
    let outlined = name.starts_with("__fg_")
        && name
            .rsplit_once("_loop")
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
    let mut reads_s = false;
    for a in args {
        Func::for_each_read(a, &mut |v| reads_s |= v == s);
    }
    (*t == s
        && matches!(**a, Expr::Var(v) if v == s)
        && outlined
        && !try_
        && !reads_s
        && act.is_active(s)
        // A call reading nothing active (a loop over constants only: `wrt(..)` leaves out
        // what it reads) has no pullback to fuse; it runs as a plain value.
        && act.expr_active(f, c)
        && f.var_ty(s) == Ty::Float)
        .then_some((*id, s))
}
