use ferrograd::{differentiable, Differentiable};

#[derive(Clone, Differentiable)]
struct Gauss {
    mu: f64,
    sigma: f64,
}

#[differentiable]
fn logpdf(p: &Gauss, x: f64) -> f64 {
    let z = (x - p.mu) / p.sigma;
    -0.5 * z * z
}

#[differentiable]
fn twice(p: &Gauss, x: f64) -> f64 {
    let q = p;
    2.0 * p.mu + logpdf(q, x)
}

fn main() {
    let p = Gauss { mu: 0.0, sigma: 1.0 };
    let _ = (logpdf(&p, 1.0), twice(&p, 1.0));
}
