use ferrograd::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let clip = |v: f64| {
        if v > 1.0 {
            return 1.0;
        }
        v
    };
    clip(x) * x
}

fn main() {}
