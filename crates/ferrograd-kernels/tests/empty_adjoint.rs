//! An empty adjoint slice means "this gradient is not needed" (the `#[differentiable]` macro
//! passes `&mut []` for inputs that carry no derivative): the pullback skips it, the other
//! adjoints come out bit-identical to a full call, and the output adjoint is still zeroed. A
//! non-empty adjoint of the wrong length is still an `Err` naming it.

use ferrograd_kernels::{self as k, Conv1dDims, KernelError, Pool1dDims};
use ferrograd_testkit::SplitMix64;

fn len_err(r: Result<(), KernelError>, arg: &str) {
    match r {
        Err(KernelError::Length { arg: a, .. }) => assert_eq!(a, arg, "wrong argument blamed"),
        other => panic!("expected a Length error on `{arg}`, got {other:?}"),
    }
}

/// A pullback under test: `(d_out, input adjoints)`.
type Pullback<'a> = dyn Fn(&mut [f32], &mut [&mut [f32]]) -> Result<(), KernelError> + 'a;

/// Runs `pb(d_out, adjoints)` once with every adjoint and once per adjoint with that one
/// empty; each other adjoint must match the full call bit for bit and `d_out` must be zeroed.
/// Then checks that an empty `d_out` (zero seed) leaves every adjoint untouched, and that each
/// adjoint one element short is an error naming it.
fn check_pullback(name: &str, seed: &[f32], sizes: &[(&str, usize)], pb: &Pullback<'_>) {
    let mut rng = SplitMix64::new(0xE4_7E ^ seed.len() as u64);
    let init: Vec<Vec<f32>> = sizes.iter().map(|&(_, n)| rng.vec(n, -1.0, 1.0)).collect();

    let run = |skip: Option<usize>, d_out: &mut Vec<f32>| -> Vec<Vec<f32>> {
        let mut adj: Vec<Vec<f32>> = init.clone();
        if let Some(s) = skip {
            adj[s].clear();
        }
        let mut views: Vec<&mut [f32]> = adj.iter_mut().map(|v| v.as_mut_slice()).collect();
        pb(d_out, &mut views).unwrap_or_else(|e| panic!("{name}: {e}"));
        adj
    };

    let mut d_out = seed.to_vec();
    let full = run(None, &mut d_out);
    assert!(d_out.iter().all(|&v| v == 0.0), "{name}: d_out not zeroed");
    for (i, (arg, _)) in sizes.iter().enumerate() {
        assert_ne!(
            full[i], init[i],
            "{name}: `{arg}` got no gradient in the full call"
        );
    }
    for (s, (skipped, _)) in sizes.iter().enumerate() {
        let mut d_out = seed.to_vec();
        let got = run(Some(s), &mut d_out);
        assert!(
            d_out.iter().all(|&v| v == 0.0),
            "{name}: d_out not zeroed with empty `{skipped}`"
        );
        assert!(got[s].is_empty(), "{name}: empty `{skipped}` was resized");
        for (i, (arg, _)) in sizes.iter().enumerate() {
            if i != s {
                assert_eq!(
                    got[i], full[i],
                    "{name}: `{arg}` differs when `{skipped}` is empty"
                );
            }
        }
    }

    // Empty d_out: a zero seed, nothing changes.
    let mut adj: Vec<Vec<f32>> = init.clone();
    let mut views: Vec<&mut [f32]> = adj.iter_mut().map(|v| v.as_mut_slice()).collect();
    pb(&mut [], &mut views).unwrap_or_else(|e| panic!("{name} (empty d_out): {e}"));
    assert_eq!(adj, init, "{name}: an empty d_out changed an adjoint");

    // Wrong, non-empty lengths are still errors.
    for (s, (arg, n)) in sizes.iter().enumerate() {
        if *n < 2 {
            continue;
        }
        let mut adj: Vec<Vec<f32>> = init.clone();
        adj[s].pop();
        let mut views: Vec<&mut [f32]> = adj.iter_mut().map(|v| v.as_mut_slice()).collect();
        let mut d_out = seed.to_vec();
        len_err(pb(&mut d_out, &mut views), arg);
    }
    let mut adj: Vec<Vec<f32>> = init.clone();
    let mut views: Vec<&mut [f32]> = adj.iter_mut().map(|v| v.as_mut_slice()).collect();
    let mut short = seed[..seed.len() - 1].to_vec();
    len_err(pb(&mut short, &mut views), "d_out");
}

#[test]
fn linear_and_matmuls() {
    let mut rng = SplitMix64::new(1);
    let (batch, in_f, out_f) = (5, 7, 3);
    let x = rng.vec(batch * in_f, -1.0, 1.0);
    let w = rng.vec(out_f * in_f, -1.0, 1.0);
    let b = rng.vec(out_f, -1.0, 1.0);
    let mut out = vec![0.0; batch * out_f];
    k::linear(&mut out, &x, &w, &b, batch, in_f, out_f).unwrap();
    let seed = rng.vec(batch * out_f, -1.0, 1.0);
    check_pullback(
        "linear",
        &seed,
        &[("d_x", x.len()), ("d_w", w.len()), ("d_b", b.len())],
        &|d_out, a| {
            let [dx, dw, db] = a else { unreachable!() };
            k::linear_pullback(
                &mut out.clone(),
                &x,
                &w,
                &b,
                batch,
                in_f,
                out_f,
                d_out,
                dx,
                dw,
                db,
            )
        },
    );

    // The fused linear + residual add.
    let res = rng.vec(batch * out_f, -1.0, 1.0);
    let mut sum = vec![0.0; batch * out_f];
    k::linear_residual(&mut sum, &x, &w, &b, &res, batch, in_f, out_f).unwrap();
    check_pullback(
        "linear_residual",
        &seed,
        &[
            ("d_x", x.len()),
            ("d_w", w.len()),
            ("d_b", b.len()),
            ("d_res", res.len()),
        ],
        &|d_out, a| {
            let [dx, dw, db, dr] = a else { unreachable!() };
            k::linear_residual_pullback(
                &mut sum.clone(),
                &x,
                &w,
                &b,
                &res,
                batch,
                in_f,
                out_f,
                d_out,
                dx,
                dw,
                db,
                dr,
            )
        },
    );

    // The fused linear + GELU, with no seed on `pre` and `gate` (empty adjoints).
    let n = batch * out_f;
    let (mut act, mut pre, mut gate) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    k::linear_gelu(
        &mut act, &mut pre, &mut gate, &x, &w, &b, batch, in_f, out_f,
    )
    .unwrap();
    check_pullback(
        "linear_gelu",
        &seed,
        &[("d_x", x.len()), ("d_w", w.len()), ("d_b", b.len())],
        &|d_out, a| {
            let [dx, dw, db] = a else { unreachable!() };
            k::linear_gelu_pullback(
                &mut act.clone(),
                &mut pre.clone(),
                &mut gate.clone(),
                &x,
                &w,
                &b,
                batch,
                in_f,
                out_f,
                d_out,
                &mut [],
                &mut [],
                dx,
                dw,
                db,
            )
        },
    );

    let (m, kk, n) = (4, 6, 5);
    let a = rng.vec(m * kk, -1.0, 1.0);
    let bm = rng.vec(kk * n, -1.0, 1.0);
    let seed = rng.vec(m * n, -1.0, 1.0);
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
    ) -> Result<(), KernelError>;
    for (name, pb) in [
        ("matmul", k::matmul_pullback as P),
        ("matmul_nt", k::matmul_nt_pullback),
        ("matmul_tn", k::matmul_tn_pullback),
    ] {
        let mut out = vec![0.0; m * n];
        check_pullback(
            name,
            &seed,
            &[("d_a", a.len()), ("d_b", bm.len())],
            &|d_out, adj| {
                let [da, db] = adj else { unreachable!() };
                pb(&mut out.clone(), &a, &bm, m, kk, n, d_out, da, db)
            },
        );
        // keep `out` used mutably for the borrow checker's sake
        out[0] = 0.0;
    }
}

#[test]
fn elementwise() {
    let mut rng = SplitMix64::new(2);
    let n = 11;
    let x = rng.vec(n, -2.0, 2.0);
    let seed = rng.vec(n, -1.0, 1.0);
    type Fw = fn(&mut [f32], &[f32]) -> Result<(), KernelError>;
    type Pb = fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) -> Result<(), KernelError>;
    for (name, f, pb) in [
        ("relu", k::relu as Fw, k::relu_pullback as Pb),
        ("gelu", k::gelu, k::gelu_pullback),
        ("tanh", k::tanh, k::tanh_pullback),
        ("sigmoid", k::sigmoid, k::sigmoid_pullback),
        ("flatten", k::flatten, k::flatten_pullback),
    ] {
        let mut out = vec![0.0; n];
        f(&mut out, &x).unwrap();
        check_pullback(name, &seed, &[("d_x", n)], &|d_out, adj| {
            let [dx] = adj else { unreachable!() };
            pb(&mut out.clone(), &x, d_out, dx)
        });
    }
    let mut out = vec![0.0; n];
    k::leaky_relu(&mut out, &x, 0.1).unwrap();
    check_pullback("leaky_relu", &seed, &[("d_x", n)], &|d_out, adj| {
        let [dx] = adj else { unreachable!() };
        k::leaky_relu_pullback(&mut out.clone(), &x, 0.1, d_out, dx)
    });
    let mut mask = vec![0u8; n];
    k::dropout(&mut out, &x, &mut mask, 0.3, 7).unwrap();
    check_pullback("dropout", &seed, &[("d_x", n)], &|d_out, adj| {
        let [dx] = adj else { unreachable!() };
        k::dropout_pullback(&mut out.clone(), &x, &mut mask.clone(), 0.3, 7, d_out, dx)
    });
    let (rows, cols) = (3, 4);
    let xs = rng.vec(rows * cols, -2.0, 2.0);
    let mut out = vec![0.0; rows * cols];
    k::softmax(&mut out, &xs, rows, cols).unwrap();
    let seed = rng.vec(rows * cols, -1.0, 1.0);
    check_pullback("softmax", &seed, &[("d_x", rows * cols)], &|d_out, adj| {
        let [dx] = adj else { unreachable!() };
        k::softmax_pullback(&mut out.clone(), &xs, rows, cols, d_out, dx)
    });
}

#[test]
fn conv_and_pools() {
    let mut rng = SplitMix64::new(3);
    let d = Conv1dDims {
        batch: 2,
        c_in: 3,
        len_in: 20,
        c_out: 4,
        kernel: 5,
        stride: 2,
        padding: 1,
        dilation: 1,
    };
    let lo = d.len_out().unwrap();
    let x = rng.vec(d.batch * d.c_in * d.len_in, -1.0, 1.0);
    let w = rng.vec(d.c_out * d.c_in * d.kernel, -1.0, 1.0);
    let b = rng.vec(d.c_out, -1.0, 1.0);
    let mut out = vec![0.0; d.batch * d.c_out * lo];
    k::conv1d(&mut out, &x, &w, &b, d).unwrap();
    let seed = rng.vec(out.len(), -1.0, 1.0);
    check_pullback(
        "conv1d",
        &seed,
        &[("d_x", x.len()), ("d_w", w.len()), ("d_b", b.len())],
        &|d_out, adj| {
            let [dx, dw, db] = adj else { unreachable!() };
            k::conv1d_pullback(&mut out.clone(), &x, &w, &b, d, d_out, dx, dw, db)
        },
    );

    let p = Pool1dDims {
        rows: 3,
        len_in: 12,
        kernel: 4,
        stride: 4,
        padding: 0,
    };
    let lo = p.len_out().unwrap();
    let xp = rng.vec(p.rows * p.len_in, -1.0, 1.0);
    let mut out = vec![0.0; p.rows * lo];
    let mut argmax = vec![0usize; p.rows * lo];
    k::max_pool1d(&mut out, &xp, &mut argmax, p).unwrap();
    let seed = rng.vec(out.len(), -1.0, 1.0);
    check_pullback("max_pool1d", &seed, &[("d_x", xp.len())], &|d_out, adj| {
        let [dx] = adj else { unreachable!() };
        k::max_pool1d_pullback(&mut out.clone(), &xp, &mut argmax.clone(), p, d_out, dx)
    });
    let mut out = vec![0.0; p.rows * lo];
    k::relu_max_pool1d(&mut out, &xp, &mut argmax, p).unwrap();
    check_pullback(
        "relu_max_pool1d",
        &seed,
        &[("d_x", xp.len())],
        &|d_out, adj| {
            let [dx] = adj else { unreachable!() };
            k::relu_max_pool1d_pullback(&mut out.clone(), &xp, &mut argmax.clone(), p, d_out, dx)
        },
    );
    let mut out = vec![0.0; p.rows * lo];
    k::avg_pool1d(&mut out, &xp, p).unwrap();
    check_pullback("avg_pool1d", &seed, &[("d_x", xp.len())], &|d_out, adj| {
        let [dx] = adj else { unreachable!() };
        k::avg_pool1d_pullback(&mut out.clone(), &xp, p, d_out, dx)
    });
}

/// Direct convolutions (few taps, stride 1: `d_w` without im2col) and the fused stage on each
/// of its pullback's paths: `d_w` and `d_b` must not depend on whether `d_x` is wanted.
#[test]
fn direct_convolutions_and_the_fused_stage() {
    let mut rng = SplitMix64::new(5);
    let conv = |c_in, len_in, c_out, kernel, padding, stride| Conv1dDims {
        batch: 2,
        c_in,
        len_in,
        c_out,
        kernel,
        stride,
        padding,
        dilation: 1,
    };
    let d = conv(2, 30, 3, 4, 1, 1);
    let lo = d.len_out().unwrap();
    let x = rng.vec(d.batch * d.c_in * d.len_in, -1.0, 1.0);
    let w = rng.vec(d.c_out * d.c_in * d.kernel, -1.0, 1.0);
    let b = rng.vec(d.c_out, -1.0, 1.0);
    let mut out = vec![0.0; d.batch * d.c_out * lo];
    k::conv1d(&mut out, &x, &w, &b, d).unwrap();
    let seed = rng.vec(out.len(), -1.0, 1.0);
    check_pullback(
        "conv1d (direct)",
        &seed,
        &[("d_x", x.len()), ("d_w", w.len()), ("d_b", b.len())],
        &|d_out, adj| {
            let [dx, dw, db] = adj else { unreachable!() };
            k::conv1d_pullback(&mut out.clone(), &x, &w, &b, d, d_out, dx, dw, db)
        },
    );

    // (convolution, pooling kernel and stride): one input channel (its own `d_w` path),
    // windows of 8 taps, a pooling stride of 1 (the dense path), 40 taps (GEMM forward).
    for (d, pk, ps) in [
        (conv(1, 40, 3, 5, 2, 1), 4, 4),
        (conv(2, 40, 3, 8, 0, 1), 4, 4),
        (conv(2, 20, 3, 3, 1, 1), 2, 1),
        (conv(5, 30, 3, 8, 0, 1), 2, 2),
        (conv(3, 31, 2, 3, 1, 2), 2, 2),
    ] {
        let p = Pool1dDims {
            rows: d.batch * d.c_out,
            len_in: d.len_out().unwrap(),
            kernel: pk,
            stride: ps,
            padding: 0,
        };
        let lp = p.len_out().unwrap();
        let x = rng.vec(d.batch * d.c_in * d.len_in, -1.0, 1.0);
        let w = rng.vec(d.c_out * d.c_in * d.kernel, -1.0, 1.0);
        let b = rng.vec(d.c_out, -1.0, 1.0);
        let (mut out, mut am) = (vec![0.0; p.rows * lp], vec![0usize; p.rows * lp]);
        k::conv1d_relu_max_pool1d(&mut out, &x, &w, &b, &mut am, d, p).unwrap();
        let seed = rng.vec(out.len(), -1.0, 1.0);
        check_pullback(
            &format!("conv1d_relu_max_pool1d {d:?} {p:?}"),
            &seed,
            &[("d_x", x.len()), ("d_w", w.len()), ("d_b", b.len())],
            &|d_out, adj| {
                let [dx, dw, db] = adj else { unreachable!() };
                k::conv1d_relu_max_pool1d_pullback(
                    &mut out.clone(),
                    &x,
                    &w,
                    &b,
                    &mut am.clone(),
                    d,
                    p,
                    d_out,
                    dx,
                    dw,
                    db,
                )
            },
        );
    }
}

#[test]
fn norm_and_embedding() {
    let mut rng = SplitMix64::new(4);
    let (rows, cols) = (3, 5);
    let x = rng.vec(rows * cols, -1.0, 1.0);
    let g = rng.vec(cols, 0.5, 1.5);
    let be = rng.vec(cols, -0.5, 0.5);
    let mut out = vec![0.0; rows * cols];
    k::layer_norm(&mut out, &x, &g, &be, rows, cols, 1e-5).unwrap();
    let seed = rng.vec(out.len(), -1.0, 1.0);
    check_pullback(
        "layer_norm",
        &seed,
        &[("d_x", x.len()), ("d_gamma", cols), ("d_beta", cols)],
        &|d_out, adj| {
            let [dx, dg, db] = adj else { unreachable!() };
            k::layer_norm_pullback(
                &mut out.clone(),
                &x,
                &g,
                &be,
                rows,
                cols,
                1e-5,
                d_out,
                dx,
                dg,
                db,
            )
        },
    );
    let (vocab, dim) = (6, 4);
    let table = rng.vec(vocab * dim, -1.0, 1.0);
    let ids = [1usize, 4, 1, 5];
    let mut out = vec![0.0; ids.len() * dim];
    k::embedding(&mut out, &table, &ids, vocab, dim).unwrap();
    let seed = rng.vec(out.len(), -1.0, 1.0);
    // Every row of the table is touched by a full call only if its id appears; start from
    // random adjoints so the comparison is on accumulated values either way.
    check_pullback(
        "embedding",
        &seed,
        &[("d_table", table.len())],
        &|d_out, adj| {
            let [dt] = adj else { unreachable!() };
            k::embedding_pullback(&mut out.clone(), &table, &ids, vocab, dim, d_out, dt)
        },
    );
}

#[test]
fn losses() {
    let mut rng = SplitMix64::new(5);
    let (batch, classes) = (4, 3);
    let logits = rng.vec(batch * classes, -2.0, 2.0);
    let labels = [0usize, 2, 1, 2];
    let mut probs = vec![0.0; batch * classes];
    k::softmax_cross_entropy(&mut probs, &logits, &labels, batch, classes).unwrap();
    // d_probs plays the role of d_out (the seed of the `probs` output).
    let seed = rng.vec(batch * classes, -1.0, 1.0);
    check_pullback(
        "softmax_cross_entropy",
        &seed,
        &[("d_logits", logits.len())],
        &|d_probs, adj| {
            let [dl] = adj else { unreachable!() };
            let r = k::softmax_cross_entropy_pullback(
                &mut probs.clone(),
                &logits,
                &labels,
                batch,
                classes,
                0.0, // only the d_probs path, so an empty d_probs changes nothing
                d_probs,
                dl,
            );
            // The error for a short d_probs names it; map to the generic "d_out" name.
            match r {
                Err(KernelError::Length { arg: "d_probs", .. }) => Err(KernelError::Length {
                    kernel: "softmax_cross_entropy_pullback",
                    arg: "d_out",
                    expected: 0,
                    actual: 0,
                    shape: "",
                }),
                other => other,
            }
        },
    );
    // With a loss seed and an empty d_probs, d_logits = d_ret/batch·(probs − onehot).
    let mut dl = vec![0.0; batch * classes];
    k::softmax_cross_entropy_pullback(
        &mut probs.clone(),
        &logits,
        &labels,
        batch,
        classes,
        2.0,
        &mut [],
        &mut dl,
    )
    .unwrap();
    for (r, &l) in labels.iter().enumerate() {
        for c in 0..classes {
            let want = 2.0 / batch as f32 * (probs[r * classes + c] - f32::from(u8::from(c == l)));
            assert!((dl[r * classes + c] - want).abs() < 1e-6);
        }
    }

    let pred = rng.vec(7, -1.0, 1.0);
    let target = rng.vec(7, -1.0, 1.0);
    let (mut dp, mut dt) = (vec![0.0; 7], vec![0.0; 7]);
    k::mse_pullback(&pred, &target, 1.5, &mut dp, &mut dt).unwrap();
    let mut dp2 = vec![0.0; 7];
    k::mse_pullback(&pred, &target, 1.5, &mut dp2, &mut []).unwrap();
    assert_eq!(dp, dp2);
    let mut dt2 = vec![0.0; 7];
    k::mse_pullback(&pred, &target, 1.5, &mut [], &mut dt2).unwrap();
    assert_eq!(dt, dt2);
    len_err(
        k::mse_pullback(&pred, &target, 1.5, &mut dp2, &mut dt2[..6]),
        "d_target",
    );
    len_err(
        k::mse_pullback(&pred, &target, 1.5, &mut dp2[..3], &mut dt2),
        "d_pred",
    );
}
