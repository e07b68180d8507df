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

// `pre` is a stash of `squash` (its adjoint is handed over empty), so reading it would drop
// the derivative through that read: a compile error, not a silent zero.
#[differentiable(reverse_only)]
fn f(x: &[f64], out: &mut [f64], pre: &mut [f64]) -> f64 {
    squash(out, pre, x);
    out[0] + pre[0]
}

fn main() {}
