use ferrograd::differentiable;

struct Model {
    w: f64,
}

impl Model {
    #[differentiable]
    fn loss(&mut self, x: f64) -> f64 {
        self.w * x * x
    }
}

fn main() {
    let _ = Model { w: 1.0 }.w;
}
