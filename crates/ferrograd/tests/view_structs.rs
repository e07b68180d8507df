//! View structs: a struct generic over its storage, instantiated with slices
//! (`&Params<&[f32]>` for parameters, `&mut Acts<&mut [f32]>` for buffers the body writes).
//! Their adjoints are the same structs over `&mut` slices, so a model's many buffers travel as
//! a few named arguments, without allocating. Checked against the same model written with
//! positional slices (bit for bit: the same kernels run in the same order), hand-derived
//! derivatives (1e-12 relative) and finite differences.

#![allow(
    clippy::needless_range_loop,
    reason = "index loops are what the differentiated code is written with"
)]

use ferrograd::differentiable;
// Kernels are found with their `_pullback`s by name: import both (a glob does).
use ferrograd::kernels::*;
use ferrograd_testkit::fd::central_diff;

/// A two-layer model's parameters over any storage.
struct Params<S> {
    w1: S,
    b1: S,
    w2: S,
    b2: S,
}

/// Its activations (what the kernels write, and what their pullbacks read).
struct Acts<S> {
    h: S,
    a: S,
    logits: S,
    probs: S,
}

/// Sizes: a plain struct, read as constants.
struct Dims {
    batch: usize,
    input: usize,
    hidden: usize,
    classes: usize,
}

#[differentiable(wrt(p), reverse_only)]
#[allow(
    clippy::needless_borrow,
    reason = "a field handed on bare (`acts.h`, in ferrograd-train's models) or borrowed \
              (`&mut acts.h`, here) is the same buffer"
)]
fn view_loss(
    x: &[f32],
    labels: &[usize],
    p: &Params<&[f32]>,
    acts: &mut Acts<&mut [f32]>,
    d: &Dims,
) -> Result<f32, KernelError> {
    linear(&mut acts.h, x, &p.w1, &p.b1, d.batch, d.input, d.hidden)?;
    relu(&mut acts.a, &acts.h)?;
    linear(
        &mut acts.logits,
        &acts.a,
        &p.w2,
        &p.b2,
        d.batch,
        d.hidden,
        d.classes,
    )?;
    let loss = softmax_cross_entropy(&mut acts.probs, &acts.logits, labels, d.batch, d.classes)?;
    Ok(loss)
}

/// The same model with positional buffers (the convention view structs replace).
#[differentiable(wrt(w1, b1, w2, b2), reverse_only)]
#[expect(clippy::too_many_arguments, reason = "the convention being replaced")]
fn positional_loss(
    x: &[f32],
    labels: &[usize],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    h: &mut [f32],
    a: &mut [f32],
    logits: &mut [f32],
    probs: &mut [f32],
    batch: usize,
) -> Result<f32, KernelError> {
    linear(h, x, w1, b1, batch, 3, 4)?;
    relu(a, h)?;
    linear(logits, a, w2, b2, batch, 4, 2)?;
    let loss = softmax_cross_entropy(probs, logits, labels, batch, 2)?;
    Ok(loss)
}

const DIMS: Dims = Dims {
    batch: 2,
    input: 3,
    hidden: 4,
    classes: 2,
};

struct Owned {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

impl Owned {
    fn new() -> Self {
        let v = |n: usize, k: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * k) % 11) as f32 - 5.0) * 0.13)
                .collect()
        };
        Owned {
            w1: v(12, 7),
            b1: v(4, 3),
            w2: v(8, 5),
            b2: v(2, 9),
        }
    }
    fn zeros() -> Self {
        Owned {
            w1: vec![0.0; 12],
            b1: vec![0.0; 4],
            w2: vec![0.0; 8],
            b2: vec![0.0; 2],
        }
    }
    fn view(&self) -> Params<&[f32]> {
        Params {
            w1: &self.w1,
            b1: &self.b1,
            w2: &self.w2,
            b2: &self.b2,
        }
    }
    fn view_mut(&mut self) -> Params<&mut [f32]> {
        Params {
            w1: &mut self.w1,
            b1: &mut self.b1,
            w2: &mut self.w2,
            b2: &mut self.b2,
        }
    }
}

struct Buffers([f32; 8], [f32; 8], [f32; 4], [f32; 4]);

impl Buffers {
    fn new() -> Self {
        Buffers([0.0; 8], [0.0; 8], [0.0; 4], [0.0; 4])
    }
    fn view(&mut self) -> Acts<&mut [f32]> {
        Acts {
            h: &mut self.0,
            a: &mut self.1,
            logits: &mut self.2,
            probs: &mut self.3,
        }
    }
}

const X: [f32; 6] = [0.3, -0.8, 1.2, 0.5, 0.9, -0.4];
const LABELS: [usize; 2] = [1, 0];

fn loss_at(p: &Owned) -> f64 {
    let mut bufs = Buffers::new();
    f64::from(view_loss(&X, &LABELS, &p.view(), &mut bufs.view(), &DIMS).unwrap())
}

#[test]
fn view_struct_model_matches_positional_bit_for_bit() {
    let p = Owned::new();
    let mut g = Owned::zeros();
    let (mut bufs, mut d_bufs) = (Buffers::new(), Buffers::new());
    let v = view_loss_grad(
        &X,
        &LABELS,
        &p.view(),
        &mut bufs.view(),
        &DIMS,
        &mut g.view_mut(),
        &mut d_bufs.view(),
    )
    .unwrap();

    let mut q = Owned::zeros();
    let (mut h, mut a, mut lg, mut pr) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 4], [0.0f32; 4]);
    let (mut dh, mut da, mut dl, mut dp) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 4], [0.0f32; 4]);
    let w = positional_loss_grad(
        &X, &LABELS, &p.w1, &p.b1, &p.w2, &p.b2, &mut h, &mut a, &mut lg, &mut pr, 2, &mut q.w1,
        &mut q.b1, &mut q.w2, &mut q.b2, &mut dh, &mut da, &mut dl, &mut dp,
    )
    .unwrap();
    assert_eq!(v.to_bits(), w.to_bits());
    for (got, want) in [
        (&g.w1, &q.w1),
        (&g.b1, &q.b1),
        (&g.w2, &q.w2),
        (&g.b2, &q.b2),
    ] {
        assert_eq!(got, want);
    }
    assert_eq!(
        bufs.3, pr,
        "the forward pass leaves the activations in the view"
    );
    assert!(g.w1.iter().any(|x| *x != 0.0));

    // Adjoints are added into `d_p`, as for every adjoint.
    let mut twice = Owned::zeros();
    for _ in 0..2 {
        view_loss_grad(
            &X,
            &LABELS,
            &p.view(),
            &mut Buffers::new().view(),
            &DIMS,
            &mut twice.view_mut(),
            &mut Buffers::new().view(),
        )
        .unwrap();
    }
    for (t, once) in twice.w1.iter().zip(&g.w1) {
        assert_eq!(*t, 2.0 * once);
    }

    // Finite differences as a sanity check.
    let eps = f64::from(1e-2f32);
    let mut max = 0.0f64;
    for k in 0..12 {
        let fd = central_diff(eps, |s| {
            let mut pq = Owned::new();
            pq.w1[k] += s as f32;
            loss_at(&pq)
        });
        max = max.max((fd - f64::from(g.w1[k])).abs());
    }
    assert!(max < 2e-3, "max |reverse - fd| {max}");

    // A wrong buffer size is the kernel's error, not a panic.
    let mut small = [0.0f32; 3];
    let mut bad = Buffers::new();
    let mut acts = bad.view();
    acts.h = &mut small;
    assert!(view_loss(&X, &LABELS, &p.view(), &mut acts, &DIMS).is_err());
}

// ---- scalar code over view structs (f64): index reads, index writes into an output view

struct Lin<S> {
    w: S,
    c: S,
}

struct Out<S> {
    y: S,
}

/// `Σ_i (w_i x_i + c_0)²`, writing each `w_i x_i + c_0` into `out.y`.
#[differentiable(wrt(p))]
fn squares(p: &Lin<&[f64]>, x: &[f64], out: &mut Out<&mut [f64]>) -> f64 {
    let mut s = 0.0;
    for i in 0..p.w.len() {
        out.y[i] = p.w[i] * x[i] + p.c[0];
        s += out.y[i] * out.y[i];
    }
    s
}

#[test]
fn scalar_view_struct_against_hand_derivative() {
    let w = [0.4, -1.3, 2.2];
    let c = [0.7];
    let x = [1.5, 0.25, -0.6];
    let (mut y, mut dy) = ([0.0; 3], [0.0; 3]);
    let (mut dw, mut dc) = ([0.0; 3], [0.0; 1]);
    let v = squares_grad(
        &Lin { w: &w, c: &c },
        &x,
        &mut Out { y: &mut y },
        &mut Lin {
            w: &mut dw,
            c: &mut dc,
        },
        &mut Out { y: &mut dy },
    );
    let mut want = 0.0;
    let mut want_dc = 0.0;
    for i in 0..3 {
        let r = w[i] * x[i] + c[0];
        want += r * r;
        assert!((dw[i] - 2.0 * r * x[i]).abs() <= 1e-12 * (2.0 * r * x[i]).abs().max(1.0));
        assert_eq!(y[i], r);
        want_dc += 2.0 * r;
    }
    assert!((v - want).abs() <= 1e-12 * want);
    assert!((dc[0] - want_dc).abs() <= 1e-12 * want_dc.abs().max(1.0));

    // The primal as written, and forward mode: the tangent of the output view is written
    // like the output, and each directional derivative is a component of the gradient.
    let mut y2 = [0.0; 3];
    assert_eq!(
        squares(&Lin { w: &w, c: &c }, &x, &mut Out { y: &mut y2 }),
        v
    );
    for k in 0..4 {
        let (mut tw, mut tc) = ([0.0; 3], [0.0; 1]);
        if k < 3 {
            tw[k] = 1.0;
        } else {
            tc[0] = 1.0;
        }
        let (mut y3, mut ty) = ([0.0; 3], [0.0; 3]);
        let (val, tan) = squares_pushforward(
            &Lin { w: &w, c: &c },
            &x,
            &mut Out { y: &mut y3 },
            &Lin { w: &tw, c: &tc },
            &[0.0; 3],
            &mut Out { y: &mut ty },
        );
        let want = if k < 3 { dw[k] } else { dc[0] };
        assert_eq!(val, v);
        assert!(
            (tan - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{k}: {tan} vs {want}"
        );
    }
}
