//! The one walker over the IR: which sub-expressions an expression holds, which expressions a
//! statement holds, and the statements of a block with their nested blocks. The analyses and
//! emitters build their traversals on these, so a new `Expr` or `Stmt` variant is taught to
//! every traversal in one place.

use crate::ir::*;

/// Calls `f` on each direct sub-expression of `e`, left to right.
pub fn children(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    match e {
        Expr::Lit(_) | Expr::Const(_) | Expr::Var(_) | Expr::Raw(_) => {}
        Expr::Index(_, i) => f(i),
        Expr::Neg(a)
        | Expr::Not(a)
        | Expr::Cast(a, _, _)
        | Expr::Ref(a, _)
        | Expr::Repeat(a, _)
        | Expr::Matches(a, _)
        | Expr::SliceOf(a)
        | Expr::Field(a, _) => f(a),
        Expr::IndexOf(a, i) | Expr::Binary(_, a, i) => {
            f(a);
            f(i);
        }
        Expr::SubSlice { lo, hi, .. } => {
            for b in [lo, hi].into_iter().flatten() {
                f(b);
            }
        }
        Expr::Method(r, _, args) => {
            f(r);
            args.iter().for_each(f);
        }
        Expr::Call { args, .. } | Expr::Array(args) => args.iter().for_each(f),
    }
}

/// [`children`] for rewriting passes.
pub fn children_mut(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    match e {
        Expr::Lit(_) | Expr::Const(_) | Expr::Var(_) | Expr::Raw(_) => {}
        Expr::Index(_, i) => f(i),
        Expr::Neg(a)
        | Expr::Not(a)
        | Expr::Cast(a, _, _)
        | Expr::Ref(a, _)
        | Expr::Repeat(a, _)
        | Expr::Matches(a, _)
        | Expr::SliceOf(a)
        | Expr::Field(a, _) => f(a),
        Expr::IndexOf(a, i) | Expr::Binary(_, a, i) => {
            f(a);
            f(i);
        }
        Expr::SubSlice { lo, hi, .. } => {
            for b in [lo, hi].into_iter().flatten() {
                f(b);
            }
        }
        Expr::Method(r, _, args) => {
            f(r);
            args.iter_mut().for_each(f);
        }
        Expr::Call { args, .. } | Expr::Array(args) => args.iter_mut().for_each(f),
    }
}

/// Calls `f` on `e` and every expression inside it, outermost first.
pub fn each_expr(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    children(e, &mut |c| each_expr(c, f));
}

/// Does `e` or an expression inside it satisfy `pred`?
pub fn any_expr(e: &Expr, pred: &mut dyn FnMut(&Expr) -> bool) -> bool {
    let mut found = false;
    each_expr(e, &mut |c| found |= pred(c));
    found
}

/// Calls `f` on each expression `s` holds itself (not those of its nested blocks): the index
/// of an element target, the value, a condition, a loop's bounds and step.
pub fn stmt_exprs(s: &Stmt, f: &mut dyn FnMut(&Expr)) {
    match s {
        Stmt::Assign { target, value, .. } => {
            if let Place::Index(_, i) = target {
                f(i);
            }
            f(value);
        }
        Stmt::Call(_, e) | Stmt::Return(_, Some(e)) => f(e),
        Stmt::If { cond, .. } => f(cond),
        Stmt::For { iter, .. } => {
            let Iter::Range {
                lo, hi, adaptors, ..
            } = iter;
            f(lo);
            f(hi);
            for a in adaptors {
                if let Adaptor::StepBy(k) = a {
                    f(k);
                }
            }
        }
        Stmt::While { cond, .. } => {
            if let Some(c) = cond {
                f(c);
            }
        }
        Stmt::Return(_, None) | Stmt::Break(_) | Stmt::Continue(_) | Stmt::Raw(_) => {}
    }
}

/// Calls `f` on every statement of `b`, nested blocks included, each before the statements
/// inside it (the order in which the emitters meet them).
pub fn each_stmt<'b>(b: &'b Block, f: &mut dyn FnMut(&'b Stmt)) {
    each_stmt_in_loops(b, &mut |s, _| f(s));
}

/// Does a statement of `b` (nested blocks included) satisfy `pred`?
pub fn any_stmt(b: &Block, pred: &mut dyn FnMut(&Stmt) -> bool) -> bool {
    let mut found = false;
    each_stmt(b, &mut |s| found |= pred(s));
    found
}

/// [`each_stmt`], also handing over the loops enclosing each statement, outermost first.
pub fn each_stmt_in_loops<'b>(b: &'b Block, f: &mut dyn FnMut(&'b Stmt, &[LoopId])) {
    fn walk<'b>(b: &'b Block, loops: &mut Vec<LoopId>, f: &mut dyn FnMut(&'b Stmt, &[LoopId])) {
        for s in b {
            f(s, loops);
            match s {
                Stmt::If { then_b, else_b, .. } => {
                    walk(then_b, loops, f);
                    walk(else_b, loops, f);
                }
                Stmt::For { id, body, .. } | Stmt::While { id, body, .. } => {
                    loops.push(*id);
                    walk(body, loops, f);
                    loops.pop();
                }
                _ => {}
            }
        }
    }
    walk(b, &mut Vec::new(), f);
}
