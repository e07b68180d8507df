use ferrograd::differentiable;

#[differentiable]
fn write_first(a: f64, out: &mut [f64]) -> f64 {
    out[0] = a * a;
    a
}

#[differentiable]
fn f(x: f64, out: &mut [f64]) {
    let s = 1.0 + write_first(x, out);
    out[1] = s;
}

fn main() {}
