//! The differential test: a few hundred random programs written by `build.rs`, each checked in
//! reverse mode, forward mode and against central finite differences (see `src/lib.rs` for the
//! tolerances). Run with `--nocapture` to see the max differences of each batch.

use ferrograd::differentiable;
use ferrograd_difftest::{check_all, Program};

/// Shared helper called by the generated programs (a call between differentiable functions).
#[differentiable]
fn helper(a: f64, b: f64) -> f64 {
    (a * b).sin() + a / (1.0 + b * b)
}

/// Shared helper with a loop over a slice argument.
#[differentiable]
#[expect(
    clippy::needless_range_loop,
    reason = "an index loop is the construct under test"
)]
fn helper_sum(y: &[f64], a: f64, n: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        s += (a * y[i]).tanh();
    }
    s
}

/// `Program` for a generated `fn p(x0, x1, x2, x3, y, n)` and its `p_grad`/`p_pushforward`.
macro_rules! program {
    ($p:ident, $grad:ident, $fwd:ident, $src:expr) => {
        Program {
            name: stringify!($p),
            source: $src,
            eval: |x, y, n| $p(x[0], x[1], x[2], x[3], y, n),
            grad: |x, y, n, dx, dy| {
                let (mut d0, mut d1, mut d2, mut d3) = (0.0, 0.0, 0.0, 0.0);
                let v = $grad(
                    x[0], x[1], x[2], x[3], y, n, &mut d0, &mut d1, &mut d2, &mut d3, dy,
                );
                for (d, g) in dx.iter_mut().zip([d0, d1, d2, d3]) {
                    *d += g;
                }
                v
            },
            pushforward: |x, y, n, tx, ty| {
                $fwd(x[0], x[1], x[2], x[3], y, n, tx[0], tx[1], tx[2], tx[3], ty)
            },
        }
    };
}

include!(concat!(env!("OUT_DIR"), "/programs.rs"));
