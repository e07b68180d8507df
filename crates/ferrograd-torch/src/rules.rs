//! Derivative rules (vector-Jacobian products) of the `tch::Tensor` ops that
//! `#[differentiable]` tensor-level functions may use.
//!
//! The reverse pass that the AD compiler generates for a straight-line
//! function over `&Tensor` calls these by path: one `<op>_vjp` per forward op,
//! and [`acc`] / [`acc_into`] to sum adjoints.
//!
//! Conventions, shared by every rule:
//! - `d` is the adjoint of the op's output `y`; a rule returns the adjoint of
//!   each differentiable operand, already reduced to that operand's shape
//!   ([`unbroadcast`]) and converted to its floating dtype, as autograd does.
//! - Rules are infallible: the forward pass has validated shapes, dtypes and
//!   devices, so a failure here is a bug in the caller (tch panics).
//! - Only primitive LibTorch kernels are used, never autograd: rules run under
//!   `no_grad` inside a custom `Function`'s backward, on any device.
//! - Results are fresh tensors, except where a rule is the identity (`add`,
//!   `sub`'s first operand, `reshape`, `flatten`, `transpose`), which may
//!   return `d` itself or a view of it, as LibTorch's own backward does. Such
//!   a result is never an expanded (stride-0) view: an expanded `d` is made
//!   contiguous first. Callers must not modify results in place; [`acc`] and
//!   [`acc_into`] never do.
//!
//! Shapes below: `[..]` is any shape, `y` the forward output, `Σ_dim` a sum
//! over `dim` with the dim kept.

use tch::{Kind, Tensor};

// ---------------------------------------------------------------- accumulation

/// `slot ← slot + g`; an empty slot (`None`, or an undefined tensor) becomes
/// `g`. An undefined `g` adds nothing. Out of place: `g` may alias another
/// gradient, so neither is written to.
pub fn acc(slot: &mut Option<Tensor>, g: Tensor) {
    if !g.defined() {
        return;
    }
    *slot = Some(match slot.take() {
        Some(s) if s.defined() => s + g,
        _ => g,
    });
}

/// `dst ← dst + g`; an undefined `dst` (`Tensor::new()`) becomes `g`; `None`
/// (or an undefined `g`) does nothing. Out of place, like [`acc`]: `dst` is
/// replaced by a new tensor, the old one is not written to.
pub fn acc_into(dst: &mut Tensor, g: Option<Tensor>) {
    let Some(g) = g else { return };
    if !g.defined() {
        return;
    }
    *dst = if dst.defined() { &*dst + g } else { g };
}

/// Sums `g` down to `like`'s shape, undoing broadcasting: leading dims of `g`
/// that `like` lacks are summed away, and dims where `like` has size 1 are
/// summed with the dim kept. `like`'s shape must broadcast to `g`'s.
/// The result has `like`'s floating dtype and is never an expanded view.
pub fn unbroadcast(g: Tensor, like: &Tensor) -> Tensor {
    let g = to_kind_of(g, like);
    let target = like.size();
    let size = g.size();
    if size == target {
        return g.contiguous();
    }
    if size.len() < target.len() {
        // Only leading size-1 dims missing (e.g. `[3]` to `[1, 3]`).
        return g.contiguous().reshape(&target);
    }
    let lead = size.len() - target.len();
    let dims: Vec<i64> = (0..size.len())
        .filter(|&i| i < lead || (target[i - lead] == 1 && size[i] != 1))
        .map(|i| i as i64)
        .collect();
    if dims.is_empty() {
        // Only size-1 dims differ in number (e.g. `[1, 3]` to `[3]`).
        return g.contiguous().reshape(&target);
    }
    if dims.len() == lead {
        // Only leading dims to drop (a bias: `[.., n]` to `[n]`): one reduction, no reshape.
        return g.sum_dim_intlist(&dims[..], false, None);
    }
    g.sum_dim_intlist(&dims[..], true, None).reshape(&target)
}

/// `g` converted to `like`'s dtype when both are floating and differ (the
/// engine does the same to every gradient); otherwise `g` unchanged.
fn to_kind_of(g: Tensor, like: &Tensor) -> Tensor {
    let kind = like.kind();
    if g.kind() != kind && is_floating(kind) {
        g.to_kind(kind)
    } else {
        g
    }
}

fn is_floating(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Double | Kind::Float | Kind::Half | Kind::BFloat16
    )
}

// ------------------------------------------------------------------ arithmetic

/// `y = a + b` (broadcasting): `da = unbroadcast(d)`, `db = unbroadcast(d)`.
pub fn add_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> (Tensor, Tensor) {
    (
        unbroadcast(d.shallow_clone(), a),
        unbroadcast(d.shallow_clone(), b),
    )
}

/// `y = a − b` (broadcasting): `da = unbroadcast(d)`, `db = −unbroadcast(d)`.
pub fn sub_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> (Tensor, Tensor) {
    (unbroadcast(d.shallow_clone(), a), unbroadcast(-d, b))
}

/// `y = a · b` (elementwise, broadcasting): `da = unbroadcast(d·b)`,
/// `db = unbroadcast(d·a)`.
pub fn mul_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> (Tensor, Tensor) {
    (unbroadcast(d * b, a), unbroadcast(d * a, b))
}

/// `y = a / b` (broadcasting): `da = unbroadcast(d / b)`,
/// `db = unbroadcast(−d·(a/b)/b)` (LibTorch's formula).
pub fn div_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> (Tensor, Tensor) {
    let da = d / b;
    let db = -(d * ((a / b) / b));
    (unbroadcast(da, a), unbroadcast(db, b))
}

/// `y = −x`: `dx = −d`.
pub fn neg_vjp(d: &Tensor) -> Tensor {
    -d
}

/// `y = x·s` or `s·x`, `s` a float scalar: `dx = d·s`.
pub fn scale_vjp(d: &Tensor, s: f64) -> Tensor {
    d * s
}

/// `y = a.matmul(b)` with `torch.matmul`'s cases. With `a` promoted to
/// `[.., n, k]` (1-D `a`: `[1, k]`), `b` to `[.., k, m]` (1-D `b`: `[k, 1]`)
/// and `d` to `[.., n, m]`:
/// `da = unbroadcast(d·bᵀ)`, `db = unbroadcast(aᵀ·d)`, then the promoted
/// dims are dropped again. For a 2-D `b` (a linear layer), `db` is one
/// `[k, M]·[M, m]` product over the flattened leading dims of `a`.
pub fn matmul_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> (Tensor, Tensor) {
    let (a_dim, b_dim) = (a.dim(), b.dim());
    if a_dim >= 2 && b_dim == 2 {
        // a: [.., n, k], b: [k, m], d: [.., n, m] — no batch broadcasting.
        let k = b.size()[0];
        let m = b.size()[1];
        let da = d.matmul(&b.mt());
        let db = as_2d(a, k).mt().mm(&as_2d(d, m));
        return (to_kind_of(da, a), to_kind_of(db, b));
    }
    let a1 = if a_dim == 1 {
        a.unsqueeze(0)
    } else {
        a.shallow_clone()
    };
    let b1 = if b_dim == 1 {
        b.unsqueeze(1)
    } else {
        b.shallow_clone()
    };
    let mut d1 = d.shallow_clone();
    if b_dim == 1 {
        d1 = d1.unsqueeze(-1);
    }
    if a_dim == 1 {
        d1 = d1.unsqueeze(-2);
    }
    let da = unbroadcast(d1.matmul(&b1.mt()), &a1).reshape(a.size());
    let db = unbroadcast(a1.mt().matmul(&d1), &b1).reshape(b.size());
    (da, db)
}

// ------------------------------------------------------------------ pointwise

/// `y = relu(x)`: `dx = d·[y > 0]` (LibTorch's `threshold_backward`).
pub fn relu_vjp(_x: &Tensor, y: &Tensor, d: &Tensor) -> Tensor {
    y.threshold_backward(d, 0.0)
}

/// `y = tanh(x)`: `dx = d·(1 − y²)`.
pub fn tanh_vjp(_x: &Tensor, y: &Tensor, d: &Tensor) -> Tensor {
    Tensor::tanh_backward(d, y)
}

/// `y = sigmoid(x)`: `dx = d·y·(1 − y)`.
pub fn sigmoid_vjp(_x: &Tensor, y: &Tensor, d: &Tensor) -> Tensor {
    Tensor::sigmoid_backward(d, y)
}

/// `y = exp(x)`: `dx = d·y`.
pub fn exp_vjp(_x: &Tensor, y: &Tensor, d: &Tensor) -> Tensor {
    d * y
}

/// `y = ln(x)`: `dx = d / x`.
pub fn log_vjp(x: &Tensor, _y: &Tensor, d: &Tensor) -> Tensor {
    d / x
}

/// `y = √x`: `dx = d / (2y)`.
pub fn sqrt_vjp(_x: &Tensor, y: &Tensor, d: &Tensor) -> Tensor {
    d / (y * 2.0)
}

/// `y = sin(x)`: `dx = d·cos(x)`.
pub fn sin_vjp(x: &Tensor, _y: &Tensor, d: &Tensor) -> Tensor {
    d * x.cos()
}

/// `y = cos(x)`: `dx = −d·sin(x)`.
pub fn cos_vjp(x: &Tensor, _y: &Tensor, d: &Tensor) -> Tensor {
    -(d * x.sin())
}

// ------------------------------------------------------------------ reductions

/// `y = x.sum(kind)`, `d: []`: `dx = d` broadcast to `x`'s shape (a fresh
/// contiguous tensor in `x`'s dtype).
pub fn sum_vjp(x: &Tensor, d: &Tensor) -> Tensor {
    to_kind_of(d.shallow_clone(), x)
        .expand(x.size(), false)
        .contiguous()
}

/// `y = x.mean(kind)`, `d: []`: `dx = d / numel(x)` broadcast to `x`'s shape.
pub fn mean_vjp(x: &Tensor, d: &Tensor) -> Tensor {
    let n = x.numel().max(1) as f64;
    (to_kind_of(d.shallow_clone(), x) / n)
        .expand(x.size(), false)
        .contiguous()
}

/// The reduced dims of `x` (negative dims resolved, ascending, deduplicated);
/// an empty `dims` reduces every dim, as in LibTorch.
fn reduced_dims(x: &Tensor, dims: &[i64]) -> Vec<i64> {
    let rank = x.dim() as i64;
    if dims.is_empty() {
        return (0..rank).collect();
    }
    let mut out: Vec<i64> = dims
        .iter()
        .map(|&k| if k < 0 { k + rank.max(1) } else { k })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// `d` (the adjoint of a reduction of `x` over `dims`) broadcast back to `x`'s
/// shape, as a fresh contiguous tensor.
fn expand_reduced(x: &Tensor, dims: &[i64], keepdim: bool, d: Tensor) -> Tensor {
    let mut d = to_kind_of(d, x);
    if x.dim() == 0 {
        return d.reshape([]).contiguous();
    }
    if !keepdim {
        for &k in &reduced_dims(x, dims) {
            d = d.unsqueeze(k);
        }
    }
    d.expand(x.size(), false).contiguous()
}

/// `y = x.sum_dim_intlist(dims, keepdim, kind)`: `dx[i] = d[i with the
/// reduced dims removed]` (`d` unsqueezed at `dims` unless `keepdim`, then
/// broadcast to `x`'s shape).
pub fn sum_dim_vjp(x: &Tensor, dims: &[i64], keepdim: bool, d: &Tensor) -> Tensor {
    expand_reduced(x, dims, keepdim, d.shallow_clone())
}

/// `y = x.mean_dim(dims, keepdim, kind)`: as [`sum_dim_vjp`], divided by
/// `N = Π_{k ∈ dims} x.size(k)`.
pub fn mean_dim_vjp(x: &Tensor, dims: &[i64], keepdim: bool, d: &Tensor) -> Tensor {
    let size = x.size();
    let n: i64 = if x.dim() == 0 {
        1
    } else {
        reduced_dims(x, dims)
            .iter()
            .map(|&k| size[k as usize])
            .product()
    };
    expand_reduced(x, dims, keepdim, d / (n.max(1) as f64))
}

// ---------------------------------------------------------------------- shape

/// `y = x.view(..)`, `x.reshape(..)` or `x.flatten(..)`: `dx = d` reshaped to
/// `x`'s shape (a view of `d` when `d` is contiguous).
pub fn reshape_vjp(x: &Tensor, d: &Tensor) -> Tensor {
    to_kind_of(d.contiguous(), x).reshape(x.size())
}

/// `y = x.flatten(start_dim, end_dim)`: see [`reshape_vjp`].
pub fn flatten_vjp(x: &Tensor, d: &Tensor) -> Tensor {
    reshape_vjp(x, d)
}

/// `y = x.transpose(dim0, dim1)`: `dx = d.transpose(dim0, dim1)`. A
/// transposed view of `d` (not contiguous, not expanded), as in LibTorch.
pub fn transpose_vjp(d: &Tensor, dim0: i64, dim1: i64) -> Tensor {
    let d = if is_expanded(d) {
        d.contiguous()
    } else {
        d.shallow_clone()
    };
    d.transpose(dim0, dim1)
}

/// Whether some dim of size > 1 has stride 0.
fn is_expanded(t: &Tensor) -> bool {
    t.size()
        .iter()
        .zip(t.stride())
        .any(|(&n, s)| n > 1 && s == 0)
}

// ---------------------------------------------------------- softmax and losses

/// `y = x.log_softmax(dim, kind)`: `dx = d − exp(y)·Σ_dim d`. In `y`'s dtype.
pub fn log_softmax_vjp(y: &Tensor, dim: i64, d: &Tensor) -> Tensor {
    // ATen's fused kernel for `d - exp(y)·Σ_dim d`.
    let d = to_kind_of(d.shallow_clone(), y).contiguous();
    Tensor::internal_log_softmax_backward_data(&d, y, dim, y.kind())
}

/// `y = x.softmax(dim, kind)`: `dx = y·(d − Σ_dim d·y)`. In `y`'s dtype.
pub fn softmax_vjp(y: &Tensor, dim: i64, d: &Tensor) -> Tensor {
    let d = to_kind_of(d.shallow_clone(), y);
    let dot = (&d * y).sum_dim_intlist(dim, true, None);
    y * (d - dot)
}

/// `y = logp.nll_loss(targets)` (mean reduction, `ignore_index = −100`, no
/// weights; `logp: [N, C]` with `targets: [N]`, or `logp: [C]` with
/// `targets: []` — tch's `nll_loss` accepts no other ranks), `d: []`:
/// `dlogp[n, c] = −d / M · [c = targets[n]]` for the `M` targets that are not
/// ignored; 0 in ignored rows (all of them when `M = 0`, as in LibTorch).
pub fn nll_loss_vjp(logp: &Tensor, targets: &Tensor, d: &Tensor) -> Tensor {
    const IGNORE_INDEX: i64 = -100;
    // ATen's fused kernel: `-d / (number of kept targets)` scattered at the targets. The
    // count is read from memory for CPU targets (two dispatched ops fewer).
    let total_weight = match crate::ffi::as_slice::<i64>(targets, "targets") {
        Ok(t) => {
            let kept = t.iter().filter(|&&c| c != IGNORE_INDEX).count();
            Tensor::scalar_tensor(kept as f64, (logp.kind(), logp.device()))
        }
        Err(_) => targets.ne(IGNORE_INDEX).sum(logp.kind()),
    };
    let d = to_kind_of(d.shallow_clone(), logp);
    logp.nll_loss_backward(
        &d,
        targets,
        None::<Tensor>,
        tch::Reduction::Mean,
        IGNORE_INDEX,
        &total_weight,
    )
}

/// `y = logits.cross_entropy_for_logits(targets)`, i.e.
/// `logits.log_softmax(−1, ..).nll_loss(targets)` (mean reduction, int64
/// class targets), `d: []`: with `p = softmax(logits, −1)`,
/// `dlogits[n, c] = d / M · (p[n, c] − [c = targets[n]])` (rule of
/// [`nll_loss_vjp`] followed by [`log_softmax_vjp`]). Computed in `logits`'
/// dtype. Note that tch's method computes `log_softmax(−1, Kind::Float)`: for
/// f64 logits its loss is only f32-accurate (and so is native autograd
/// through it), while this rule is exact in f64; f64 code that wants 1e-10
/// agreement writes `logits.log_softmax(−1, Kind::Double).nll_loss(targets)`.
pub fn cross_entropy_for_logits_vjp(logits: &Tensor, targets: &Tensor, d: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, logits.kind());
    let dlogp = nll_loss_vjp(&logp, targets, d);
    log_softmax_vjp(&logp, -1, &dlogp)
}

/// `y = x.mse_loss(target, Reduction::Mean) = mean((x − target)²)`, `d: []`:
/// with `N = numel(x − target)`, `dx = unbroadcast(2·d·(x − target) / N)`,
/// `dtarget = −unbroadcast(2·d·(x − target) / N)`. When `x` and `target`
/// have different shapes this is the derivative of the value `mse_loss`
/// returns; LibTorch's own `mse_loss_backward` is not (it divides by each
/// operand's numel instead of `N`), so autograd through a native `mse_loss`
/// differs from this rule there.
pub fn mse_loss_vjp(x: &Tensor, target: &Tensor, d: &Tensor) -> (Tensor, Tensor) {
    let diff = x - target;
    let n = diff.numel().max(1) as f64;
    let g = diff * (d * (2.0 / n));
    let dtarget = unbroadcast(-&g, target);
    (unbroadcast(g, x), dtarget)
}

// -------------------------------------------------------------------- layers

/// `y = x.linear(w, b) = x·wᵀ + b`, `x: [.., in]`, `w: [out, in]`,
/// `b: [out]`, `d: [.., out]`: `dx = d·w`, `dw = dᵀ·x` summed over the
/// leading dims (`[out, M]·[M, in]`), `db = Σ_{..} d`.
pub fn linear_vjp(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    d: &Tensor,
) -> (Tensor, Tensor, Option<Tensor>) {
    let (out, inp) = (w.size()[0], w.size()[1]);
    let d2 = as_2d(d, out);
    // `mm` for the common 2-D case: `matmul`'s dispatch to it costs extra.
    let dx = if d.dim() == 2 { d.mm(w) } else { d.matmul(w) };
    let dx = to_kind_of(dx, x);
    let dw = to_kind_of(d2.mt().mm(&as_2d(x, inp)), w);
    let db = b.map(|b| unbroadcast(d.shallow_clone(), b));
    (dx, dw, db)
}
/// [`linear_vjp`] without the input gradient (for an input that needs none, e.g. data):
/// `dw = dᵀ·x` (summed over leading dims), `db = Σ d`.
pub fn linear_vjp_params(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    d: &Tensor,
) -> (Tensor, Option<Tensor>) {
    let (out, inp) = (w.size()[0], w.size()[1]);
    let dw = to_kind_of(as_2d(d, out).mt().mm(&as_2d(x, inp)), w);
    let db = b.map(|b| unbroadcast(d.shallow_clone(), b));
    (dw, db)
}

/// `t` as `[-1, cols]`: itself when already 2-D (a `reshape` is a dispatched op even then).
fn as_2d(t: &Tensor, cols: i64) -> Tensor {
    if t.dim() == 2 {
        t.shallow_clone()
    } else {
        t.reshape([-1, cols])
    }
}

/// `y = x.conv1d(w, b, stride, padding, dilation, groups)`, `x: [N, C, L]`
/// (or unbatched `[C, L]`), `w: [O, C/G, K]`, `b: [O]`, `d: [N, O, L']`,
/// with `s, p, δ` the (one-element) stride, padding and dilation:
/// - `dx = conv_transpose1d(d, w, s, p, output_padding = L − ((L'−1)s − 2p
///   + δ(K−1) + 1), G, δ)`;
/// - `dw[g·O/G + o, c, k] = Σ_{n,t} d[n, g·O/G + o, t] ·
///   xpad[n, g·C/G + c, t·s + k·δ]` (one einsum over the im2col patches of
///   the zero-padded input);
/// - `db[o] = Σ_{n,t} d[n, o, t]`.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the forward op's arguments, which the generated code passes through"
)]
pub fn conv1d_vjp(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    groups: i64,
    d: &Tensor,
) -> (Tensor, Tensor, Option<Tensor>) {
    let unbatched = x.dim() == 2;
    let (x3, d3) = if unbatched {
        (x.unsqueeze(0), d.unsqueeze(0))
    } else {
        (x.shallow_clone(), d.shallow_clone())
    };
    let (s, p, dil) = (first(stride), first(padding), first(dilation));
    let xs = x3.size();
    let (n, c, l) = (xs[0], xs[1], xs[2]);
    let ws = w.size();
    let (o, k) = (ws[0], ws[2]);
    let l_out = d3.size()[2];
    let span = dil * (k - 1) + 1;

    let output_padding = l - ((l_out - 1) * s - 2 * p + span);
    let dx = d3.conv_transpose1d(
        w,
        None::<&Tensor>,
        [s],
        [p],
        [output_padding],
        groups,
        [dil],
    );
    let dx = if unbatched { dx.squeeze_dim(0) } else { dx };

    // patches[n, c, t, k] = xpad[n, c, t·s + k·δ]
    let patches = x3
        .constant_pad_nd([p, p])
        .unfold(2, span, s)
        .slice(3, 0, span, dil)
        .reshape([n, groups, c / groups, l_out, k]);
    let dgrp = d3.reshape([n, groups, o / groups, l_out]);
    let dw = Tensor::einsum("ngot,ngctk->gock", &[&dgrp, &patches], None::<&[i64]>).reshape([
        o,
        c / groups,
        k,
    ]);

    let db = b.map(|b| to_kind_of(d3.sum_dim_intlist(&[0_i64, 2][..], false, None), b));
    (to_kind_of(dx, x), to_kind_of(dw, w), db)
}

/// The value of a one-element conv/pool parameter (LibTorch expands one
/// element to every spatial dim; conv1d has one).
fn first(list: &[i64]) -> i64 {
    list[0]
}

/// `y = x.max_pool1d(kernel, stride, padding, dilation, ceil_mode)`,
/// `x: [N, C, L]` or `[C, L]`: `dx[.., i] = Σ_{t : argmax(t) = i} d[.., t]`,
/// with the argmax positions from LibTorch's `max_pool1d_with_indices`
/// (recomputed here from `x`) and a `scatter_add` of `d`.
pub fn max_pool1d_vjp(
    x: &Tensor,
    kernel: &[i64],
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    ceil_mode: bool,
    d: &Tensor,
) -> Tensor {
    let (_, indices) = x.max_pool1d_with_indices(kernel, stride, padding, dilation, ceil_mode);
    let d = to_kind_of(d.shallow_clone(), x);
    x.zeros_like().scatter_add(-1, &indices, &d)
}
