use ferrograd::Differentiable;

#[derive(Differentiable)]
struct Borrowed<'a> {
    mu: f64,
    events: &'a [f64],
}

fn main() {
    let e = [1.0];
    let _ = Borrowed { mu: 0.0, events: &e };
}
