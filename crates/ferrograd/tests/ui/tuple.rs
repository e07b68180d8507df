use ferrograd::differentiable;

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    let p = (x, y);
    x * y + p
}

fn main() {}
