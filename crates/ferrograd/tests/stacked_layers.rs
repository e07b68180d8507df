//! Layers stacked in one buffer: a loop hands each iteration its own sub-slice
//! (`&mut z[l * n..(l + 1) * n]`), as a model with many layers does. Earlier iterations'
//! pullbacks read the buffer that later iterations write, so the compile-time rule must assume
//! a write destroys what they read; the generated code checks at run time whether the written
//! range meets the ranges handed on so far (`analysis::record`), and records only then, and
//! only that range. Checked here: the gradient against central differences when the ranges
//! are disjoint and when they overlap (where skipping the record would give a wrong gradient),
//! and, by counting forward calls, that disjoint ranges record nothing (a record of a `&mut`
//! parameter makes the gradient run the primal once more).

mod common;
use common::{assert_close, fd_grad, weighted_sum, weighted_sum_pullback};
use ferrograd::{differentiable, ArgMode};
use std::cell::Cell;

thread_local! {
    /// Forward calls of [`mix`] on this thread (the tests run in parallel, each on its own).
    static MIX_CALLS: Cell<usize> = const { Cell::new(0) };
}

/// A hand-written kernel: `out[i] = tanh(w[i]·x[i] + 0.3·x[(i + 1) % n])`.
fn mix(out: &mut [f64], x: &[f64], w: &[f64]) {
    MIX_CALLS.with(|c| c.set(c.get() + 1));
    let n = out.len();
    for i in 0..n {
        out[i] = (w[i] * x[i] + 0.3 * x[(i + 1) % n]).tanh();
    }
}

/// Pullback of [`mix`] (kernel contract: adjoints added, the output's zeroed; empty = unwanted).
fn mix_pullback(
    out: &mut [f64],
    x: &[f64],
    w: &[f64],
    d_out: &mut [f64],
    d_x: &mut [f64],
    d_w: &mut [f64],
) {
    let n = out.len();
    for i in 0..n {
        let g = d_out[i] * (1.0 - out[i] * out[i]);
        if !d_x.is_empty() {
            d_x[i] += g * w[i];
            d_x[(i + 1) % n] += 0.3 * g;
        }
        if !d_w.is_empty() {
            d_w[i] += g * x[i];
        }
    }
    d_out.fill(0.0);
}

#[expect(non_upper_case_globals, reason = "named after the kernel")]
const mix_ARG_MODES: &[ArgMode] = &ArgMode::output_first::<3>();

/// Layer `l` writes `z[l·n..]` and `h[l·n..]` (disjoint per layer) and reads layer `l − 1`.
#[differentiable(reverse_only)]
fn stacked(x: &[f64], w: &[f64], z: &mut [f64], h: &mut [f64], n: usize, layers: usize) -> f64 {
    mix(&mut z[..n], x, &w[..n]);
    mix(&mut h[..n], &z[..n], &w[..n]);
    for l in 1..layers {
        let (a, b) = ((l - 1) * n, l * n);
        mix(&mut z[b..b + n], &h[a..a + n], &w[b..b + n]);
        mix(&mut h[b..b + n], &z[b..b + n], &w[b..b + n]);
    }
    weighted_sum(&h[(layers - 1) * n..])
}

/// The same with windows that move by one element per layer: each write overlaps what the
/// previous layer's pullbacks read.
#[differentiable(reverse_only)]
fn windows(x: &[f64], w: &[f64], z: &mut [f64], h: &mut [f64], n: usize, layers: usize) -> f64 {
    mix(&mut z[..n], x, &w[..n]);
    mix(&mut h[..n], &z[..n], &w[..n]);
    for l in 1..layers {
        mix(
            &mut z[l..l + n],
            &h[l - 1..l - 1 + n],
            &w[l * n..(l + 1) * n],
        );
        mix(&mut h[l..l + n], &z[l..l + n], &w[l * n..(l + 1) * n]);
    }
    weighted_sum(&h[layers - 1..layers - 1 + n])
}

type Primal = fn(&[f64], &[f64], &mut [f64], &mut [f64], usize, usize) -> f64;
type Grad = fn(
    &[f64],
    &[f64],
    &mut [f64],
    &mut [f64],
    usize,
    usize,
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
) -> f64;

/// Checks `grad` against central differences of `f` in `x` and `w`, and that the buffers hold
/// the primal's results afterwards; returns the number of forward kernel calls of `grad`.
fn check(name: &str, f: Primal, grad: Grad, buf_len: usize) -> usize {
    let (n, layers) = (5, 4);
    let x: Vec<f64> = (0..n).map(|i| 0.3 * i as f64 - 0.5).collect();
    let w: Vec<f64> = (0..n * layers)
        .map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.25)
        .collect();
    let run = |z: &[f64]| {
        let (mut zb, mut hb) = (vec![0.0; buf_len], vec![0.0; buf_len]);
        f(&z[..n], &z[n..], &mut zb, &mut hb, n, layers)
    };
    let mut input = x.clone();
    input.extend_from_slice(&w);
    let fd = fd_grad(&input, run);
    let (mut z, mut h) = (vec![0.0; buf_len], vec![0.0; buf_len]);
    let (mut zp, mut hp) = (vec![0.0; buf_len], vec![0.0; buf_len]);
    let want = f(&x, &w, &mut zp, &mut hp, n, layers);
    let (mut dx, mut dw) = (vec![0.0; n], vec![0.0; n * layers]);
    let (mut dz, mut dh) = (vec![0.0; buf_len], vec![0.0; buf_len]);
    MIX_CALLS.with(|c| c.set(0));
    let v = grad(
        &x, &w, &mut z, &mut h, n, layers, &mut dx, &mut dw, &mut dz, &mut dh,
    );
    let calls = MIX_CALLS.with(Cell::get);
    assert!((v - want).abs() < 1e-12, "{name}: value {v} vs {want}");
    let mut got = dx;
    got.extend_from_slice(&dw);
    assert_close(&format!("{name} reverse vs fd"), &got, &fd, 1e-6);
    assert_eq!(
        (z, h),
        (zp, hp),
        "{name}: buffers hold the primal's results"
    );
    calls
}

#[test]
fn disjoint_layer_ranges_are_not_recorded() {
    let calls = check("stacked", stacked, stacked_grad, 5 * 4);
    // 2 kernel calls per layer, and no second primal run: nothing was recorded.
    assert_eq!(calls, 8);
}

#[test]
fn overlapping_ranges_are_recorded_at_run_time() {
    let calls = check("windows", windows, windows_grad, 5 + 4);
    // The records restored the buffers in the reverse sweep, so the gradient ran the primal
    // again to leave its results in them (as after a call of `windows`).
    assert_eq!(calls, 16);
}
