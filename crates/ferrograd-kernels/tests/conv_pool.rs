//! The fused stage `conv1d_relu_max_pool1d` against its definition, `conv1d` then
//! `relu_max_pool1d` (values and argmax bit for bit; the pullback's sums to rounding), on both
//! of its pullback's paths (the windows' winners alone for pooling strides of 2 or more, with
//! and without `d_x`, kernels of 8 and 16 unrolled, taps in the padding; the dense gradient for
//! stride 1) and both forward paths (direct and im2col + GEMM), on one and two threads;
//! against finite differences; and its errors.

use ferrograd_kernels::{self as k, Conv1dDims, KernelError, Pool1dDims};
use ferrograd_testkit::SplitMix64;

#[allow(clippy::too_many_arguments)]
fn conv(
    batch: usize,
    c_in: usize,
    len_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Conv1dDims {
    Conv1dDims {
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

/// The pooling of `c`'s output rows by windows of `kernel`, `stride`, `padding`.
fn pool(c: &Conv1dDims, kernel: usize, stride: usize, padding: usize) -> Pool1dDims {
    Pool1dDims {
        rows: c.batch * c.c_out,
        len_in: c.len_out().unwrap(),
        kernel,
        stride,
        padding,
    }
}

/// Stages covering both forward paths and every path of the winners' pullback (direct: `c_in·K ≤ 32` at stride 1; GEMM otherwise),
/// padding, dilation, tiling windows of 4 (W2's) and general windows, interiors shorter and
/// longer than the direct path's tile of 64 outputs.
fn stages() -> Vec<(Conv1dDims, Pool1dDims)> {
    let cases = [
        // W2's first stage, shortened: direct, windows of 4.
        (conv(3, 1, 300, 16, 16, 1, 0, 1), (4, 4, 0)),
        (conv(2, 1, 70, 5, 16, 1, 0, 1), (4, 4, 0)),
        // One channel, fewer than 16 taps, padded: winners near the end of x take the
        // checked path of the one-channel pullback.
        (conv(2, 1, 100, 4, 5, 1, 2, 1), (4, 4, 0)),
        // Direct with padding (outputs whose taps reach into it) and with dilation.
        (conv(2, 2, 150, 4, 5, 1, 2, 1), (4, 4, 0)),
        (conv(2, 3, 90, 6, 3, 1, 1, 2), (3, 2, 1)),
        (conv(1, 1, 9, 2, 3, 1, 0, 1), (2, 2, 0)),
        // No output with every tap inside x.
        (conv(1, 2, 5, 3, 7, 1, 3, 1), (2, 2, 0)),
        (conv(2, 1, 5, 3, 7, 1, 3, 1), (2, 2, 0)),
        // Exactly 32 taps: the largest direct layer; one more: GEMM.
        (conv(2, 4, 140, 4, 8, 1, 0, 1), (4, 4, 0)),
        (conv(2, 3, 140, 5, 11, 1, 0, 1), (4, 4, 0)),
        // W2's second stage, shortened: GEMM.
        (conv(2, 16, 70, 32, 8, 1, 0, 1), (4, 4, 0)),
        // Stride 2: GEMM.
        (conv(3, 2, 41, 3, 3, 2, 1, 1), (2, 1, 0)),
    ];
    cases
        .into_iter()
        .map(|(c, (pk, ps, pp))| (c, pool(&c, pk, ps, pp)))
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `|a − b| ≤ tol·max|b|` elementwise.
fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
    }
}

#[test]
fn fused_stage_matches_conv_then_relu_max_pool() {
    let mut rng = SplitMix64::new(31);
    // Windows whose ReLU'd maximum is 0: their gradient is masked.
    let mut masked = 0;
    for threads in [1, 2] {
        k::set_num_threads(threads);
        for (c, p) in stages() {
            let lc = c.len_out().unwrap();
            let lp = p.len_out().unwrap();
            let x = rng.vec(c.batch * c.c_in * c.len_in, -1.0, 1.0);
            let w = rng.vec(c.c_out * c.c_in * c.kernel, -0.5, 0.5);
            let b = rng.vec(c.c_out, -0.3, 0.3);
            // The definition.
            let mut conv_out = vec![0.0; c.batch * c.c_out * lc];
            k::conv1d(&mut conv_out, &x, &w, &b, c).unwrap();
            let (mut want, mut want_am) = (vec![0.0; p.rows * lp], vec![0usize; p.rows * lp]);
            k::relu_max_pool1d(&mut want, &conv_out, &mut want_am, p).unwrap();
            // The fused stage.
            let (mut out, mut am) = (vec![f32::NAN; p.rows * lp], vec![usize::MAX; p.rows * lp]);
            k::conv1d_relu_max_pool1d(&mut out, &x, &w, &b, &mut am, c, p).unwrap();
            assert_eq!(bits(&out), bits(&want), "values {c:?} {p:?}");
            assert_eq!(am, want_am, "argmax {c:?} {p:?}");
            assert!(
                out.iter().any(|&v| v > 0.0),
                "no positive window {c:?} {p:?}"
            );
            masked += out.iter().filter(|&&v| v == 0.0).count();

            let seed = rng.vec(p.rows * lp, -1.0, 1.0);
            // The definition's pullback, adjoints starting from non-zero values.
            let start = |n: usize| vec![0.25f32; n];
            let mut dc = vec![0.0; conv_out.len()];
            let mut dy = seed.clone();
            k::relu_max_pool1d_pullback(&mut want, &conv_out, &mut want_am, p, &mut dy, &mut dc)
                .unwrap();
            let (mut wdx, mut wdw, mut wdb) = (start(x.len()), start(w.len()), start(b.len()));
            k::conv1d_pullback(
                &mut conv_out,
                &x,
                &w,
                &b,
                c,
                &mut dc,
                &mut wdx,
                &mut wdw,
                &mut wdb,
            )
            .unwrap();
            // Both of the fused pullback's paths: without d_x (the winners alone, for direct
            // layers) and with it (the dense gradient).
            for with_x in [false, true] {
                let mut dy = seed.clone();
                let (mut dx, mut dw, mut db) = (start(x.len()), start(w.len()), start(b.len()));
                let dx_arg: &mut [f32] = if with_x { &mut dx } else { &mut [] };
                k::conv1d_relu_max_pool1d_pullback(
                    &mut out, &x, &w, &b, &mut am, c, p, &mut dy, dx_arg, &mut dw, &mut db,
                )
                .unwrap();
                let what = format!("{c:?} {p:?} threads={threads} with_x={with_x}");
                assert!(dy.iter().all(|&v| v == 0.0), "d_out zeroed: {what}");
                assert_close(&format!("d_w {what}"), &dw, &wdw, 2e-6);
                assert_close(&format!("d_b {what}"), &db, &wdb, 2e-6);
                if with_x {
                    assert_close(&format!("d_x {what}"), &dx, &wdx, 2e-6);
                }
            }
        }
    }
    k::set_num_threads(1);
    assert!(masked > 100, "only {masked} masked windows");
}

/// Against central differences of `Σ seed·out` in f64 sums, element by element of every
/// input. The pooling picks winners and the ReLU masks them: a difference is only compared
/// where neither changes between `v − h` and `v + h` (a window with a near tie, or a winner
/// near 0, has no derivative there to compare), and most elements must qualify.
#[test]
fn fused_stage_pullback_matches_finite_differences() {
    let mut rng = SplitMix64::new(32);
    for (c, pk) in [
        (conv(2, 1, 40, 3, 5, 1, 0, 1), 4),
        (conv(2, 2, 30, 3, 4, 1, 1, 1), 2),
        (conv(1, 9, 25, 2, 4, 1, 0, 1), 4),
        (conv(1, 4, 30, 2, 3, 2, 1, 1), 2),
    ] {
        let p = pool(&c, pk, pk, 0);
        let lp = p.len_out().unwrap();
        let inputs = [
            rng.vec(c.batch * c.c_in * c.len_in, -1.0, 1.0),
            rng.vec(c.c_out * c.c_in * c.kernel, -0.5, 0.5),
            rng.vec(c.c_out, -0.3, 0.3),
        ];
        let seed = rng.vec(p.rows * lp, -1.0, 1.0);
        // (Σ seed·out in f64, argmax, mask) at the given inputs.
        let run = |v: &[Vec<f32>; 3]| {
            let (mut out, mut am) = (vec![0.0f32; p.rows * lp], vec![0usize; p.rows * lp]);
            k::conv1d_relu_max_pool1d(&mut out, &v[0], &v[1], &v[2], &mut am, c, p).unwrap();
            let obj: f64 = out
                .iter()
                .zip(&seed)
                .map(|(&o, &s)| f64::from(o) * f64::from(s))
                .sum();
            let mask: Vec<bool> = out.iter().map(|&o| o > 0.0).collect();
            (obj, am, mask, out)
        };
        let (_, mut am, mask0, mut out) = run(&inputs);
        let am0 = am.clone();
        let mut g: [Vec<f32>; 3] = inputs.clone().map(|v| vec![0.0; v.len()]);
        let [gx, gw, gb] = &mut g;
        let mut dy = seed.clone();
        k::conv1d_relu_max_pool1d_pullback(
            &mut out, &inputs[0], &inputs[1], &inputs[2], &mut am, c, p, &mut dy, gx, gw, gb,
        )
        .unwrap();
        let h = 1e-2f32;
        let (mut compared, mut total) = (0, 0);
        for (i, gi) in g.iter().enumerate() {
            for e in 0..gi.len() {
                total += 1;
                let mut plus = inputs.clone();
                plus[i][e] += h;
                let mut minus = inputs.clone();
                minus[i][e] -= h;
                let (fp, amp, mp, _) = run(&plus);
                let (fm, amm, mm, _) = run(&minus);
                if amp != am0 || amm != am0 || mp != mask0 || mm != mask0 {
                    continue;
                }
                compared += 1;
                // Piecewise linear (bilinear in x and w): the difference is exact up to f32.
                let fd = (fp - fm) / (2.0 * f64::from(h));
                let an = f64::from(gi[e]);
                assert!(
                    (fd - an).abs() <= 1e-3 * (1.0 + an.abs()),
                    "{c:?} input {i} element {e}: analytic {an} vs difference {fd}"
                );
            }
        }
        assert!(
            compared * 5 >= total * 4,
            "{c:?}: only {compared} of {total} elements without a switch at ±h"
        );
    }
}

#[test]
fn fused_stage_errors_name_the_argument_and_write_nothing() {
    let c = conv(2, 1, 40, 3, 5, 1, 0, 1);
    let p = pool(&c, 4, 4, 0);
    let lp = p.len_out().unwrap();
    let x = vec![0.5f32; 80];
    let w = vec![0.1f32; 15];
    let b = vec![0.0f32; 3];
    let (mut out, mut am) = (vec![0.0f32; p.rows * lp], vec![0usize; p.rows * lp]);

    // Pooling dimensions that do not describe the convolution's output.
    for (bad, arg) in [
        (
            Pool1dDims {
                rows: p.rows + 1,
                ..p
            },
            "pool.rows",
        ),
        (
            Pool1dDims {
                len_in: p.len_in - 1,
                ..p
            },
            "pool.len_in",
        ),
    ] {
        match k::conv1d_relu_max_pool1d(&mut out, &x, &w, &b, &mut am, c, bad) {
            Err(KernelError::Dim { arg: a, .. }) => assert_eq!(a, arg),
            other => panic!("expected a Dim error on {arg}, got {other:?}"),
        }
    }
    // Wrong lengths.
    let r = k::conv1d_relu_max_pool1d(&mut out[1..], &x, &w, &b, &mut am, c, p);
    assert!(
        matches!(r, Err(KernelError::Length { arg: "out", .. })),
        "{r:?}"
    );
    let r = k::conv1d_relu_max_pool1d(&mut out, &x[1..], &w, &b, &mut am, c, p);
    assert!(
        matches!(r, Err(KernelError::Length { arg: "x", .. })),
        "{r:?}"
    );
    let r = k::conv1d_relu_max_pool1d(&mut out, &x, &w, &b, &mut am[1..], c, p);
    assert!(
        matches!(r, Err(KernelError::Length { arg: "argmax", .. })),
        "{r:?}"
    );

    // A recorded position outside the convolution's row: an error before anything is written.
    k::conv1d_relu_max_pool1d(&mut out, &x, &w, &b, &mut am, c, p).unwrap();
    let len_conv = c.len_out().unwrap();
    am[5] = len_conv;
    let mut dy = vec![1.0f32; out.len()];
    let (mut dw, mut db) = (vec![0.0f32; 15], vec![0.0f32; 3]);
    let r = k::conv1d_relu_max_pool1d_pullback(
        &mut out,
        &x,
        &w,
        &b,
        &mut am,
        c,
        p,
        &mut dy,
        &mut [],
        &mut dw,
        &mut db,
    );
    match r {
        Err(KernelError::Index {
            arg: "argmax",
            position: 5,
            value,
            bound,
            ..
        }) => assert_eq!((value, bound), (len_conv, len_conv)),
        other => panic!("expected an Index error, got {other:?}"),
    }
    assert!(dy.iter().all(|&v| v == 1.0) && dw.iter().all(|&v| v == 0.0));
    assert!(db.iter().all(|&v| v == 0.0));
}
