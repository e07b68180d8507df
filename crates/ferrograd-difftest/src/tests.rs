//! The harness itself: it accepts a correct program and rejects wrong derivatives from each
//! of the three sources (reverse, forward, oracle).

use super::*;
use oracle::Num;

fn sq_g<T: Num>(x0: T, x1: T, _x2: T, _x3: T, y: &[T], idx: &[usize], _n: usize) -> T {
    x0 * x0 * x1.sin() + T::c(3.0) * y[idx[0]]
}

fn sq(pt: &Point) -> f64 {
    sq_g(pt.x[0], pt.x[1], pt.x[2], pt.x[3], &pt.y, &pt.idx, pt.n)
}

fn sq_grad(pt: &Point, g: &mut [f64; DIM]) -> f64 {
    *g = [0.0; DIM];
    g[0] = 2.0 * pt.x[0] * pt.x[1].sin();
    g[1] = pt.x[0] * pt.x[0] * pt.x[1].cos();
    g[4 + pt.idx[0]] += 3.0;
    sq(pt)
}

fn sq_fwd(pt: &Point, t: &[f64; DIM]) -> (f64, f64) {
    let mut g = [0.0; DIM];
    let v = sq_grad(pt, &mut g);
    (v, g.iter().zip(t).map(|(a, b)| a * b).sum())
}

fn sq_dual(pt: &Point, t: &[f64; DIM]) -> (f64, f64) {
    eval_dual::<f64>(pt, t, sq_g)
}

fn program() -> Program {
    Program {
        name: "sq",
        source: "fn sq",
        precision: Precision::F64,
        eval: sq,
        grad: sq_grad,
        pushforward: sq_fwd,
        dual: sq_dual,
        eval64: sq,
        dual64: sq_dual,
        hessian: Some((sq_hessian, sq_second)),
        const_events: Some(ConstEvents {
            hessian: ch_hessian,
            eval: ch,
            second: ch_second,
        }),
    }
}

/// A `p_ch` by hand: `x0²·x1 + x0·Σ ev + x2·Σ w`, the events from `y`.
fn ch_g<T: Num>(x0: T, x1: T, x2: T, _x3: T, ev: &[T], w: &[T]) -> T {
    let mut s = x0 * x0 * x1;
    for &e in ev {
        s += x0 * e;
    }
    for &e in w {
        s += x2 * e;
    }
    s
}

fn ch_events(pt: &Point) -> (Vec<f64>, Vec<f64>) {
    (pt.y.to_vec(), pt.y.iter().map(|v| v * v).collect())
}

fn ch(pt: &Point) -> f64 {
    let (ev, w) = ch_events(pt);
    ch_g(pt.x[0], pt.x[1], pt.x[2], pt.x[3], &ev, &w)
}

/// `∂²/∂x0² = 2 x1`, `∂²/∂x0∂x1 = 2 x0`; the events are constants.
fn ch_hessian(pt: &Point, h: &mut [f64; 16]) -> f64 {
    *h = [0.0; 16];
    h[0] = 2.0 * pt.x[1];
    h[1] = 2.0 * pt.x[0];
    h[4] = h[1];
    ch(pt)
}

fn ch_second(pt: &Point, i: usize, j: usize) -> f64 {
    let (ev, w) = ch_events(pt);
    eval_second_events(pt, i, j, &ev, &w, ch_g)
}

/// `sq`'s Hessian by hand: ∂²/∂x0² = 2 sin x1, ∂²/∂x0∂x1 = 2 x0 cos x1, ∂²/∂x1² = −x0² sin x1.
fn sq_hessian(pt: &Point, h: &mut [f64; DIM * DIM]) -> f64 {
    *h = [0.0; DIM * DIM];
    let (x0, x1) = (pt.x[0], pt.x[1]);
    h[0] = 2.0 * x1.sin();
    h[1] = 2.0 * x0 * x1.cos();
    h[DIM] = h[1];
    h[DIM + 1] = -x0 * x0 * x1.sin();
    sq(pt)
}

fn sq_second(pt: &Point, i: usize, j: usize) -> f64 {
    eval_second(pt, i, j, sq_g)
}

#[test]
fn harness_accepts_a_correct_program() {
    let mut s = Stats::default();
    check_program(&program(), 1, &mut s).unwrap();
    assert!(
        s.max_fd_ratio < 1.0 && s.max_ad_ratio <= 1.0 && s.nonzero > 0,
        "{s:?}"
    );
}

#[test]
fn harness_rejects_a_wrong_constant_events_hessian() {
    let mut s = Stats::default();
    check_program(&program(), 1, &mut s).unwrap();
    assert_eq!((s.hessians, s.const_event_hessians), (2, 1), "{s:?}");
    // The derivative through the events, which must be constants.
    fn through_events(pt: &Point, h: &mut [f64; 16]) -> f64 {
        let v = ch_hessian(pt, h);
        h[0] += pt.y.len() as f64 * 1e-6;
        v
    }
    let p = Program {
        const_events: Some(ConstEvents {
            hessian: through_events,
            ..program().const_events.unwrap()
        }),
        ..program()
    };
    let err = check_program(&p, 1, &mut Stats::default()).unwrap_err();
    assert!(
        err.contains("p_ch at x") && err.contains("∂²f/∂x0∂x0"),
        "{err}"
    );
}

#[test]
fn harness_rejects_a_wrong_hessian() {
    fn wrong(pt: &Point, h: &mut [f64; DIM * DIM]) -> f64 {
        let v = sq_hessian(pt, h);
        h[DIM + 1] *= 1.0 + 1e-9;
        v
    }
    let p = Program {
        hessian: Some((wrong, sq_second)),
        ..program()
    };
    let err = check_program(&p, 1, &mut Stats::default()).unwrap_err();
    assert!(err.contains("∂²f/∂x1∂x1: hessian"), "{err}");
}

#[test]
fn harness_rejects_a_wrong_reverse_mode() {
    let p = Program {
        grad: |pt, g| {
            let v = sq_grad(pt, g);
            g[1] *= 1.0 + 1e-10; // wrong in the 10th digit: beyond the 1e-12 tolerance
            v
        },
        ..program()
    };
    let err = check_program(&p, 1, &mut Stats::default()).unwrap_err();
    assert!(
        err.contains("∂f/∂x1: reverse") && err.contains("fn sq"),
        "{err}"
    );
}

#[test]
fn harness_rejects_a_wrong_forward_mode() {
    let p = Program {
        pushforward: |pt, t| {
            let (v, d) = sq_fwd(pt, t);
            (v, if t[4 + pt.idx[0]] != 0.0 { 0.0 } else { d })
        },
        ..program()
    };
    let err = check_program(&p, 1, &mut Stats::default()).unwrap_err();
    assert!(err.contains("forward 0e0"), "{err}");
}

#[test]
fn harness_rejects_an_oracle_that_disagrees_with_finite_differences() {
    let p = Program {
        dual64: |pt, t| {
            let (v, d) = sq_dual(pt, t);
            (v, 2.0 * d + 1.0)
        },
        ..program()
    };
    let err = check_program(&p, 1, &mut Stats::default()).unwrap_err();
    assert!(err.contains("vs finite difference"), "{err}");
}

#[test]
fn rng_is_deterministic() {
    let (mut a, mut b) = (Rng::new(7), Rng::new(7));
    assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    assert!((0..1000)
        .map(|_| a.uniform(-1.5, 1.5))
        .all(|v| (-1.5..1.5).contains(&v)));
}

#[test]
fn generator_is_deterministic_and_renders_both_versions() {
    let w = gen::Weights::default();
    let (mut c1, mut c2) = (gen::Coverage::new(), gen::Coverage::new());
    for i in 0..50 {
        let a = gen::program(gen::FIXED_SEED, i, &w, &mut c1);
        let b = gen::program(gen::FIXED_SEED, i, &w, &mut c2);
        assert_eq!(a.body, b.body);
        let (native, generic) = (a.native(), a.generic());
        for m in ['⟪', '⟫', '⟬', '⟦', 'ℱ', '§'] {
            assert!(
                !native.contains(m) && !generic.contains(m),
                "{native}\n{generic}"
            );
        }
        let attr = match a.attr {
            "" => "#[ferrograd::differentiable]".to_string(),
            o => format!("#[ferrograd::differentiable({o})]"),
        };
        assert!(native.contains(&attr), "{native}");
        assert!(generic.contains("<T: Num>"));
        // A `Real`-generic signature names no concrete float type (the compiler rejects that).
        assert_eq!(
            a.generic,
            native.contains("<T: ferrograd::Real>"),
            "{native}"
        );
        let sig = native.lines().nth(1).expect("signature line");
        if a.generic {
            assert!(!sig.contains("f64") && !sig.contains("f32"), "{sig}");
        }
    }
    assert_eq!(c1, c2);
    assert!(c1.get("generic").copied().unwrap_or(0) > 0, "{c1:?}");
}

#[test]
fn real_mode_renders_constants_through_the_trait() {
    let t = "let a = [⟪0.0⟫; 4]; let b = ⟪1.0⟫ + ⟪-0.25⟫ * ⟬PI⟭ + ⟦i + 1⟧; let c = |z: ℱ| helper§(z, b);";
    assert_eq!(
        gen::render(t, gen::Mode::Real),
        "let a = [T::zero(); 4]; let b = T::one() + T::from_f64(-0.25) * \
         T::from_f64(std::f64::consts::PI) + T::from_f64((i + 1) as f64); let c = |z: T| helper_r(z, b);"
    );
    assert_eq!(
        gen::render(t, gen::Mode::Native(Precision::F32)),
        "let a = [0.0_f32; 4]; let b = 1.0_f32 + -0.25_f32 * std::f32::consts::PI + \
         ((i + 1) as f32); let c = |z: f32| helper_f32(z, b);"
    );
}
