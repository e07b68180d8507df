use ferrograd::differentiable;

#[differentiable]
fn write_first(a: f64, out: &mut [f64]) -> f64 {
    out[0] = a * a;
    a
}

#[differentiable]
fn f(x: f64) -> f64 {
    let mut o = [0.0; 2];
    let s = 1.0 + write_first(x, &mut o);
    s * o[0]
}

fn main() {}
