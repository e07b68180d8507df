use ferrograd::differentiable;

#[differentiable]
fn f(x: f64, n: usize) -> f64 {
    let mut s = x;
    let mut k = n;
    while let 1..=100 = k {
        s = s * x;
        k -= 1;
    }
    s
}

fn main() {}
