use ferrograd::differentiable;
// The probe gives the first error, on the field; the second is its echo in the generated
// pullback call (which, taking the field for a constant, passes no adjoint for it).
use ferrograd::kernels::*;

/// Not a view, and its float buffer is only handed to a kernel, where the syntax does not
/// tell it is a float: the probe refuses it.
struct Scratch<'a> {
    buf: &'a mut [f32],
}

#[differentiable(reverse_only)]
fn f(x: &[f32], s: &mut Scratch<'_>) -> Result<f32, KernelError> {
    relu(s.buf, x)?;
    Ok(x[0])
}

fn main() {
    let mut b = [0.0f32; 2];
    let _ = f(&[1.0, 2.0], &mut Scratch { buf: &mut b });
}
