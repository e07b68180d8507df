//! The last check before emission: every expression that carries a derivative has a shape the
//! emitters differentiate. Anything else is a spanned compile error, never a silent zero
//! (issue 9: the emitters used to treat unknown active shapes as constants).
//!
//! Lowering already rejects unsupported syntax; this pass guards the seams between lowering
//! and emission: an active value in a position that the linearisation (`linear.rs`) would
//! otherwise fold into a constant.

use crate::analysis::{analyse, Activity};
use crate::ctxt::Ctxt;
use crate::ir::*;
use crate::visit::{children, each_stmt};
use proc_macro2::Span;
use std::cell::RefCell;

/// Reports every active expression the emitters cannot differentiate. Returns the calls
/// (callee, argument position) that pass a `&mut` buffer inside a larger expression: the
/// generated code asserts at compile time that those callees do not write it.
pub fn check(cx: &Ctxt, f: &Func) -> Vec<(syn::Path, usize)> {
    if f.ret == RetKind::Tensor || f.params.iter().any(|p| p.kind == Ty::Tensor) {
        return Vec::new(); // tensor-level functions have their own emitter and checks (`tensor.rs`)
    }
    let act = analyse(f, None);
    let fallback = f.name.span();
    let asserts = RefCell::new(Vec::new());
    check_block(cx, f, &act, &f.body, fallback, &asserts);
    asserts.into_inner()
}

type Asserts = RefCell<Vec<(syn::Path, usize)>>;

fn check_block(cx: &Ctxt, f: &Func, act: &Activity, b: &Block, fallback: Span, asserts: &Asserts) {
    each_stmt(b, &mut |s| match s {
        Stmt::Assign {
            target,
            value,
            span,
            ..
        } => {
            let whole_array = matches!(target, Place::Var(v) if f.var_ty(*v) == Ty::FloatArray);
            if whole_array {
                if act.is_active(target.var())
                    && act.expr_active(f, value)
                    && !matches!(value, Expr::Var(_))
                {
                    cx.error_at(
                        *span,
                        "internal error: a whole-array assignment with a derivative-carrying \
                         value reached the emitters; assign the elements instead (`v[i] = …`)",
                    );
                }
            } else {
                check_expr(cx, f, act, value, *span, asserts);
            }
        }
        Stmt::Call(_, e) => check_expr(cx, f, act, e, call_span(e).unwrap_or(fallback), asserts),
        Stmt::Return(_, Some(e)) | Stmt::If { cond: e, .. } => {
            check_expr(cx, f, act, e, fallback, asserts)
        }
        _ => {}
    });
}

fn call_span(e: &Expr) -> Option<Span> {
    match e {
        Expr::Call { span, .. } => Some(*span),
        _ => None,
    }
}

/// Walks `e`; `span` is the innermost statement or call around it.
fn check_expr(cx: &Ctxt, f: &Func, act: &Activity, e: &Expr, span: Span, asserts: &Asserts) {
    check_expr_at(cx, f, act, e, span, true, asserts)
}

/// `root`: `e` is the whole value of its statement.
fn check_expr_at(
    cx: &Ctxt,
    f: &Func,
    act: &Activity,
    e: &Expr,
    span: Span,
    root: bool,
    asserts: &Asserts,
) {
    let explicit_mut = match e {
        Expr::Call { args, .. } => args
            .iter()
            .any(|a| matches!(a, Expr::Ref(_, true) | Expr::SubSlice { mutable: true, .. })),
        _ => false,
    };
    if !root && !explicit_mut {
        // `g(h, …)` with `h: &mut [f64]` inside a larger expression: the callee must not write
        // `h`, which only its `ARG_MODES` can tell; checked when the generated code compiles.
        if let Expr::Call { path, .. } = e {
            for (_, j, _) in written_buffers(f, e) {
                asserts.borrow_mut().push((path.clone(), j));
            }
        }
    }
    if !root && explicit_mut {
        cx.error_at(
            call_span(e).unwrap_or(span),
            "a call that writes a `&mut` slice argument must be a statement of its own or the \
             whole value of `let`/an assignment (`let l = loss(out, …)?;`), so that the \
             reverse sweep can restore what it overwrote",
        );
    }
    let active = act.expr_active(f, e);
    match e {
        Expr::Array(_) | Expr::Repeat(..) if active => cx.error_at(
            span,
            "an array literal of derivative-carrying values is supported only as the value of \
             `let`, an assignment or a call argument: bind it with `let` first",
        ),
        Expr::Cast(a, _, Ty::Float) if act.expr_active(f, a) => cx.error_at(
            span,
            "a cast of a derivative-carrying value is not supported (mixed `f32`/`f64` \
             arithmetic): keep one float type in the function",
        ),
        Expr::Call {
            args, span: cspan, ..
        } => {
            for a in args {
                let t = f.ty_of(a);
                let buffer_ok = matches!(a, Expr::Var(_) | Expr::SubSlice { .. })
                    || matches!(a, Expr::Ref(inner, _) if matches!(**inner, Expr::Var(_)));
                if t.is_float_buffer() && act.expr_active(f, a) && !buffer_ok {
                    cx.error_at(
                        *cspan,
                        "a float slice or array argument that carries a derivative must be a \
                         variable (`v`, `&v`, `&mut v`): bind it with `let` first",
                    );
                }
            }
        }
        _ => {}
    }
    let span = call_span(e).unwrap_or(span);
    children(e, &mut |c| {
        check_expr_at(cx, f, act, c, span, false, asserts)
    });
}

/// Tensor-level functions (`tensor.rs`): straight-line tensor `let`s and a final tensor
/// expression, built from `+ - * /`, unary minus, ops with a rule in the tensor table and
/// calls of other tensor-level functions. Reports what `tensor::emit` could not build, in the
/// order it meets it (the first problem of each expression).
pub fn check_tensor(cx: &Ctxt, f: &Func) {
    let act = analyse(f, None);
    let mut ends_with_tensor = false;
    for s in &f.body {
        match s {
            Stmt::Assign {
                target: Place::Var(v),
                value,
                decl: true,
                ..
            } => {
                if f.var_ty(*v) == Ty::Tensor {
                    tensor_node(cx, f, &act, value);
                }
            }
            Stmt::Return(_, Some(e)) => ends_with_tensor = tensor_node(cx, f, &act, e),
            _ => {
                cx.error_spanned(
                    &f.item.sig.ident,
                    "tensor-level `#[differentiable]` functions must be straight-line: `let` bindings and a final tensor \
                     expression (no loops, branches or reassignment; write loops over slices with ferrograd kernels instead)",
                );
                return;
            }
        }
    }
    if !ends_with_tensor {
        cx.error_spanned(
            &f.item.sig.ident,
            "a tensor-level `#[differentiable]` function must end with a tensor expression",
        );
    } else if f.ret != RetKind::Tensor {
        cx.error_spanned(
            &f.item.sig.output,
            "a tensor-level `#[differentiable]` function must return `Tensor`",
        );
    }
}

/// Can `tensor::Graph::node` build `e`? Reports the first reason it cannot.
fn tensor_node(cx: &Ctxt, f: &Func, act: &Activity, e: &Expr) -> bool {
    let arg = |e: &Expr| match e {
        Expr::Ref(inner, false) => tensor_node(cx, f, act, inner),
        e => tensor_node(cx, f, act, e),
    };
    match e {
        Expr::Var(v) if f.var_ty(*v) == Ty::Tensor => true,
        Expr::Ref(inner, false) => tensor_node(cx, f, act, inner),
        _ if !act.expr_active(f, e) => true,
        Expr::Neg(a) => tensor_node(cx, f, act, a),
        Expr::Binary(op, a, b) => {
            if !matches!(
                op,
                syn::BinOp::Add(_) | syn::BinOp::Sub(_) | syn::BinOp::Mul(_) | syn::BinOp::Div(_)
            ) {
                cx.error_spanned(op, "tensor-level functions support `+ - * /` on tensors");
                return false;
            }
            let (ta, tb) = (f.ty_of(a), f.ty_of(b));
            if ta == Ty::Tensor && tb == Ty::Tensor {
                arg(a) && arg(b)
            } else if ta == Ty::Tensor {
                arg(a)
            } else if matches!(op, syn::BinOp::Div(_)) {
                cx.error_spanned(op, "`scalar / tensor` is not supported: write `x.reciprocal()`-free code, e.g. `(&x * (1.0 / s))`");
                false
            } else {
                arg(b)
            }
        }
        Expr::Method(recv, m, args) if m == "cross_entropy_for_logits" => tensor_node(
            cx,
            f,
            act,
            &crate::tensor::cross_entropy_as_nll(recv, m, args),
        ),
        Expr::Method(recv, m, args) => {
            let name = m.to_string();
            let ok = arg(recv)
                && args.iter().enumerate().all(|(j, a)| {
                    match tensor_op(&name)
                        .and_then(|op| op.args.get(j))
                        .map(|(_, kind)| *kind)
                    {
                        Some(ArgKind::Tensor) => arg(a),
                        Some(ArgKind::Bias) => match a {
                            Expr::Call { path, args, .. }
                                if path.is_ident("Some") && args.len() == 1 =>
                            {
                                arg(&args[0])
                            }
                            _ => true,
                        },
                        _ => true,
                    }
                });
            if ok && tensor_op(&name).is_none() {
                cx.error_at(
                    f.item.sig.ident.span(),
                    format!("internal: no reverse rule for `{name}`"),
                );
                return false;
            }
            ok
        }
        Expr::Call {
            args, try_, span, ..
        } => {
            if *try_ {
                cx.error_at(*span, "`?` is not supported in tensor-level functions");
                return false;
            }
            args.iter().all(|a| f.ty_of(a) != Ty::Tensor || arg(a))
        }
        _ => {
            cx.error_at(
                f.item.sig.ident.span(),
                "unsupported tensor expression: use tensor methods with rules, `+ - * /`, unary minus and calls to other tensor-level `#[differentiable]` functions",
            );
            false
        }
    }
}
