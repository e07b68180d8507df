use ferrograd::differentiable;

struct Config {
    scale: f64,
    n: usize,
}

#[differentiable]
fn scaled(x: f64, s: f64) -> f64 {
    x * s
}

// `cfg.scale` is only handed to a call, so the compiler cannot tell it is a float: rather
// than treat it as a constant (a silently zero derivative), this fails to compile, first with
// the probe's message on `cfg.scale`.
#[differentiable]
fn f(x: &[f64], cfg: &Config) -> f64 {
    let mut t = 0.0;
    for i in 0..cfg.n {
        t += x[i];
    }
    scaled(t, cfg.scale)
}

fn main() {
    let c = Config { scale: 2.0, n: 1 };
    let _ = f(&[1.0], &c);
}
