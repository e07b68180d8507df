use ferrograd::differentiable;

#[differentiable]
fn f(y: &[f64]) -> f64 {
    let tail = &y[1..];
    tail[0] * y[0]
}

fn main() {}
