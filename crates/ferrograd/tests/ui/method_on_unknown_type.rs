use ferrograd::differentiable;

fn helper() -> u32 {
    3
}

#[differentiable]
fn f(x: f64) -> f64 {
    let v = helper();
    x * v.frobnicate()
}

fn main() {}
