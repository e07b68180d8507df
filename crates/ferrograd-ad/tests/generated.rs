//! Snapshots of the generated code (`insta`, in `tests/snapshots/`), and the activity
//! analysis seen in that code. After an intended change, review and accept the new
//! snapshots with `cargo insta review` (or run with `INSTA_UPDATE=always`); in CI
//! (`CI=true`) a changed or missing snapshot fails the test.

use ferrograd_ad::{generate, pretty, Options};
use syn::parse_quote;

fn gen(item: syn::ItemFn) -> String {
    pretty(&generate(&Options::default(), &item).expect("generates"))
}

#[test]
fn straight_line_snapshot() {
    let code = gen(parse_quote! {
        fn f(x: f64, y: f64) -> f64 {
            let z = x * y + x.sin();
            z / y
        }
    });
    insta::assert_snapshot!("straight_line", &code);
}

#[test]
fn loop_snapshot() {
    let code = gen(parse_quote! {
        fn g(x: &[f64], n: usize) -> f64 {
            let mut s = 0.0;
            for i in 0..n {
                let t = x[i] * x[i];
                s += t.exp();
            }
            s
        }
    });
    insta::assert_snapshot!("loop", &code);
    // A reduction returned directly: forward and reverse run fused in one loop.
    assert!(code.contains("__fg_d_s += d_ret;"), "{code}");

    // A loop-carried value that the reverse sweep reads is taped.
    let carried = gen(parse_quote! {
        fn e(x: f64, n: usize) -> f64 {
            let mut y = x;
            for _ in 0..n {
                y = y * y.sin();
            }
            y
        }
    });
    assert!(carried.contains("__fg_tape.push(y)"), "{carried}");
    // The partial of `sin` is computed by the forward sweep and taped, not recomputed.
    assert!(
        carried.contains("__fg_tape.push(::ferrograd::__private::Partials::sin_d("),
        "{carried}"
    );

    // Not a pure reduction (the accumulator feeds a nonlinear op): two sweeps, and the
    // loop-local `t` is recomputed at the start of each reverse iteration instead of taped.
    let two = gen(parse_quote! {
        fn r(x: &[f64]) -> f64 {
            let mut s = 1.0;
            for i in 0..x.len() {
                let t = x[i] * 2.0;
                s = s * t.sin();
            }
            s
        }
    });
    assert!(two.contains("rev_range"), "{two}");
    assert!(!two.contains("__fg_tape.push(t)"), "{two}");
    // `t` is loop-local: never taped.
    assert!(!code.contains("__fg_tape.push(t)"));
    assert!(code.contains("t = (x[i] * x[i]);"));
    // `s` is never read by the reverse sweep: not taped (to-be-recorded analysis).
    assert!(!code.contains("__fg_tape.push(s)"));
}

#[test]
fn inactive_computation_has_no_adjoint_statements() {
    let code = gen(parse_quote! {
        fn h(x: f64, k: usize) -> f64 {
            let w = (k as f64) * 0.5;
            let unused = x.cos() * 3.0;
            let scale = w.exp();
            x * scale
        }
    });
    // `w` and `scale` do not depend on x; `unused` does not reach the output: none of them
    // gets an adjoint variable or a derivative rule call.
    for v in [
        "__fg_d_w",
        "__fg_d_scale",
        "__fg_d_unused",
        "cos_d",
        "exp_d",
    ] {
        assert!(!code.contains(v), "inactive `{v}` appears in:\n{code}");
    }
    assert!(code.contains("__fg_d_x"));
}

#[test]
fn straight_line_code_needs_no_tape() {
    let code = gen(parse_quote! {
        fn f(x: f64, y: f64) -> f64 {
            let mut a = x * y;
            a = a.sin() * a;
            a + y
        }
    });
    assert!(!code.contains("PooledTape"), "no loops: no tape\n{code}");
}

#[test]
fn errors_are_collected_and_spanned() {
    let item: syn::ItemFn = parse_quote! {
        fn bad(x: f64) -> f64 {
            let c = move |v: f64| v * 2.0;
            let t = (x, x);
            let u = g(t);
            x.sin_cos()
        }
    };
    let err = generate(&Options::default(), &item).unwrap_err();
    let msgs: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs.len(),
        3,
        "all three problems reported together: {msgs:?}"
    );
    assert!(msgs[0].contains("`move` closures are not supported"));
    assert!(msgs[1].contains("a tuple can only be destructured"));
    assert!(msgs[2].contains("no derivative rule for the float method `.sin_cos()`"));
}

#[test]
fn tensor_level_functions_get_rule_calls_and_an_autograd_node() {
    let code = gen(parse_quote! {
        pub fn mlp(x: &Tensor, w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor, y: &Tensor) -> Tensor {
            let h = x.linear(w1, Some(b1)).relu();
            let logits = h.matmul(&w2.transpose(0, 1)) + b2;
            logits.cross_entropy_for_logits(y) * 2.0
        }
    });
    insta::assert_snapshot!("tensor_mlp", &code);
    for rule in [
        "linear_vjp",
        "relu_vjp",
        "matmul_vjp",
        "transpose_vjp",
        "add_vjp",
        "log_softmax_vjp",
        "nll_loss_vjp",
        "scale_vjp",
    ] {
        assert!(code.contains(rule), "missing {rule}:\n{code}");
    }
    assert!(code.contains("fn mlp_pullback"));
    assert!(code.contains("fn mlp_grad"));
    assert!(code.contains("fn mlp_autograd"));
    // The targets `y` carry no derivative: no rule propagates into them.
    assert!(!code.contains("acc(&mut __fg_d_y,"), "{code}");
}

#[test]
fn tensor_level_functions_must_be_straight_line() {
    let item: syn::ItemFn = parse_quote! {
        fn f(x: &Tensor, n: usize) -> Tensor {
            let mut h = x.relu();
            for _ in 0..n {
                h = h.tanh();
            }
            h
        }
    };
    let err = generate(&Options::default(), &item)
        .unwrap_err()
        .to_string();
    assert!(err.contains("straight-line"), "{err}");
}
