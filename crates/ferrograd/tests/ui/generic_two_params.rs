use ferrograd::{differentiable, Real};

#[differentiable]
fn f<T: Real, U: Real>(x: T, _y: U) -> T {
    x
}

fn main() {}
