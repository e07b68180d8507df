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

/// `out = 3·x`: an ordinary kernel, whose output is differentiated through.
fn triple(out: &mut [f64], x: &[f64]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = 3.0 * v;
    }
}

fn triple_pullback(_out: &mut [f64], _x: &[f64], _d_out: &mut [f64], _d_x: &mut [f64]) {}

#[allow(non_upper_case_globals)]
const triple_ARG_MODES: &[ArgMode] = &ArgMode::output_first::<2>();

// `pre` is `squash`'s stash and also `triple`'s ordinary output: the buffer must be the
// stash's alone.
#[differentiable(reverse_only)]
fn f(x: &[f64], out: &mut [f64], pre: &mut [f64]) -> f64 {
    triple(pre, x);
    squash(out, pre, x);
    out[0]
}

fn main() {}
