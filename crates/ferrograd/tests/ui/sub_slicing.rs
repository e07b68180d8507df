use ferrograd::differentiable;

#[differentiable]
fn g(y: &[f64]) -> f64 {
    y[0] * y[0]
}

#[differentiable]
fn f(y: &[f64]) -> f64 {
    g(&y[1..])
}

fn main() {}
