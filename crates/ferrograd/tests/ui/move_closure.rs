use ferrograd::differentiable;

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    let scale = move |v: f64| v * y;
    scale(x)
}

fn main() {}
