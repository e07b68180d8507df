use ferrograd::differentiable;

#[differentiable]
fn f(x: f64, n: usize) -> f64 {
    let mut s = 0.0;
    'outer: for i in 0..n {
        for _j in 0..i {
            s += x;
            if s > 10.0 {
                break 'outer;
            }
        }
    }
    s
}

fn main() {}
