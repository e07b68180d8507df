use ferrograd::differentiable;

fn first(t: (f64, f64)) -> f64 {
    t.0
}

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    let t = (x * x, y);
    first(t)
}

fn main() {}
