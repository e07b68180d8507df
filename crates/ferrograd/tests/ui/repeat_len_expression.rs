use ferrograd::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let v = [x * x; 1 + 2];
    v[0] + v[2]
}

fn main() {}
