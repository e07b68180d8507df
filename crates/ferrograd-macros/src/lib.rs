//! Proc-macro entry points of ferrograd. Thin by design: all the work is in `ferrograd-ad`,
//! which is a plain library and unit-testable.

use proc_macro::TokenStream;

/// Differentiates a Rust function at compile time. See the `ferrograd` crate docs for the
/// generated functions (`f_grad`, `f_pullback`, `f_pushforward`, `f_jacobian`, `f_hessian`)
/// and the options (`wrt(..)`, `hessian`, `dump`).
#[proc_macro_attribute]
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    ferrograd_ad::differentiable(attr.into(), item.into()).into()
}

/// Implements `ferrograd::Differentiable` for a struct of parameters, so that it can be a
/// parameter of a `#[differentiable]` function (its adjoint `d_p: &mut S`, its tangent
/// `t_p: &S`). Float fields, fixed arrays and `Vec`s of floats and nested `Differentiable`
/// structs carry derivatives; integer, `bool` and `char` fields are copied as they are.
#[proc_macro_derive(Differentiable)]
pub fn derive_differentiable(item: TokenStream) -> TokenStream {
    ferrograd_ad::derive_differentiable(item.into()).into()
}
