use ferrograd::{differentiable, ArgMode};

fn squash(out: &mut [f64], pre: &mut [f64], x: &[f64]) {
    for i in 0..out.len() {
        pre[i] = 2.0 * x[i];
        out[i] = pre[i].tanh();
    }
}

fn squash_pullback(
    _out: &mut [f64],
    _pre: &mut [f64],
    _x: &[f64],
    _d_out: &mut [f64],
    _d_pre: &mut [f64],
    _d_x: &mut [f64],
) {
}

#[allow(non_upper_case_globals)]
const squash_ARG_MODES: &[ArgMode] = &[ArgMode::Out, ArgMode::Stash, ArgMode::In];

/// Activations as a view struct, as the training engine's models keep them.
#[derive(ferrograd::Differentiable)]
struct Acts<S> {
    out: S,
    pre: S,
}

// `a.pre` is a stash of `squash`: reading it after the call is a compile error too.
#[differentiable(reverse_only)]
fn f(x: &[f64], a: &mut Acts<&mut [f64]>) -> f64 {
    squash(a.out, a.pre, x);
    a.out[0] + a.pre[0]
}

fn main() {}
