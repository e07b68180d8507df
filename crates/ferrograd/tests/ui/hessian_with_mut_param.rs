use ferrograd::differentiable;

#[differentiable(hessian)]
fn f(x: f64, out: &mut [f64]) -> f64 {
    out[0] = x * x;
    x * out[0]
}

fn main() {}
