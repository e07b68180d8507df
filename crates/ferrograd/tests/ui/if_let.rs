use ferrograd::differentiable;

#[differentiable]
fn f(x: f64, n: usize) -> f64 {
    if let 0 = n {
        return x;
    }
    x * x
}

fn main() {}
