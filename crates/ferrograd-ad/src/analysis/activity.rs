//! Activity analysis (which variables carry derivatives), and how often each variable is
//! assigned (which `recompute.rs` reads).
//!
//! A variable is *varied* if its value depends on a differentiable input, *useful* if it can
//! affect an output, and *active* if both. Only active values get adjoints or tangents: an
//! inactive computation is emitted as plain primal code with no derivative statements.
//! The analysis is flow-insensitive (a fixpoint over all assignments), which is conservative.

use crate::ir::*;
use crate::visit::{children, each_stmt, stmt_exprs};

pub struct Activity {
    pub active: Vec<bool>,
    /// Number of static assignments to each variable (parameters count their initial value).
    pub assign_count: Vec<usize>,
}

impl Activity {
    pub fn is_active(&self, v: VarId) -> bool {
        self.active[v]
    }

    /// Does `e` read an active variable through a float path (so that it carries a derivative)?
    pub fn expr_active(&self, f: &Func, e: &Expr) -> bool {
        match e {
            Expr::Lit(_)
            | Expr::Const(_)
            | Expr::Raw(_)
            | Expr::Matches(..)
            | Expr::Not(_)
            | Expr::SliceOf(_)
            | Expr::Field(..)
            | Expr::IndexOf(..) => false,
            Expr::Var(v) => self.active[*v] && f.var_ty(*v).is_differentiable(),
            Expr::Index(v, _) | Expr::SubSlice { var: v, .. } => {
                self.active[*v] && f.var_ty(*v).is_float_buffer()
            }
            Expr::Neg(a) | Expr::Ref(a, _) | Expr::Repeat(a, _) => self.expr_active(f, a),
            Expr::Binary(op, a, b) => {
                is_arith(op) && (self.expr_active(f, a) || self.expr_active(f, b))
            }
            Expr::Method(r, m, args) => {
                m != "len"
                    && matches!(f.ty_of(r), Ty::Float | Ty::Tensor)
                    && (self.expr_active(f, r) || args.iter().any(|a| self.expr_active(f, a)))
            }
            Expr::Call { args, .. } | Expr::Array(args) => {
                args.iter().any(|a| self.expr_active(f, a))
            }
            Expr::Cast(a, _, t) => *t == Ty::Float && self.expr_active(f, a),
        }
    }
}

/// `wrt`: which parameters are differentiable inputs (by index); `None` = all float parameters.
pub fn analyse(f: &Func, wrt: Option<&[usize]>) -> Activity {
    let n = f.vars.len();
    let mut varied = vec![false; n];
    let mut useful = vec![false; n];
    for (k, p) in f.params.iter().enumerate() {
        let is_input = wrt.map(|w| w.contains(&k)).unwrap_or(true);
        if p.kind.is_differentiable() && is_input {
            varied[p.var] = true;
        }
        if p.kind == Ty::FloatSliceMut {
            useful[p.var] = true;
        }
    }
    if let Some(r) = f.ret_var {
        useful[r] = true;
    }
    let mut flows: Vec<(Vec<VarId>, Vec<VarId>)> = Vec::new(); // (targets, sources)
    collect_flows(f, &f.body, &mut flows);
    loop {
        let mut changed = false;
        for (targets, sources) in &flows {
            if sources.iter().any(|s| varied[*s]) {
                for t in targets {
                    if !varied[*t] {
                        varied[*t] = true;
                        changed = true;
                    }
                }
            }
            if targets.iter().any(|t| useful[*t]) {
                for s in sources {
                    if !useful[*s] {
                        useful[*s] = true;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let active = (0..n)
        .map(|v| varied[v] && useful[v] && f.vars[v].ty.is_differentiable())
        .collect();
    let mut assign_count = vec![0; n];
    for p in &f.params {
        assign_count[p.var] += 1;
    }
    count_assigns(f, &f.body, &mut assign_count);
    Activity {
        active,
        assign_count,
    }
}

/// Float data flow of each statement: the variables it writes and the ones it reads.
fn collect_flows(f: &Func, b: &Block, out: &mut Vec<(Vec<VarId>, Vec<VarId>)>) {
    each_stmt(b, &mut |s| match s {
        Stmt::Assign { target, value, .. } => {
            let mut src = Vec::new();
            float_reads(f, value, &mut src);
            out.push((vec![target.var()], src));
        }
        Stmt::Call(_, e) => {
            // A call writes its `&mut` float-buffer arguments and reads all float arguments.
            let mut src = Vec::new();
            float_reads(f, e, &mut src);
            let mut tgt = Vec::new();
            if let Expr::Call { args, .. } = e {
                for a in args {
                    if let Expr::Ref(inner, true) = a {
                        if let Expr::Var(v) = &**inner {
                            tgt.push(*v);
                        }
                    } else if let Expr::SubSlice {
                        var, mutable: true, ..
                    } = a
                    {
                        tgt.push(*var);
                    } else if let Expr::Var(v) = a {
                        if f.var_ty(*v) == Ty::FloatSliceMut {
                            tgt.push(*v);
                        }
                    }
                }
            }
            out.push((tgt, src));
        }
        Stmt::Return(_, Some(e)) => {
            if let Some(r) = f.ret_var {
                let mut src = Vec::new();
                float_reads(f, e, &mut src);
                out.push((vec![r], src));
            }
        }
        _ => {}
    });
}

/// Variables whose (float) values flow into `e` — index expressions and conditions excluded.
pub fn float_reads(f: &Func, e: &Expr, out: &mut Vec<VarId>) {
    match e {
        Expr::Lit(_)
        | Expr::Const(_)
        | Expr::Raw(_)
        | Expr::Matches(..)
        | Expr::Not(_)
        | Expr::SliceOf(_)
        | Expr::Field(..)
        | Expr::IndexOf(..) => {}
        Expr::Var(v) | Expr::Index(v, _) | Expr::SubSlice { var: v, .. } => {
            if f.var_ty(*v).is_differentiable() {
                out.push(*v)
            }
        }
        Expr::Neg(a) | Expr::Ref(a, _) | Expr::Repeat(a, _) => float_reads(f, a, out),
        Expr::Binary(op, a, b) => {
            if is_arith(op) {
                float_reads(f, a, out);
                float_reads(f, b, out);
            }
        }
        Expr::Method(r, m, args) => {
            if m != "len" {
                float_reads(f, r, out);
                for a in args {
                    float_reads(f, a, out);
                }
            }
        }
        Expr::Call { args, .. } | Expr::Array(args) => {
            for a in args {
                float_reads(f, a, out);
            }
        }
        Expr::Cast(a, _, t) => {
            if *t == Ty::Float {
                float_reads(f, a, out)
            }
        }
    }
}

fn count_assigns(f: &Func, b: &Block, count: &mut [usize]) {
    each_stmt(b, &mut |s| match s {
        Stmt::Assign { target, value, .. } => {
            count[target.var()] += 1;
            // A call that writes `&mut` slices assigns them too.
            for (_, _, v) in written_buffers(f, value) {
                count[v] += 1;
            }
        }
        Stmt::Call(_, e) => {
            for (_, _, v) in written_buffers(f, e) {
                count[v] += 1;
            }
        }
        Stmt::For { var: Some(v), .. } => count[*v] += 1,
        _ => {}
    });
}

/// Does `f` read the incoming contents of its `&mut` float parameter `param` (an element read,
/// or the buffer passed to a call, which may read it)? Then its generated pullback needs those
/// contents, so a caller must hand it the buffer as it was before the call (`ArgMode::InOut`,
/// see `reverse::Rev::written_buffer_saves`). Conservative: a read after the function itself
/// overwrote the element also counts.
pub fn reads_incoming(f: &Func, param: VarId) -> bool {
    let mut found = false;
    walk_value_reads(&f.body, &mut |v| found |= v == param);
    found
}

/// Every variable whose *value* a statement reads (`.len()` receivers excluded).
fn walk_value_reads(b: &Block, f: &mut dyn FnMut(VarId)) {
    each_stmt(b, &mut |s| stmt_exprs(s, &mut |e| value_reads(e, f)));
}

fn value_reads(e: &Expr, f: &mut dyn FnMut(VarId)) {
    match e {
        Expr::Method(r, m, args)
            if m == "len" && args.is_empty() && matches!(**r, Expr::Var(_)) =>
        {
            return;
        }
        Expr::Var(v) | Expr::Index(v, _) | Expr::SubSlice { var: v, .. } => f(*v),
        _ => {}
    }
    children(e, &mut |c| value_reads(c, f));
}
