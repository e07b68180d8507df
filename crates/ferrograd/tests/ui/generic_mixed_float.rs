use ferrograd::{differentiable, Real};

#[differentiable]
fn f<T: Real>(x: T, scale: f64) -> T {
    x * T::from_f64(scale)
}

fn main() {}
