//! The built-in models as [`crate::Model`]s, and their gradients.
//!
//! Each model's loss is one function `*_loss(inputs, p: &Params<&[f32]>, acts: &mut
//! Acts<&mut [f32]>, dims) -> Result<f32, _>` over *view structs*: structs generic over their
//! storage, here slices of the arena. `#[ferrograd::differentiable(wrt(p), reverse_only)]`
//! generates `*_loss_grad(…, d_p: &mut Params<&mut [f32]>, d_acts: &mut Acts<&mut [f32]>)`:
//! the kernels' pullbacks in reverse order, adjoints added into the same structs over `&mut`
//! slices. Fields are named, so two buffers cannot be swapped by position. The gradients are
//! checked against finite differences in `tests/gradients.rs`.

pub mod cnn;
pub mod gpt;
pub mod mlp;
