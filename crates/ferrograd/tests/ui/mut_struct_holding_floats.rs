use ferrograd::differentiable;

/// Not a view: a `&mut` struct with a float buffer the derivative could not follow.
struct Scratch<'a> {
    buf: &'a mut [f64],
}

#[differentiable]
fn f(x: &[f64], s: &mut Scratch<'_>) -> f64 {
    s.buf[0] = x[0] * 2.0;
    s.buf[0] * x[1]
}

fn main() {
    let mut b = [0.0];
    let _ = f(&[1.0, 2.0], &mut Scratch { buf: &mut b });
}
