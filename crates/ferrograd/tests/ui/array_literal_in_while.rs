use ferrograd::differentiable;

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    let mut s = 0.0;
    let mut k = 0;
    while k < [x, y].len() {
        s += x;
        k += 1;
    }
    s
}

fn main() {}
