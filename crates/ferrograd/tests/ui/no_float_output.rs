use ferrograd::differentiable;

#[differentiable]
fn f(x: f64, y: &[f64]) {
    let _s = x * y[0];
}

fn main() {}
