//! Every primitive of ferrograd, declared once (JAX's discipline: a primitive and its
//! derivative live together, and nothing else lists them).
//!
//! [`scalar_primitives!`] hands the scalar table to a callback macro. The runtime crate
//! `ferrograd` generates from it the `Real` trait (and its `f32`/`f64` impls), the `Partials`
//! derivative rules and the dual numbers; the AD compiler `ferrograd-ad` generates its op tables
//! (which method names have rules, which rules read their result, which are worth taping).
//! Adding a scalar primitive is one line here.
//!
//! [`tensor_primitives!`] does the same for the tensor-level ops (`tch::Tensor` methods in
//! tensor-level `#[differentiable]` functions): `ferrograd-ad` generates from it which methods
//! it accepts, how it passes their arguments and the calls to their rules; `ferrograd-torch`
//! checks that every rule it names exists in its `rules` module with the signature the table
//! gives it. Adding a tensor op is one line there plus its rule function.
//!
//! # The scalar table
//! ```text
//! unary  { name name_d (x, y) cost => rule; … }      // y = x.name()
//! binary { name name_d (a, b, y) => rule; … }        // y = a.name(b); rule gives (∂a, ∂b)
//! ```
//! - `x`, `a`, `b`: the arguments; `y`: the primal result. A rule that does not read one of
//!   them names it `_`, so it *cannot* read it. Whether a unary rule reads its result is read
//!   off that `_` (the compiler then keeps the result for the reverse sweep), so the flag and
//!   the rule cannot disagree.
//! - `cost`: `expensive` (transcendental: the reverse sweep tapes the partial computed next to
//!   the primal inside loops) or `cheap` (recomputed).
//! - Rules are written against `Self: Real` (`Self::one()`, `Self::from_f64(…)`, the methods),
//!   and never branch on a value: a choice is `Self::select_lt(a, b, x, y)` (`x` where
//!   `a < b`, else `y`; also `select_le`, `select_eq`), which SIMD lanes evaluate lane by lane.
//!   So every rule is exact on lanes that disagree, and every primitive may appear in a
//!   vectorised loop (`ferrograd-ad`'s `vectorize`).
//!
//! `powi` (integer exponent) and `mul_add` (three arguments) have signatures of their own and
//! are written next to the generated code in `ferrograd/src/real.rs` and `dual.rs`.
//!
//! # The tensor table
//! ```text
//! methods { name(arg: kind, …) => rule(param, …) -> (grad, …) [| rule_without_x -> (grad, …)]; … }
//! ```
//! One line per op `y = x.name(arg, …)`, run forward as tch's `x.f_name(arg, …)?`.
//! - `kind` says how an argument is passed, to the forward op and to the rule: `tensor` (an
//!   operand: differentiated, passed as `&Tensor`), `bias` (an optional operand written
//!   `Some(t)`, passed as `Option<&Tensor>`; anything else is passed to the rule as `None`),
//!   `list` (integers, passed to the rule as `&[i64]`), `value(T)` (passed as written; `T` is
//!   the rule's type for it) or `value` (not passed to the rule).
//! - `rule(param, …)`: the function in `ferrograd_torch::rules` and what it takes, in order:
//!   `x` (the receiver), `y` (the result), `d` (the seed, `y`'s adjoint) or an argument's name.
//! - `-> (grad, …)`: what it returns, in order: the adjoint of `x` or of a `tensor`/`bias`
//!   argument (`Tensor`; `Option<Tensor>` for a `bias`). One gradient is returned bare, several
//!   as a tuple.
//! - `| rule_without_x -> (…)`: a cheaper rule on the same parameters for when the receiver's
//!   gradient is not needed (a parameter that does not require grad, decided at run time); it
//!   returns the other gradients.
//!
//! Tensor arithmetic (`+ - * /`, unary minus, float scalars) is not a method: its rules
//! (`add_vjp`, `scale_vjp`, …) are called from `ferrograd-ad/src/tensor.rs` directly.

/// Calls `$callback! { unary { … } binary { … } }` with the table (see the crate docs);
/// `scalar_primitives!(cb, extra…)` calls `cb! { extra…; unary { … } binary { … } }`.
#[macro_export]
macro_rules! scalar_primitives {
    ($callback:ident) => {
        $crate::scalar_primitives!(@table $callback ());
    };
    ($callback:ident, $($extra:tt)*) => {
        $crate::scalar_primitives!(@table $callback ($($extra)*;));
    };
    (@table $callback:ident ($($extra:tt)*)) => {
        $callback! {
            $($extra)*
            unary {
                // d sin x = cos x
                sin sin_d (x, _) expensive => x.cos();
                // d cos x = -sin x
                cos cos_d (x, _) expensive => -x.sin();
                // d tan x = 1 + tan² x
                tan tan_d (_, y) expensive => Self::one() + y * y;
                // d asin x = 1/√(1-x²)
                asin asin_d (x, _) expensive => (Self::one() - x * x).sqrt().recip();
                // d acos x = -1/√(1-x²)
                acos acos_d (x, _) expensive => -(Self::one() - x * x).sqrt().recip();
                // d atan x = 1/(1+x²)
                atan atan_d (x, _) expensive => (Self::one() + x * x).recip();
                // d sinh x = cosh x
                sinh sinh_d (x, _) expensive => x.cosh();
                // d cosh x = sinh x
                cosh cosh_d (x, _) expensive => x.sinh();
                // d tanh x = 1 - tanh² x
                tanh tanh_d (_, y) expensive => Self::one() - y * y;
                // d asinh x = 1/√(x²+1)
                asinh asinh_d (x, _) expensive => (x * x + Self::one()).sqrt().recip();
                // d acosh x = 1/√(x²-1)
                acosh acosh_d (x, _) expensive => (x * x - Self::one()).sqrt().recip();
                // d atanh x = 1/(1-x²)
                atanh atanh_d (x, _) expensive => (Self::one() - x * x).recip();
                // d eˣ = eˣ
                exp exp_d (_, y) expensive => y;
                // d 2ˣ = 2ˣ ln 2
                exp2 exp2_d (_, y) expensive => y * Self::from_f64(core::f64::consts::LN_2);
                // d (eˣ-1) = eˣ = y + 1
                exp_m1 exp_m1_d (_, y) expensive => y + Self::one();
                // d ln x = 1/x
                ln ln_d (x, _) expensive => x.recip();
                // d log10 x = 1/(x ln 10)
                log10 log10_d (x, _) expensive => (x * Self::from_f64(core::f64::consts::LN_10)).recip();
                // d log2 x = 1/(x ln 2)
                log2 log2_d (x, _) expensive => (x * Self::from_f64(core::f64::consts::LN_2)).recip();
                // d ln(1+x) = 1/(1+x)
                ln_1p ln_1p_d (x, _) expensive => (Self::one() + x).recip();
                // d √x = 1/(2√x)
                sqrt sqrt_d (_, y) expensive => Self::from_f64(0.5) / y;
                // d ∛x = 1/(3 ∛x²)
                cbrt cbrt_d (_, y) expensive => (Self::from_f64(3.0) * y * y).recip();
                // d |x| = sign x (0 at 0, the subgradient PyTorch uses)
                abs abs_d (x, _) cheap => Self::select_lt(
                    Self::zero(),
                    x,
                    Self::one(),
                    Self::select_lt(x, Self::zero(), -Self::one(), Self::zero()),
                );
                // d (1/x) = -1/x² = -y²
                recip recip_d (_, y) cheap => -(y * y);
                // piecewise constant: derivative 0 almost everywhere
                signum signum_d (_, _) cheap => Self::zero();
                floor floor_d (_, _) cheap => Self::zero();
                ceil ceil_d (_, _) cheap => Self::zero();
                round round_d (_, _) cheap => Self::zero();
                trunc trunc_d (_, _) cheap => Self::zero();
            }
            binary {
                // y = aᵇ: ∂a = b aᵇ⁻¹ (0 where b = 0), ∂b = aᵇ ln a (0 where a ≤ 0, as PyTorch)
                powf powf_d (a, b, y) => (
                    Self::select_eq(b, Self::zero(), Self::zero(), b * a.powf(b - Self::one())),
                    Self::select_lt(Self::zero(), a, y * a.ln(), Self::zero()),
                );
                // y = atan2(a, b): ∂a = b/(a²+b²), ∂b = -a/(a²+b²)
                atan2 atan2_d (a, b, _) => {
                    let r2 = a * a + b * b;
                    (b / r2, -a / r2)
                };
                // y = √(a²+b²): ∂a = a/y, ∂b = b/y
                hypot hypot_d (a, b, y) => (a / y, b / y);
                // y = max(a, b): the larger argument gets the derivative (a on ties, as f64::max keeps a)
                max max_d (a, b, _) => {
                    let da = Self::select_le(b, a, Self::one(), Self::zero());
                    (da, Self::one() - da)
                };
                // y = min(a, b)
                min min_d (a, b, _) => {
                    let da = Self::select_le(a, b, Self::one(), Self::zero());
                    (da, Self::one() - da)
                };
                // y = log_b(a) = ln a / ln b: ∂a = 1/(a ln b), ∂b = -y/(b ln b)
                log log_d (a, b, y) => {
                    let lb = b.ln();
                    ((a * lb).recip(), -y / (b * lb))
                };
            }
        }
    };
}

/// Calls `$callback! { methods { … } }` with the tensor-level op table (see the crate docs).
#[macro_export]
macro_rules! tensor_primitives {
    ($callback:ident) => {
        $callback! {
            methods {
                // pointwise y = f(x)
                relu() => relu_vjp(x, y, d) -> (x);
                tanh() => tanh_vjp(x, y, d) -> (x);
                sigmoid() => sigmoid_vjp(x, y, d) -> (x);
                exp() => exp_vjp(x, y, d) -> (x);
                log() => log_vjp(x, y, d) -> (x);
                sqrt() => sqrt_vjp(x, y, d) -> (x);
                sin() => sin_vjp(x, y, d) -> (x);
                cos() => cos_vjp(x, y, d) -> (x);
                // y = x·b (torch.matmul)
                matmul(b: tensor) => matmul_vjp(x, b, d) -> (x, b);
                // reductions
                sum(dtype: value) => sum_vjp(x, d) -> (x);
                mean(dtype: value) => mean_vjp(x, d) -> (x);
                sum_dim_intlist(dims: list, keepdim: value(bool), dtype: value)
                    => sum_dim_vjp(x, dims, keepdim, d) -> (x);
                mean_dim(dims: list, keepdim: value(bool), dtype: value)
                    => mean_dim_vjp(x, dims, keepdim, d) -> (x);
                // shape
                view(shape: value) => reshape_vjp(x, d) -> (x);
                reshape(shape: value) => reshape_vjp(x, d) -> (x);
                flatten(start_dim: value, end_dim: value) => flatten_vjp(x, d) -> (x);
                transpose(dim0: value(i64), dim1: value(i64)) => transpose_vjp(d, dim0, dim1) -> (x);
                // softmax and losses (class `targets` carry no derivative: passed as written)
                log_softmax(dim: value(i64), dtype: value) => log_softmax_vjp(y, dim, d) -> (x);
                softmax(dim: value(i64), dtype: value) => softmax_vjp(y, dim, d) -> (x);
                // the compiler splits it into `log_softmax` + `nll_loss` nodes (see tensor.rs)
                cross_entropy_for_logits(targets: value(&Tensor))
                    => cross_entropy_for_logits_vjp(x, targets, d) -> (x);
                nll_loss(targets: value(&Tensor)) => nll_loss_vjp(x, targets, d) -> (x);
                // y = mean((x − b)²), `b` the target
                mse_loss(b: tensor, reduction: value) => mse_loss_vjp(x, b, d) -> (x, b);
                // layers
                linear(w: tensor, b: bias)
                    => linear_vjp(x, w, b, d) -> (x, w, b) | linear_vjp_params -> (w, b);
                conv1d(w: tensor, b: bias, stride: list, padding: list, dilation: list, groups: value(i64))
                    => conv1d_vjp(x, w, b, stride, padding, dilation, groups, d) -> (x, w, b);
                max_pool1d(kernel: list, stride: list, padding: list, dilation: list, ceil_mode: value(bool))
                    => max_pool1d_vjp(x, kernel, stride, padding, dilation, ceil_mode, d) -> (x);
            }
        }
    };
}

/// `true` when a rule's parameter is named (the rule reads it), `false` for `_`: how callbacks
/// read "does this rule use the primal result" off the table.
#[macro_export]
macro_rules! reads {
    (_) => {
        false
    };
    ($name:ident) => {
        true
    };
}

/// `true` for `expensive` rules.
#[macro_export]
macro_rules! is_expensive {
    (expensive) => {
        true
    };
    (cheap) => {
        false
    };
}

/// How a differentiable function treats one of its parameters, as its callers' reverse sweeps
/// need to know. Every function that `#[differentiable]` code calls publishes
/// `<name>_ARG_MODES: &[ArgMode]`, one entry per parameter: the macro generates it, kernels
/// declare it. A call site passing a `&mut` buffer reads it (the argument's syntax, `h` for a
/// `&mut [f32]` variable, does not say whether the callee writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgMode {
    /// Read only (or not a float buffer).
    In,
    /// A `&mut` float buffer the callee overwrites; its pullback takes it as the call left it
    /// (kernels read their outputs in the pullback).
    Out,
    /// A `&mut` float buffer whose incoming contents the callee reads: its pullback needs them,
    /// as they were before the call.
    InOut,
    /// A `&mut` float buffer the callee overwrites with an intermediate that its pullback reads
    /// (a fused kernel's saved pre-activation): written as [`ArgMode::Out`], but not an output
    /// to differentiate. A call site hands the pullback an empty adjoint for it, so no seed
    /// flows from it and no adjoint buffer is read or zeroed for it. `#[differentiable]` code
    /// that reads such a buffer anywhere else, or hands it to a call that does not stash it,
    /// does not compile. A `&mut` parameter that only stashes write is published as `Stash`
    /// too: a seed on it is not propagated.
    Stash,
}

impl ArgMode {
    /// Does the callee write the argument?
    pub const fn writes(self) -> bool {
        !matches!(self, ArgMode::In)
    }
    /// The stronger of two modes (`In` < `Out` < `InOut`): the mode of a struct of buffers
    /// is the join of its fields' modes. A `Stash` joins as `Out` (a struct's adjoint is
    /// handed over whole).
    pub const fn join(self, other: ArgMode) -> ArgMode {
        match (self, other) {
            (ArgMode::InOut, _) | (_, ArgMode::InOut) => ArgMode::InOut,
            (ArgMode::Out | ArgMode::Stash, _) | (_, ArgMode::Out | ArgMode::Stash) => ArgMode::Out,
            _ => ArgMode::In,
        }
    }
    /// Is the argument a stash (see [`ArgMode::Stash`]): its pullback gets an empty adjoint?
    pub const fn stash(self) -> bool {
        matches!(self, ArgMode::Stash)
    }
    /// Must the pullback receive the argument as it was before the call?
    pub const fn needs_before(self) -> bool {
        matches!(self, ArgMode::InOut)
    }
    /// The modes of a kernel of `N` parameters whose first one is its output.
    pub const fn output_first<const N: usize>() -> [ArgMode; N] {
        let mut m = [ArgMode::In; N];
        if N > 0 {
            m[0] = ArgMode::Out;
        }
        m
    }
}
