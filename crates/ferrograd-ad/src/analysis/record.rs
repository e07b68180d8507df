//! The to-be-recorded analysis: which overwritten values the reverse sweep reads, so that the
//! forward sweep records them before the write (and the reverse sweep restores them).
//!
//! The reverse sweep runs the statements backwards, so a statement's reverse code reads the
//! state the forward sweep left *after* every later statement. A write must record the old
//! value only if a reader of it runs before the write in the forward sweep (at or before its
//! position in the body, or anywhere in a loop shared with it, whose later iterations come
//! first in the reverse sweep).
//!
//! That rule sees whole buffers. A model that stacks its layers in one buffer and hands each
//! iteration of a loop its own sub-slice (`&mut acts[l * n..(l + 1) * n]`) writes the buffer in
//! every iteration while earlier iterations' pullbacks read it, so the rule records it at every
//! call, although the ranges never meet. For a buffer that the body only ever hands to calls
//! (whole or as a sub-slice), such a write is decided at run time instead ([`Records::hulls`]):
//! the forward sweep keeps the hull of the ranges that calls executed so far handed on (their
//! pullbacks read those ranges later), and a call records the range it writes only when it
//! meets that hull. The hull is an over-approximation, so a needed record is never skipped.

use super::{Activity, Recompute};
use crate::ir::*;
use crate::linear::Lin;
use crate::visit::each_stmt_in_loops;
use std::collections::HashSet;

pub struct Records {
    /// Top-level `let`s of non-parameters: declared where they stand instead of hoisted into
    /// the prologue, so their assignment overwrites nothing.
    pub unhoisted: HashSet<VarId>,
    /// Assignments that record the old value of their target.
    pub saves: HashSet<StmtId>,
    /// `(call, buffer)`: the reverse sweep reads contents of `buffer` from before the call,
    /// which may write it (`reverse::Rev::written_buffer_saves`).
    pub buffers_read_before: HashSet<(StmtId, VarId)>,
    /// Buffers of `buffers_read_before` that occur only as call arguments (whole or
    /// sub-slices): their records are decided at run time against the hull of the ranges read
    /// so far (`reverse::Rev::written_buffer_saves`).
    pub hulls: HashSet<VarId>,
}

pub fn records(f: &Func, act: &Activity, rc: &Recompute) -> Records {
    let unhoisted: HashSet<VarId> = f
        .body
        .iter()
        .filter_map(|s| match s {
            Stmt::Assign {
                target: Place::Var(v),
                decl: true,
                ..
            } if f.vars[*v].param.is_none() => Some(*v),
            _ => None,
        })
        .collect();
    // Every statement in the order the forward sweep meets it, with its enclosing loops.
    let mut stmts: Vec<(&Stmt, Vec<LoopId>)> = Vec::new();
    each_stmt_in_loops(&f.body, &mut |s, loops| stmts.push((s, loops.to_vec())));
    // Where the reverse sweep reads each variable: (position, enclosing loops).
    let mut readers: Vec<Vec<(usize, &[LoopId])>> = vec![Vec::new(); f.vars.len()];
    for (pos, (s, loops)) in stmts.iter().enumerate() {
        reverse_reads(f, act, rc, s, &mut |v| readers[v].push((pos, loops)));
    }
    // Is `v` read by the reverse sweep before position `here` (at it too, with `at`) or in a
    // loop around it?
    let read_before = |v: VarId, here: usize, at: bool, loops: &[LoopId]| {
        readers[v]
            .iter()
            .any(|(p, rl)| *p < here || (at && *p == here) || rl.iter().any(|l| loops.contains(l)))
    };
    let mut saves = HashSet::new();
    let mut buffers_read_before = HashSet::new();
    for (here, (s, loops)) in stmts.iter().enumerate() {
        let (id, value) = match s {
            Stmt::Assign {
                id,
                target,
                value,
                decl,
                ..
            } => {
                let v = target.var();
                let declared_here =
                    *decl && unhoisted.contains(&v) && matches!(target, Place::Var(_));
                if !declared_here && !rc.vars.contains(&v) && read_before(v, here, true, loops) {
                    saves.insert(*id);
                }
                (*id, value)
            }
            Stmt::Call(id, e) => (*id, e),
            _ => continue,
        };
        for (_, _, v) in written_buffers(f, value) {
            if read_before(v, here, false, loops) {
                buffers_read_before.insert((id, v));
            }
        }
    }
    let hulls = buffers_read_before
        .iter()
        .map(|(_, v)| *v)
        .filter(|&v| only_call_arguments(&f.body, v))
        .collect();
    Records {
        unhoisted,
        saves,
        buffers_read_before,
        hulls,
    }
}

/// Is every read of `v` in `body` an argument of a call, whole (`x`, `&mut x`) or a sub-slice
/// (`&x[a..b]`), never an element read, a length or part of another expression? Assignments
/// *to* `v` (a local array's `let a = [0.0; N]`, `a[i] = e`) are allowed: they read nothing of
/// `v` in the reverse sweep, and record what they overwrite themselves (`saves`).
fn only_call_arguments(body: &Block, v: VarId) -> bool {
    fn expr_ok(e: &Expr, v: VarId) -> bool {
        match e {
            Expr::Call { args, .. } => args.iter().all(|a| match a {
                Expr::Var(w) if *w == v => true,
                Expr::Ref(inner, _) if matches!(**inner, Expr::Var(w) if w == v) => true,
                Expr::SubSlice { var, lo, hi, .. } if *var == v => {
                    [lo, hi].into_iter().flatten().all(|b| expr_ok(b, v))
                }
                other => expr_ok(other, v),
            }),
            Expr::Var(w) | Expr::Index(w, _) | Expr::SubSlice { var: w, .. } if *w == v => false,
            _ => {
                let mut ok = true;
                crate::visit::children(e, &mut |c| ok &= expr_ok(c, v));
                ok
            }
        }
    }
    let mut ok = true;
    crate::visit::each_stmt(body, &mut |s| {
        if let Stmt::For { var: Some(w), .. } = s {
            ok &= *w != v;
        }
        crate::visit::stmt_exprs(s, &mut |e| ok &= expr_ok(e, v));
    });
    ok
}

/// Calls `read` for every variable whose value the reverse code of `s` reads.
fn reverse_reads(f: &Func, act: &Activity, rc: &Recompute, s: &Stmt, read: &mut dyn FnMut(VarId)) {
    match s {
        Stmt::Assign { target, value, .. } => {
            let t = target.var();
            if rc.vars.contains(&t) {
                Func::for_each_read(value, read);
            }
            if let Place::Index(_, i) = target {
                // Index of an element adjoint or of an element restore.
                Func::for_each_read(i, read);
            }
            if act.is_active(t) && act.expr_active(f, value) {
                lin_reads(f, act, value, read);
            }
        }
        Stmt::Call(_, e) if act.expr_active(f, e) => lin_reads(f, act, e, read),
        _ => {}
    }
}

/// The variables whose values the reverse code of the active expression `e` reads.
fn lin_reads(f: &Func, act: &Activity, e: &Expr, read: &mut dyn FnMut(VarId)) {
    let (lin, _) = Lin::build(f, act, e, String::new());
    let nv = lin.needed_values();
    let mut vars = Vec::new();
    lin.needed_vars(&nv, &mut vars);
    vars.into_iter().for_each(read);
}
