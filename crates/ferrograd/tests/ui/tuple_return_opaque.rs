use ferrograd::differentiable;

fn pair(x: f64) -> (f64, f64) {
    (x, x)
}

#[differentiable]
fn f(x: f64) -> (f64, f64) {
    let y = x * x;
    pair(y)
}

fn main() {
    let _ = (f(1.0), pair(1.0));
}
