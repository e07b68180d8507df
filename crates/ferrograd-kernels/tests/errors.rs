//! Wrong sizes and bad arguments are `Err`s carrying the data needed to fix the call — never
//! panics, never out-of-bounds accesses.

use ferrograd_kernels::{self as k, Conv1dDims, KernelError, Pool1dDims};

fn is_len_err<T: std::fmt::Debug>(r: Result<T, KernelError>, arg: &str) {
    match r {
        Err(KernelError::Length { arg: a, .. }) => assert_eq!(a, arg, "wrong argument blamed"),
        other => panic!("expected a Length error on `{arg}`, got {other:?}"),
    }
}

#[test]
fn matmul_and_linear_sizes() {
    let (mut o, a, b) = (vec![0.0; 6], vec![0.0; 6], vec![0.0; 9]);
    assert!(k::matmul(&mut o, &a, &b, 2, 3, 3).is_ok());
    is_len_err(k::matmul(&mut o, &a, &b, 2, 3, 2), "out");
    is_len_err(k::matmul(&mut o[..5], &a, &b, 2, 3, 3), "out");
    is_len_err(k::matmul_nt(&mut o, &a[..5], &b, 2, 3, 3), "a");
    is_len_err(k::matmul_tn(&mut o, &a, &b[..8], 2, 3, 3), "b");
    let (mut da, mut db, mut dout) = (vec![0.0; 6], vec![0.0; 8], vec![0.0; 6]);
    is_len_err(
        k::matmul_pullback(&mut o, &a, &b, 2, 3, 3, &mut dout, &mut da, &mut db),
        "d_b",
    );
    // overflow of m·k is reported, not wrapped
    assert!(matches!(
        k::matmul(&mut o, &a, &b, usize::MAX, 2, 2),
        Err(KernelError::Overflow { .. })
    ));

    let (mut out, x, w, bias) = (vec![0.0; 4], vec![0.0; 6], vec![0.0; 6], vec![0.0; 2]);
    assert!(k::linear(&mut out, &x, &w, &bias, 2, 3, 2).is_ok());
    is_len_err(k::linear(&mut out, &x, &w, &bias[..1], 2, 3, 2), "b");
    let (mut dx, mut dw, mut dbias, mut dout) =
        (vec![0.0; 6], vec![0.0; 6], vec![0.0; 2], vec![0.0; 5]);
    is_len_err(
        k::linear_pullback(
            &mut out, &x, &w, &bias, 2, 3, 2, &mut dout, &mut dx, &mut dw, &mut dbias,
        ),
        "d_out",
    );
    let e = k::linear(&mut out, &x[..5], &w, &bias, 2, 3, 2).unwrap_err();
    assert_eq!(
        e.to_string(),
        "linear: `x` has length 5, expected 6 (shape [batch, in_f])"
    );
}

#[test]
fn elementwise_sizes() {
    let (mut o, x, mut d_o, mut d_x) = (vec![0.0; 3], vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
    is_len_err(k::relu(&mut o, &x), "out");
    is_len_err(k::tanh(&mut o, &x), "out");
    is_len_err(k::sigmoid(&mut o, &x), "out");
    is_len_err(k::gelu(&mut o, &x), "out");
    is_len_err(k::leaky_relu(&mut o, &x, 0.1), "out");
    is_len_err(k::flatten(&mut o, &x), "out");
    let mut o4 = vec![0.0; 4];
    is_len_err(
        k::relu_pullback(&mut o4, &x, &mut d_o[..3], &mut d_x),
        "d_out",
    );
    is_len_err(
        k::gelu_pullback(&mut o4, &x, &mut d_o, &mut d_x[..2]),
        "d_x",
    );
    assert!(matches!(
        k::leaky_relu(&mut o4, &x, f32::NAN),
        Err(KernelError::Param { .. })
    ));
    let mut mask = vec![0u8; 4];
    is_len_err(k::dropout(&mut o4, &x, &mut mask[..3], 0.5, 1), "mask");
    let e = k::dropout(&mut o4, &x, &mut mask, 1.5, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "dropout: `p` = 1.5 is invalid: must be in [0, 1]"
    );
}

#[test]
fn losses_and_softmax() {
    let (mut p, x) = (vec![0.0; 6], vec![0.0; 6]);
    assert!(k::softmax(&mut p, &x, 2, 3).is_ok());
    is_len_err(k::softmax(&mut p, &x, 3, 3), "out");
    assert!(matches!(
        k::softmax(&mut p, &x, 6, 0),
        Err(KernelError::Dim { .. })
    ));
    is_len_err(k::softmax_cross_entropy(&mut p, &x, &[0], 2, 3), "labels");
    let e = k::softmax_cross_entropy(&mut p, &x, &[0, 3], 2, 3).unwrap_err();
    assert_eq!(
        e,
        KernelError::Index {
            kernel: "softmax_cross_entropy",
            arg: "labels",
            position: 1,
            value: 3,
            bound: 3
        }
    );
    let (mut dp, mut dl) = (vec![0.0; 6], vec![0.0; 6]);
    assert!(
        k::softmax_cross_entropy_pullback(&mut p, &x, &[0, 7], 2, 3, 1.0, &mut dp, &mut dl)
            .is_err()
    );
    is_len_err(k::mse(&x, &x[..5]), "target");
    assert!(matches!(k::mse(&[], &[]), Err(KernelError::Dim { .. })));
    let (mut g1, mut g2) = (vec![0.0; 6], vec![0.0; 5]);
    is_len_err(k::mse_pullback(&x, &x, 1.0, &mut g1, &mut g2), "d_target");
}

#[test]
fn conv_and_pool_dims() {
    let d = Conv1dDims {
        batch: 2,
        c_in: 3,
        len_in: 10,
        c_out: 4,
        kernel: 3,
        stride: 1,
        padding: 0,
        dilation: 1,
    };
    let lo = d.len_out().unwrap();
    assert_eq!(lo, 8);
    let (mut out, x, w, b) = (
        vec![0.0; 2 * 4 * lo],
        vec![0.0; 60],
        vec![0.0; 36],
        vec![0.0; 4],
    );
    assert!(k::conv1d(&mut out, &x, &w, &b, d).is_ok());
    is_len_err(k::conv1d(&mut out, &x, &w[..35], &b, d), "w");
    is_len_err(k::conv1d(&mut out[1..], &x, &w, &b, d), "out");
    // kernel longer than the (padded) input
    let short = Conv1dDims { len_in: 2, ..d };
    assert!(matches!(
        short.len_out(),
        Err(KernelError::Dim { arg: "len_in", .. })
    ));
    assert!(matches!(
        Conv1dDims { stride: 0, ..d }.len_out(),
        Err(KernelError::Dim { arg: "stride", .. })
    ));
    assert!(matches!(
        Conv1dDims {
            dilation: usize::MAX,
            ..d
        }
        .len_out(),
        Err(KernelError::Overflow { .. })
    ));
    let (mut dout, mut dx, mut dw, mut db) =
        (vec![0.0; 64], vec![0.0; 60], vec![0.0; 36], vec![0.0; 3]);
    is_len_err(
        k::conv1d_pullback(
            &mut out, &x, &w, &b, d, &mut dout, &mut dx, &mut dw, &mut db,
        ),
        "d_b",
    );

    let pd = Pool1dDims {
        rows: 2,
        len_in: 9,
        kernel: 4,
        stride: 4,
        padding: 0,
    };
    assert_eq!(pd.len_out().unwrap(), 2);
    let (mut po, px, mut am) = (vec![0.0; 4], vec![0.0; 18], vec![0usize; 4]);
    assert!(k::max_pool1d(&mut po, &px, &mut am, pd).is_ok());
    is_len_err(k::max_pool1d(&mut po, &px, &mut am[..3], pd), "argmax");
    is_len_err(k::avg_pool1d(&mut po, &px[..17], pd), "x");
    assert!(matches!(
        Pool1dDims { padding: 4, ..pd }.len_out(),
        Err(KernelError::Dim { arg: "padding", .. })
    ));
    // A corrupted argmax buffer is rejected instead of indexing out of bounds.
    am[2] = 9;
    let (mut dpo, mut dpx) = (vec![0.0; 4], vec![0.0; 18]);
    let e = k::max_pool1d_pullback(&mut po, &px, &mut am, pd, &mut dpo, &mut dpx).unwrap_err();
    assert_eq!(
        e,
        KernelError::Index {
            kernel: "max_pool1d_pullback",
            arg: "argmax",
            position: 2,
            value: 9,
            bound: 9
        }
    );
    // The fused ReLU and max-pool checks the same, and leaves `d_x` untouched.
    is_len_err(k::relu_max_pool1d(&mut po, &px, &mut am[..3], pd), "argmax");
    is_len_err(k::relu_max_pool1d(&mut po, &px[..17], &mut am, pd), "x");
    dpx.fill(0.25);
    let e = k::relu_max_pool1d_pullback(&mut po, &px, &mut am, pd, &mut dpo, &mut dpx).unwrap_err();
    assert_eq!(
        e,
        KernelError::Index {
            kernel: "relu_max_pool1d_pullback",
            arg: "argmax",
            position: 2,
            value: 9,
            bound: 9
        }
    );
    assert!(dpx.iter().all(|&v| v == 0.25));
}

#[test]
fn norm_and_embedding() {
    let (mut o, x, g, b) = (vec![0.0; 6], vec![0.0; 6], vec![1.0; 3], vec![0.0; 3]);
    assert!(k::layer_norm(&mut o, &x, &g, &b, 2, 3, 1e-5).is_ok());
    is_len_err(k::layer_norm(&mut o, &x, &g[..2], &b, 2, 3, 1e-5), "gamma");
    assert!(matches!(
        k::layer_norm(&mut o, &x, &g, &b, 2, 3, 0.0),
        Err(KernelError::Param { .. })
    ));
    let table = vec![0.0; 12];
    let mut out = vec![0.0; 8];
    assert!(k::embedding(&mut out, &table, &[0, 2], 3, 4).is_ok());
    let e = k::embedding(&mut out, &table, &[0, 3], 3, 4).unwrap_err();
    assert_eq!(
        e.to_string(),
        "embedding: `ids`[1] = 3 is out of range (must be < 3)"
    );
    is_len_err(k::embedding(&mut out, &table, &[0], 3, 4), "out");
}
