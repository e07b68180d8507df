//! Loop-local recomputation: which values the reverse sweep recomputes at the start of each
//! iteration instead of reading them back from the tape.

use super::Activity;
use crate::ir::*;
use crate::visit::{any_expr, each_stmt};
use std::collections::{HashMap, HashSet};

/// Loop-local values recomputed at the start of each reverse iteration instead of taped:
/// a `let` at the top level of a loop body, assigned nowhere else, whose expression has no
/// calls and reads only variables the loop never assigns (or earlier recomputable locals).
/// This is the store-vs-recompute trade-off decided for the cheap case: no tape traffic.
pub struct Recompute {
    /// Each loop's recomputed locals with their expressions, in the order of the body.
    pub per_loop: HashMap<LoopId, Vec<(VarId, Expr)>>,
    /// All recomputed locals (their assignments record nothing).
    pub vars: HashSet<VarId>,
}

pub fn recomputable(f: &Func, act: &Activity) -> Recompute {
    let mut r = Recompute {
        per_loop: HashMap::new(),
        vars: HashSet::new(),
    };
    each_stmt(&f.body, &mut |s| {
        let (Stmt::For { id, body, .. } | Stmt::While { id, body, .. }) = s else {
            return;
        };
        let mut assigned = HashSet::new();
        assigned_in(body, &mut assigned);
        let mut list: Vec<(VarId, Expr)> = Vec::new();
        for st in body {
            if let Stmt::Assign {
                target: Place::Var(v),
                value,
                decl: true,
                ..
            } = st
            {
                if act.assign_count[*v] != 1 || f.vars[*v].param.is_some() || has_call(value) {
                    continue;
                }
                let mut ok = true;
                Func::for_each_read(value, &mut |u| {
                    if assigned.contains(&u) && !list.iter().any(|(w, _)| *w == u) {
                        ok = false;
                    }
                });
                if ok {
                    list.push((*v, value.clone()));
                    r.vars.insert(*v);
                }
            }
        }
        r.per_loop.insert(*id, list);
    });
    r
}

/// Variables assigned anywhere in `b` (targets, nested loop variables, `&mut` call arguments).
fn assigned_in(b: &Block, out: &mut HashSet<VarId>) {
    let mut_ref = |a: &Expr| match a {
        Expr::Ref(inner, true) => match &**inner {
            Expr::Var(v) => Some(*v),
            _ => None,
        },
        _ => None,
    };
    each_stmt(b, &mut |s| match s {
        Stmt::Assign { target, value, .. } => {
            out.insert(target.var());
            // `let l = loss(probs, …)?` also writes `probs`.
            if let Expr::Call { args, .. } = value {
                out.extend(args.iter().filter_map(mut_ref));
            }
        }
        Stmt::Call(_, Expr::Call { args, .. }) => {
            out.extend(args.iter().filter_map(|a| match a {
                Expr::SubSlice { var, .. } | Expr::Var(var) => Some(*var),
                _ => mut_ref(a),
            }));
        }
        Stmt::For { var: Some(v), .. } => {
            out.insert(*v);
        }
        _ => {}
    });
}

fn has_call(e: &Expr) -> bool {
    any_expr(e, &mut |e| matches!(e, Expr::Call { .. }))
}
