//! Struct parameters, `#[derive(Differentiable)]` and methods: values and gradients against
//! hand-derived derivatives (1e-12 relative), reverse against forward mode, and finite
//! differences as a sanity check.

#![allow(
    clippy::needless_range_loop,
    reason = "index loops are what the differentiated code is written with"
)]

use ferrograd::{differentiable, Differentiable, Real};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

fn assert_close(got: f64, want: f64, what: &str) {
    assert!(close(got, want, 1e-12), "{what}: got {got}, want {want}");
}

// ---- the example: a Gaussian NLL over a parameter struct

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Gauss {
    mu: f64,
    sigma: f64,
}

#[differentiable]
fn nll(p: &Gauss, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &xi in x.iter() {
        let z = (xi - p.mu) / p.sigma;
        s += 0.5 * z * z + p.sigma.ln();
    }
    s
}

/// Hand-derived: ∂/∂μ = -Σ z/σ, ∂/∂σ = Σ (1 - z²)/σ, ∂/∂x_i = z_i/σ.
fn nll_by_hand(p: &Gauss, x: &[f64]) -> (f64, Gauss, Vec<f64>) {
    let mut v = 0.0;
    let mut d = Gauss {
        mu: 0.0,
        sigma: 0.0,
    };
    let mut dx = Vec::new();
    for &xi in x {
        let z = (xi - p.mu) / p.sigma;
        v += 0.5 * z * z + p.sigma.ln();
        d.mu -= z / p.sigma;
        d.sigma += (1.0 - z * z) / p.sigma;
        dx.push(z / p.sigma);
    }
    (v, d, dx)
}

#[test]
fn struct_parameter_gradient_and_tangent() {
    let p = Gauss {
        mu: 0.3,
        sigma: 1.7,
    };
    let x = [0.1, -1.2, 2.5, 0.7, 3.1];
    let (want_v, want_d, want_dx) = nll_by_hand(&p, &x);

    let mut d_p = p.zero_like();
    let mut d_x = [0.0; 5];
    let v = nll_grad(&p, &x, &mut d_p, &mut d_x);
    assert_close(v, want_v, "value");
    assert_eq!(v, nll(&p, &x), "the gradient returns the primal's value");
    assert_close(d_p.mu, want_d.mu, "d mu");
    assert_close(d_p.sigma, want_d.sigma, "d sigma");
    for (g, w) in d_x.iter().zip(&want_dx) {
        assert_close(*g, *w, "d x");
    }

    // Adjoints are added into `d_p`.
    let v2 = nll_grad(&p, &x, &mut d_p, &mut []);
    assert_eq!(v2, v);
    assert_close(d_p.mu, 2.0 * want_d.mu, "accumulated d mu");

    // The pullback scales by the seed.
    let mut d_p = p.zero_like();
    nll_pullback(&p, &x, 3.0, &mut d_p, &mut []);
    assert_close(d_p.sigma, 3.0 * want_d.sigma, "pullback d sigma");

    // Forward mode: the tangent along (t_p, t_x) is the directional derivative.
    let t_p = Gauss {
        mu: 0.5,
        sigma: -0.25,
    };
    let t_x = [1.0, 0.0, -2.0, 0.5, 0.0];
    let (fv, ft) = nll_pushforward(&p, &x, &t_p, &t_x);
    assert_eq!(fv, v);
    let want_t = want_d.mu * t_p.mu
        + want_d.sigma * t_p.sigma
        + want_dx.iter().zip(&t_x).map(|(a, b)| a * b).sum::<f64>();
    assert_close(ft, want_t, "tangent");

    // Finite differences (sanity).
    let h = 1e-6;
    let fd = (nll(
        &Gauss {
            mu: p.mu + h,
            ..p.clone()
        },
        &x,
    ) - nll(
        &Gauss {
            mu: p.mu - h,
            ..p.clone()
        },
        &x,
    )) / (2.0 * h);
    assert!(close(fd, want_d.mu, 1e-6), "fd {fd} vs {}", want_d.mu);
}

#[differentiable(wrt(p))]
fn nll_wrt_p(p: &Gauss, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        let z = (x[i] - p.mu) / p.sigma;
        s += 0.5 * z * z + p.sigma.ln();
    }
    s
}

#[test]
fn wrt_a_struct_parameter() {
    let p = Gauss {
        mu: -0.4,
        sigma: 0.9,
    };
    let x = [0.2, 1.1, -0.3];
    let (want_v, want_d, _) = nll_by_hand(&p, &x);
    let mut d_p = p.zero_like();
    let v = nll_wrt_p_grad(&p, &x, &mut d_p);
    assert_close(v, want_v, "value");
    assert_eq!(v, nll_wrt_p(&p, &x));
    assert_close(d_p.mu, want_d.mu, "d mu");
    assert_close(d_p.sigma, want_d.sigma, "d sigma");
}

// ---- nested structs, `Vec` and array fields, inactive fields

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Layer {
    w: Vec<f64>,
    b: [f64; 2],
    n: usize,
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Model {
    layer: Layer,
    scale: f64,
    tag: u32,
}

#[differentiable]
fn model_loss(m: &Model, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..m.layer.n {
        s += m.layer.w[i] * x[i] + m.layer.b[i % 2];
    }
    for &w in m.layer.w.iter() {
        s += w * w * m.scale;
    }
    let len = m.layer.w.len() as f64;
    s * m.scale + len
}

fn model_by_hand(m: &Model, x: &[f64]) -> (f64, Model, Vec<f64>) {
    let n = m.layer.n;
    let lin: f64 = (0..n).map(|i| m.layer.w[i] * x[i] + m.layer.b[i % 2]).sum();
    let sq: f64 = m.layer.w.iter().map(|w| w * w).sum();
    let c = m.scale;
    let v = (lin + c * sq) * c + m.layer.w.len() as f64;
    let mut d = m.zero_like();
    let mut dx = vec![0.0; x.len()];
    for i in 0..m.layer.w.len() {
        d.layer.w[i] = 2.0 * c * c * m.layer.w[i] + if i < n { c * x[i] } else { 0.0 };
    }
    for i in 0..n {
        d.layer.b[i % 2] += c;
        dx[i] = c * m.layer.w[i];
    }
    d.scale = lin + 2.0 * c * sq;
    (v, d, dx)
}

#[test]
fn nested_structs_with_vec_and_array_fields() {
    let m = Model {
        layer: Layer {
            w: vec![0.5, -1.5, 2.0, 0.25],
            b: [0.1, -0.2],
            n: 3,
        },
        scale: 1.3,
        tag: 7,
    };
    let x = [1.0, 2.0, -0.5, 4.0];
    let (want_v, want_d, want_dx) = model_by_hand(&m, &x);

    let mut d_m = m.zero_like();
    assert_eq!(
        d_m.layer.w.len(),
        4,
        "zero_like sizes Vec fields like the primal"
    );
    assert_eq!((d_m.layer.n, d_m.tag), (3, 7), "inactive fields are copied");
    let mut d_x = [0.0; 4];
    let v = model_loss_grad(&m, &x, &mut d_m, &mut d_x);
    assert_close(v, want_v, "value");
    assert_eq!(v, model_loss(&m, &x));
    for (g, w) in d_m.layer.w.iter().zip(&want_d.layer.w) {
        assert_close(*g, *w, "d w");
    }
    for (g, w) in d_m.layer.b.iter().zip(&want_d.layer.b) {
        assert_close(*g, *w, "d b");
    }
    assert_close(d_m.scale, want_d.scale, "d scale");
    for (g, w) in d_x.iter().zip(&want_dx) {
        assert_close(*g, *w, "d x");
    }

    // Forward mode against the reverse gradient.
    let mut t_m = m.zero_like();
    t_m.layer.w = vec![1.0, 0.5, -1.0, 2.0];
    t_m.layer.b = [0.3, -0.7];
    t_m.scale = 0.2;
    let t_x = [0.0, 1.0, 0.0, -1.0];
    let (fv, ft) = model_loss_pushforward(&m, &x, &t_m, &t_x);
    assert_eq!(fv, v);
    let mut want_t = want_d.scale * t_m.scale;
    want_t += (0..4)
        .map(|i| want_d.layer.w[i] * t_m.layer.w[i])
        .sum::<f64>();
    want_t += (0..2)
        .map(|i| want_d.layer.b[i] * t_m.layer.b[i])
        .sum::<f64>();
    want_t += (0..4).map(|i| want_dx[i] * t_x[i]).sum::<f64>();
    assert_close(ft, want_t, "tangent");
}

// ---- methods

impl Gauss {
    /// Log-density of one event.
    #[differentiable]
    fn logpdf(&self, x: f64) -> f64 {
        let z = (x - self.mu) / self.sigma;
        -0.5 * z * z - self.sigma.ln()
    }
}

#[test]
fn methods_take_d_self() {
    let g = Gauss {
        mu: 1.2,
        sigma: 0.8,
    };
    let x = 2.1;
    let z = (x - g.mu) / g.sigma;
    let mut d_self = g.zero_like();
    let mut d_x = 0.0;
    let v = g.logpdf_grad(x, &mut d_self, &mut d_x);
    assert_close(v, g.logpdf(x), "value");
    assert_close(d_self.mu, z / g.sigma, "d mu");
    assert_close(d_self.sigma, (z * z - 1.0) / g.sigma, "d sigma");
    assert_close(d_x, -z / g.sigma, "d x");

    let mut d_self2 = g.zero_like();
    let mut d_x2 = 0.0;
    g.logpdf_pullback(x, 2.0, &mut d_self2, &mut d_x2);
    assert_close(d_self2.mu, 2.0 * d_self.mu, "pullback d mu");

    let t = Gauss {
        mu: 1.0,
        sigma: 0.0,
    };
    let (fv, ft) = g.logpdf_pushforward(x, &t, 0.0);
    assert_eq!(fv, v);
    assert_close(ft, d_self.mu, "tangent along mu");
}

// ---- generic structs and functions: one definition for f32, f64 and dual numbers

#[derive(Clone, Debug, Differentiable)]
struct Pair<T> {
    a: T,
    b: T,
}

#[differentiable]
fn pair_product<T: Real>(p: &Pair<T>, x: T) -> T {
    p.a * x * x + p.b.sin()
}

#[test]
fn generic_struct_parameters() {
    let p = Pair { a: 1.5f64, b: 0.4 };
    let mut d = p.zero_like();
    let mut dx = 0.0;
    let v = pair_product_grad(&p, 2.0, &mut d, &mut dx);
    assert_eq!(v, pair_product(&p, 2.0));
    assert_close(v, 1.5 * 4.0 + 0.4f64.sin(), "value");
    assert_close(d.a, 4.0, "d a");
    assert_close(d.b, 0.4f64.cos(), "d b");
    assert_close(dx, 2.0 * 1.5 * 2.0, "d x");

    let p32 = Pair { a: 1.5f32, b: 0.4 };
    let mut d32 = p32.zero_like();
    let mut dx32 = 0.0f32;
    pair_product_grad(&p32, 2.0f32, &mut d32, &mut dx32);
    assert!((d32.b - 0.4f32.cos()).abs() < 1e-6);
}

// ---- `simd` over a struct's fields

#[differentiable(simd)]
fn nll_simd(p: &Gauss, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &xi in x.iter() {
        let z = (xi - p.mu) / p.sigma;
        s += 0.5 * z * z + p.sigma.ln();
    }
    s
}

#[test]
fn simd_loops_over_struct_fields_match_the_scalar_path() {
    let p = Gauss {
        mu: 0.25,
        sigma: 1.4,
    };
    let x: Vec<f64> = (0..1003)
        .map(|i| ((i * 37) % 101) as f64 / 25.0 - 2.0)
        .collect();
    let mut d_s = p.zero_like();
    let mut d_v = p.zero_like();
    let vs = nll_grad(&p, &x, &mut d_s, &mut []);
    let vv = nll_simd_grad(&p, &x, &mut d_v, &mut []);
    assert!(close(vs, vv, 1e-12), "{vs} vs {vv}");
    assert!(close(nll_simd(&p, &x), vs, 1e-12));
    assert!(close(d_s.mu, d_v.mu, 1e-12));
    assert!(close(d_s.sigma, d_v.sigma, 1e-12));
}

// ---- pass-through structs: integer fields only, no adjoint

#[derive(Clone, Copy)]
struct Shape {
    rows: usize,
    cols: usize,
}

#[differentiable]
fn row_sums_squared(x: &[f64], s: &Shape) -> f64 {
    let mut total = 0.0;
    for r in 0..s.rows {
        let mut row = 0.0;
        for c in 0..s.cols {
            row += x[r * s.cols + c];
        }
        total += row * row;
    }
    total
}

#[test]
fn integer_only_structs_stay_pass_through() {
    let s = Shape { rows: 2, cols: 3 };
    let x = [1.0, 2.0, 3.0, -1.0, 0.5, 0.5];
    let mut d = [0.0; 6];
    let v = row_sums_squared_grad(&x, &s, &mut d);
    assert_eq!(v, row_sums_squared(&x, &s));
    assert_close(v, 36.0, "value");
    assert_eq!(d, [12.0, 12.0, 12.0, 0.0, 0.0, 0.0]);
}

// ---- methods and struct parameters handed whole to calls

impl Gauss {
    /// The NLL as a sum of the method above: `self.logpdf(..)` inside differentiable code
    /// runs the generated `Gauss::logpdf_pullback`.
    #[differentiable]
    fn nll_events(&self, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for &xi in x.iter() {
            s -= self.logpdf(xi);
        }
        s
    }
}

#[differentiable]
fn nll_via_method(p: &Gauss, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s -= p.logpdf(x[i]);
    }
    // A field read directly and the struct handed to calls, in one function.
    s + 0.5 * p.mu * p.mu
}

#[differentiable]
fn nll_via_free_function(p: &Gauss, x: &[f64]) -> f64 {
    2.0 * nll(p, x) + p.sigma
}

#[test]
fn methods_and_whole_structs_in_calls() {
    let p = Gauss {
        mu: 0.6,
        sigma: 1.3,
    };
    let x = [0.5, -0.7, 1.9, 2.2];
    let (want_v, want_d, want_dx) = nll_by_hand(&p, &x);

    let mut d = p.zero_like();
    let mut dx = [0.0; 4];
    let v = p.nll_events_grad(&x, &mut d, &mut dx);
    assert_close(v, want_v, "method value");
    assert_eq!(v, p.nll_events(&x));
    assert_close(d.mu, want_d.mu, "method d mu");
    assert_close(d.sigma, want_d.sigma, "method d sigma");
    for (g, w) in dx.iter().zip(&want_dx) {
        assert_close(*g, *w, "method d x");
    }

    let mut d = p.zero_like();
    let v = nll_via_method_grad(&p, &x, &mut d, &mut []);
    assert_close(v, want_v + 0.5 * p.mu * p.mu, "mixed value");
    assert_eq!(v, nll_via_method(&p, &x));
    assert_close(d.mu, want_d.mu + p.mu, "mixed d mu (field and whole)");
    assert_close(d.sigma, want_d.sigma, "mixed d sigma");

    let mut d = p.zero_like();
    let v = nll_via_free_function_grad(&p, &x, &mut d, &mut []);
    assert_close(v, 2.0 * want_v + p.sigma, "free value");
    assert_eq!(v, nll_via_free_function(&p, &x));
    assert_close(d.mu, 2.0 * want_d.mu, "free d mu");
    assert_close(d.sigma, 2.0 * want_d.sigma + 1.0, "free d sigma");

    // Forward mode through the same calls.
    let t = Gauss {
        mu: 0.0,
        sigma: 1.0,
    };
    let (fv, ft) = nll_via_free_function_pushforward(&p, &x, &t, &[0.0; 4]);
    assert_eq!(fv, v);
    assert_close(ft, 2.0 * want_d.sigma + 1.0, "free tangent along sigma");
    let (_, ft) = p.nll_events_pushforward(&x, &t, &[0.0; 4]);
    assert_close(ft, want_d.sigma, "method tangent along sigma");
}

// ---- the Hessian of an NLL over a parameter struct (what a fit needs for its errors)

#[differentiable(hessian, wrt(p))]
fn nll_h(p: &Gauss, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &xi in x.iter() {
        let z = (xi - p.mu) / p.sigma;
        s += 0.5 * z * z + p.sigma.ln();
    }
    s
}

#[test]
fn struct_parameter_hessian_against_hand_derivative() {
    let p = Gauss {
        mu: 0.3,
        sigma: 1.7,
    };
    let x = [0.1, -1.2, 2.5, 0.7, 1.1];
    assert_eq!(nll_h_HESSIAN_INPUTS, &["p.mu", "p.sigma"]);
    let mut h = [0.0; 4];
    let v = nll_h_hessian(&p, &x, &mut h).unwrap();
    assert_close(v, nll(&p, &x), "value");
    assert_eq!(nll_h(&p, &x), v);
    // ∂²/∂μ² = n/σ², ∂²/∂μ∂σ = Σ 2z/σ², ∂²/∂σ² = Σ (3z² − 1)/σ².
    let s2 = p.sigma * p.sigma;
    let (mut mm, mut ms, mut ss) = (0.0, 0.0, 0.0);
    for &xi in &x {
        let z = (xi - p.mu) / p.sigma;
        mm += 1.0 / s2;
        ms += 2.0 * z / s2;
        ss += (3.0 * z * z - 1.0) / s2;
    }
    assert_close(h[0], mm, "d2/dmu2");
    assert_close(h[1], ms, "d2/dmu dsigma");
    assert_close(h[2], ms, "d2/dsigma dmu");
    assert_close(h[3], ss, "d2/dsigma2");
    // A wrong-sized output is an error, not a panic.
    assert!(nll_h_hessian(&p, &x, &mut [0.0; 3]).is_err());
}

// ---- vectorised: the events read in place by the Hessian (`__fg_f_hessian_sweep`)

#[differentiable(simd, hessian, wrt(p))]
fn nll_h_simd(p: &Gauss, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &xi in x.iter() {
        let z = (xi - p.mu) / p.sigma;
        s += 0.5 * z * z + p.sigma.ln();
    }
    s
}

#[test]
fn a_vectorised_struct_hessian_matches_the_scalar_one() {
    assert!(nll_h_simd_GRAD_SOURCE.contains("_hessian_sweep"));
    let p = Gauss {
        mu: 0.2,
        sigma: 1.3,
    };
    for n in [3usize, 17, 10_003] {
        let x: Vec<f64> = (0..n)
            .map(|k| ((k * 37 % 101) as f64) * 0.05 - 2.5)
            .collect();
        let mut want = [0.0; 4];
        let v = nll_h_hessian(&p, &x, &mut want).unwrap();
        let mut hs = [0.0; 4];
        let vs = nll_h_simd_hessian(&p, &x, &mut hs).unwrap();
        assert_close(vs, v, "simd value");
        // (The struct function itself runs as written, its loop scalar: its sum's order is
        // not the vectorised one.)
        assert_close(nll_h_simd(&p, &x), vs, "simd primal");
        for k in 0..4 {
            assert_close(hs[k], want[k], "simd hessian entry");
        }
    }
}

// ---- methods of a generic `impl<T: Real>` block: one definition at f64 and f32

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct GaussT<T> {
    mu: T,
    sigma: T,
}

impl<T: Real> GaussT<T> {
    #[differentiable]
    fn logpdf(&self, x: T) -> T {
        let z = (x - self.mu) / self.sigma;
        -T::from_f64(0.5) * z * z - self.sigma.ln()
    }

    #[differentiable]
    fn nll(&self, xs: &[T]) -> T {
        let mut s = T::zero();
        for &x in xs.iter() {
            s -= self.logpdf(x);
        }
        s
    }
}

#[test]
fn methods_of_a_generic_impl_block() {
    let x = [0.1, -1.2, 2.5, 0.7];
    let p = GaussT {
        mu: 0.3,
        sigma: 1.7,
    };
    let mut d = p.zero_like();
    let mut dx = [0.0; 4];
    let v = p.nll_grad(&x, &mut d, &mut dx);
    let (want, dw, dxw) = nll_by_hand(
        &Gauss {
            mu: p.mu,
            sigma: p.sigma,
        },
        &x,
    );
    assert_close(v, want, "value");
    assert_close(d.mu, dw.mu, "d mu");
    assert_close(d.sigma, dw.sigma, "d sigma");
    for (a, b) in dx.iter().zip(&dxw) {
        assert_close(*a, *b, "d x");
    }
    let (v2, t) = p.nll_pushforward(
        &x,
        &GaussT {
            mu: 0.0,
            sigma: 1.0,
        },
        &[0.0; 4],
    );
    assert_close(v2, want, "forward value");
    assert_close(t, dw.sigma, "forward d sigma");
    // The same definition at f32.
    let p32 = GaussT {
        mu: 0.3f32,
        sigma: 1.7f32,
    };
    let x32 = x.map(|v| v as f32);
    let mut d32 = p32.zero_like();
    let v32 = p32.nll_grad(&x32, &mut d32, &mut [0.0f32; 4]);
    assert!((f64::from(v32) - want).abs() < 1e-5 * want.abs());
    assert!((f64::from(d32.sigma) - dw.sigma).abs() < 1e-4 * dw.sigma.abs().max(1.0));
}

// ---- the Hessian of a method (a PDF's NLL as a method, as a fit calls it)

impl Gauss {
    #[differentiable(hessian, wrt(self))]
    fn nll_method(&self, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for &xi in x.iter() {
            let z = (xi - self.mu) / self.sigma;
            s += 0.5 * z * z + self.sigma.ln();
        }
        s
    }
}

#[test]
fn method_hessian_equals_the_free_function_hessian() {
    let p = Gauss {
        mu: -0.4,
        sigma: 0.9,
    };
    let x = [0.1, -1.2, 2.5, 0.7, 1.1, -0.3];
    assert_eq!(Gauss::nll_method_HESSIAN_INPUTS, &["self.mu", "self.sigma"]);
    let (mut hm, mut hf) = ([0.0; 4], [0.0; 4]);
    let vm = p.nll_method_hessian(&x, &mut hm).unwrap();
    let vf = nll_h_hessian(&p, &x, &mut hf).unwrap();
    assert_eq!(vm, p.nll_method(&x));
    assert_close(vm, vf, "value");
    for k in 0..4 {
        assert_close(hm[k], hf[k], "hessian entry");
    }
    let mut d = p.zero_like();
    let g = p.nll_method_grad(&x, &mut d);
    assert_close(g, vm, "grad value");
}

#[derive(Clone, Debug, PartialEq, Differentiable)]
struct Counted {
    a: f64,
    /// Only its length is used.
    ys: Vec<f64>,
}

/// A field used only through `.len()` (found by the random-program generator: the field is no
/// float the body reads, so it stays a pass-through value, and its length is an integer).
#[differentiable(wrt(p))]
fn counted(p: &Counted, x: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..p.ys.len() {
        s = 0.5 * s + (p.a * x).sin() + i as f64;
    }
    s
}

#[test]
fn length_of_a_field_that_is_not_read() {
    let p = Counted {
        a: 0.7,
        ys: vec![0.0; 3],
    };
    let x = 1.3;
    // s = c·(1 + 0.5 + 0.25) + (0.5·1 + 2) with c = sin(a·x): ∂s/∂a = 1.75·x·cos(a·x).
    let mut d = Counted {
        a: 0.0,
        ys: vec![0.0; 3],
    };
    let v = counted_grad(&p, x, &mut d);
    assert_close(v, 1.75 * (p.a * x).sin() + 2.5, "value");
    assert_close(v, counted(&p, x), "value of the primal");
    assert_close(d.a, 1.75 * x * (p.a * x).cos(), "d/da");
}
