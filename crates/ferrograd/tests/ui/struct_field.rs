use ferrograd::differentiable;

struct Params {
    scale: f64,
}

const P: Params = Params { scale: 2.0 };

#[differentiable]
fn f(x: f64) -> f64 {
    x * P.scale
}

fn main() {}
