//! Every kernel's forward against an f64 reference, and every pullback against central finite
//! differences (f32 forward, step `h`, tolerance stated per test), on random shapes including
//! odd sizes and batch 1.

use ferrograd_kernels as k;
use ferrograd_testkit::fd::check_pullback;
use ferrograd_testkit::{assert_close_1p, SplitMix64};

fn matmul_ref(a: &[f32], b: &[f32], m: usize, kk: usize, n: usize, ta: bool, tb: bool) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..kk {
                let av = if ta { a[p * m + i] } else { a[i * kk + p] };
                let bv = if tb { b[j * kk + p] } else { b[p * n + j] };
                s += f64::from(av) * f64::from(bv);
            }
            c[i * n + j] = s;
        }
    }
    c
}

#[test]
fn matmul_variants() {
    let mut rng = SplitMix64::new(1);
    for &(m, kk, n) in &[(1, 1, 1), (3, 5, 2), (1, 7, 9), (17, 13, 11), (40, 33, 70)] {
        let a = rng.vec(m * kk, -1.0, 1.0);
        let b = rng.vec(kk * n, -1.0, 1.0);
        type F = fn(&mut [f32], &[f32], &[f32], usize, usize, usize) -> Result<(), k::KernelError>;
        type P = fn(
            &mut [f32],
            &[f32],
            &[f32],
            usize,
            usize,
            usize,
            &mut [f32],
            &mut [f32],
            &mut [f32],
        ) -> Result<(), k::KernelError>;
        let variants: [(&str, F, P, bool, bool); 3] = [
            ("matmul", k::matmul, k::matmul_pullback, false, false),
            (
                "matmul_nt",
                k::matmul_nt,
                k::matmul_nt_pullback,
                false,
                true,
            ),
            (
                "matmul_tn",
                k::matmul_tn,
                k::matmul_tn_pullback,
                true,
                false,
            ),
        ];
        for (name, f, p, ta, tb) in variants {
            let mut out = vec![0.0; m * n];
            f(&mut out, &a, &b, m, kk, n).unwrap();
            assert_close_1p(name, &out, &matmul_ref(&a, &b, m, kk, n, ta, tb), 1e-5);
            check_pullback(
                &format!("{name} {m}x{kk}x{n}"),
                &[a.clone(), b.clone()],
                m * n,
                1e-2,
                2e-3,
                &|x, out| {
                    f(out, &x[0], &x[1], m, kk, n).unwrap();
                    0.0
                },
                &|x, out, _, d_out, d| {
                    let (da, db) = d.split_at_mut(1);
                    p(out, &x[0], &x[1], m, kk, n, d_out, &mut da[0], &mut db[0]).unwrap();
                },
            );
        }
    }
}

#[test]
fn matmul_large_threaded_matches_reference() {
    // Large enough to be split across threads (both along rows and along columns).
    k::set_num_threads(2);
    let mut rng = SplitMix64::new(2);
    for &(m, kk, n) in &[(301, 67, 45), (13, 129, 517)] {
        let a = rng.vec(m * kk, -1.0, 1.0);
        let b = rng.vec(kk * n, -1.0, 1.0);
        let mut out = vec![0.0; m * n];
        k::matmul(&mut out, &a, &b, m, kk, n).unwrap();
        assert_close_1p(
            "matmul threaded",
            &out,
            &matmul_ref(&a, &b, m, kk, n, false, false),
            1e-4,
        );
    }
}

#[test]
fn linear_forward_and_pullback() {
    let mut rng = SplitMix64::new(3);
    for &(batch, in_f, out_f) in &[(1, 1, 1), (1, 7, 3), (5, 9, 4), (8, 33, 17)] {
        let x = rng.vec(batch * in_f, -1.0, 1.0);
        let w = rng.vec(out_f * in_f, -1.0, 1.0);
        let b = rng.vec(out_f, -1.0, 1.0);
        let mut out = vec![0.0; batch * out_f];
        k::linear(&mut out, &x, &w, &b, batch, in_f, out_f).unwrap();
        let mut reference = matmul_ref(&x, &w, batch, in_f, out_f, false, true);
        for (i, r) in reference.iter_mut().enumerate() {
            *r += f64::from(b[i % out_f]);
        }
        assert_close_1p("linear", &out, &reference, 1e-5);
        check_pullback(
            &format!("linear {batch}x{in_f}->{out_f}"),
            &[x, w, b],
            batch * out_f,
            1e-2,
            2e-3,
            &|x, out| {
                k::linear(out, &x[0], &x[1], &x[2], batch, in_f, out_f).unwrap();
                0.0
            },
            &|x, out, _, d_out, d| {
                let [dx, dw, db] = d else { unreachable!() };
                k::linear_pullback(
                    out, &x[0], &x[1], &x[2], batch, in_f, out_f, d_out, dx, dw, db,
                )
                .unwrap();
            },
        );
    }
}

type Act = fn(&mut [f32], &[f32]) -> Result<(), k::KernelError>;
type ActPb = fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) -> Result<(), k::KernelError>;
/// (name, forward, pullback, f64 reference)
type ActCase = (&'static str, Act, ActPb, fn(f64) -> f64);

#[test]
fn activations() {
    let mut rng = SplitMix64::new(4);
    let gelu_ref = |v: f64| {
        0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh())
    };
    let cases: [ActCase; 4] = [
        ("relu", k::relu, k::relu_pullback, |v| v.max(0.0)),
        ("tanh", k::tanh, k::tanh_pullback, f64::tanh),
        ("sigmoid", k::sigmoid, k::sigmoid_pullback, |v| {
            1.0 / (1.0 + (-v).exp())
        }),
        ("gelu", k::gelu, k::gelu_pullback, |v| v),
    ];
    for n in [1usize, 7, 64] {
        // keep |x| away from relu's kink at 0 by more than the step
        let x: Vec<f32> = rng
            .vec(n, -3.0, 3.0)
            .into_iter()
            .map(|v| if v.abs() < 0.05 { v + 0.1 } else { v })
            .collect();
        for (name, f, p, r) in cases {
            let mut out = vec![0.0; n];
            f(&mut out, &x).unwrap();
            let reference: Vec<f64> = x
                .iter()
                .map(|&v| {
                    if name == "gelu" {
                        gelu_ref(f64::from(v))
                    } else {
                        r(f64::from(v))
                    }
                })
                .collect();
            assert_close_1p(name, &out, &reference, 1e-6);
            check_pullback(
                &format!("{name} n={n}"),
                std::slice::from_ref(&x),
                n,
                1e-2,
                2e-3,
                &|x, out| {
                    f(out, &x[0]).unwrap();
                    0.0
                },
                &|x, out, _, d_out, d| p(out, &x[0], d_out, &mut d[0]).unwrap(),
            );
        }
        let slope = 0.1;
        check_pullback(
            &format!("leaky_relu n={n}"),
            std::slice::from_ref(&x),
            n,
            1e-2,
            2e-3,
            &|x, out| {
                k::leaky_relu(out, &x[0], slope).unwrap();
                0.0
            },
            &|x, out, _, d_out, d| {
                k::leaky_relu_pullback(out, &x[0], slope, d_out, &mut d[0]).unwrap()
            },
        );
        let mut out = vec![0.0; n];
        k::leaky_relu(&mut out, &x, slope).unwrap();
        let reference: Vec<f64> = x
            .iter()
            .map(|&v| {
                if v > 0.0 {
                    f64::from(v)
                } else {
                    0.1f64 * f64::from(v)
                }
            })
            .collect();
        assert_close_1p("leaky_relu", &out, &reference, 1e-6);
    }
}

#[test]
fn softmax_rows() {
    let mut rng = SplitMix64::new(5);
    for &(rows, cols) in &[(1, 1), (1, 5), (3, 10), (7, 13)] {
        let x = rng.vec(rows * cols, -3.0, 3.0);
        let mut out = vec![0.0; rows * cols];
        k::softmax(&mut out, &x, rows, cols).unwrap();
        let mut reference = vec![0.0f64; rows * cols];
        for r in 0..rows {
            let row = &x[r * cols..(r + 1) * cols];
            let s: f64 = row.iter().map(|&v| f64::from(v).exp()).sum();
            for c in 0..cols {
                reference[r * cols + c] = f64::from(row[c]).exp() / s;
            }
        }
        assert_close_1p("softmax", &out, &reference, 1e-6);
        check_pullback(
            &format!("softmax {rows}x{cols}"),
            &[x],
            rows * cols,
            1e-2,
            2e-3,
            &|x, out| {
                k::softmax(out, &x[0], rows, cols).unwrap();
                0.0
            },
            &|x, out, _, d_out, d| {
                k::softmax_pullback(out, &x[0], rows, cols, d_out, &mut d[0]).unwrap()
            },
        );
    }
}

#[test]
fn softmax_cross_entropy_loss() {
    let mut rng = SplitMix64::new(6);
    for &(batch, classes) in &[(1, 1), (1, 10), (4, 3), (9, 10)] {
        let logits = rng.vec(batch * classes, -4.0, 4.0);
        let labels: Vec<usize> = (0..batch).map(|_| rng.range(0, classes - 1)).collect();
        let mut probs = vec![0.0; batch * classes];
        let loss = k::softmax_cross_entropy(&mut probs, &logits, &labels, batch, classes).unwrap();
        let mut reference = 0.0f64;
        for (r, &label) in labels.iter().enumerate() {
            let row = &logits[r * classes..(r + 1) * classes];
            let lse = row.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
            reference += lse - f64::from(row[label]);
        }
        reference /= batch as f64;
        assert_close_1p("softmax_cross_entropy loss", &[loss], &[reference], 1e-6);
        // The seed on `probs` exercises the path where the probabilities are used downstream.
        check_pullback(
            &format!("softmax_cross_entropy {batch}x{classes}"),
            &[logits],
            batch * classes,
            1e-2,
            2e-3,
            &|x, out| k::softmax_cross_entropy(out, &x[0], &labels, batch, classes).unwrap(),
            &|x, out, d_ret, d_out, d| {
                k::softmax_cross_entropy_pullback(
                    out, &x[0], &labels, batch, classes, d_ret, d_out, &mut d[0],
                )
                .unwrap()
            },
        );
    }
    // Extreme logits: no overflow, finite loss.
    let mut probs = vec![0.0; 2];
    let loss = k::softmax_cross_entropy(&mut probs, &[1000.0, -1000.0], &[1], 1, 2).unwrap();
    assert!((loss - 2000.0).abs() < 1e-2, "loss {loss}");
}

#[test]
fn mse_loss() {
    let mut rng = SplitMix64::new(7);
    for n in [1usize, 5, 33] {
        let pred = rng.vec(n, -2.0, 2.0);
        let target = rng.vec(n, -2.0, 2.0);
        let reference: f64 = pred
            .iter()
            .zip(&target)
            .map(|(&p, &t)| (f64::from(p) - f64::from(t)).powi(2))
            .sum::<f64>()
            / n as f64;
        assert_close_1p(
            "mse",
            &[k::mse(&pred, &target).unwrap()],
            &[reference],
            1e-6,
        );
        check_pullback(
            &format!("mse n={n}"),
            &[pred, target],
            0,
            1e-2,
            2e-3,
            &|x, _| k::mse(&x[0], &x[1]).unwrap(),
            &|x, _, d_ret, _, d| {
                let (dp, dt) = d.split_at_mut(1);
                k::mse_pullback(&x[0], &x[1], d_ret, &mut dp[0], &mut dt[0]).unwrap();
            },
        );
    }
}

fn conv_ref(x: &[f32], w: &[f32], b: &[f32], d: k::Conv1dDims) -> Vec<f64> {
    let lo = d.len_out().unwrap();
    let mut y = vec![0.0f64; d.batch * d.c_out * lo];
    for bi in 0..d.batch {
        for co in 0..d.c_out {
            for l in 0..lo {
                let mut s = f64::from(b[co]);
                for ci in 0..d.c_in {
                    for kk in 0..d.kernel {
                        let j = (l * d.stride + kk * d.dilation) as i64 - d.padding as i64;
                        if j >= 0 && (j as usize) < d.len_in {
                            s += f64::from(w[(co * d.c_in + ci) * d.kernel + kk])
                                * f64::from(x[(bi * d.c_in + ci) * d.len_in + j as usize]);
                        }
                    }
                }
                y[(bi * d.c_out + co) * lo + l] = s;
            }
        }
    }
    y
}

fn conv_dims(
    batch: usize,
    c_in: usize,
    len_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> k::Conv1dDims {
    k::Conv1dDims {
        batch,
        c_in,
        len_in,
        c_out,
        kernel,
        stride,
        padding,
        dilation,
    }
}

#[test]
fn conv1d_forward_and_pullback() {
    let mut rng = SplitMix64::new(8);
    let cases = [
        conv_dims(1, 1, 5, 1, 1, 1, 0, 1),
        conv_dims(1, 1, 9, 2, 3, 1, 0, 1),
        conv_dims(2, 3, 11, 4, 3, 1, 1, 1),
        conv_dims(3, 2, 13, 3, 3, 2, 1, 1),
        conv_dims(2, 2, 17, 3, 3, 1, 2, 2),
        conv_dims(1, 3, 12, 2, 4, 3, 3, 2),
        conv_dims(2, 1, 6, 2, 5, 1, 2, 1), // padding wider than the interior: all-boundary path
        conv_dims(1, 2, 5, 3, 7, 1, 3, 1), // no output with every tap inside x: no interior
        conv_dims(1, 2, 20, 5, 4, 1, 0, 3),
        // One input channel, stride 1, no padding, dilated.
        conv_dims(2, 1, 23, 3, 4, 1, 0, 3),
    ];
    for d in cases {
        let lo = d.len_out().unwrap();
        let x = rng.vec(d.batch * d.c_in * d.len_in, -1.0, 1.0);
        let w = rng.vec(d.c_out * d.c_in * d.kernel, -1.0, 1.0);
        let b = rng.vec(d.c_out, -1.0, 1.0);
        let mut out = vec![0.0; d.batch * d.c_out * lo];
        k::conv1d(&mut out, &x, &w, &b, d).unwrap();
        assert_close_1p("conv1d", &out, &conv_ref(&x, &w, &b, d), 1e-5);
        check_pullback(
            &format!("conv1d {d:?}"),
            &[x, w, b],
            out.len(),
            1e-2,
            2e-3,
            &|x, out| {
                k::conv1d(out, &x[0], &x[1], &x[2], d).unwrap();
                0.0
            },
            &|x, out, _, d_out, g| {
                let [dx, dw, db] = g else { unreachable!() };
                k::conv1d_pullback(out, &x[0], &x[1], &x[2], d, d_out, dx, dw, db).unwrap();
            },
        );
    }
}

#[test]
fn conv1d_w2_shapes_threaded() {
    // The W2 layers (shortened input) on two threads: forward against the reference, and the
    // pullback against the directional derivative of the reference.
    k::set_num_threads(2);
    let mut rng = SplitMix64::new(9);
    for d in [
        conv_dims(3, 1, 300, 16, 16, 1, 0, 1),
        conv_dims(2, 16, 70, 32, 8, 1, 0, 1),
        conv_dims(2, 8, 40, 16, 8, 1, 3, 1),
    ] {
        let lo = d.len_out().unwrap();
        let x = rng.vec(d.batch * d.c_in * d.len_in, -1.0, 1.0);
        let w = rng.vec(d.c_out * d.c_in * d.kernel, -0.5, 0.5);
        let b = rng.vec(d.c_out, -1.0, 1.0);
        let mut out = vec![0.0; d.batch * d.c_out * lo];
        k::conv1d(&mut out, &x, &w, &b, d).unwrap();
        assert_close_1p("conv1d (W2 shapes)", &out, &conv_ref(&x, &w, &b, d), 1e-4);
        // <d_out, J·v> == <Jᵀ·d_out, v> with J·v computed exactly (conv is linear in x and in w).
        let seed = rng.vec(out.len(), -1.0, 1.0);
        let vx = rng.vec(x.len(), -1.0, 1.0);
        let vw = rng.vec(w.len(), -1.0, 1.0);
        let zero_b = vec![0.0; d.c_out];
        let jx = conv_ref(&vx, &w, &zero_b, d);
        let jw = conv_ref(&x, &vw, &zero_b, d);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; d.c_out]);
        let mut d_out = seed.clone();
        k::conv1d_pullback(
            &mut out, &x, &w, &b, d, &mut d_out, &mut dx, &mut dw, &mut db,
        )
        .unwrap();
        let dot = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(&p, &q)| f64::from(p) * f64::from(q))
                .sum::<f64>()
        };
        let dot64 = |a: &[f32], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(&p, &q)| f64::from(p) * q)
                .sum::<f64>()
        };
        let (lhs_x, rhs_x) = (dot64(&seed, &jx), dot(&dx, &vx));
        let (lhs_w, rhs_w) = (dot64(&seed, &jw), dot(&dw, &vw));
        let lhs_b: f64 = (0..d.batch * d.c_out)
            .map(|r| {
                seed[r * lo..(r + 1) * lo]
                    .iter()
                    .map(|&v| f64::from(v))
                    .sum::<f64>()
            })
            .sum();
        let rhs_b: f64 = db.iter().map(|&v| f64::from(v)).sum();
        println!(
            "conv1d {d:?}: dx {lhs_x} vs {rhs_x}, dw {lhs_w} vs {rhs_w}, db {lhs_b} vs {rhs_b}"
        );
        assert!((lhs_x - rhs_x).abs() < 1e-3 * (1.0 + lhs_x.abs()));
        assert!((lhs_w - rhs_w).abs() < 1e-3 * (1.0 + lhs_w.abs()));
        // db is checked per channel: d_b[co] = Σ seed over (b, l)
        for co in 0..d.c_out {
            let s: f64 = (0..d.batch)
                .map(|bi| {
                    seed[(bi * d.c_out + co) * lo..(bi * d.c_out + co + 1) * lo]
                        .iter()
                        .map(|&v| f64::from(v))
                        .sum::<f64>()
                })
                .sum();
            assert!((s - f64::from(db[co])).abs() < 1e-3 * (1.0 + s.abs()));
        }
        assert!((lhs_b - rhs_b).abs() < 1e-3 * (1.0 + lhs_b.abs()));
    }
}

fn pool_dims(
    rows: usize,
    len_in: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> k::Pool1dDims {
    k::Pool1dDims {
        rows,
        len_in,
        kernel,
        stride,
        padding,
    }
}

#[test]
fn max_pool() {
    let mut rng = SplitMix64::new(10);
    for d in [
        pool_dims(1, 4, 4, 4, 0),
        pool_dims(3, 11, 4, 4, 0),
        pool_dims(2, 139, 4, 4, 0),
        pool_dims(2, 9, 3, 2, 1),
        pool_dims(5, 7, 2, 1, 0),
    ] {
        // A permutation of well-separated values: no ties within the step.
        let n = d.rows * d.len_in;
        let mut x: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
        for i in (1..n).rev() {
            x.swap(i, rng.range(0, i));
        }
        let lo = d.len_out().unwrap();
        let mut out = vec![0.0; d.rows * lo];
        let mut argmax = vec![0usize; d.rows * lo];
        k::max_pool1d(&mut out, &x, &mut argmax, d).unwrap();
        let mut reference = vec![0.0f64; d.rows * lo];
        for r in 0..d.rows {
            for l in 0..lo {
                let mut m = f64::NEG_INFINITY;
                for t in 0..d.kernel {
                    let j = (l * d.stride + t) as i64 - d.padding as i64;
                    if j >= 0 && (j as usize) < d.len_in {
                        m = m.max(f64::from(x[r * d.len_in + j as usize]));
                    }
                }
                reference[r * lo + l] = m;
            }
        }
        assert_close_1p("max_pool1d", &out, &reference, 0.0);
        let am = std::cell::RefCell::new(vec![0usize; d.rows * lo]);
        check_pullback(
            &format!("max_pool1d {d:?}"),
            &[x],
            d.rows * lo,
            1e-3,
            2e-3,
            &|x, out| {
                k::max_pool1d(out, &x[0], &mut am.borrow_mut(), d).unwrap();
                0.0
            },
            &|x, out, _, d_out, g| {
                // the pullback sees the argmax of the forward at the unperturbed point
                k::max_pool1d(out, &x[0], &mut am.borrow_mut(), d).unwrap();
                k::max_pool1d_pullback(out, &x[0], &mut am.borrow_mut(), d, d_out, &mut g[0])
                    .unwrap();
            },
        );
    }
}

/// `relu_max_pool1d` against its unfused definition, `relu` then `max_pool1d`: the same bits
/// for values, argmax and the pullback (tiling windows: W2's 4 with full and partial blocks
/// of 16 windows; and general windows), NaN and infinities included; then against finite
/// differences with values away from the ReLU's kink.
#[test]
fn relu_max_pool() {
    let mut rng = SplitMix64::new(12);
    for d in [
        pool_dims(1, 4, 4, 4, 0),
        pool_dims(3, 64, 4, 4, 0),
        pool_dims(5, 2033, 4, 4, 0),
        pool_dims(2, 131, 4, 4, 0),
        pool_dims(3, 11, 3, 3, 0),
        pool_dims(2, 9, 3, 2, 1),
        pool_dims(5, 7, 2, 1, 0),
    ] {
        let n = d.rows * d.len_in;
        let lo = d.len_out().unwrap();
        let mut x: Vec<f32> = (0..n)
            .map(|_| rng.range(0, 2000) as f32 * 0.001 - 1.0)
            .collect();
        for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0]
            .into_iter()
            .enumerate()
        {
            if 3 * i < n {
                x[3 * i] = v;
            }
        }
        let mut r = vec![0.0; n];
        k::relu(&mut r, &x).unwrap();
        let (mut want, mut want_am) = (vec![0.0; d.rows * lo], vec![0usize; d.rows * lo]);
        k::max_pool1d(&mut want, &r, &mut want_am, d).unwrap();
        let (mut out, mut am) = (vec![0.0; d.rows * lo], vec![usize::MAX; d.rows * lo]);
        k::relu_max_pool1d(&mut out, &x, &mut am, d).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(&want), "relu_max_pool1d values {d:?}");
        assert_eq!(am, want_am, "relu_max_pool1d argmax {d:?}");

        let seed: Vec<f32> = (0..d.rows * lo).map(|i| (i % 7) as f32 - 3.0).collect();
        let (mut dy, mut dr, mut want_dx) = (seed.clone(), vec![0.0; n], vec![0.5; n]);
        k::max_pool1d_pullback(&mut want, &r, &mut want_am, d, &mut dy, &mut dr).unwrap();
        k::relu_pullback(&mut r, &x, &mut dr, &mut want_dx).unwrap();
        let (mut dy, mut dx) = (seed, vec![0.5; n]);
        k::relu_max_pool1d_pullback(&mut out, &x, &mut am, d, &mut dy, &mut dx).unwrap();
        assert_eq!(bits(&dx), bits(&want_dx), "relu_max_pool1d_pullback {d:?}");
        assert!(dy.iter().all(|&v| v == 0.0), "d_out zeroed {d:?}");
    }
    for d in [
        pool_dims(2, 37, 4, 4, 0),
        pool_dims(2, 139, 4, 4, 0),
        pool_dims(2, 9, 3, 2, 1),
    ] {
        // A permutation of well-separated values, none near 0: no ties, no kink in the step.
        let n = d.rows * d.len_in;
        let mut x: Vec<f32> = (0..n)
            .map(|i| (i as f32 - n as f32 / 2.0) * 0.1 + 0.05)
            .collect();
        for i in (1..n).rev() {
            x.swap(i, rng.range(0, i));
        }
        let lo = d.len_out().unwrap();
        let am = std::cell::RefCell::new(vec![0usize; d.rows * lo]);
        check_pullback(
            &format!("relu_max_pool1d {d:?}"),
            &[x],
            d.rows * lo,
            1e-3,
            2e-3,
            &|x, out| {
                k::relu_max_pool1d(out, &x[0], &mut am.borrow_mut(), d).unwrap();
                0.0
            },
            &|x, out, _, d_out, g| {
                k::relu_max_pool1d(out, &x[0], &mut am.borrow_mut(), d).unwrap();
                k::relu_max_pool1d_pullback(out, &x[0], &mut am.borrow_mut(), d, d_out, &mut g[0])
                    .unwrap();
            },
        );
    }
}

/// The max-pool pullbacks follow `argmax` whatever it holds (in range): `d_x[argmax] +=
/// d_out` (times `[x[argmax] > 0]` after the ReLU), also where an entry points outside its
/// own window (not written by the forward).
#[test]
fn pool_pullbacks_follow_argmax() {
    let d = pool_dims(2, 139, 4, 4, 0);
    let lo = d.len_out().unwrap();
    let n = d.rows * d.len_in;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
    for foreign in [false, true] {
        // Own windows except, when `foreign`, every fifth entry (rows 0 and 1 both).
        let am: Vec<usize> = (0..d.rows * lo)
            .map(|i| {
                let l = i % lo;
                if foreign && i % 5 == 0 {
                    (i * 37) % d.len_in
                } else {
                    4 * l + i % 4
                }
            })
            .collect();
        let seed: Vec<f32> = (0..d.rows * lo)
            .map(|i| (i % 9) as f32 * 0.25 - 1.0)
            .collect();
        for relu in [false, true] {
            let mut want = vec![0.5f32; n];
            for (i, (&j, &g)) in am.iter().zip(&seed).enumerate() {
                let at = (i / lo) * d.len_in + j;
                if !relu || x[at] > 0.0 {
                    want[at] += g;
                }
            }
            let (mut out, mut a) = (vec![0.0; d.rows * lo], am.clone());
            let (mut dy, mut dx) = (seed.clone(), vec![0.5f32; n]);
            if relu {
                k::relu_max_pool1d_pullback(&mut out, &x, &mut a, d, &mut dy, &mut dx).unwrap();
            } else {
                k::max_pool1d_pullback(&mut out, &x, &mut a, d, &mut dy, &mut dx).unwrap();
            }
            assert_eq!(dx, want, "foreign={foreign} relu={relu}");
            assert!(dy.iter().all(|&v| v == 0.0));
        }
    }
}

#[test]
fn avg_pool() {
    let mut rng = SplitMix64::new(11);
    for d in [
        pool_dims(1, 4, 4, 4, 0),
        pool_dims(3, 11, 4, 4, 0),
        pool_dims(2, 9, 3, 2, 1),
        pool_dims(4, 8, 3, 1, 2),
    ] {
        let x = rng.vec(d.rows * d.len_in, -1.0, 1.0);
        let lo = d.len_out().unwrap();
        let mut out = vec![0.0; d.rows * lo];
        k::avg_pool1d(&mut out, &x, d).unwrap();
        let mut reference = vec![0.0f64; d.rows * lo];
        for r in 0..d.rows {
            for l in 0..lo {
                let mut s = 0.0;
                for t in 0..d.kernel {
                    let j = (l * d.stride + t) as i64 - d.padding as i64;
                    if j >= 0 && (j as usize) < d.len_in {
                        s += f64::from(x[r * d.len_in + j as usize]);
                    }
                }
                reference[r * lo + l] = s / d.kernel as f64;
            }
        }
        assert_close_1p("avg_pool1d", &out, &reference, 1e-6);
        check_pullback(
            &format!("avg_pool1d {d:?}"),
            &[x],
            d.rows * lo,
            1e-2,
            2e-3,
            &|x, out| {
                k::avg_pool1d(out, &x[0], d).unwrap();
                0.0
            },
            &|x, out, _, d_out, g| k::avg_pool1d_pullback(out, &x[0], d, d_out, &mut g[0]).unwrap(),
        );
    }
}

#[test]
fn flatten_copy() {
    let x = SplitMix64::new(12).vec(10, -1.0, 1.0);
    let mut out = vec![0.0; 10];
    k::flatten(&mut out, &x).unwrap();
    assert_eq!(out, x);
    check_pullback(
        "flatten",
        &[x],
        10,
        1e-2,
        1e-3,
        &|x, out| {
            k::flatten(out, &x[0]).unwrap();
            0.0
        },
        &|x, out, _, d_out, g| k::flatten_pullback(out, &x[0], d_out, &mut g[0]).unwrap(),
    );
}

#[test]
fn layer_norm_affine() {
    let mut rng = SplitMix64::new(13);
    let eps = 1e-5;
    for &(rows, cols) in &[(1, 2), (1, 7), (3, 16), (5, 9)] {
        let x = rng.vec(rows * cols, -2.0, 2.0);
        let gamma = rng.vec(cols, 0.5, 1.5);
        let beta = rng.vec(cols, -0.5, 0.5);
        let mut out = vec![0.0; rows * cols];
        k::layer_norm(&mut out, &x, &gamma, &beta, rows, cols, eps).unwrap();
        let mut reference = vec![0.0f64; rows * cols];
        for r in 0..rows {
            let row: Vec<f64> = x[r * cols..(r + 1) * cols]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let mean = row.iter().sum::<f64>() / cols as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / cols as f64;
            for c in 0..cols {
                reference[r * cols + c] = (row[c] - mean) / (var + f64::from(eps)).sqrt()
                    * f64::from(gamma[c])
                    + f64::from(beta[c]);
            }
        }
        assert_close_1p("layer_norm", &out, &reference, 1e-5);
        check_pullback(
            &format!("layer_norm {rows}x{cols}"),
            &[x, gamma, beta],
            rows * cols,
            1e-2,
            5e-3,
            &|x, out| {
                k::layer_norm(out, &x[0], &x[1], &x[2], rows, cols, eps).unwrap();
                0.0
            },
            &|x, out, _, d_out, g| {
                let [dx, dg, db] = g else { unreachable!() };
                k::layer_norm_pullback(
                    out, &x[0], &x[1], &x[2], rows, cols, eps, d_out, dx, dg, db,
                )
                .unwrap();
            },
        );
    }
}

#[test]
fn dropout_seeded() {
    let n = 4000;
    let x = SplitMix64::new(14).vec(n, -1.0, 1.0);
    let p = 0.3;
    let (mut out, mut mask) = (vec![0.0; n], vec![0u8; n]);
    k::dropout(&mut out, &x, &mut mask, p, 42).unwrap();
    // Deterministic: same seed, same mask; another seed, another mask.
    let (mut out2, mut mask2) = (vec![0.0; n], vec![0u8; n]);
    k::dropout(&mut out2, &x, &mut mask2, p, 42).unwrap();
    assert_eq!(mask, mask2);
    assert_eq!(out, out2);
    k::dropout(&mut out2, &x, &mut mask2, p, 43).unwrap();
    assert_ne!(mask, mask2);
    // Keep rate close to 1 − p (4000 draws: sd ≈ 0.007).
    let kept = mask.iter().filter(|&&m| m == 1).count() as f64 / n as f64;
    assert!((kept - 0.7).abs() < 0.03, "keep rate {kept}");
    for i in 0..n {
        let expected = if mask[i] == 1 { x[i] / 0.7 } else { 0.0 };
        assert!((out[i] - expected).abs() < 1e-6);
    }
    // p = 0 is the identity, p = 1 zeroes everything.
    k::dropout(&mut out2, &x, &mut mask2, 0.0, 1).unwrap();
    assert_eq!(out2, x);
    k::dropout(&mut out2, &x, &mut mask2, 1.0, 1).unwrap();
    assert!(out2.iter().all(|&v| v == 0.0));
    let xs = x[..50].to_vec();
    check_pullback(
        "dropout",
        &[xs],
        50,
        1e-2,
        1e-3,
        &|x, out| {
            let mut m = vec![0u8; 50];
            k::dropout(out, &x[0], &mut m, p, 7).unwrap();
            0.0
        },
        &|x, out, _, d_out, g| {
            let mut m = vec![0u8; 50];
            k::dropout(out, &x[0], &mut m, p, 7).unwrap();
            k::dropout_pullback(out, &x[0], &mut m, p, 7, d_out, &mut g[0]).unwrap();
        },
    );
}

#[test]
fn embedding_gather() {
    let mut rng = SplitMix64::new(15);
    let (vocab, dim) = (7, 5);
    let table = rng.vec(vocab * dim, -1.0, 1.0);
    let ids = vec![3usize, 0, 6, 3, 3, 1]; // repeated ids must accumulate
    let mut out = vec![0.0; ids.len() * dim];
    k::embedding(&mut out, &table, &ids, vocab, dim).unwrap();
    for (n, &id) in ids.iter().enumerate() {
        assert_eq!(
            &out[n * dim..(n + 1) * dim],
            &table[id * dim..(id + 1) * dim]
        );
    }
    check_pullback(
        "embedding",
        &[table],
        ids.len() * dim,
        1e-2,
        1e-3,
        &|x, out| {
            k::embedding(out, &x[0], &ids, vocab, dim).unwrap();
            0.0
        },
        &|x, out, _, d_out, g| {
            k::embedding_pullback(out, &x[0], &ids, vocab, dim, d_out, &mut g[0]).unwrap()
        },
    );
}

/// f64 reference of `causal_attention`: `(out, att)`.
fn attention_ref(
    qkv: &[f32],
    batch: usize,
    seq: usize,
    heads: usize,
    dim: usize,
) -> (Vec<f64>, Vec<f64>) {
    let hd = dim / heads;
    let at = |b: usize, t: usize, c: usize| f64::from(qkv[(b * seq + t) * 3 * dim + c]);
    let mut out = vec![0.0; batch * seq * dim];
    let mut att = vec![0.0; batch * heads * seq * seq];
    for b in 0..batch {
        for h in 0..heads {
            for t in 0..seq {
                let s: Vec<f64> = (0..=t)
                    .map(|j| {
                        (0..hd)
                            .map(|e| at(b, t, h * hd + e) * at(b, j, dim + h * hd + e))
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - max).exp()).sum();
                for (j, v) in s.iter().enumerate() {
                    let p = (v - max).exp() / z;
                    att[((b * heads + h) * seq + t) * seq + j] = p;
                    for e in 0..hd {
                        out[(b * seq + t) * dim + h * hd + e] += p * at(b, j, 2 * dim + h * hd + e);
                    }
                }
            }
        }
    }
    (out, att)
}

/// Causal attention fused with its softmax: the forward against an f64 reference, the
/// pullback against finite differences of both outputs (the attention output and the kept
/// probabilities, whose adjoint seeds the softmax's pullback directly).
#[test]
fn causal_attention_fused_softmax() {
    let mut rng = SplitMix64::new(41);
    for &(batch, seq, heads, dim) in &[(1, 1, 1, 2), (2, 5, 2, 6), (1, 7, 3, 9), (3, 4, 1, 4)] {
        let qkv = rng.vec(batch * seq * 3 * dim, -1.5, 1.5);
        let (n, na) = (batch * seq * dim, batch * heads * seq * seq);
        let (mut out, mut att) = (vec![0.0; n], vec![7.0; na]);
        k::causal_attention(&mut out, &mut att, &qkv, batch, seq, heads, dim).unwrap();
        let (want_out, want_att) = attention_ref(&qkv, batch, seq, heads, dim);
        assert_close_1p("causal_attention out", &out, &want_out, 1e-5);
        assert_close_1p("causal_attention att", &att, &want_att, 1e-5);
        check_pullback(
            &format!("causal_attention b{batch} t{seq} h{heads} d{dim}"),
            std::slice::from_ref(&qkv),
            n + na,
            1e-2,
            5e-3,
            &|x, both| {
                let (o, a) = both.split_at_mut(n);
                k::causal_attention(o, a, &x[0], batch, seq, heads, dim).unwrap();
                0.0
            },
            &|x, both, _, d_both, g| {
                let (o, a) = both.split_at_mut(n);
                let (d_o, d_a) = d_both.split_at_mut(n);
                k::causal_attention_pullback(
                    o, a, &x[0], batch, seq, heads, dim, d_o, d_a, &mut g[0],
                )
                .unwrap();
            },
        );
        // An empty `d_att` is a zero seed: the same bits as a zeroed one (the pullback then
        // forms `dP` in scratch instead of in `d_att`), and `d_out` is consumed either way.
        let d_out = rng.vec(n, -1.0, 1.0);
        let mut grads = [vec![0.0f32; qkv.len()], vec![0.0f32; qkv.len()]];
        for (empty, g) in [true, false].into_iter().zip(&mut grads) {
            let (mut dy, mut da) = (d_out.clone(), vec![0.0; if empty { 0 } else { na }]);
            k::causal_attention_pullback(
                &mut out, &mut att, &qkv, batch, seq, heads, dim, &mut dy, &mut da, g,
            )
            .unwrap();
            assert!(dy.iter().all(|&v| v == 0.0), "d_out consumed");
        }
        assert_eq!(
            grads[0], grads[1],
            "empty d_att == zero d_att, b{batch} t{seq}"
        );
        assert!(grads[0].iter().any(|&v| v != 0.0));
    }
    // Shapes that do not fit are errors.
    let (mut o, mut a) = (vec![0.0; 2 * 6], vec![0.0; 2 * 2 * 2]);
    let qkv = vec![0.0; 2 * 18];
    assert!(k::causal_attention(&mut o, &mut a, &qkv, 1, 2, 4, 6).is_err());
    assert!(k::causal_attention(&mut o, &mut a, &qkv[1..], 1, 2, 2, 6).is_err());
    assert!(k::causal_attention(&mut o, &mut a, &qkv, 1, 2, 0, 6).is_err());
}

#[test]
fn residual_and_position_adds() {
    let mut rng = SplitMix64::new(43);
    let (a, b) = (rng.vec(11, -2.0, 2.0), rng.vec(11, -2.0, 2.0));
    let mut out = vec![0.0; 11];
    k::add(&mut out, &a, &b).unwrap();
    let want: Vec<f64> = a.iter().zip(&b).map(|(x, y)| f64::from(x + y)).collect();
    assert_close_1p("add", &out, &want, 0.0);
    check_pullback(
        "add",
        &[a, b],
        11,
        1e-2,
        1e-3,
        &|x, out| {
            k::add(out, &x[0], &x[1]).unwrap();
            0.0
        },
        &|x, out, _, d_out, g| {
            let [da, db] = g else { unreachable!() };
            k::add_pullback(out, &x[0], &x[1], d_out, da, db).unwrap();
        },
    );
    for &(batch, seq, dim) in &[(1, 1, 1), (3, 4, 5), (2, 7, 3)] {
        let x = rng.vec(batch * seq * dim, -2.0, 2.0);
        let pos = rng.vec(seq * dim, -2.0, 2.0);
        let mut out = vec![0.0; batch * seq * dim];
        k::add_positions(&mut out, &x, &pos, batch, seq, dim).unwrap();
        let want: Vec<f64> = (0..out.len())
            .map(|i| f64::from(x[i] + pos[i % (seq * dim)]))
            .collect();
        assert_close_1p("add_positions", &out, &want, 0.0);
        check_pullback(
            &format!("add_positions {batch}x{seq}x{dim}"),
            &[x, pos],
            batch * seq * dim,
            1e-2,
            1e-3,
            &|x, out| {
                k::add_positions(out, &x[0], &x[1], batch, seq, dim).unwrap();
                0.0
            },
            &|x, out, _, d_out, g| {
                let [dx, dp] = g else { unreachable!() };
                k::add_positions_pullback(out, &x[0], &x[1], batch, seq, dim, d_out, dx, dp)
                    .unwrap();
            },
        );
    }
    let mut out = vec![0.0; 6];
    assert!(k::add(&mut out, &[0.0; 5], &[0.0; 6]).is_err());
    assert!(k::add_positions(&mut out, &[0.0; 6], &[0.0; 4], 2, 1, 3).is_err());
}
