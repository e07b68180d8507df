use ferrograd::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let deg = x.to_degrees();
    deg * 2.0
}

fn main() {}
