use ferrograd::differentiable;

#[differentiable]
fn f(n: usize, k: i32) -> usize {
    n * k as usize
}

fn main() {}
