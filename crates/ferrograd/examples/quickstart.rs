//! The README example: a function with a loop, a branch and an early return, differentiated
//! in reverse and forward mode, checked against central finite differences.

use ferrograd::differentiable;

#[differentiable]
#[expect(
    clippy::needless_range_loop,
    reason = "the README example indexes on purpose"
)]
fn f(x: f64, y: &[f64], n: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        s += (x * y[i]).sin();
    }
    if s > 1.0 {
        return s.ln();
    }
    s * s
}

fn main() {
    let y = [0.5, 1.0, 1.5, 2.0];
    let x = 0.3;
    let (mut dx, mut dy) = (0.0, vec![0.0; 4]);
    let value = f_grad(x, &y, 4, &mut dx, &mut dy);
    let (_, dir) = f_pushforward(x, &y, 4, 1.0, &[0.0; 4]);
    let h = 1e-6;
    let fd = (f(x + h, &y, 4) - f(x - h, &y, 4)) / (2.0 * h);
    println!("f(0.3)            = {value:.12}");
    println!("df/dx reverse     = {dx:.12}");
    println!("df/dx forward     = {dir:.12}");
    println!("df/dx finite diff = {fd:.12}");
    println!("df/dy reverse     = {dy:.6?}");
    println!(
        "max |reverse - finite difference| = {:.2e}",
        (dx - fd).abs()
    );
    if std::env::args().any(|a| a == "--source") {
        println!("\n{f_GRAD_SOURCE}");
    }
}
