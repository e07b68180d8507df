use ferrograd::differentiable;

trait Pdf {
    fn value(&self, x: f64) -> f64;
}

#[differentiable]
fn nll(p: &dyn Pdf, x: f64) -> f64 {
    p.value(x) * x
}

fn main() {}
