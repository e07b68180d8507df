//! Derivative rules (vector-Jacobian products) of the `tch::Tensor` ops that
//! `#[differentiable]` tensor-level functions may use.
//!
//! The reverse pass that the AD compiler generates for a straight-line
//! function over `&Tensor` calls these by path: one `<op>_vjp` per forward op,
//! and [`acc`] / [`acc_into`] to sum adjoints, each followed by `?`.
//!
//! Which rule each tensor method has, and what it takes and returns, is
//! declared once, in `ferrograd_prims::tensor_primitives!`: the compiler
//! generates its calls from that table, and this module checks at compile
//! time that every rule the table names is here with the table's signature.
//! Adding an op is one table line plus its rule here.
//!
//! Conventions, shared by every rule:
//! - `d` is the adjoint of the op's output `y`; a rule returns the adjoint of
//!   each differentiable operand, already reduced to that operand's shape
//!   ([`unbroadcast`]) and converted to its floating dtype, as autograd does.
//! - Rules are public, so they check their arguments and return an [`Error`]
//!   instead of panicking inside tch: every tensor must be defined, dense
//!   (strided) and non-empty; adjoints and values of the op's output must be
//!   floating (class targets `Int64`); all tensors on one device; shapes
//!   consistent with the forward op (`d` has the output's shape). Messages
//!   name the rule, the argument and the shapes. Any error LibTorch still
//!   raises comes back as [`Error::Tch`] (only fallible `f_*` calls are used).
//!   Non-contiguous arguments are fine: the kernels handle any strides.
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

use tch::{Device, Kind, Tensor};

use crate::{ffi, Error};

type Result<T> = std::result::Result<T, Error>;

// ------------------------------------------------------------ argument checks

/// The dtypes a rule accepts for one argument.
#[derive(Clone, Copy)]
enum Dtype {
    /// Half, Float, Double, BFloat16: adjoints and differentiable values.
    Floating,
    /// Any real dtype (an operand that need not be differentiable, e.g. a mask).
    Real,
    /// Int64: class targets.
    Int64,
}

impl Dtype {
    fn accepts(self, scalar_type: i32) -> bool {
        // c10::ScalarType codes: 0..=4 integers, 5 Half, 6 Float, 7 Double, 11 Bool,
        // 15 BFloat16 (8..=10 complex, 12..=14 and 16 quantized).
        match self {
            Dtype::Floating => matches!(scalar_type, 5 | 6 | 7 | 15),
            Dtype::Real => matches!(scalar_type, 0..=7 | 11 | 15),
            Dtype::Int64 => scalar_type == 4,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Dtype::Floating => "a floating dtype (Float, Double, Half or BFloat16)",
            Dtype::Real => "a real (non-complex, non-quantized) dtype",
            Dtype::Int64 => "Int64 class indices",
        }
    }
}

/// Where a checked tensor lives (compared between a rule's arguments).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Place {
    Cpu,
    Cuda(usize),
    Meta,
    Other,
}

/// A checked tensor argument: its shape and device.
struct Checked {
    shape: Vec<i64>,
    place: Place,
}

/// One rule's argument checks: every error names the rule and the argument.
#[derive(Clone, Copy)]
struct Rule(&'static str);

impl Rule {
    fn fail(self, problem: impl Into<String>) -> Error {
        Error::Rule {
            rule: self.0,
            problem: problem.into(),
        }
    }

    /// Defined, dense, non-empty and of an accepted dtype.
    fn tensor(self, arg: &str, t: &Tensor, dtype: Dtype) -> Result<Checked> {
        let what = || format!("`rules::{}` argument `{arg}`", self.0);
        let info = ffi::tensor_info(t)?;
        if info.defined == 0 {
            return Err(Error::Undefined { what: what() });
        }
        if info.is_strided == 0 {
            return Err(Error::Layout { what: what() });
        }
        let shape = t.size();
        if info.numel == 0 {
            return Err(Error::Empty {
                what: what(),
                shape,
            });
        }
        if !dtype.accepts(info.scalar_type) {
            let got = t.f_kind().map_or_else(
                |_| format!("code {}", info.scalar_type),
                |k| format!("{k:?}"),
            );
            return Err(self.fail(format!(
                "argument `{arg}` (shape {shape:?}) has dtype {got}; expected {}",
                dtype.expected()
            )));
        }
        let place = match info.device_kind {
            0 => Place::Cpu,
            1 => match t.device() {
                Device::Cuda(i) => Place::Cuda(i),
                _ => Place::Other,
            },
            2 => Place::Meta,
            _ => Place::Other,
        };
        Ok(Checked { shape, place })
    }

    /// All `args` on the first one's device.
    fn same_device(self, args: &[(&str, &Checked)]) -> Result<()> {
        let Some(&(first, c0)) = args.first() else {
            return Ok(());
        };
        for &(arg, c) in &args[1..] {
            if c.place != c0.place {
                return Err(self.fail(format!(
                    "argument `{arg}` is on device {:?} but `{first}` is on {:?}; move them to one device",
                    c.place, c0.place
                )));
            }
        }
        Ok(())
    }

    /// `got == want`, else an error saying where `want` comes from.
    fn shape(
        self,
        arg: &str,
        got: &[i64],
        want: &[i64],
        from: impl FnOnce() -> String,
    ) -> Result<()> {
        if got == want {
            Ok(())
        } else {
            Err(self.fail(format!(
                "argument `{arg}` has shape {got:?}, expected {want:?} ({})",
                from()
            )))
        }
    }

    /// A dim index valid for `of` = (name, shape) (a 0-d tensor takes 0 and −1, as in
    /// LibTorch), resolved to `0..max(rank, 1)`.
    fn dim(self, arg: &str, dim: i64, of: (&str, &[i64])) -> Result<i64> {
        let r = of.1.len().max(1) as i64;
        if (-r..r).contains(&dim) {
            Ok(if dim < 0 { dim + r } else { dim })
        } else {
            Err(self.fail(format!(
                "`{arg}` = {dim} is out of range for `{}` of shape {:?} (expected {}..{r})",
                of.0, of.1, -r
            )))
        }
    }
}

/// The shape two shapes broadcast to, if they do.
fn broadcast_shape(a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let n = a.len().max(b.len());
    let at = |s: &[i64], i: usize| {
        let pad = n - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

fn numel(shape: &[i64]) -> i64 {
    shape.iter().product()
}

/// Checks the operands and adjoint of an elementwise binary op: `d` has the broadcast shape.
fn check_binary(rule: Rule, a: &Tensor, b: &Tensor, d: &Tensor) -> Result<()> {
    let ca = rule.tensor("a", a, Dtype::Real)?;
    let cb = rule.tensor("b", b, Dtype::Real)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("a", &ca), ("b", &cb)])?;
    let y = broadcast_shape(&ca.shape, &cb.shape).ok_or_else(|| {
        rule.fail(format!(
            "`a` of shape {:?} and `b` of shape {:?} do not broadcast",
            ca.shape, cb.shape
        ))
    })?;
    rule.shape("d", &cd.shape, &y, || {
        format!("the broadcast of `a` {:?} and `b` {:?}", ca.shape, cb.shape)
    })
}

/// Checks `d` alone (rules that need nothing else).
fn check_adjoint(rule: Rule, d: &Tensor) -> Result<Checked> {
    rule.tensor("d", d, Dtype::Floating)
}

/// Checks a pointwise op `y = f(x)`: `x`, `y` and `d` of one shape.
fn check_pointwise(rule: Rule, x: &Tensor, y: &Tensor, d: &Tensor) -> Result<()> {
    let cx = rule.tensor("x", x, Dtype::Real)?;
    let cy = rule.tensor("y", y, Dtype::Floating)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx), ("y", &cy)])?;
    rule.shape("y", &cy.shape, &cx.shape, || "the shape of `x`".into())?;
    rule.shape("d", &cd.shape, &cx.shape, || "the shape of `x`".into())
}

/// Checks a full reduction `y = x.sum()`-like: `d` is a scalar (shape `[]`).
fn check_full_reduction(rule: Rule, x: &Tensor, d: &Tensor) -> Result<()> {
    let cx = rule.tensor("x", x, Dtype::Real)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx)])?;
    rule.shape("d", &cd.shape, &[], || {
        "the output of a full reduction is a scalar".into()
    })
}

// ---------------------------------------------------------------- accumulation

/// `slot ← slot + g`; an empty slot (`None`, or an undefined tensor) becomes
/// `g`. An undefined `g` adds nothing. Out of place: `g` may alias another
/// gradient, so neither is written to.
///
/// # Errors
/// `g` (or the slot's tensor) fails the checks of the module docs, or the two differ in
/// shape or device (two adjoints of one value always agree; broadcasting would hide the
/// bug).
pub fn acc(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    if !g.defined() {
        return Ok(());
    }
    let rule = Rule("acc");
    let cg = rule.tensor("g", &g, Dtype::Floating)?;
    *slot = Some(match slot.take() {
        Some(s) if s.defined() => add_adjoints(rule, ("slot", &s), &g, &cg)?,
        _ => g,
    });
    Ok(())
}

/// `dst ← dst + g`; an undefined `dst` (`Tensor::new()`) becomes `g`; `None`
/// (or an undefined `g`) does nothing. Out of place, like [`acc`]: `dst` is
/// replaced by a new tensor, the old one is not written to.
///
/// # Errors
/// As [`acc`].
pub fn acc_into(dst: &mut Tensor, g: Option<Tensor>) -> Result<()> {
    let Some(g) = g else { return Ok(()) };
    if !g.defined() {
        return Ok(());
    }
    let rule = Rule("acc_into");
    let cg = rule.tensor("g", &g, Dtype::Floating)?;
    *dst = if dst.defined() {
        add_adjoints(rule, ("dst", dst), &g, &cg)?
    } else {
        g
    };
    Ok(())
}

/// `s + g` for two adjoints of one value: same shape and device, no broadcasting.
fn add_adjoints(rule: Rule, s: (&str, &Tensor), g: &Tensor, cg: &Checked) -> Result<Tensor> {
    let (name, s) = s;
    let cs = rule.tensor(name, s, Dtype::Floating)?;
    rule.same_device(&[(name, &cs), ("g", cg)])?;
    rule.shape("g", &cg.shape, &cs.shape, || {
        format!("the shape of the adjoint accumulated in `{name}`")
    })?;
    Ok(s.f_add(g)?)
}

/// Sums `g` down to `like`'s shape, undoing broadcasting: leading dims of `g`
/// that `like` lacks are summed away, and dims where `like` has size 1 are
/// summed with the dim kept. The result has `like`'s floating dtype and is never
/// an expanded view.
///
/// # Errors
/// `like`'s shape does not broadcast to `g`'s, or a tensor fails the checks of the module
/// docs.
pub fn unbroadcast(g: Tensor, like: &Tensor) -> Result<Tensor> {
    let rule = Rule("unbroadcast");
    let cg = rule.tensor("g", &g, Dtype::Floating)?;
    let cl = rule.tensor("like", like, Dtype::Real)?;
    rule.same_device(&[("g", &cg), ("like", &cl)])?;
    match broadcast_shape(&cl.shape, &cg.shape) {
        Some(b) if numel(&b) == numel(&cg.shape) => reduce_to(g, like),
        _ => Err(rule.fail(format!(
            "`like` of shape {:?} does not broadcast to `g` of shape {:?}",
            cl.shape, cg.shape
        ))),
    }
}

/// [`unbroadcast`] on checked arguments.
fn reduce_to(g: Tensor, like: &Tensor) -> Result<Tensor> {
    let g = to_kind_of(g, like)?;
    let target = like.size();
    let size = g.size();
    if size == target {
        return Ok(g.f_contiguous()?);
    }
    if size.len() < target.len() {
        // Only leading size-1 dims missing (e.g. `[3]` to `[1, 3]`).
        return Ok(g.f_contiguous()?.f_reshape(&target)?);
    }
    let lead = size.len() - target.len();
    let dims: Vec<i64> = (0..size.len())
        .filter(|&i| i < lead || (target[i - lead] == 1 && size[i] != 1))
        .map(|i| i as i64)
        .collect();
    if dims.is_empty() {
        // Only size-1 dims differ in number (e.g. `[1, 3]` to `[3]`).
        return Ok(g.f_contiguous()?.f_reshape(&target)?);
    }
    if dims.len() == lead {
        // Only leading dims to drop (a bias: `[.., n]` to `[n]`): one reduction, no reshape.
        return Ok(g.f_sum_dim_intlist(&dims[..], false, None)?);
    }
    Ok(g.f_sum_dim_intlist(&dims[..], true, None)?
        .f_reshape(&target)?)
}

/// `g` converted to `like`'s dtype when both are floating and differ (the
/// engine does the same to every gradient); otherwise `g` unchanged.
fn to_kind_of(g: Tensor, like: &Tensor) -> Result<Tensor> {
    let kind = like.f_kind()?;
    if g.f_kind()? != kind && is_floating(kind) {
        Ok(g.f_to_kind(kind)?)
    } else {
        Ok(g)
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
///
/// # Errors
/// See the module docs; `d` must have the broadcast shape of `a` and `b`.
pub fn add_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> Result<(Tensor, Tensor)> {
    check_binary(Rule("add_vjp"), a, b, d)?;
    Ok((
        reduce_to(d.shallow_clone(), a)?,
        reduce_to(d.shallow_clone(), b)?,
    ))
}

/// `y = a − b` (broadcasting): `da = unbroadcast(d)`, `db = −unbroadcast(d)`.
///
/// # Errors
/// As [`add_vjp`].
pub fn sub_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> Result<(Tensor, Tensor)> {
    check_binary(Rule("sub_vjp"), a, b, d)?;
    Ok((reduce_to(d.shallow_clone(), a)?, reduce_to(d.f_neg()?, b)?))
}

/// `y = a · b` (elementwise, broadcasting): `da = unbroadcast(d·b)`,
/// `db = unbroadcast(d·a)`.
///
/// # Errors
/// As [`add_vjp`].
pub fn mul_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> Result<(Tensor, Tensor)> {
    check_binary(Rule("mul_vjp"), a, b, d)?;
    Ok((reduce_to(d.f_mul(b)?, a)?, reduce_to(d.f_mul(a)?, b)?))
}

/// `y = a / b` (broadcasting): `da = unbroadcast(d / b)`,
/// `db = unbroadcast(−d·(a/b)/b)` (LibTorch's formula).
///
/// # Errors
/// As [`add_vjp`].
pub fn div_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> Result<(Tensor, Tensor)> {
    check_binary(Rule("div_vjp"), a, b, d)?;
    let da = d.f_div(b)?;
    let db = d.f_mul(&a.f_div(b)?.f_div(b)?)?.f_neg()?;
    Ok((reduce_to(da, a)?, reduce_to(db, b)?))
}

/// `y = −x`: `dx = −d`.
///
/// # Errors
/// `d` fails the checks of the module docs.
pub fn neg_vjp(d: &Tensor) -> Result<Tensor> {
    check_adjoint(Rule("neg_vjp"), d)?;
    Ok(d.f_neg()?)
}

/// `y = x·s` or `s·x`, `s` a float scalar: `dx = d·s`.
///
/// # Errors
/// As [`neg_vjp`].
pub fn scale_vjp(d: &Tensor, s: f64) -> Result<Tensor> {
    check_adjoint(Rule("scale_vjp"), d)?;
    Ok(d.f_mul_scalar(s)?)
}

/// The shape of `a.matmul(b)` (`torch.matmul`'s cases), if the shapes fit.
fn matmul_shape(a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let a2: Vec<i64> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<i64> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (n, k) = (a2[ra - 2], a2[ra - 1]);
    let (k2, m) = (b2[rb - 2], b2[rb - 1]);
    if k != k2 {
        return None;
    }
    let mut out = broadcast_shape(&a2[..ra - 2], &b2[..rb - 2])?;
    if a.len() > 1 {
        out.push(n);
    }
    if b.len() > 1 {
        out.push(m);
    }
    Some(out)
}

/// `y = a.matmul(b)` with `torch.matmul`'s cases. With `a` promoted to
/// `[.., n, k]` (1-D `a`: `[1, k]`), `b` to `[.., k, m]` (1-D `b`: `[k, 1]`)
/// and `d` to `[.., n, m]`:
/// `da = unbroadcast(d·bᵀ)`, `db = unbroadcast(aᵀ·d)`, then the promoted
/// dims are dropped again. For a 2-D `b` (a linear layer), `db` is one
/// `[k, M]·[M, m]` product over the flattened leading dims of `a`.
///
/// # Errors
/// See the module docs; the inner dims of `a` and `b` must agree and `d` must have the
/// product's shape.
pub fn matmul_vjp(a: &Tensor, b: &Tensor, d: &Tensor) -> Result<(Tensor, Tensor)> {
    let rule = Rule("matmul_vjp");
    let ca = rule.tensor("a", a, Dtype::Real)?;
    let cb = rule.tensor("b", b, Dtype::Real)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("a", &ca), ("b", &cb)])?;
    let y = matmul_shape(&ca.shape, &cb.shape).ok_or_else(|| {
        rule.fail(format!(
            "`a` of shape {:?} and `b` of shape {:?} cannot be multiplied (inner dims differ, \
             batch dims do not broadcast, or an operand is 0-d)",
            ca.shape, cb.shape
        ))
    })?;
    rule.shape("d", &cd.shape, &y, || {
        format!("the shape of `a` {:?} matmul `b` {:?}", ca.shape, cb.shape)
    })?;
    let (a_dim, b_dim) = (ca.shape.len(), cb.shape.len());
    if a_dim >= 2 && b_dim == 2 {
        // a: [.., n, k], b: [k, m], d: [.., n, m] — no batch broadcasting.
        let (k, m) = (cb.shape[0], cb.shape[1]);
        let da = d.f_matmul(&b.f_mt()?)?;
        let db = as_2d(a, k)?.f_mt()?.f_mm(&as_2d(d, m)?)?;
        return Ok((to_kind_of(da, a)?, to_kind_of(db, b)?));
    }
    let a1 = if a_dim == 1 {
        a.f_unsqueeze(0)?
    } else {
        a.shallow_clone()
    };
    let b1 = if b_dim == 1 {
        b.f_unsqueeze(1)?
    } else {
        b.shallow_clone()
    };
    let mut d1 = d.shallow_clone();
    if b_dim == 1 {
        d1 = d1.f_unsqueeze(-1)?;
    }
    if a_dim == 1 {
        d1 = d1.f_unsqueeze(-2)?;
    }
    let da = reduce_to(d1.f_matmul(&b1.f_mt()?)?, &a1)?.f_reshape(&ca.shape)?;
    let db = reduce_to(a1.f_mt()?.f_matmul(&d1)?, &b1)?.f_reshape(&cb.shape)?;
    Ok((da, db))
}

// ------------------------------------------------------------------ pointwise

/// `y = relu(x)`: `dx = d·[y > 0]` (LibTorch's `threshold_backward`).
///
/// # Errors
/// See the module docs; `x`, `y` and `d` must have one shape.
pub fn relu_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("relu_vjp"), x, y, d)?;
    Ok(y.f_threshold_backward(d, 0.0)?)
}

/// `y = tanh(x)`: `dx = d·(1 − y²)`.
///
/// # Errors
/// As [`relu_vjp`].
pub fn tanh_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("tanh_vjp"), x, y, d)?;
    Ok(Tensor::f_tanh_backward(d, y)?)
}

/// `y = sigmoid(x)`: `dx = d·y·(1 − y)`.
///
/// # Errors
/// As [`relu_vjp`].
pub fn sigmoid_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("sigmoid_vjp"), x, y, d)?;
    Ok(Tensor::f_sigmoid_backward(d, y)?)
}

/// `y = exp(x)`: `dx = d·y`.
///
/// # Errors
/// As [`relu_vjp`].
pub fn exp_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("exp_vjp"), x, y, d)?;
    Ok(d.f_mul(y)?)
}

/// `y = ln(x)`: `dx = d / x`.
///
/// # Errors
/// As [`relu_vjp`].
pub fn log_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("log_vjp"), x, y, d)?;
    Ok(d.f_div(x)?)
}

/// `y = √x`: `dx = d / (2y)`.
///
/// # Errors
/// As [`relu_vjp`].
pub fn sqrt_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("sqrt_vjp"), x, y, d)?;
    Ok(d.f_div(&y.f_mul_scalar(2.0)?)?)
}

/// `y = sin(x)`: `dx = d·cos(x)`.
///
/// # Errors
/// As [`relu_vjp`].
pub fn sin_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("sin_vjp"), x, y, d)?;
    Ok(d.f_mul(&x.f_cos()?)?)
}

/// `y = cos(x)`: `dx = −d·sin(x)`.
///
/// # Errors
/// As [`relu_vjp`].
pub fn cos_vjp(x: &Tensor, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_pointwise(Rule("cos_vjp"), x, y, d)?;
    Ok(d.f_mul(&x.f_sin()?)?.f_neg()?)
}

// ------------------------------------------------------------------ reductions

/// `y = x.sum(kind)`, `d: []`: `dx = d` broadcast to `x`'s shape (a fresh
/// contiguous tensor in `x`'s dtype).
///
/// # Errors
/// See the module docs; `d` must be a scalar (shape `[]`).
pub fn sum_vjp(x: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_full_reduction(Rule("sum_vjp"), x, d)?;
    Ok(to_kind_of(d.shallow_clone(), x)?
        .f_expand(x.size(), false)?
        .f_contiguous()?)
}

/// `y = x.mean(kind)`, `d: []`: `dx = d / numel(x)` broadcast to `x`'s shape.
///
/// # Errors
/// As [`sum_vjp`].
pub fn mean_vjp(x: &Tensor, d: &Tensor) -> Result<Tensor> {
    check_full_reduction(Rule("mean_vjp"), x, d)?;
    let n = x.numel().max(1) as f64;
    Ok(to_kind_of(d.shallow_clone(), x)?
        .f_div_scalar(n)?
        .f_expand(x.size(), false)?
        .f_contiguous()?)
}

/// The reduced dims of `x` (resolved, ascending, deduplicated); an
/// empty `dims` reduces every dim, as in LibTorch.
fn reduced_dims(rule: Rule, x_shape: &[i64], dims: &[i64]) -> Result<Vec<i64>> {
    if dims.is_empty() {
        return Ok((0..x_shape.len() as i64).collect());
    }
    let mut out = dims
        .iter()
        .map(|&k| rule.dim("dims", k, ("x", x_shape)))
        .collect::<Result<Vec<i64>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks a reduction of `x` over `dims` and returns the reduced dims: `d` has the
/// reduction's output shape.
fn check_dim_reduction(
    rule: Rule,
    x: &Tensor,
    dims: &[i64],
    keepdim: bool,
    d: &Tensor,
) -> Result<(Vec<i64>, Vec<i64>)> {
    let cx = rule.tensor("x", x, Dtype::Real)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx)])?;
    let reduced = reduced_dims(rule, &cx.shape, dims)?;
    let want: Vec<i64> = cx
        .shape
        .iter()
        .enumerate()
        .filter_map(|(i, &n)| match (reduced.contains(&(i as i64)), keepdim) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    rule.shape("d", &cd.shape, &want, || {
        format!(
            "`x` {:?} reduced over dims {dims:?} with keepdim = {keepdim}",
            cx.shape
        )
    })?;
    Ok((cx.shape, reduced))
}

/// `d` (the adjoint of a reduction of `x` over `reduced`) broadcast back to `x`'s
/// shape, as a fresh contiguous tensor.
fn expand_reduced(x: &Tensor, reduced: &[i64], keepdim: bool, d: Tensor) -> Result<Tensor> {
    let mut d = to_kind_of(d, x)?;
    if x.dim() == 0 {
        return Ok(d.f_reshape([])?.f_contiguous()?);
    }
    if !keepdim {
        for &k in reduced {
            d = d.f_unsqueeze(k)?;
        }
    }
    Ok(d.f_expand(x.size(), false)?.f_contiguous()?)
}

/// `y = x.sum_dim_intlist(dims, keepdim, kind)`: `dx[i] = d[i with the
/// reduced dims removed]` (`d` unsqueezed at `dims` unless `keepdim`, then
/// broadcast to `x`'s shape).
///
/// # Errors
/// See the module docs; every dim must be in range and `d` must have the reduction's
/// output shape.
pub fn sum_dim_vjp(x: &Tensor, dims: &[i64], keepdim: bool, d: &Tensor) -> Result<Tensor> {
    let (_, reduced) = check_dim_reduction(Rule("sum_dim_vjp"), x, dims, keepdim, d)?;
    expand_reduced(x, &reduced, keepdim, d.shallow_clone())
}

/// `y = x.mean_dim(dims, keepdim, kind)`: as [`sum_dim_vjp`], divided by
/// `N = Π_{k ∈ dims} x.size(k)`.
///
/// # Errors
/// As [`sum_dim_vjp`].
pub fn mean_dim_vjp(x: &Tensor, dims: &[i64], keepdim: bool, d: &Tensor) -> Result<Tensor> {
    let (shape, reduced) = check_dim_reduction(Rule("mean_dim_vjp"), x, dims, keepdim, d)?;
    let n: i64 = if shape.is_empty() {
        1
    } else {
        reduced.iter().map(|&k| shape[k as usize]).product()
    };
    expand_reduced(x, &reduced, keepdim, d.f_div_scalar(n.max(1) as f64)?)
}

// ---------------------------------------------------------------------- shape

/// `y = x.view(..)`, `x.reshape(..)` or `x.flatten(..)`: `dx = d` reshaped to
/// `x`'s shape (a view of `d` when `d` is contiguous).
///
/// # Errors
/// See the module docs; `d` must have as many elements as `x`.
pub fn reshape_vjp(x: &Tensor, d: &Tensor) -> Result<Tensor> {
    reshape_checked(Rule("reshape_vjp"), x, d)
}

fn reshape_checked(rule: Rule, x: &Tensor, d: &Tensor) -> Result<Tensor> {
    let cx = rule.tensor("x", x, Dtype::Real)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx)])?;
    if numel(&cd.shape) != numel(&cx.shape) {
        return Err(rule.fail(format!(
            "argument `d` has shape {:?} ({} elements) but `x` has shape {:?} ({} elements); \
             a reshape keeps the number of elements",
            cd.shape,
            numel(&cd.shape),
            cx.shape,
            numel(&cx.shape)
        )));
    }
    Ok(to_kind_of(d.f_contiguous()?, x)?.f_reshape(&cx.shape)?)
}

/// `y = x.flatten(start_dim, end_dim)`: see [`reshape_vjp`].
///
/// # Errors
/// As [`reshape_vjp`].
pub fn flatten_vjp(x: &Tensor, d: &Tensor) -> Result<Tensor> {
    reshape_checked(Rule("flatten_vjp"), x, d)
}

/// `y = x.transpose(dim0, dim1)`: `dx = d.transpose(dim0, dim1)`. A
/// transposed view of `d` (not contiguous, not expanded), as in LibTorch.
///
/// # Errors
/// See the module docs; both dims must be in range for `d`.
pub fn transpose_vjp(d: &Tensor, dim0: i64, dim1: i64) -> Result<Tensor> {
    let rule = Rule("transpose_vjp");
    let cd = check_adjoint(rule, d)?;
    rule.dim("dim0", dim0, ("d", &cd.shape))?;
    rule.dim("dim1", dim1, ("d", &cd.shape))?;
    let d = if is_expanded(d) {
        d.f_contiguous()?
    } else {
        d.shallow_clone()
    };
    Ok(d.f_transpose(dim0, dim1)?)
}

/// Whether some dim of size > 1 has stride 0.
fn is_expanded(t: &Tensor) -> bool {
    t.size()
        .iter()
        .zip(t.stride())
        .any(|(&n, s)| n > 1 && s == 0)
}

// ---------------------------------------------------------- softmax and losses

/// Checks `y = softmax-like(x, dim)`: `y` and `d` of one shape, `dim` in range.
fn check_softmax(rule: Rule, y: &Tensor, dim: i64, d: &Tensor) -> Result<()> {
    let cy = rule.tensor("y", y, Dtype::Floating)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("y", &cy)])?;
    rule.dim("dim", dim, ("y", &cy.shape))?;
    rule.shape("d", &cd.shape, &cy.shape, || "the shape of `y`".into())
}

/// `y = x.log_softmax(dim, kind)`: `dx = d − exp(y)·Σ_dim d`. In `y`'s dtype.
///
/// # Errors
/// See the module docs; `y` and `d` must have one shape and `dim` be in range.
pub fn log_softmax_vjp(y: &Tensor, dim: i64, d: &Tensor) -> Result<Tensor> {
    check_softmax(Rule("log_softmax_vjp"), y, dim, d)?;
    log_softmax_checked(y, dim, d)
}

fn log_softmax_checked(y: &Tensor, dim: i64, d: &Tensor) -> Result<Tensor> {
    // ATen's fused kernel for `d - exp(y)·Σ_dim d`.
    let d = to_kind_of(d.shallow_clone(), y)?.f_contiguous()?;
    Ok(Tensor::f_internal_log_softmax_backward_data(
        &d,
        y,
        dim,
        y.f_kind()?,
    )?)
}

/// `y = x.softmax(dim, kind)`: `dx = y·(d − Σ_dim d·y)`. In `y`'s dtype.
///
/// # Errors
/// As [`log_softmax_vjp`].
pub fn softmax_vjp(y: &Tensor, dim: i64, d: &Tensor) -> Result<Tensor> {
    check_softmax(Rule("softmax_vjp"), y, dim, d)?;
    let d = to_kind_of(d.shallow_clone(), y)?;
    let dot = d.f_mul(y)?.f_sum_dim_intlist(dim, true, None)?;
    Ok(y.f_mul(&d.f_sub(&dot)?)?)
}

/// The ignore index of `nll_loss` (LibTorch's default).
const IGNORE_INDEX: i64 = -100;

/// Checks class scores `[N, C]` (or `[C]`) against `targets` `[N]` (or `[]`) and a scalar
/// `d`; returns the number of targets that are not ignored when the targets are on the
/// CPU (read from memory, with every target checked to be a class index).
fn check_classification(
    rule: Rule,
    scores: (&str, &Tensor),
    targets: &Tensor,
    d: &Tensor,
) -> Result<Option<usize>> {
    let (name, scores) = scores;
    let cs = rule.tensor(name, scores, Dtype::Floating)?;
    let ct = rule.tensor("targets", targets, Dtype::Int64)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), (name, &cs), ("targets", &ct)])?;
    let (want_targets, classes) = match cs.shape.as_slice() {
        &[n, c] => (vec![n], c),
        &[c] => (vec![], c),
        other => {
            return Err(rule.fail(format!(
                "argument `{name}` has shape {other:?}; expected [N, C] or [C]"
            )))
        }
    };
    rule.shape("targets", &ct.shape, &want_targets, || {
        format!("one class index per row of `{name}` {:?}", cs.shape)
    })?;
    rule.shape("d", &cd.shape, &[], || "the loss is a scalar".into())?;
    let Ok(t) = ffi::to_vec::<i64>(targets, "targets") else {
        return Ok(None);
    };
    if let Some((i, &c)) = t
        .iter()
        .enumerate()
        .find(|&(_, &c)| c != IGNORE_INDEX && !(0..classes).contains(&c))
    {
        return Err(rule.fail(format!(
            "targets[{i}] = {c} is not a class index in 0..{classes} (nor the ignore index \
             {IGNORE_INDEX})"
        )));
    }
    Ok(Some(t.iter().filter(|&&c| c != IGNORE_INDEX).count()))
}

/// `y = logp.nll_loss(targets)` (mean reduction, `ignore_index = −100`, no
/// weights; `logp: [N, C]` with `targets: [N]`, or `logp: [C]` with
/// `targets: []` — tch's `nll_loss` accepts no other ranks), `d: []`:
/// `dlogp[n, c] = −d / M · [c = targets[n]]` for the `M` targets that are not
/// ignored; 0 in ignored rows (all of them when `M = 0`, as in LibTorch).
///
/// # Errors
/// See the module docs; shapes as above, `targets` Int64 class indices in `0..C` (or
/// −100).
pub fn nll_loss_vjp(logp: &Tensor, targets: &Tensor, d: &Tensor) -> Result<Tensor> {
    let kept = check_classification(Rule("nll_loss_vjp"), ("logp", logp), targets, d)?;
    nll_loss_checked(logp, targets, kept, d)
}

fn nll_loss_checked(
    logp: &Tensor,
    targets: &Tensor,
    kept: Option<usize>,
    d: &Tensor,
) -> Result<Tensor> {
    // ATen's fused kernel: `-d / (number of kept targets)` scattered at the targets. The
    // count is read from memory for CPU targets (two dispatched ops fewer).
    let kind = logp.f_kind()?;
    let total_weight = match kept {
        Some(kept) => Tensor::f_scalar_tensor(kept as f64, (kind, logp.device()))?,
        None => targets.f_ne(IGNORE_INDEX)?.f_sum(kind)?,
    };
    let d = to_kind_of(d.shallow_clone(), logp)?;
    Ok(logp.f_nll_loss_backward(
        &d,
        targets,
        None::<Tensor>,
        tch::Reduction::Mean,
        IGNORE_INDEX,
        &total_weight,
    )?)
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
///
/// # Errors
/// As [`nll_loss_vjp`], for `logits` in place of `logp`.
pub fn cross_entropy_for_logits_vjp(
    logits: &Tensor,
    targets: &Tensor,
    d: &Tensor,
) -> Result<Tensor> {
    let kept = check_classification(
        Rule("cross_entropy_for_logits_vjp"),
        ("logits", logits),
        targets,
        d,
    )?;
    let logp = logits.f_log_softmax(-1, logits.f_kind()?)?;
    let dlogp = nll_loss_checked(&logp, targets, kept, d)?;
    log_softmax_checked(&logp, -1, &dlogp)
}

/// `y = x.mse_loss(target, Reduction::Mean) = mean((x − target)²)`, `d: []`:
/// with `N = numel(x − target)`, `dx = unbroadcast(2·d·(x − target) / N)`,
/// `dtarget = −unbroadcast(2·d·(x − target) / N)`. When `x` and `target`
/// have different shapes this is the derivative of the value `mse_loss`
/// returns; LibTorch's own `mse_loss_backward` is not (it divides by each
/// operand's numel instead of `N`), so autograd through a native `mse_loss`
/// differs from this rule there.
///
/// # Errors
/// See the module docs; `x` and `target` must broadcast and `d` be a scalar.
pub fn mse_loss_vjp(x: &Tensor, target: &Tensor, d: &Tensor) -> Result<(Tensor, Tensor)> {
    let rule = Rule("mse_loss_vjp");
    let cx = rule.tensor("x", x, Dtype::Real)?;
    let ct = rule.tensor("target", target, Dtype::Real)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx), ("target", &ct)])?;
    if broadcast_shape(&cx.shape, &ct.shape).is_none() {
        return Err(rule.fail(format!(
            "`x` of shape {:?} and `target` of shape {:?} do not broadcast",
            cx.shape, ct.shape
        )));
    }
    rule.shape("d", &cd.shape, &[], || "the loss is a scalar".into())?;
    let diff = x.f_sub(target)?;
    let n = diff.numel().max(1) as f64;
    let g = diff.f_mul(&d.f_mul_scalar(2.0 / n)?)?;
    let dtarget = reduce_to(g.f_neg()?, target)?;
    Ok((reduce_to(g, x)?, dtarget))
}

// -------------------------------------------------------------------- layers

/// Checks `y = x.linear(w, b)`: `x: [.., in]`, `w: [out, in]`, `b: [out]`,
/// `d: [.., out]`; returns `(out, in)`.
fn check_linear(
    rule: Rule,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    d: &Tensor,
) -> Result<(i64, i64)> {
    let cx = rule.tensor("x", x, Dtype::Real)?;
    let cw = rule.tensor("w", w, Dtype::Floating)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx), ("w", &cw)])?;
    let &[out, inp] = cw.shape.as_slice() else {
        return Err(rule.fail(format!(
            "argument `w` has shape {:?}; expected [out, in]",
            cw.shape
        )));
    };
    let Some((&x_in, lead)) = cx.shape.split_last() else {
        return Err(rule.fail("argument `x` is 0-d; expected [.., in]"));
    };
    if x_in != inp {
        return Err(rule.fail(format!(
            "argument `x` has shape {:?} but `w` has shape {:?}: the last dim of `x` must be \
             `in` = {inp}",
            cx.shape, cw.shape
        )));
    }
    let mut want = lead.to_vec();
    want.push(out);
    rule.shape("d", &cd.shape, &want, || {
        format!("`x` {:?} times `w`ᵀ {:?}", cx.shape, cw.shape)
    })?;
    if let Some(b) = b {
        let cb = rule.tensor("b", b, Dtype::Floating)?;
        rule.same_device(&[("d", &cd), ("b", &cb)])?;
        rule.shape("b", &cb.shape, &[out], || "one bias per output".into())?;
    }
    Ok((out, inp))
}

/// `y = x.linear(w, b) = x·wᵀ + b`, `x: [.., in]`, `w: [out, in]`,
/// `b: [out]`, `d: [.., out]`: `dx = d·w`, `dw = dᵀ·x` summed over the
/// leading dims (`[out, M]·[M, in]`), `db = Σ_{..} d`.
///
/// # Errors
/// See the module docs; shapes as above.
pub fn linear_vjp(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    d: &Tensor,
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let (out, inp) = check_linear(Rule("linear_vjp"), x, w, b, d)?;
    let d2 = as_2d(d, out)?;
    // `mm` for the common 2-D case: `matmul`'s dispatch to it costs extra.
    let dx = if d.dim() == 2 {
        d.f_mm(w)?
    } else {
        d.f_matmul(w)?
    };
    let dx = to_kind_of(dx, x)?;
    let dw = to_kind_of(d2.f_mt()?.f_mm(&as_2d(x, inp)?)?, w)?;
    let db = b.map(|b| reduce_to(d.shallow_clone(), b)).transpose()?;
    Ok((dx, dw, db))
}

/// [`linear_vjp`] without the input gradient (for an input that needs none, e.g. data):
/// `dw = dᵀ·x` (summed over leading dims), `db = Σ d`.
///
/// # Errors
/// As [`linear_vjp`].
pub fn linear_vjp_params(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    d: &Tensor,
) -> Result<(Tensor, Option<Tensor>)> {
    let (out, inp) = check_linear(Rule("linear_vjp_params"), x, w, b, d)?;
    let dw = to_kind_of(as_2d(d, out)?.f_mt()?.f_mm(&as_2d(x, inp)?)?, w)?;
    let db = b.map(|b| reduce_to(d.shallow_clone(), b)).transpose()?;
    Ok((dw, db))
}

/// `t` as `[-1, cols]`: itself when already 2-D (a `reshape` is a dispatched op even then).
fn as_2d(t: &Tensor, cols: i64) -> Result<Tensor> {
    if t.dim() == 2 {
        Ok(t.shallow_clone())
    } else {
        Ok(t.f_reshape([-1, cols])?)
    }
}

/// The one element of a conv/pool parameter list (conv1d has one spatial dim), at least
/// `min`.
fn one(rule: Rule, arg: &str, list: &[i64], min: i64) -> Result<i64> {
    match list {
        &[v] if v >= min => Ok(v),
        _ => Err(rule.fail(format!(
            "`{arg}` = {list:?}; expected one value ≥ {min} (conv1d has one spatial dim)"
        ))),
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
///
/// # Errors
/// See the module docs; shapes as above with `L' = ⌊(L + 2p − δ(K−1) − 1)/s⌋ + 1`,
/// `G` dividing `C` and `O`, `s, δ ≥ 1`, `p ≥ 0`.
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
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let rule = Rule("conv1d_vjp");
    let cx = rule.tensor("x", x, Dtype::Floating)?;
    let cw = rule.tensor("w", w, Dtype::Floating)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx), ("w", &cw)])?;
    let (s, p, dil) = (
        one(rule, "stride", stride, 1)?,
        one(rule, "padding", padding, 0)?,
        one(rule, "dilation", dilation, 1)?,
    );
    let unbatched = cx.shape.len() == 2;
    let (n, c, l) = match cx.shape.as_slice() {
        &[n, c, l] => (n, c, l),
        &[c, l] => (1, c, l),
        other => {
            return Err(rule.fail(format!(
                "argument `x` has shape {other:?}; expected [N, C, L] or [C, L]"
            )))
        }
    };
    let &[o, cg, k] = cw.shape.as_slice() else {
        return Err(rule.fail(format!(
            "argument `w` has shape {:?}; expected [O, C/groups, K]",
            cw.shape
        )));
    };
    if groups < 1 || c % groups != 0 || o % groups != 0 || cg != c / groups {
        return Err(rule.fail(format!(
            "`groups` = {groups} does not fit `x` {:?} and `w` {:?}: groups must divide C = {c} \
             and O = {o}, and w's dim 1 must be C/groups",
            cx.shape, cw.shape
        )));
    }
    let span = dil * (k - 1) + 1;
    let l_out = (l + 2 * p - span) / s + 1;
    if l + 2 * p < span {
        return Err(rule.fail(format!(
            "the kernel span {span} exceeds the padded length {} of `x` {:?}",
            l + 2 * p,
            cx.shape
        )));
    }
    let want: Vec<i64> = if unbatched {
        vec![o, l_out]
    } else {
        vec![n, o, l_out]
    };
    rule.shape("d", &cd.shape, &want, || {
        format!(
            "conv1d of `x` {:?} with `w` {:?}, stride {s}, padding {p}, dilation {dil}",
            cx.shape, cw.shape
        )
    })?;
    if let Some(b) = b {
        let cb = rule.tensor("b", b, Dtype::Floating)?;
        rule.same_device(&[("d", &cd), ("b", &cb)])?;
        rule.shape("b", &cb.shape, &[o], || {
            "one bias per output channel".into()
        })?;
    }

    let (x3, d3) = if unbatched {
        (x.f_unsqueeze(0)?, d.f_unsqueeze(0)?)
    } else {
        (x.shallow_clone(), d.shallow_clone())
    };
    let output_padding = l - ((l_out - 1) * s - 2 * p + span);
    let dx = d3.f_conv_transpose1d(
        w,
        None::<&Tensor>,
        [s],
        [p],
        [output_padding],
        groups,
        [dil],
    )?;
    let dx = if unbatched { dx.f_squeeze_dim(0)? } else { dx };

    // patches[n, c, t, k] = xpad[n, c, t·s + k·δ]
    let patches = x3
        .f_constant_pad_nd([p, p])?
        .f_unfold(2, span, s)?
        .f_slice(3, 0, span, dil)?
        .f_reshape([n, groups, c / groups, l_out, k])?;
    let dgrp = d3.f_reshape([n, groups, o / groups, l_out])?;
    let dw = Tensor::f_einsum("ngot,ngctk->gock", &[&dgrp, &patches], None::<&[i64]>)?
        .f_reshape([o, c / groups, k])?;

    let db = match b {
        Some(b) => Some(to_kind_of(
            d3.f_sum_dim_intlist(&[0_i64, 2][..], false, None)?,
            b,
        )?),
        None => None,
    };
    Ok((to_kind_of(dx, x)?, to_kind_of(dw, w)?, db))
}

/// `y = x.max_pool1d(kernel, stride, padding, dilation, ceil_mode)`,
/// `x: [N, C, L]` or `[C, L]`: `dx[.., i] = Σ_{t : argmax(t) = i} d[.., t]`,
/// with the argmax positions from LibTorch's `max_pool1d_with_indices`
/// (recomputed here from `x`) and a `scatter_add` of `d`.
///
/// # Errors
/// See the module docs; `d` must have the pooled shape. Parameters LibTorch rejects come
/// back as [`Error::Tch`].
pub fn max_pool1d_vjp(
    x: &Tensor,
    kernel: &[i64],
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    ceil_mode: bool,
    d: &Tensor,
) -> Result<Tensor> {
    let rule = Rule("max_pool1d_vjp");
    let cx = rule.tensor("x", x, Dtype::Floating)?;
    let cd = rule.tensor("d", d, Dtype::Floating)?;
    rule.same_device(&[("d", &cd), ("x", &cx)])?;
    if !matches!(cx.shape.len(), 2 | 3) {
        return Err(rule.fail(format!(
            "argument `x` has shape {:?}; expected [N, C, L] or [C, L]",
            cx.shape
        )));
    }
    let (_, indices) = x.f_max_pool1d_with_indices(kernel, stride, padding, dilation, ceil_mode)?;
    rule.shape("d", &cd.shape, &indices.size(), || {
        format!(
            "max_pool1d of `x` {:?} with kernel {kernel:?}, stride {stride:?}, padding \
             {padding:?}, dilation {dilation:?}",
            cx.shape
        )
    })?;
    let d = to_kind_of(d.shallow_clone(), x)?;
    Ok(x.f_zeros_like()?.f_scatter_add(-1, &indices, &d)?)
}

// ---------------------------------------------------------------- the op table

/// The rule's type for a parameter of kind `$kind` (see `ferrograd_prims`), as an alias named
/// after the parameter; a `value` the rule does not take has none.
macro_rules! param_ty {
    ($name:ident tensor) => {
        pub type $name<'a> = &'a Tensor;
    };
    ($name:ident bias) => {
        pub type $name<'a> = Option<&'a Tensor>;
    };
    ($name:ident list) => {
        pub type $name<'a> = &'a [i64];
    };
    ($name:ident value (& $($ty:tt)+)) => {
        pub type $name<'a> = &'a $($ty)+;
    };
    ($name:ident value ($ty:ty)) => {
        pub type $name<'a> = $ty;
    };
    ($name:ident value) => {};
}

/// The type of a rule's gradient for an argument of kind `$kind`.
macro_rules! grad_ty {
    ($name:ident tensor) => {
        pub type $name = Tensor;
    };
    ($name:ident bias) => {
        pub type $name = Option<Tensor>;
    };
    ($name:ident $other:ident $($ty:tt)?) => {};
}

/// What a rule returns: one gradient bare, several as a tuple.
macro_rules! grads_ty {
    ($g:ident) => {
        g::$g
    };
    ($($g:ident),*) => {
        ($(g::$g),*)
    };
}

/// For every line of the table: its rule(s) coerced to the signature the line gives them, so
/// a line whose rule is missing here or has another signature does not compile. Parameter
/// names resolve to types through one alias per name (modules `p` and `g`).
macro_rules! check_rules {
    (methods { $(
        $m:ident ( $( $arg:ident : $kind:ident $( ( $($vty:tt)* ) )? ),* )
            => $rule:ident ( $($p:ident),* ) -> ( $($g:ident),* )
            $( | $rule2:ident -> ( $($g2:ident),* ) )? ;
    )* }) => { $(
        const _: () = {
            // Not every rule reads every alias.
            #[allow(non_camel_case_types, dead_code)]
            mod p {
                use tch::Tensor;
                pub type x<'a> = &'a Tensor;
                pub type y<'a> = &'a Tensor;
                pub type d<'a> = &'a Tensor;
                $( param_ty!($arg $kind $( ( $($vty)* ) )?); )*
            }
            #[allow(non_camel_case_types, dead_code)]
            mod g {
                use tch::Tensor;
                pub type x = Tensor;
                $( grad_ty!($arg $kind); )*
            }
            type Rule<R> = fn($(p::$p<'_>),*) -> Result<R>;
            let _: Rule<grads_ty!($($g),*)> = $rule;
            $( let _: Rule<grads_ty!($($g2),*)> = $rule2; )?
        };
    )* };
}
ferrograd_prims::tensor_primitives!(check_rules);
