//! Local arrays of derivative-carrying values (issue 9): literals, repeats, copies, iteration,
//! arrays passed to calls, computed indices and compound assignments at them. Each function is
//! checked in reverse mode, forward mode and against central finite differences; the three
//! shapes from the issue also against their exact derivatives.

#![expect(
    clippy::needless_range_loop,
    clippy::assign_op_pattern,
    reason = "the constructs under test are written the way users write them"
)]

mod common;
use common::{assert_close, check_modes, fd_grad};
use ferrograd::differentiable;

/// [`check_modes`] with this file's forward-vs-reverse tolerance.
fn check(
    name: &str,
    x: &[f64],
    f: impl Fn(&[f64]) -> f64,
    grad: impl Fn(&[f64], &mut [f64]) -> f64,
    jvp: impl Fn(&[f64], &[f64]) -> (f64, f64),
) -> Vec<f64> {
    check_modes(name, x, f, grad, jvp, 1e-12)
}

macro_rules! check2 {
    ($f:ident, $grad:ident, $pf:ident, $x:expr) => {{
        let x: &[f64] = &$x;
        check(
            stringify!($f),
            x,
            |x| $f(x[0], x[1]),
            |x, g| {
                let (mut a, mut b) = (0.0, 0.0);
                let v = $grad(x[0], x[1], &mut a, &mut b);
                g[0] += a;
                g[1] += b;
                v
            },
            |x, t| $pf(x[0], x[1], t[0], t[1]),
        )
    }};
}

// ---- the three shapes of the issue, with their exact derivatives

#[differentiable]
fn literal(x: f64, y: f64) -> f64 {
    let v = [x, x * y];
    v[0] * v[1]
}

#[differentiable]
fn by_value(x: f64, y: f64) -> f64 {
    let v = [x, y];
    let mut s = 0.0;
    for e in v {
        s += e * e;
    }
    s
}

#[differentiable]
fn computed_index(x: f64, y: f64) -> f64 {
    let mut a = [x, 2.0 * x];
    let k = 1;
    a[k] += x * x;
    a[k - 1] * a[1] + 0.0 * y
}

#[test]
fn the_issue_examples_are_exact() {
    let g = check2!(literal, literal_grad, literal_pushforward, [1.5, 2.0]);
    assert_eq!(g, vec![6.0, 2.25]);
    let g = check2!(by_value, by_value_grad, by_value_pushforward, [1.5, 2.0]);
    assert_eq!(g, vec![3.0, 4.0]);
    let g = check2!(
        computed_index,
        computed_index_grad,
        computed_index_pushforward,
        [1.5, 2.0]
    );
    assert_eq!(g, vec![12.75, 0.0]);
}

// ---- literals, repeats, copies and reassignment

#[differentiable]
fn repeat_active(x: f64, y: f64) -> f64 {
    let v = [x * y; 3];
    v[0] + v[1] * v[2]
}

#[differentiable]
fn reassign_reading_itself(x: f64, y: f64) -> f64 {
    let mut v = [x, y];
    v = [v[1] * x, v[0]];
    v = [v[1], v[0] * v[1]];
    v[0] * 2.0 + v[1]
}

#[differentiable]
fn copy_then_overwrite(x: f64, y: f64) -> f64 {
    let v = [x, x * y];
    let mut w = v;
    w[0] = y * w[1];
    w[0] * v[0] + w[1]
}

#[differentiable]
fn shadowed_arrays(x: f64, y: f64) -> f64 {
    let v = [x, y];
    let v = [v[1] * v[0], v[0]];
    let v = [v[1], v[0].sin(), x];
    v[0] * v[1] + v[2]
}

#[differentiable]
fn array_from_if(x: f64, y: f64) -> f64 {
    let v = if x > 0.0 { [x, y * y] } else { [y, x] };
    v[0] * v[1]
}

#[differentiable]
fn repeat_reassigned(x: f64, y: f64) -> f64 {
    let mut v = [x; 2];
    let s = v[0] * v[1];
    v = [y * s; 2];
    v[0] + v[1] * s
}

#[differentiable]
fn constant_reset(x: f64, y: f64) -> f64 {
    let mut a = [0.0; 2];
    a[0] = x;
    let s = a[0] * a[0];
    a = [0.0; 2];
    a[1] = s * y;
    a[0] + a[1]
}

#[differentiable]
fn redeclared_in_loop(x: f64, y: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        let mut v = [0.0; 2];
        if i == 0 {
            v[1] = x;
        }
        if i == 1 {
            v[0] = y;
        }
        s += v[1] * 2.0 + v[0] * v[0];
    }
    s
}

#[differentiable]
fn literal_in_loop(x: f64, y: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        let v = [x * s + 1.0, y, i as f64];
        s = 0.5 * s + v[0] * v[1] + v[2];
    }
    s
}

#[test]
fn literals_repeats_copies() {
    let x = [0.7, -1.3];
    check2!(
        repeat_active,
        repeat_active_grad,
        repeat_active_pushforward,
        x
    );
    check2!(
        reassign_reading_itself,
        reassign_reading_itself_grad,
        reassign_reading_itself_pushforward,
        x
    );
    check2!(
        copy_then_overwrite,
        copy_then_overwrite_grad,
        copy_then_overwrite_pushforward,
        x
    );
    check2!(
        shadowed_arrays,
        shadowed_arrays_grad,
        shadowed_arrays_pushforward,
        x
    );
    check2!(
        array_from_if,
        array_from_if_grad,
        array_from_if_pushforward,
        x
    );
    check2!(
        array_from_if,
        array_from_if_grad,
        array_from_if_pushforward,
        [-0.4, 1.1]
    );
    check2!(
        repeat_reassigned,
        repeat_reassigned_grad,
        repeat_reassigned_pushforward,
        x
    );
    let g = check2!(
        constant_reset,
        constant_reset_grad,
        constant_reset_pushforward,
        x
    );
    assert_eq!(g, vec![2.0 * x[0] * x[1], x[0] * x[0]]);
    let g = check2!(
        redeclared_in_loop,
        redeclared_in_loop_grad,
        redeclared_in_loop_pushforward,
        x
    );
    assert_eq!(g, vec![2.0, 2.0 * x[1]]);
    check2!(
        literal_in_loop,
        literal_in_loop_grad,
        literal_in_loop_pushforward,
        x
    );
}

// ---- iteration over arrays and slices

#[differentiable]
fn iter_forms(x: f64, y: f64) -> f64 {
    let v = [x, y, x * y];
    let mut s = 0.0;
    for &c in v.iter() {
        s += c * c;
    }
    for (k, c) in v.iter().enumerate() {
        s += (k as f64 + 1.0) * c.sin();
    }
    for c in [y, x * x] {
        s += c * y;
    }
    s
}

#[differentiable]
fn exits_in_array_loops(x: f64, y: f64) -> f64 {
    let v = [x, y, x + y, x * y];
    let mut s = 0.0;
    for (k, c) in v.iter().enumerate() {
        if k == 1 {
            continue;
        }
        if *c > 5.0 {
            break;
        }
        s += c * x;
        if s > 100.0 {
            return s;
        }
    }
    if v[2] > v[3] {
        s * v[0]
    } else {
        s + v[1]
    }
}

#[test]
fn iteration() {
    for x in [[0.7, -1.3], [1.2, 0.9], [3.0, 2.5]] {
        check2!(iter_forms, iter_forms_grad, iter_forms_pushforward, x);
        check2!(
            exits_in_array_loops,
            exits_in_array_loops_grad,
            exits_in_array_loops_pushforward,
            x
        );
    }
}

// ---- arrays passed to calls, computed indices

#[differentiable]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..a.len() {
        s += a[i] * b[i];
    }
    s
}

#[differentiable]
fn arrays_to_calls(x: f64, y: f64) -> f64 {
    let v = [x, y, x * y];
    let w = [y, 1.0, x];
    dot(&v, &w) + dot(&v, &v) + dot(&[x, y], &[y.sin(), x])
}

#[differentiable]
fn indirect(x: f64, y: f64, idx: &[usize]) -> f64 {
    let mut a = [x, y, x * y];
    for i in 0..idx.len() {
        a[idx[i]] += a[(idx[i] + 1) % 3] * x;
        a[2 - idx[i]] *= 0.5 + y * y;
    }
    let k = idx[0];
    a[k] * a[k + 1] + a[idx[1]]
}

#[test]
fn calls_and_computed_indices() {
    let x = [0.7, -1.3];
    check2!(
        arrays_to_calls,
        arrays_to_calls_grad,
        arrays_to_calls_pushforward,
        x
    );
    let idx = [1usize, 0, 1, 1];
    check(
        "indirect",
        &x,
        |x| indirect(x[0], x[1], &idx),
        |x, g| {
            let (mut a, mut b) = (0.0, 0.0);
            let v = indirect_grad(x[0], x[1], &idx, &mut a, &mut b);
            g[0] += a;
            g[1] += b;
            v
        },
        |x, t| indirect_pushforward(x[0], x[1], &idx, t[0], t[1]),
    );
}

// ---- f32

#[differentiable]
fn literal_f32(x: f32, y: f32) -> f32 {
    let v = [x, x * y, y.sin()];
    let mut s = 0.0;
    for (k, c) in v.iter().enumerate() {
        s += c * v[(k + 1) % 3];
    }
    s
}

#[test]
fn f32_arrays() {
    let (x, y) = (0.7f32, -1.3f32);
    let (mut dx, mut dy) = (0.0f32, 0.0f32);
    let v = literal_f32_grad(x, y, &mut dx, &mut dy);
    assert_eq!(v, literal_f32(x, y));
    let (_, tx) = literal_f32_pushforward(x, y, 1.0, 0.0);
    let (_, ty) = literal_f32_pushforward(x, y, 0.0, 1.0);
    // s = x·xy + xy·sin y + sin y·x
    let (xd, yd) = (f64::from(x), f64::from(y));
    let want_x = 2.0 * xd * yd + yd * yd.sin() + yd.sin();
    let want_y = xd * xd + xd * yd.sin() + xd * yd * yd.cos() + xd * yd.cos();
    for (got, want) in [(dx, want_x), (tx, want_x), (dy, want_y), (ty, want_y)] {
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
    }
}

// ---- calls that write `&mut` arguments

/// Reads its output's incoming values: its pullback needs them as they were before the call.
#[differentiable]
fn scale_acc(a: f64, out: &mut [f64]) {
    for i in 0..out.len() {
        out[i] = out[i] * a + 1.0;
    }
}

/// Only writes its output.
#[differentiable]
fn fill(a: f64, out: &mut [f64]) {
    for i in 0..out.len() {
        out[i] = a * (i as f64 + 1.0);
    }
}

#[differentiable]
fn calls_reading_outputs(x: f64, y: f64) -> f64 {
    let mut o = [y, 3.0];
    scale_acc(x, &mut o);
    scale_acc(x * x, &mut o);
    o[0] * o[1]
}

#[differentiable]
fn output_overwritten_after_read(x: f64, y: f64) -> f64 {
    let mut o = [0.0; 2];
    fill(x, &mut o);
    let s = o[0] * o[1];
    fill(s * y, &mut o);
    o[1] * s
}

#[differentiable]
fn mut_param_twice(x: f64, out: &mut [f64]) {
    scale_acc(x, out);
    scale_acc(x * x, out);
}

#[test]
fn calls_writing_mut_arguments() {
    use ferrograd::ArgMode;
    assert_eq!(scale_acc_ARG_MODES, [ArgMode::In, ArgMode::InOut]);
    assert_eq!(fill_ARG_MODES, [ArgMode::In, ArgMode::Out]);
    assert_eq!(dot_ARG_MODES, [ArgMode::In, ArgMode::In]);
    for x in [[0.7, -1.3], [1.5, 2.0]] {
        check2!(
            calls_reading_outputs,
            calls_reading_outputs_grad,
            calls_reading_outputs_pushforward,
            x
        );
        check2!(
            output_overwritten_after_read,
            output_overwritten_after_read_grad,
            output_overwritten_after_read_pushforward,
            x
        );
    }
    // out ← (out·x + 1)·x² + 1, elementwise: ∂/∂x = o·x² + (o·x + 1)·2x, ∂/∂o = x³.
    let (x, o) = (1.5, 2.0);
    let mut out = [o, 3.0];
    let (mut dx, mut d_out) = (0.0, [1.0, 0.0]);
    mut_param_twice_pullback(x, &mut out, &mut dx, &mut d_out);
    assert_eq!(dx, o * x * x + (o * x + 1.0) * 2.0 * x);
    assert_eq!(d_out, [x * x * x, 0.0]);
    // The pullback leaves the outputs as the function does.
    assert_eq!(out[0], (o * x + 1.0) * x * x + 1.0);
}

#[differentiable]
fn literal_in_loop_bound(x: f64, y: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..[x, y, x].len() {
        s += x * y * (i as f64);
    }
    s
}

#[test]
fn array_literal_in_a_loop_bound() {
    let g = check2!(
        literal_in_loop_bound,
        literal_in_loop_bound_grad,
        literal_in_loop_bound_pushforward,
        [0.5, 2.0]
    );
    assert_eq!(g, vec![6.0, 1.5]);
}

#[differentiable]
fn hout(a: &[f64], x: f64, out: &mut [f64]) {
    for i in 0..out.len() {
        out[i] = (a[i] * x).sin() + 0.5 * a[i];
    }
}

/// An array written by a call inside a loop is not recomputed from its declaration.
#[differentiable]
fn call_written_in_loop(x1: f64, x2: f64, y: &[f64], n: usize) -> f64 {
    let mut s = x2;
    for i in 0..n {
        let mut a = [0.0_f64; 4];
        hout(y, x1 + i as f64, &mut a);
        s = s * a[0] + a[i];
    }
    s
}

#[test]
fn call_written_array_in_a_loop() {
    let y = [0.779, 0.705, -0.125, 0.346];
    let x = [-1.15, 0.77];
    check(
        "call_written_in_loop",
        &x,
        |x| call_written_in_loop(x[0], x[1], &y, 3),
        |x, g| {
            let (mut a, mut b, mut dy) = (0.0, 0.0, [0.0; 4]);
            let v = call_written_in_loop_grad(x[0], x[1], &y, 3, &mut a, &mut b, &mut dy);
            g[0] += a;
            g[1] += b;
            v
        },
        |x, t| call_written_in_loop_pushforward(x[0], x[1], &y, 3, t[0], t[1], &[0.0; 4]),
    );
}

/// A `&mut` parameter passed, read only, to a call inside an expression.
#[differentiable]
fn read_mut_param_in_expression(x: f64, out: &mut [f64]) {
    fill(x, out);
    let s = 2.0 * dot(out, out) + x;
    out[0] = s * out[1];
}

#[test]
fn mut_parameter_read_by_a_nested_call() {
    // out = [x, 2x] → s = 2·5x² + x; out[0] = s·2x.
    let x = 0.7;
    let mut out = [0.0; 2];
    let (mut dx, mut d_out) = (0.0, [1.0, 0.0]);
    read_mut_param_in_expression_pullback(x, &mut out, &mut dx, &mut d_out);
    let want = (20.0 * x + 1.0) * 2.0 * x + (10.0 * x * x + x) * 2.0;
    assert!((dx - want).abs() < 1e-12, "{dx} vs {want}");
    let (mut out2, mut t_out) = ([0.0; 2], [0.0; 2]);
    read_mut_param_in_expression_pushforward(x, &mut out2, 1.0, &mut t_out);
    assert!((t_out[0] - want).abs() < 1e-12, "{t_out:?} vs {want}");
    assert_eq!(out2, out);
}

/// `for e in a` iterates a copy of `a`: writes in the body are not seen by the loop (H9-3).
#[differentiable]
fn iterate_copy_while_writing(x0: f64, x1: f64) -> f64 {
    let mut a = [x0, x1, x0 * x1];
    let mut s = 0.0;
    for e in a {
        a[1] = 2.0 * a[1];
        s += e * x1;
    }
    s + a[1]
}

#[test]
fn by_value_iteration_sees_a_copy() {
    let x = [0.7, -1.3];
    // s = (x0 + x1 + x0·x1)·x1, a[1] = 8·x1
    let g = check2!(
        iterate_copy_while_writing,
        iterate_copy_while_writing_grad,
        iterate_copy_while_writing_pushforward,
        x
    );
    let want = [
        (1.0 + x[1]) * x[1],
        (x[0] + x[1] + x[0] * x[1]) + (1.0 + x[0]) * x[1] + 8.0,
    ];
    assert!(
        (g[0] - want[0]).abs() < 1e-12 && (g[1] - want[1]).abs() < 1e-12,
        "{g:?} vs {want:?}"
    );
}

// ---- sub-slices passed to calls (issue 13, item 6)

#[differentiable]
fn smooth(x: &[f64], out: &mut [f64]) {
    for i in 0..out.len() {
        out[i] = 0.5 * x[i] + 0.25 * (x[i + 1] * x[i + 1]);
    }
}

#[differentiable]
fn windows(x: &[f64], k: usize) -> f64 {
    let mut o = [0.0; 6];
    smooth(&x[k..k + 3], &mut o[0..2]);
    smooth(&x[..3], &mut o[2..4]);
    smooth(&x[k + 1..], &mut o[4..=5]);
    dot(&o[..3], &o[3..]) + dot(&x[1..3], &o[1..3])
}

#[test]
fn sub_slices_as_call_arguments() {
    let x = [0.7, -1.3, 0.4, 1.1, -0.2];
    let k = 1;
    let mut g = vec![0.0; x.len()];
    let v = windows_grad(&x, k, &mut g);
    assert_eq!(v, windows(&x, k));
    let fd = fd_grad(&x, |x| windows(x, k));
    assert_close("windows reverse vs fd", &g, &fd, 1e-6);
    for i in 0..x.len() {
        let mut t = [0.0; 5];
        t[i] = 1.0;
        let (_, d) = windows_pushforward(&x, k, &t);
        assert!(
            (d - g[i]).abs() <= 1e-12 * g[i].abs().max(1.0),
            "{d} vs {}",
            g[i]
        );
    }
}
