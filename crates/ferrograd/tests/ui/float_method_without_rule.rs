use ferrograd::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let s = x.sin_cos();
    s * 2.0
}

fn main() {}
