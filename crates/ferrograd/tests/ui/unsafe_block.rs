use ferrograd::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let y = unsafe { x * x };
    y + 1.0
}

fn main() {}
