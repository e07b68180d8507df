//! Differential test of the ferrograd AD compiler.
//!
//! [`gen`] is a weighted grammar over the constructs the compiler supports (nested loops of
//! every kind, local arrays built from active values, iteration by value and by reference,
//! arrays and sub-slices passed to differentiable calls, computed indices, compound
//! assignments, shadowing, branches on array values, `match`, early exits, `&mut` outputs,
//! closures, local tuples, `f32`, `f64` and functions generic over `ferrograd::Real`, all float
//! methods, kernels with stashes). `build.rs` writes 2,000 programs from a fixed seed plus a rotating batch, each
//! twice: as a `#[ferrograd::differentiable]` function and as a generic primal
//! `fn p_g<T: Num>` (see [`oracle`]); a `Real`-generic program is checked at `f64` and at
//! `f32`. For every program at [`POINTS`] random points,
//! [`check_program`] compares
//! - the values returned by `p_grad`, `p_pushforward` and the oracle with the primal,
//! - reverse mode (`p_grad`), forward mode (`p_pushforward`, one call per input) and the
//!   dual-number oracle (operator overloading on the primal, sharing no code with the compiler)
//!   at [`RTOL_AD`] relative (`f32` programs: [`RTOL_AD32`], oracle in `f32` too),
//! - the oracle (in `f64`) with central finite differences (a sanity check of the generator).
//!
//! Every failure message names the program, its seed and its source; a rotating-seed failure is
//! reproduced with `FERROGRAD_DIFFTEST_SEED=<seed> cargo test -p ferrograd-difftest`.
//! Unbounded runs: the `fuzz_loop` example and the `cargo fuzz` target (see `README.md`).

pub mod gen;
pub mod helpers;
pub mod oracle;
pub mod rng;

pub use gen::{Precision, ARR, N};
use rng::Rng;

/// Inputs whose derivatives are checked: `x0..x3` then `y[0..ARR]`.
pub const DIM: usize = 4 + ARR;
/// Random points per program.
pub const POINTS: usize = 3;
/// Central-difference step (on the `f64` primal).
pub const H: f64 = 1e-6;
/// `f64` programs, reverse vs forward vs oracle: `|a − b| <= RTOL_AD · max(|a|, |b|) + ATOL_AD`.
pub const RTOL_AD: f64 = 1e-12;
pub const ATOL_AD: f64 = 1e-13;
/// `f32` programs (all three in `f32` arithmetic, operations in different orders).
pub const RTOL_AD32: f64 = 2e-4;
pub const ATOL_AD32: f64 = 2e-5;
/// Oracle vs finite differences: `|a − b| <= RTOL_FD · max(|a|, |b|) + ATOL_FD · (1 + |f|)`
/// (the floor scales with `|f|` because the rounding error of a central difference does).
pub const RTOL_FD: f64 = 1e-5;
pub const ATOL_FD: f64 = 1e-6;

/// Arguments of a generated program (`f32` programs get them rounded to `f32` first).
#[derive(Clone, Debug)]
pub struct Point {
    pub x: [f64; 4],
    pub y: [f64; ARR],
    pub idx: [usize; ARR],
    pub n: usize,
}

/// `p(point)` as `f64`.
pub type Eval = fn(&Point) -> f64;
/// Reverse mode: writes the gradient (all `DIM` inputs), returns the value.
pub type Grad = fn(&Point, &mut [f64; DIM]) -> f64;
/// Value and directional derivative along a direction of `DIM` inputs.
pub type Directional = fn(&Point, &[f64; DIM]) -> (f64, f64);

/// The Hessian `DIM × DIM` (row-major) and the value.
pub type Hess = fn(&Point, &mut [f64; DIM * DIM]) -> f64;
/// The oracle's second derivative `∂²f/∂i∂j` by nested dual numbers.
pub type Second = fn(&Point, usize, usize) -> f64;

/// One generated program and adapters to its derivatives.
pub struct Program {
    pub name: &'static str,
    /// The program's source, printed when it disagrees.
    pub source: &'static str,
    pub precision: Precision,
    /// The `#[differentiable]` primal.
    pub eval: Eval,
    /// `p_grad`.
    pub grad: Grad,
    /// `p_pushforward`.
    pub pushforward: Directional,
    /// The oracle: `p_g` on dual numbers of the program's precision.
    pub dual: Directional,
    /// `p_g` on plain `f64` (for finite differences) and on `Dual<f64>`.
    pub eval64: Eval,
    pub dual64: Directional,
    /// With `#[differentiable(hessian)]`: `p_hessian`, and the oracle on `Dual<Dual<f64>>`.
    pub hessian: Option<(Hess, Second)>,
    /// A `simd` program's reduction as `p_ch`, over constant event slices.
    pub const_events: Option<ConstEvents>,
}

/// `p_ch(x0, x1, x2, x3, ev, w)` of a `simd` program: its reduction, with the events as slice
/// parameters outside `wrt(x0, x1, x2, x3)`, which `p_ch_hessian` hands to its sweep as plain
/// `f64`. Checked at a point whose events `p_ch_events` builds as the program does.
#[derive(Clone, Copy)]
pub struct ConstEvents {
    /// `p_ch_hessian`: the 4 × 4 Hessian in `x0..x3` (row-major) and the value.
    pub hessian: fn(&Point, &mut [f64; 16]) -> f64,
    /// `p_ch`, the primal.
    pub eval: fn(&Point) -> f64,
    /// The oracle: `∂²p_ch/∂x_i∂x_j` on nested dual numbers (`p_ch_g`), the events constant.
    pub second: fn(&Point, usize, usize) -> f64,
}

/// `p_ch_g` at a point, the events `ev`, `w` constant, on nested dual numbers: `∂²/∂x_i∂x_j`.
pub fn eval_second_events(
    pt: &Point,
    i: usize,
    j: usize,
    ev: &[f64],
    w: &[f64],
    f: EventsFn<oracle::Dual<oracle::Dual<f64>>>,
) -> f64 {
    use oracle::Dual;
    let e = |k: usize, at: usize| if k == at { 1.0 } else { 0.0 };
    let d = |v: f64, k: usize| Dual::new(Dual::new(v, e(k, j)), Dual::new(e(k, i), 0.0));
    let c = |v: &f64| Dual::new(Dual::new(*v, 0.0), Dual::new(0.0, 0.0));
    let ev: Vec<_> = ev.iter().map(c).collect();
    let w: Vec<_> = w.iter().map(c).collect();
    let x: [_; 4] = std::array::from_fn(|k| d(pt.x[k], k));
    f(x[0], x[1], x[2], x[3], &ev, &w).t.t
}

/// A generated `p_ch_g`.
pub type EventsFn<T> = fn(T, T, T, T, &[T], &[T]) -> T;

/// A [`Program`] for the generated `fn $p` (precision `$F`), `$p_grad`, `$p_pushforward` and
/// the generic primal `$p_g`; `generic $F` for a `fn $p<T: Real>` run at `$F`.
#[macro_export]
macro_rules! program {
    // A `simd` program with `p_ch` (`p_ch_hessian`, `p_ch_events`, `p_ch_g`).
    (const_events $ch:ident, $chh:ident, $che:ident, $chg:ident, $($rest:tt)*) => {
        $crate::Program {
            const_events: Some($crate::ConstEvents {
                hessian: |pt, h| {
                    let (ev, w) = $che(pt.x[1], &pt.y);
                    $chh(pt.x[0], pt.x[1], pt.x[2], pt.x[3], &ev, &w, h)
                        .expect("a 4 × 4 buffer")
                },
                eval: |pt| {
                    let (ev, w) = $che(pt.x[1], &pt.y);
                    $ch(pt.x[0], pt.x[1], pt.x[2], pt.x[3], &ev, &w)
                },
                second: |pt, i, j| {
                    let (ev, w) = $che(pt.x[1], &pt.y);
                    $crate::eval_second_events(pt, i, j, &ev, &w, $chg)
                },
            }),
            ..$crate::program!($($rest)*)
        }
    };
    // A program also marked `hessian` (`$hess` is `p_hessian`).
    (hessian $hess:ident, $($rest:tt)*) => {
        $crate::Program {
            hessian: Some((
                |pt, h| {
                    let v = $crate::program!(@hessian_call $hess, pt, h, $($rest)*);
                    v
                },
                |pt, i, j| $crate::eval_second(pt, i, j, $crate::program!(@gen $($rest)*)),
            )),
            ..$crate::program!($($rest)*)
        }
    };
    (@gen $F:ident, $p:ident, $grad:ident, $fwd:ident, $gen:ident, $src:expr) => {
        $gen::<$crate::oracle::Dual<$crate::oracle::Dual<f64>>>
    };
    (@hessian_call $hess:ident, $pt:ident, $h:ident, $F:ident, $($rest:tt)*) => {{
        let y = $pt.y.map(|v| v as $F);
        let x = $pt.x.map(|v| v as $F);
        let mut hh = [0.0 as $F; $crate::DIM * $crate::DIM];
        let v = $hess(x[0], x[1], x[2], x[3], &y, &$pt.idx, $pt.n, &mut hh)
            .expect("a DIM × DIM buffer");
        for (o, g) in $h.iter_mut().zip(hh) {
            *o = g as f64;
        }
        v as f64
    }};
    // A `Real`-generic program instantiated at `$F` (inferred from the arguments' type).
    (generic $F:ident, $p:ident, $grad:ident, $fwd:ident, $gen:ident, $src:expr) => {
        $crate::Program {
            name: concat!(stringify!($p), "::<", stringify!($F), ">"),
            ..$crate::program!($F, $p, $grad, $fwd, $gen, $src)
        }
    };
    ($F:ident, $p:ident, $grad:ident, $fwd:ident, $gen:ident, $src:expr) => {
        $crate::Program {
            name: stringify!($p),
            source: $src,
            precision: $crate::program!(@precision $F),
            eval: |pt| {
                let y = pt.y.map(|v| v as $F);
                let x = pt.x.map(|v| v as $F);
                $p(x[0], x[1], x[2], x[3], &y, &pt.idx, pt.n) as f64
            },
            grad: |pt, g| {
                let y = pt.y.map(|v| v as $F);
                let x = pt.x.map(|v| v as $F);
                let (mut d0, mut d1, mut d2, mut d3) = (0.0, 0.0, 0.0, 0.0);
                let mut dy: [$F; $crate::ARR] = [0.0; $crate::ARR];
                let v = $grad(
                    x[0], x[1], x[2], x[3], &y, &pt.idx, pt.n, &mut d0, &mut d1, &mut d2,
                    &mut d3, &mut dy,
                );
                for (k, d) in [d0, d1, d2, d3].into_iter().chain(dy).enumerate() {
                    g[k] = d as f64;
                }
                v as f64
            },
            pushforward: |pt, t| {
                let y = pt.y.map(|v| v as $F);
                let x = pt.x.map(|v| v as $F);
                let ty: [$F; $crate::ARR] = std::array::from_fn(|k| t[4 + k] as $F);
                let (v, d) = $fwd(
                    x[0], x[1], x[2], x[3], &y, &pt.idx, pt.n, t[0] as $F, t[1] as $F,
                    t[2] as $F, t[3] as $F, &ty,
                );
                (v as f64, d as f64)
            },
            dual: |pt, t| $crate::eval_dual::<$F>(pt, t, $gen::<$crate::oracle::Dual<$F>>),
            eval64: |pt| $gen::<f64>(pt.x[0], pt.x[1], pt.x[2], pt.x[3], &pt.y, &pt.idx, pt.n),
            dual64: |pt, t| $crate::eval_dual::<f64>(pt, t, $gen::<$crate::oracle::Dual<f64>>),
            hessian: None,
            const_events: None,
        }
    };
    (@precision f64) => {
        $crate::Precision::F64
    };
    (@precision f32) => {
        $crate::Precision::F32
    };
}

/// The generic primal's signature, instantiated at `T`.
pub type GenericFn<T> = fn(T, T, T, T, &[T], &[usize], usize) -> T;

/// Runs the generic primal on dual numbers of base `S`: value and derivative along `t`.
pub fn eval_dual<S: oracle::Num>(
    pt: &Point,
    t: &[f64; DIM],
    f: GenericFn<oracle::Dual<S>>,
) -> (f64, f64) {
    use oracle::Dual;
    let d = |v: f64, t: f64| Dual::new(S::c(v), S::c(t));
    let y: [Dual<S>; ARR] = std::array::from_fn(|k| d(pt.y[k], t[4 + k]));
    let r = f(
        d(pt.x[0], t[0]),
        d(pt.x[1], t[1]),
        d(pt.x[2], t[2]),
        d(pt.x[3], t[3]),
        &y,
        &pt.idx,
        pt.n,
    );
    (r.v.value(), r.t.value())
}

/// Runs the generic primal on nested dual numbers (`f64`): `∂²f/∂i∂j`, the outer tangent
/// along input `i`, the inner along `j`.
pub fn eval_second(
    pt: &Point,
    i: usize,
    j: usize,
    f: GenericFn<oracle::Dual<oracle::Dual<f64>>>,
) -> f64 {
    use oracle::Dual;
    let e = |k: usize, at: usize| if k == at { 1.0 } else { 0.0 };
    let d = |v: f64, k: usize| Dual::new(Dual::new(v, e(k, j)), Dual::new(e(k, i), 0.0));
    let y: [Dual<Dual<f64>>; ARR] = std::array::from_fn(|k| d(pt.y[k], 4 + k));
    let r = f(
        d(pt.x[0], 0),
        d(pt.x[1], 1),
        d(pt.x[2], 2),
        d(pt.x[3], 3),
        &y,
        &pt.idx,
        pt.n,
    );
    r.t.t
}

/// Where an input of a struct program sits among the harness's `DIM` inputs: `s.x0` → 0,
/// `self.inner.x3` → 3, `s.y` → `4..4 + ARR`.
fn harness_inputs(name: &str) -> std::ops::Range<usize> {
    let field = name.split_once('.').map_or(name, |(_, f)| f);
    match field {
        "x0" => 0..1,
        "x1" => 1..2,
        "inner.x2" => 2..3,
        "inner.x3" => 3..4,
        "y" => 4..4 + ARR,
        other => panic!("generator bug: unknown input {other:?}"),
    }
}

/// The side of the Hessian a struct program's `p_hessian` writes (its inputs, in order).
pub fn hessian_width(names: &[&str]) -> usize {
    names.iter().map(|n| harness_inputs(n).len()).sum()
}

/// Spreads a struct program's Hessian (rows and columns in the order of `names`) over the
/// harness's `DIM × DIM` one; inputs the program does not differentiate stay zero.
pub fn scatter_hessian<F: Copy + Default>(names: &[&str], h: &[F], out: &mut [F]) {
    let index: Vec<usize> = names.iter().flat_map(|n| harness_inputs(n)).collect();
    let w = index.len();
    out.fill(F::default());
    for (i, &ri) in index.iter().enumerate() {
        for (j, &cj) in index.iter().enumerate() {
            out[ri * DIM + cj] = h[i * w + j];
        }
    }
}

/// Largest differences seen (absolute, and relative to the tolerance: `<= 1` agrees).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub programs: usize,
    pub points: usize,
    /// Derivative components checked, and how many were non-zero.
    pub components: usize,
    pub nonzero: usize,
    /// max |reverse − forward| and |reverse − oracle| over `f64` programs, and the largest
    /// of either divided by its tolerance.
    pub max_rev_fwd: f64,
    pub max_rev_dual: f64,
    pub max_ad_ratio: f64,
    /// The same over `f32` programs.
    pub max_rev_fwd32: f64,
    pub max_rev_dual32: f64,
    pub max_ad_ratio32: f64,
    /// max |oracle − finite difference| and its ratio to the tolerance.
    pub max_fd: f64,
    pub max_fd_ratio: f64,
    /// Programs whose Hessian was checked, and the largest |hessian − oracle| over its
    /// tolerance.
    pub hessians: usize,
    pub max_hess: f64,
    /// Of those, `p_ch` Hessians over constant event slices.
    pub const_event_hessians: usize,
}

/// `diff <= tol`, false for NaN (a NaN derivative is a disagreement).
fn within(diff: f64, tol: f64) -> bool {
    diff <= tol
}

fn tol_ad(p: Precision, a: f64, b: f64) -> f64 {
    match p {
        Precision::F64 => RTOL_AD * a.abs().max(b.abs()) + ATOL_AD,
        Precision::F32 => RTOL_AD32 * a.abs().max(b.abs()) + ATOL_AD32,
    }
}

fn tol_fd(a: f64, b: f64, f: f64) -> f64 {
    RTOL_FD * a.abs().max(b.abs()) + ATOL_FD * (1.0 + f.abs())
}

/// A random point for a program of precision `p` (seeded by `seed`).
pub fn point(rng: &mut Rng, p: Precision) -> Point {
    let round = |v: f64| match p {
        Precision::F64 => v,
        Precision::F32 => f64::from(v as f32),
    };
    Point {
        x: std::array::from_fn(|_| round(rng.uniform(-1.5, 1.5))),
        y: std::array::from_fn(|_| round(rng.uniform(-1.5, 1.5))),
        idx: std::array::from_fn(|_| rng.below(ARR)),
        n: N,
    }
}

fn unit(k: usize) -> [f64; DIM] {
    let mut t = [0.0; DIM];
    t[k] = 1.0;
    t
}

fn input_name(k: usize) -> String {
    if k < 4 {
        format!("x{k}")
    } else {
        format!("y[{}]", k - 4)
    }
}

/// Checks one program at `POINTS` random points (seeded by `seed`). Updates the statistics;
/// returns a report of every disagreement.
pub fn check_program(p: &Program, seed: u64, stats: &mut Stats) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut errors = Vec::new();
    stats.programs += 1;
    for _ in 0..POINTS {
        stats.points += 1;
        let pt = point(&mut rng, p.precision);
        let mut fail = |what: String| {
            errors.push(format!(
                "  at x = {:?}, y = {:?}, idx = {:?}, n = {}: {what}",
                pt.x, pt.y, pt.idx, pt.n
            ))
        };
        let f = (p.eval)(&pt);
        let f64_ = (p.eval64)(&pt);
        if !f.is_finite() || !f64_.is_finite() {
            fail(format!(
                "value {f} (generic f64: {f64_}) is not finite (generator bug)"
            ));
            continue;
        }
        // Reverse mode: one call.
        let mut rev = [0.0; DIM];
        let v_rev = (p.grad)(&pt, &mut rev);
        if v_rev != f {
            fail(format!("p_grad returned {v_rev}, primal {f}"));
        }
        for (k, &r) in rev.iter().enumerate() {
            let name = input_name(k);
            let t = unit(k);
            let (v_fwd, fwd) = (p.pushforward)(&pt, &t);
            if v_fwd != f {
                fail(format!("p_pushforward returned value {v_fwd}, primal {f}"));
            }
            let (v_dual, dual) = (p.dual)(&pt, &t);
            if !within((v_dual - f).abs(), tol_ad(p.precision, v_dual, f)) {
                fail(format!("oracle value {v_dual}, primal {f}"));
            }
            // Finite differences on the generic f64 primal, against the f64 oracle.
            let (_, dual64) = (p.dual64)(&pt, &t);
            let bump = |d: f64| {
                let mut q = pt.clone();
                if k < 4 {
                    q.x[k] += d;
                } else {
                    q.y[k - 4] += d;
                }
                (p.eval64)(&q)
            };
            let fd = (bump(H) - bump(-H)) / (2.0 * H);

            stats.components += 1;
            stats.nonzero += usize::from(r != 0.0);
            let (d_fwd, d_dual, d_fd) = ((r - fwd).abs(), (r - dual).abs(), (dual64 - fd).abs());
            let ratio =
                (d_fwd / tol_ad(p.precision, r, fwd)).max(d_dual / tol_ad(p.precision, r, dual));
            match p.precision {
                Precision::F64 => {
                    stats.max_rev_fwd = stats.max_rev_fwd.max(d_fwd);
                    stats.max_rev_dual = stats.max_rev_dual.max(d_dual);
                    stats.max_ad_ratio = stats.max_ad_ratio.max(ratio);
                }
                Precision::F32 => {
                    stats.max_rev_fwd32 = stats.max_rev_fwd32.max(d_fwd);
                    stats.max_rev_dual32 = stats.max_rev_dual32.max(d_dual);
                    stats.max_ad_ratio32 = stats.max_ad_ratio32.max(ratio);
                }
            }
            stats.max_fd = stats.max_fd.max(d_fd);
            stats.max_fd_ratio = stats.max_fd_ratio.max(d_fd / tol_fd(dual64, fd, f64_));
            if !within(d_fwd, tol_ad(p.precision, r, fwd))
                || !within(d_dual, tol_ad(p.precision, r, dual))
            {
                fail(format!(
                    "∂f/∂{name}: reverse {r:e}, forward {fwd:e}, oracle {dual:e} \
                     (|rev − fwd| = {d_fwd:.2e}, |rev − oracle| = {d_dual:.2e}; finite difference {fd:e})"
                ));
            }
            if !within(d_fd, tol_fd(dual64, fd, f64_)) {
                fail(format!(
                    "∂f/∂{name}: oracle (f64) {dual64:e} vs finite difference {fd:e} (diff {d_fd:.2e}; reverse {r:e})"
                ));
            }
        }
    }
    if let Some((hess, second)) = p.hessian {
        // Second derivatives at one more point: the generated Hessian against the oracle on
        // nested dual numbers (the same tolerances as first derivatives, on `f64`).
        let pt = point(&mut rng, p.precision);
        let mut h = [0.0; DIM * DIM];
        let v = hess(&pt, &mut h);
        let f = (p.eval)(&pt);
        if v != f {
            errors.push(format!("  p_hessian returned {v}, primal {f}"));
        }
        stats.hessians += 1;
        for i in 0..DIM {
            for j in 0..DIM {
                let want = second(&pt, i, j);
                let got = h[i * DIM + j];
                let tol = tol_ad(p.precision, got, want) * 10.0;
                stats.max_hess = stats.max_hess.max((got - want).abs() / tol);
                if !within((got - want).abs(), tol) {
                    errors.push(format!(
                        "  at x = {:?}, y = {:?}, idx = {:?}, n = {}: ∂²f/∂{}∂{}: hessian {got:e}, oracle {want:e}",
                        pt.x, pt.y, pt.idx, pt.n, input_name(i), input_name(j)
                    ));
                }
            }
        }
    }
    if let Some(c) = p.const_events {
        // `p_ch`'s Hessian at one more point, against the oracle (tolerances as above).
        let pt = point(&mut rng, p.precision);
        let mut h = [0.0; 16];
        let v = (c.hessian)(&pt, &mut h);
        let f = (c.eval)(&pt);
        if v != f {
            errors.push(format!("  p_ch_hessian returned {v}, p_ch {f}"));
        }
        stats.hessians += 1;
        stats.const_event_hessians += 1;
        for i in 0..4 {
            for j in 0..4 {
                let want = (c.second)(&pt, i, j);
                let got = h[i * 4 + j];
                let tol = tol_ad(p.precision, got, want) * 10.0;
                stats.max_hess = stats.max_hess.max((got - want).abs() / tol);
                if !within((got - want).abs(), tol) {
                    errors.push(format!(
                        "  p_ch at x = {:?}, events from y = {:?}: ∂²f/∂x{i}∂x{j}: hessian {got:e}, oracle {want:e}",
                        pt.x, pt.y
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "program `{}` ({}) disagrees:\n{}\n{}",
            p.name,
            p.precision.ty(),
            errors.join("\n"),
            p.source
        ))
    }
}

/// The seed of the points of program `p` (by name, so a program is reproducible alone).
pub fn point_seed(name: &str) -> u64 {
    name.bytes().fold(0xF3_u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

/// Checks every program of a batch generated from `seed`; prints the max differences; returns
/// the report of every disagreement (with the seed and how to reproduce it).
pub fn check_batch(batch: &str, seed: u64, programs: &[Program]) -> Result<Stats, String> {
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    for p in programs {
        if let Err(e) = check_program(p, point_seed(p.name), &mut stats) {
            failures.push(e);
        }
    }
    println!(
        "{batch} (seed {seed:#x}): {} programs × {POINTS} points, {}/{} derivatives non-zero; \
         f64: max |rev − fwd| = {:.2e}, max |rev − oracle| = {:.2e} ({:.1e} of tolerance); \
         f32: max |rev − fwd| = {:.2e}, max |rev − oracle| = {:.2e} ({:.1e} of tolerance); \
         max |oracle − finite difference| = {:.2e} ({:.1e} of tolerance); \
         {} Hessians ({} over constant events), max |hessian − oracle| {:.1e} of tolerance",
        stats.programs,
        stats.nonzero,
        stats.components,
        stats.max_rev_fwd,
        stats.max_rev_dual,
        stats.max_ad_ratio,
        stats.max_rev_fwd32,
        stats.max_rev_dual32,
        stats.max_ad_ratio32,
        stats.max_fd,
        stats.max_fd_ratio,
        stats.hessians,
        stats.const_event_hessians,
        stats.max_hess
    );
    if failures.is_empty() {
        Ok(stats)
    } else {
        Err(format!(
            "{batch}: {} of {} programs disagree. Program `pK` is `gen::program({seed:#x}, K, ..)`: \
             replay one with `cargo run -p ferrograd-difftest --example fuzz_loop -- --seed {seed:#x} \
             --program K`; a rotating batch with `FERROGRAD_DIFFTEST_SEED={seed:#x} cargo test -p \
             ferrograd-difftest --test rotating`.\n{}",
            failures.len(),
            programs.len(),
            failures.join("\n\n")
        ))
    }
}

/// [`check_batch`], panicking with every disagreement.
pub fn check_all(batch: &str, seed: u64, programs: &[Program]) {
    if let Err(e) = check_batch(batch, seed, programs) {
        panic!("{e}");
    }
}

#[cfg(test)]
mod tests;
