use ferrograd::differentiable;

#[differentiable]
fn f(a: &[f64], i: usize, j: usize) -> f64 {
    let m = [[1.0, 2.0], [3.0, 4.0]];
    a[i] * m[i][j]
}

fn main() {}
