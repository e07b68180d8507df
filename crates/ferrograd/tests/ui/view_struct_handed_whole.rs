use ferrograd::differentiable;

/// A view struct: generic over its storage.
struct Line<S> {
    w: S,
}

#[differentiable]
fn first(p: &Line<&[f64]>) -> f64 {
    p.w[0] * 2.0
}

#[differentiable]
fn total(p: &Line<&[f64]>) -> f64 {
    first(p) + p.w[1]
}

fn main() {
    let w = [1.0, 2.0];
    let p = Line { w: &w[..] };
    let _ = (first(&p), total(&p));
}
