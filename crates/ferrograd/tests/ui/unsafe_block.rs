use ferrograd::differentiable;

#[differentiable]
fn f(y: &[f64]) -> f64 {
    let first = unsafe { *y.get_unchecked(0) };
    first * first
}

fn main() {}
