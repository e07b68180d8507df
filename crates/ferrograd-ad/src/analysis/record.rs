//! The to-be-recorded analysis: which overwritten values the reverse sweep reads, so that the
//! forward sweep records them before the write (and the reverse sweep restores them).
//!
//! The reverse sweep runs the statements backwards, so a statement's reverse code reads the
//! state the forward sweep left *after* every later statement. A write must record the old
//! value only if a reader of it runs before the write in the forward sweep (at or before its
//! position in the body, or anywhere in a loop shared with it, whose later iterations come
//! first in the reverse sweep).

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
    Records {
        unhoisted,
        saves,
        buffers_read_before,
    }
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
