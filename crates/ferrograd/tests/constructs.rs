//! Every language construct of the AD compiler, checked in reverse mode, forward mode and
//! against central finite differences (f64).

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
) {
    check_modes(name, x, f, grad, jvp, 1e-10);
}

// ---- let, shadowing, assignment, compound assignment, unary minus, literals, casts

#[differentiable]
fn lets(x: f64, y: f64, k: usize) -> f64 {
    let a = x * y;
    let a = a + 1.5; // shadowing
    let mut b = -a;
    b += x;
    b -= 0.5 * y;
    b *= a;
    b /= 1.0 + y * y;
    let c = (k as f64) * x + 2.0f64;
    b = b + c;
    -(b)
}

#[test]
fn let_shadow_assign_compound_cast() {
    check(
        "lets",
        &[0.7, -1.3],
        |v| lets(v[0], v[1], 3),
        |v, g| {
            let (mut dx, mut dy) = (0.0, 0.0);
            let r = lets_grad(v[0], v[1], 3, &mut dx, &mut dy);
            g[0] = dx;
            g[1] = dy;
            r
        },
        |v, t| lets_pushforward(v[0], v[1], 3, t[0], t[1]),
    );
}

// ---- every float method and function

#[differentiable]
fn methods(x: f64, y: f64) -> f64 {
    let u = x.sin() + x.cos() + (0.3 * x).tan() + x.exp() + (x * x + 1.0).ln();
    let v = (y * y + 2.0).log10()
        + (y * y + 2.0).log2()
        + (y * y + 1.0).sqrt()
        + x.powi(3)
        + (y * y + 1.0).powf(x);
    let w = (0.5 * x).tanh() + (0.5 * y).sinh() + (0.5 * x).cosh() + y.abs() + x.max(y) + x.min(y);
    let z = y.atan2(x)
        + x.hypot(y)
        + (0.1 * x).exp_m1()
        + (x * x).ln_1p()
        + (2.0 + y).recip()
        + x.mul_add(y, x);
    let q = f64::sin(x) * std::f64::consts::PI
        + f64::max(x, 0.0)
        + (0.2 * y).atan()
        + (0.2 * x).asin()
        + (0.2 * y).acos();
    let r = (x * x + 2.0).cbrt()
        + (0.5 * y).asinh()
        + (x * x + 2.0).acosh()
        + (0.2 * x).atanh()
        + (0.3 * y).exp2()
        + (x * x + 3.0).log(y * y + 2.0);
    u + v + w + z + q + r + x.floor() + (x % 2.5) * y
}

#[test]
fn all_rules_match_finite_differences() {
    for p in [[0.7, -1.3], [-0.4, 0.9], [1.1, 0.35]] {
        check(
            "methods",
            &p,
            |v| methods(v[0], v[1]),
            |v, g| {
                let (mut dx, mut dy) = (0.0, 0.0);
                let r = methods_grad(v[0], v[1], &mut dx, &mut dy);
                g[0] = dx;
                g[1] = dy;
                r
            },
            |v, t| methods_pushforward(v[0], v[1], t[0], t[1]),
        );
    }
}

// ---- f32 works wherever f64 does

#[differentiable]
fn single(x: f32, y: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for v in y {
        s += (x * v).sin() * 0.5;
    }
    s * x
}

#[test]
fn f32_functions() {
    let y = [0.5f32, -1.0, 2.0];
    let x = 0.8f32;
    let mut dx = 0.0f32;
    let mut dy = [0.0f32; 3];
    single_grad(x, &y, &mut dx, &mut dy);
    let want: f64 = y
        .iter()
        .map(|&v| {
            0.5 * ((x * v) as f64).sin() + 0.5 * (x as f64) * (v as f64) * ((x * v) as f64).cos()
        })
        .sum();
    assert!((dx as f64 - want).abs() < 1e-5, "{dx} vs {want}");
    let (v, t) = single_pushforward(x, &y, 1.0, &[0.0; 3]);
    assert_eq!(v, single(x, &y));
    assert!((t - dx).abs() < 1e-5);
    for i in 0..3 {
        let want = 0.5 * (x as f64) * (x as f64) * ((x * y[i]) as f64).cos();
        assert!((dy[i] as f64 - want).abs() < 1e-5);
    }
}

// ---- if/else, if as an expression, match on integers

#[differentiable]
fn branches(x: f64, y: f64, mode: i32) -> f64 {
    let a = if x > y { x * y } else { x + y * y };
    let b = match mode {
        0 => a.sin(),
        1 | 2 => a * 2.0,
        3..=5 => {
            let t = a * a;
            t + x
        }
        _ => a,
    };
    let mut c = b;
    if c > 0.0 {
        c = c * x;
    } else if c < -1.0 {
        c = c - y;
    } else {
        c += 1.0;
    }
    c
}

#[test]
fn if_else_and_match() {
    for mode in 0..7 {
        for p in [[0.7, -1.3], [-0.4, 0.9], [1.5, 1.2]] {
            check(
                &format!("branches mode {mode}"),
                &p,
                |v| branches(v[0], v[1], mode),
                |v, g| {
                    let (mut dx, mut dy) = (0.0, 0.0);
                    let r = branches_grad(v[0], v[1], mode, &mut dx, &mut dy);
                    g[0] = dx;
                    g[1] = dy;
                    r
                },
                |v, t| branches_pushforward(v[0], v[1], mode, t[0], t[1]),
            );
        }
    }
}

// ---- for loops: ranges with bounds from parameters, inclusive, step_by, rev

#[differentiable]
fn ranges(x: &[f64], lo: usize, hi: usize) -> f64 {
    let mut s = 0.0;
    for i in lo..hi {
        s = s * 0.9 + x[i] * x[i];
    }
    for i in (lo..=hi).rev() {
        s = s * x[i].cos() + 0.1;
    }
    for i in (0..x.len()).step_by(2) {
        s += x[i].sin() * s;
    }
    for i in (1..x.len()).rev().step_by(3) {
        let t = s * x[i];
        s = t.tanh() + s;
    }
    s
}

#[test]
fn range_loops() {
    let x = [0.3, -0.7, 1.1, 0.5, -0.2, 0.9, 0.4];
    check(
        "ranges",
        &x,
        |v| ranges(v, 1, 5),
        |v, g| ranges_grad(v, 1, 5, g),
        |v, t| ranges_pushforward(v, 1, 5, t),
    );
}

// ---- for over slices and local arrays, .iter(), .iter().enumerate(), .len()

#[differentiable]
fn slice_loops(x: f64, y: &[f64]) -> f64 {
    let coeffs = [1.0, -0.5, 0.25, 2.0];
    let mut acc = 0.0;
    for c in coeffs {
        acc = acc * x + c; // Horner
    }
    for &v in y.iter() {
        acc += v * x;
    }
    for (k, v) in y.iter().enumerate() {
        acc += (k as f64) * v * v;
    }
    for v in y {
        acc *= 1.0 + 0.1 * v;
    }
    acc / (y.len() as f64)
}

#[test]
fn slice_and_array_loops() {
    check(
        "slice_loops",
        &[0.6, 0.3, -0.7, 1.1],
        |v| slice_loops(v[0], &v[1..]),
        |v, g| {
            let mut dx = 0.0;
            let (a, b) = g.split_at_mut(1);
            let r = slice_loops_grad(v[0], &v[1..], &mut dx, b);
            a[0] = dx;
            r
        },
        |v, t| slice_loops_pushforward(v[0], &v[1..], t[0], &t[1..]),
    );
}

// ---- while, loop with break, continue, early return from inside loops

#[differentiable]
fn exits(x: f64, y: &[f64]) -> f64 {
    let mut s = x;
    let mut i = 0;
    while i < y.len() {
        if y[i] < 0.0 {
            i += 1;
            continue;
        }
        s = s * y[i] + x;
        i += 1;
    }
    let mut k = 0;
    loop {
        s = s.sin() + x * 0.5;
        k += 1;
        if k >= 3 {
            break;
        }
    }
    for j in 0..y.len() {
        if s > 5.0 {
            return s * y[j];
        }
        s += y[j] * y[j];
    }
    s * s
}

#[test]
fn while_loop_break_continue_return() {
    for y in [
        [0.5, -0.3, 1.2, 0.8],
        [2.0, 3.0, -1.0, 2.5],
        [0.1, 0.2, 0.3, 0.4],
    ] {
        let mut p = vec![0.9];
        p.extend(y);
        check(
            "exits",
            &p,
            |v| exits(v[0], &v[1..]),
            |v, g| {
                let mut dx = 0.0;
                let (a, b) = g.split_at_mut(1);
                let r = exits_grad(v[0], &v[1..], &mut dx, b);
                a[0] = dx;
                r
            },
            |v, t| exits_pushforward(v[0], &v[1..], t[0], &t[1..]),
        );
    }
}

// ---- writing outputs: out[i] = …, out[i] += …, local arrays [0.0; N], Jacobian

#[differentiable]
fn softplus_cumsum(x: &[f64], out: &mut [f64]) {
    let mut buf = [0.0; 8];
    for i in 0..x.len() {
        buf[i] = (1.0 + x[i].exp()).ln();
    }
    out[0] = buf[0];
    for i in 1..x.len() {
        out[i] = out[i - 1] * 0.5;
        out[i] += buf[i] * x[i - 1];
    }
}

#[test]
fn outputs_and_jacobian() {
    let x = [0.3, -0.7, 1.1, 0.5];
    let mut out = [0.0; 4];
    let mut jac = [0.0; 16];
    softplus_cumsum_jacobian(&x, &mut out, &mut jac).unwrap();
    let mut ref_out = [0.0; 4];
    softplus_cumsum(&x, &mut ref_out);
    assert_eq!(out, ref_out, "jacobian leaves the results in out");
    for i in 0..4 {
        let fd = fd_grad(&x, |v| {
            let mut o = [0.0; 4];
            softplus_cumsum(v, &mut o);
            o[i]
        });
        assert_close(
            &format!("jacobian row {i}"),
            &jac[i * 4..i * 4 + 4],
            &fd,
            1e-6,
        );
        // forward mode column check
        let mut tout = [0.0; 4];
        let mut o = [0.0; 4];
        for j in 0..4 {
            let mut t = [0.0; 4];
            t[j] = 1.0;
            softplus_cumsum_pushforward(&x, &mut o, &t, &mut tout);
            assert!((tout[i] - jac[i * 4 + j]).abs() < 1e-10);
        }
    }
    // Wrong jac size is an error, not a panic.
    let err = softplus_cumsum_jacobian(&x, &mut out, &mut [0.0; 3]).unwrap_err();
    assert_eq!(err.expected, 16);
}

// ---- calls: to differentiable functions (any depth, recursion) and custom derivatives

#[differentiable]
fn sq(x: f64) -> f64 {
    x * x
}

#[differentiable]
fn inner(x: f64, y: &[f64]) -> f64 {
    sq(x) * y[0] + y[1]
}

#[differentiable]
fn outer(x: f64, y: &[f64]) -> f64 {
    let a = inner(x, y) + sq(inner(x * 2.0, y));
    a * power(x, 3)
}

#[differentiable]
fn power(x: f64, n: i32) -> f64 {
    if n == 0 {
        return 1.0;
    }
    x * power(x, n - 1)
}

/// A function the macro cannot see into, with a hand-written derivative (Clad's custom
/// derivatives): f(x) = x·|x| with derivative 2|x|.
fn signed_square(x: f64) -> f64 {
    x * x.abs()
}
fn signed_square_pullback(x: f64, d_ret: f64, d_x: &mut f64) {
    *d_x += d_ret * 2.0 * x.abs();
}
fn signed_square_pushforward(x: f64, t_x: f64) -> (f64, f64) {
    (signed_square(x), 2.0 * x.abs() * t_x)
}

fn idx_helper(i: usize) -> usize {
    i % 2
}

#[differentiable]
fn uses_custom(x: f64, y: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..4 {
        s += signed_square(x - y[idx_helper(i)]);
    }
    s
}

#[test]
fn calls_recursion_custom_derivatives() {
    check(
        "outer",
        &[0.7, 0.4, -1.2],
        |v| outer(v[0], &v[1..]),
        |v, g| {
            let mut dx = 0.0;
            let (a, b) = g.split_at_mut(1);
            let r = outer_grad(v[0], &v[1..], &mut dx, b);
            a[0] = dx;
            r
        },
        |v, t| outer_pushforward(v[0], &v[1..], t[0], &t[1..]),
    );
    check(
        "uses_custom",
        &[0.7, 0.4, -1.2],
        |v| uses_custom(v[0], &v[1..]),
        |v, g| {
            let mut dx = 0.0;
            let (a, b) = g.split_at_mut(1);
            let r = uses_custom_grad(v[0], &v[1..], &mut dx, b);
            a[0] = dx;
            r
        },
        |v, t| uses_custom_pushforward(v[0], &v[1..], t[0], &t[1..]),
    );
}

// ---- wrt: gradient with respect to some parameters only

#[differentiable(wrt(mu))]
fn wrt_only(mu: f64, data: &[f64]) -> f64 {
    let mut s = 0.0;
    for d in data {
        s += (d - mu) * (d - mu);
    }
    s
}

#[test]
fn wrt_option() {
    let data = [1.0, 2.0, 4.0];
    let mut dmu = 0.0;
    let v = wrt_only_grad(1.5, &data, &mut dmu);
    assert_eq!(v, wrt_only(1.5, &data));
    // d/dmu Σ(d-mu)² = -2 Σ(d-mu)
    assert!((dmu - (-2.0 * (1.0 + 2.0 + 4.0 - 4.5))).abs() < 1e-12);
}

// ---- Result-returning functions with ? on calls

#[derive(Debug, PartialEq)]
struct MyErr;

fn checked_log(x: f64) -> Result<f64, MyErr> {
    if x > 0.0 {
        Ok(x.ln())
    } else {
        Err(MyErr)
    }
}
fn checked_log_pullback(x: f64, d_ret: f64, d_x: &mut f64) -> Result<(), MyErr> {
    *d_x += d_ret / x;
    Ok(())
}
fn checked_log_pushforward(x: f64, t_x: f64) -> Result<(f64, f64), MyErr> {
    Ok((checked_log(x)?, t_x / x))
}

#[differentiable]
fn fallible(x: f64, y: f64) -> Result<f64, MyErr> {
    let a = checked_log(x * y)?;
    Ok(a * x)
}

#[test]
fn result_and_question_mark() {
    let (mut dx, mut dy) = (0.0, 0.0);
    let v = fallible_grad(2.0, 3.0, &mut dx, &mut dy).unwrap();
    assert!((v - 2.0 * 6.0f64.ln()).abs() < 1e-12);
    assert!((dx - (6.0f64.ln() + 1.0)).abs() < 1e-12);
    assert!((dy - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(fallible_grad(-2.0, 3.0, &mut dx, &mut dy), Err(MyErr));
    assert_eq!(fallible(2.0, 3.0), Ok(v));
    let (v2, t) = fallible_pushforward(2.0, 3.0, 1.0, 0.0).unwrap();
    assert_eq!(v, v2);
    assert!((t - (6.0f64.ln() + 1.0)).abs() < 1e-12);
}

// ---- pullback seed and accumulation semantics

#[test]
fn pullback_scales_by_seed_and_accumulates() {
    let y = [0.4, -1.2];
    let (mut d1, mut dy1) = (0.0, [0.0; 2]);
    inner_pullback(0.7, &y, 1.0, &mut d1, &mut dy1);
    let (mut d3, mut dy3) = (0.0, [0.0; 2]);
    inner_pullback(0.7, &y, 3.0, &mut d3, &mut dy3);
    assert!((d3 - 3.0 * d1).abs() < 1e-12);
    inner_pullback(0.7, &y, 1.0, &mut d3, &mut dy3);
    assert!(
        (d3 - 4.0 * d1).abs() < 1e-12,
        "adjoints are added into, never assigned"
    );
}

// ---- the generated source is available

#[test]
fn generated_source_is_exposed() {
    assert!(inner_GRAD_SOURCE.contains("fn inner_pullback"));
    assert!(inner_GRAD_SOURCE.contains("fn inner_pushforward"));
    assert!(inner_GRAD_SOURCE.contains("sq_pullback"));
}

// ---- a buffer argument without a derivative gets an empty adjoint slice

#[differentiable]
fn weighted(w: &[f64], data: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += w[i] * data[i];
    }
    s
}

#[differentiable(wrt(w))]
fn calls_with_constant_data(w: &[f64], data: &[f64]) -> f64 {
    weighted(w, data) * 2.0
}

#[test]
fn inactive_buffer_arguments_pass_empty_adjoints() {
    let (w, data) = ([1.0, 2.0], [3.0, -4.0]);
    let mut dw = [0.0; 2];
    let v = calls_with_constant_data_grad(&w, &data, &mut dw);
    assert_eq!(v, calls_with_constant_data(&w, &data));
    assert_eq!(dw, [6.0, -8.0]);
    assert!(calls_with_constant_data_GRAD_SOURCE.contains("&mut []"));
    // Called directly with an empty adjoint: treated as "not wanted".
    let mut dw2 = [0.0; 2];
    weighted_pullback(&w, &data, 1.0, &mut dw2, &mut []);
    assert_eq!(dw2, [3.0, -4.0]);
}

// ---- pass-through values: dimension structs and their fields carry no derivative

#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    scale: [f64; 2],
}

// `d.scale` is read in float arithmetic, so `d` is a differentiable struct parameter
// (structs.rs): `wrt(x)` keeps the gradient over `x` alone, as for any parameter.
#[differentiable(wrt(x))]
fn with_dims(x: &[f64], d: &Dims) -> f64 {
    let mut s = 0.0;
    for i in 0..d.n {
        s += x[i] * x[i] * d.scale[i % 2];
    }
    s
}

#[test]
fn struct_parameters_pass_through() {
    let d = Dims {
        n: 3,
        scale: [2.0, 0.5],
    };
    let x = [1.0, 2.0, 3.0];
    let mut g = [0.0; 3];
    let v = with_dims_grad(&x, &d, &mut g);
    assert_eq!(v, with_dims(&x, &d));
    assert_eq!(g, [4.0, 2.0, 12.0]);
    // The pullback has the struct's adjoint (same type, added into): d/d scale[k].
    let mut d_d = Dims {
        n: 3,
        scale: [0.0; 2],
    };
    with_dims_pullback(&x, &d, 1.0, &mut [], &mut d_d);
    assert_eq!(d_d.scale, [1.0 + 9.0, 4.0]);
}
