use ferrograd::differentiable;

struct Model {
    w: f64,
}

impl Model {
    fn weight(&self) -> f64 {
        self.w
    }
}

const MODEL: Model = Model { w: 2.0 };

#[differentiable]
fn f(x: f64) -> f64 {
    x * MODEL.weight()
}

fn main() {}
