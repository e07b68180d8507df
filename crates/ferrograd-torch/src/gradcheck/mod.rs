//! Gradient checks in f64, used on every op rule and custom function.
//!
//! - [`gradcheck`]: the Jacobian that autograd computes through `f` (one
//!   vector-Jacobian product per output element, i.e. through the Rust backward
//!   of any custom node in `f`) against central finite differences
//!   `(f(x + ε·eₖ) − f(x − ε·eₖ)) / 2ε`.
//! - [`compare_with_native`]: the values and autograd Jacobians of `f` against
//!   those of an equivalent function written with native LibTorch ops.
//!
//! Inputs that `requires_grad()` are differentiated; the others are constants.
//! All inputs and outputs must be `f64` (non-floating outputs are skipped).
//! A pair (expected e, got g) passes when `|g − e| ≤ atol + rtol·|e|`.
//! Both return `Err(Error::GradcheckMismatch(report))` on a mismatch and the
//! report (with the largest difference) on success, so it can be printed.

use tch::{Kind, Tensor};

use crate::{autograd, Error, GradOptions};

pub(crate) mod report;
pub use report::{GradcheckReport, Options, Worst};

impl GradcheckReport {
    fn finish(self) -> Result<Self, Error> {
        if self.passed() {
            Ok(self)
        } else {
            Err(Error::GradcheckMismatch(Box::new(self)))
        }
    }
}

/// Fresh f64 leaves with the inputs' values and `requires_grad` flags.
fn leaves(inputs: &[&Tensor]) -> Result<(Vec<Tensor>, Vec<usize>), Error> {
    let mut xs = Vec::with_capacity(inputs.len());
    let mut active = Vec::new();
    for (i, x) in inputs.iter().enumerate() {
        let what = format!("gradcheck input {i}");
        crate::ffi::check_input(x, || what.clone())?;
        crate::check_kind(&what, x, Kind::Double)?;
        let requires = x.requires_grad();
        xs.push(
            x.f_detach_copy()?
                .f_contiguous()?
                .f_set_requires_grad(requires)?,
        );
        if requires {
            active.push(i);
        }
    }
    if active.is_empty() {
        return Err(Error::msg(
            "gradcheck: no input requires grad; nothing to check",
        ));
    }
    Ok((xs, active))
}

fn flat_values(t: &Tensor) -> Result<Vec<f64>, Error> {
    let flat = t.f_detach()?.f_contiguous()?.f_reshape([-1])?;
    Ok(Vec::<f64>::try_from(&flat)?)
}

fn is_floating(t: &Tensor) -> Result<bool, Error> {
    Ok(matches!(
        t.f_kind()?,
        Kind::Double | Kind::Float | Kind::Half | Kind::BFloat16
    ))
}

/// Jacobians through autograd: `jac[o][a]` is row-major (output element, input element)
/// for output `o` and active input `a`. Non-floating outputs get an empty entry.
fn autograd_jacobians(
    outputs: &[Tensor],
    xs: &[Tensor],
    active: &[usize],
) -> Result<Vec<Vec<Vec<f64>>>, Error> {
    let inputs: Vec<&Tensor> = active.iter().map(|&i| &xs[i]).collect();
    let numels: Vec<usize> = inputs.iter().map(|x| x.numel()).collect();
    let mut jac = Vec::with_capacity(outputs.len());
    for (o, out) in outputs.iter().enumerate() {
        if !is_floating(out)? {
            jac.push(Vec::new());
            continue;
        }
        crate::check_kind(&format!("gradcheck output {o}"), out, Kind::Double)?;
        let n_out = out.numel();
        let mut per_input: Vec<Vec<f64>> = numels.iter().map(|&n| vec![0.0; n_out * n]).collect();
        if out.requires_grad() {
            for j in 0..n_out {
                let seed = out.f_zeros_like()?;
                let _ = seed.f_view([-1])?.f_narrow(0, j as i64, 1)?.f_fill_(1.0)?;
                let options = GradOptions {
                    retain_graph: true,
                    create_graph: false,
                    allow_unused: true,
                };
                let grads = autograd::grad(&[out], &inputs, &[&seed], options)?;
                for (a, g) in grads.iter().enumerate() {
                    if let Some(g) = g {
                        let row = flat_values(g)?;
                        if row.len() != numels[a] {
                            return Err(Error::Shape {
                                what: format!("gradient of output {o} w.r.t. input {}", active[a]),
                                expected: inputs[a].size(),
                                got: g.size(),
                            });
                        }
                        per_input[a][j * numels[a]..(j + 1) * numels[a]].copy_from_slice(&row);
                    }
                }
            }
        }
        jac.push(per_input);
    }
    Ok(jac)
}

fn eval<F>(f: &mut F, xs: &[Tensor]) -> Result<Vec<Tensor>, Error>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>, Error>,
{
    let args: Vec<Tensor> = xs.iter().map(Tensor::shallow_clone).collect();
    f(&args)
}

/// Checks the gradients autograd computes through `f` against central finite
/// differences at `inputs` (f64; see the module docs).
pub fn gradcheck<F>(
    mut f: F,
    inputs: &[&Tensor],
    options: Options,
) -> Result<GradcheckReport, Error>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>, Error>,
{
    let (xs, active) = leaves(inputs)?;
    let outputs = eval(&mut f, &xs)?;
    let analytic = autograd_jacobians(&outputs, &xs, &active)?;
    drop(outputs);

    let _guard = tch::no_grad_guard();
    let mut report = GradcheckReport::new("finite differences", options);
    let base: Vec<Tensor> = xs.iter().map(|x| x.f_detach()).collect::<Result<_, _>>()?;
    for (a, &i) in active.iter().enumerate() {
        for k in 0..xs[i].numel() {
            let mut sides = Vec::with_capacity(2);
            for sign in [1.0, -1.0] {
                let mut args: Vec<Tensor> = base.iter().map(Tensor::shallow_clone).collect();
                let moved = base[i].f_detach_copy()?;
                let _ = moved
                    .f_view([-1])?
                    .f_narrow(0, k as i64, 1)?
                    .f_add_scalar_(sign * options.eps)?;
                args[i] = moved;
                let outs = f(&args)?;
                sides.push(
                    outs.iter()
                        .map(flat_values)
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            for (o, jac) in analytic.iter().enumerate() {
                if jac.is_empty() {
                    continue;
                }
                let n_in = xs[i].numel();
                for j in 0..sides[0][o].len() {
                    let numeric = (sides[0][o][j] - sides[1][o][j]) / (2.0 * options.eps);
                    report.record(Worst {
                        kind: "jacobian",
                        output: (o, j),
                        input: Some((i, k)),
                        expected: numeric,
                        got: jac[a][j * n_in + k],
                    });
                }
            }
        }
    }
    report.finish()
}

/// Checks `f` against `native`, an equivalent function written with native
/// LibTorch ops: same output values, and same autograd Jacobians (f64; see the
/// module docs). `Options::NATIVE` asks for agreement to 1e-10.
pub fn compare_with_native<F, N>(
    mut f: F,
    mut native: N,
    inputs: &[&Tensor],
    options: Options,
) -> Result<GradcheckReport, Error>
where
    F: FnMut(&[Tensor]) -> Result<Vec<Tensor>, Error>,
    N: FnMut(&[Tensor]) -> Result<Vec<Tensor>, Error>,
{
    let (xs, active) = leaves(inputs)?;
    let (xs_native, _) = leaves(inputs)?;
    let got = eval(&mut f, &xs)?;
    let expected = eval(&mut native, &xs_native)?;
    if got.len() != expected.len() {
        return Err(Error::msg(format!(
            "compare_with_native: function returned {} outputs, native {}",
            got.len(),
            expected.len()
        )));
    }
    let mut report = GradcheckReport::new("native autograd", options);
    for (o, (g, e)) in got.iter().zip(&expected).enumerate() {
        if g.size() != e.size() {
            return Err(Error::Shape {
                what: format!("output {o}"),
                expected: e.size(),
                got: g.size(),
            });
        }
        if !is_floating(e)? {
            continue;
        }
        for (j, (gv, ev)) in flat_values(g)?.into_iter().zip(flat_values(e)?).enumerate() {
            report.record(Worst {
                kind: "value",
                output: (o, j),
                input: None,
                expected: ev,
                got: gv,
            });
        }
    }
    let jac_got = autograd_jacobians(&got, &xs, &active)?;
    let jac_expected = autograd_jacobians(&expected, &xs_native, &active)?;
    for (o, (jg, je)) in jac_got.iter().zip(&jac_expected).enumerate() {
        for (a, (rg, re)) in jg.iter().zip(je).enumerate() {
            let n_in = xs[active[a]].numel();
            for (idx, (&gv, &ev)) in rg.iter().zip(re).enumerate() {
                report.record(Worst {
                    kind: "jacobian",
                    output: (o, idx / n_in),
                    input: Some((active[a], idx % n_in)),
                    expected: ev,
                    got: gv,
                });
            }
        }
    }
    report.finish()
}
