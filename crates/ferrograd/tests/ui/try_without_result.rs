use ferrograd::differentiable;

fn checked(x: f64) -> Result<f64, String> {
    Ok(x)
}

#[differentiable]
fn f(x: f64) -> f64 {
    let y = checked(x)?;
    y * y
}

fn main() {}
