//! Stashes (`ArgMode::Stash`): a kernel writes an intermediate for its own pullback (here the
//! pre-activation), which is not an output to differentiate. Call sites hand the pullback an
//! empty adjoint for it, so no adjoint buffer is read or zeroed for it; a function whose
//! `&mut` parameter only stashes write publishes it as a stash too, so that its callers do the
//! same. Checked: the gradients against central differences, the empty adjoints the pullbacks
//! received, and the published modes. (Reading a stash elsewhere does not compile:
//! `tests/ui/stash_read_elsewhere.rs`.)

mod common;
use common::{assert_close, fd_grad, weighted_sum, weighted_sum_pullback};
use ferrograd::{differentiable, ArgMode};
use std::cell::RefCell;

thread_local! {
    /// The length of `d_pre` each pullback of [`squash`] received on this thread.
    static STASH_ADJOINTS: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// `pre[i] = w[i]·x[i]` and `out[i] = tanh(pre[i])`; `pre` is what the pullback reads.
fn squash(out: &mut [f64], pre: &mut [f64], x: &[f64], w: &[f64]) {
    for i in 0..out.len() {
        pre[i] = w[i] * x[i];
        out[i] = pre[i].tanh();
    }
}

/// Pullback of [`squash`] (kernel contract: adjoints added, the outputs' zeroed; an empty
/// adjoint is unwanted, or a zero seed). A seed on `pre` is honoured if one is given.
#[allow(clippy::too_many_arguments)]
fn squash_pullback(
    out: &mut [f64],
    pre: &mut [f64],
    x: &[f64],
    w: &[f64],
    d_out: &mut [f64],
    d_pre: &mut [f64],
    d_x: &mut [f64],
    d_w: &mut [f64],
) {
    STASH_ADJOINTS.with(|s| s.borrow_mut().push(d_pre.len()));
    for i in 0..out.len() {
        let mut g = if d_out.is_empty() {
            0.0
        } else {
            d_out[i] * (1.0 - out[i] * out[i])
        };
        if !d_pre.is_empty() {
            g += d_pre[i];
        }
        let _ = pre[i];
        if !d_x.is_empty() {
            d_x[i] += g * w[i];
        }
        if !d_w.is_empty() {
            d_w[i] += g * x[i];
        }
    }
    d_out.fill(0.0);
    d_pre.fill(0.0);
}

#[expect(non_upper_case_globals, reason = "named after the kernel")]
const squash_ARG_MODES: &[ArgMode] = &[ArgMode::Out, ArgMode::Stash, ArgMode::In, ArgMode::In];

/// Two layers: `h` is an output the second layer reads (its adjoint flows), `p1` and `p2`
/// are stashes.
#[differentiable(reverse_only)]
fn two_layers(
    x: &[f64],
    w1: &[f64],
    w2: &[f64],
    h: &mut [f64],
    y: &mut [f64],
    p1: &mut [f64],
    p2: &mut [f64],
) -> f64 {
    squash(h, p1, x, w1);
    squash(y, p2, h, w2);
    weighted_sum(&y[..])
}

/// A caller of [`two_layers`]: its `p1` and `p2` are stashes of `two_layers`, so they are
/// stashes here too.
#[differentiable(reverse_only)]
fn squared(
    x: &[f64],
    w1: &[f64],
    w2: &[f64],
    h: &mut [f64],
    y: &mut [f64],
    p1: &mut [f64],
    p2: &mut [f64],
) -> f64 {
    let v = two_layers(x, w1, w2, h, y, p1, p2);
    v * v
}

/// A stash in a local array.
#[differentiable(reverse_only)]
fn local_stash(x: &[f64], w: &[f64]) -> f64 {
    let mut out = [0.0; 4];
    let mut pre = [0.0; 4];
    squash(&mut out, &mut pre, x, w);
    weighted_sum(&out)
}

const N: usize = 4;

fn inputs() -> Vec<f64> {
    (0..3 * N).map(|i| 0.37 * i as f64 - 1.1).collect()
}

type Grad = fn(
    &[f64],
    &[f64],
    &[f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
    &mut [f64],
) -> f64;
type Primal = fn(&[f64], &[f64], &[f64], &mut [f64], &mut [f64], &mut [f64], &mut [f64]) -> f64;

fn check(name: &str, f: Primal, grad: Grad) {
    let z = inputs();
    let run = |z: &[f64]| {
        let mut b = [[0.0; N]; 4];
        let [h, y, p1, p2] = &mut b;
        f(&z[..N], &z[N..2 * N], &z[2 * N..], h, y, p1, p2)
    };
    let fd = fd_grad(&z, run);
    let mut b = [[0.0; N]; 4];
    let mut d = [[0.0; N]; 7];
    let [h, y, p1, p2] = &mut b;
    let [dx, dw1, dw2, dh, dy, dp1, dp2] = &mut d;
    STASH_ADJOINTS.with(|s| s.borrow_mut().clear());
    let v = grad(
        &z[..N],
        &z[N..2 * N],
        &z[2 * N..],
        h,
        y,
        p1,
        p2,
        dx,
        dw1,
        dw2,
        dh,
        dy,
        dp1,
        dp2,
    );
    assert!((v - run(&z)).abs() < 1e-12, "{name}: value");
    let got: Vec<f64> = [*dx, *dw1, *dw2].concat();
    assert_close(&format!("{name} reverse vs fd"), &got, &fd, 1e-6);
    let seen = STASH_ADJOINTS.with(|s| s.borrow().clone());
    assert_eq!(
        seen,
        vec![0, 0],
        "{name}: the stashes' adjoints handed to the pullbacks"
    );
    assert_eq!(
        (*dp1, *dp2),
        ([0.0; N], [0.0; N]),
        "{name}: stash adjoints touched"
    );
}

#[test]
fn stashes_get_empty_adjoints_and_the_gradient_is_right() {
    check("two_layers", two_layers, two_layers_grad);
    check("squared", squared, squared_grad);
}

#[test]
fn a_local_stash() {
    let z = inputs();
    let fd = fd_grad(&z[..2 * N], |z| local_stash(&z[..N], &z[N..]));
    let (mut dx, mut dw) = ([0.0; N], [0.0; N]);
    STASH_ADJOINTS.with(|s| s.borrow_mut().clear());
    local_stash_grad(&z[..N], &z[N..2 * N], &mut dx, &mut dw);
    assert_close("local_stash reverse vs fd", &[dx, dw].concat(), &fd, 1e-6);
    assert_eq!(STASH_ADJOINTS.with(|s| s.borrow().clone()), vec![0]);
}

#[test]
fn parameters_only_stashes_write_are_published_as_stashes() {
    for (name, modes) in [
        ("two_layers", two_layers_ARG_MODES),
        ("squared", squared_ARG_MODES),
    ] {
        let stash: Vec<bool> = modes.iter().map(|m| m.stash()).collect();
        assert_eq!(
            stash,
            [false, false, false, false, false, true, true],
            "{name}: {modes:?}"
        );
        assert!(modes[3].writes() && modes[4].writes(), "{name}: {modes:?}");
    }
    assert_eq!(ArgMode::Stash.join(ArgMode::In), ArgMode::Out);
    assert!(ArgMode::Stash.writes() && !ArgMode::Stash.needs_before());
}
