//! Fused optimizer updates over flat parameter / gradient / state buffers: one pass per step,
//! split across the kernel threads, optionally zeroing the gradients as they are consumed (so a
//! training loop needs no separate `fill(0)` pass over them before the next backward).
//!
//! These are update rules, not differentiable kernels: they have no pullback. Hyper-parameters
//! are resolved to branch-free loops at compile time so that each variant vectorises.

use crate::error::{check_len, KernelError};
use crate::par;

/// SGD hyper-parameters with LibTorch's semantics (no dampening):
/// `d = g + wd·p`; `buf = momentum·buf + d`; `d = nesterov ? d + momentum·buf : buf`;
/// `p −= lr·d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
}

/// One Adam or AdamW step with LibTorch's semantics, the bias corrections already folded in by
/// the caller: `p ·= decay` (AdamW's decoupled weight decay, `decay = 1 − lr·wd`; 1 for
/// Adam); `g += weight_decay·p` (Adam's L2 decay; 0 for AdamW); `m = β₁m + (1−β₁)g`;
/// `v = β₂v + (1−β₂)g²`; `p −= step_size · m / (√v / bc2_sqrt + ε)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub step_size: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// `√(1 − β₂ᵗ)`.
    pub bc2_sqrt: f32,
    /// AdamW's `1 − lr·wd`, applied to the parameter before the step; 1 for Adam.
    pub decay: f32,
}

/// Element-ops per parameter charged when deciding to split (memory-bound updates).
const COST: usize = par::RMW_COST;

/// `params −= lr·d` with SGD's `d` (see [`Sgd`]); `buf` is the momentum buffer (ignored, and
/// may be empty, when `momentum == 0`). Zeroes `grads` when `zero_grads`.
pub fn sgd_update(
    params: &mut [f32],
    grads: &mut [f32],
    buf: &mut [f32],
    h: Sgd,
    zero_grads: bool,
) -> Result<(), KernelError> {
    const K: &str = "sgd_update";
    let n = params.len();
    check_len(K, "grads", grads.len(), n, "[params]")?;
    let mom = h.momentum != 0.0;
    if mom {
        check_len(K, "buf", buf.len(), n, "[params]")?;
    }
    if n == 0 {
        return Ok(());
    }
    let c = par::chunk_len(n, COST);
    macro_rules! run {
        ($wd:literal, $mom:literal, $nest:literal) => {
            if $mom {
                let chunks = (
                    par::Mut(&mut *params, c),
                    par::Mut(&mut *grads, c),
                    par::Mut(&mut *buf, c),
                );
                par::for_each_chunk(chunks, |_, (p, g, b)| {
                    sgd_chunk::<$wd, $mom, $nest>(p.0, g.0, b.0, h, zero_grads)
                })
            } else {
                let chunks = (par::Mut(&mut *params, c), par::Mut(&mut *grads, c));
                par::for_each_chunk(chunks, |_, (p, g)| {
                    sgd_chunk::<$wd, $mom, $nest>(p.0, g.0, &mut [], h, zero_grads)
                })
            }
        };
    }
    match (h.weight_decay != 0.0, mom, h.nesterov) {
        (false, false, _) => run!(false, false, false),
        (true, false, _) => run!(true, false, false),
        (false, true, false) => run!(false, true, false),
        (true, true, false) => run!(true, true, false),
        (false, true, true) => run!(false, true, true),
        (true, true, true) => run!(true, true, true),
    }
    Ok(())
}

/// Cloned for AVX-512 / AVX2 and picked at run time (the crate is built for baseline x86-64).
#[multiversion::multiversion(targets = "simd")]
fn sgd_chunk<const WD: bool, const MOM: bool, const NESTEROV: bool>(
    params: &mut [f32],
    grads: &mut [f32],
    buf: &mut [f32],
    h: Sgd,
    zero_grads: bool,
) {
    if MOM {
        for ((p, g), b) in params.iter_mut().zip(grads.iter_mut()).zip(buf.iter_mut()) {
            let mut d = *g;
            if WD {
                d += h.weight_decay * *p;
            }
            // buf starts at 0, so the first step gives buf = d as in PyTorch.
            *b = *b * h.momentum + d;
            d = if NESTEROV { d + h.momentum * *b } else { *b };
            *p -= h.lr * d;
            if zero_grads {
                *g = 0.0;
            }
        }
    } else {
        for (p, g) in params.iter_mut().zip(grads.iter_mut()) {
            let d = if WD { *g + h.weight_decay * *p } else { *g };
            *p -= h.lr * d;
            if zero_grads {
                *g = 0.0;
            }
        }
    }
}

/// One Adam step (see [`AdamStep`]) over `params` with moments `m`, `v`. Zeroes `grads` when
/// `zero_grads`.
pub fn adam_update(
    params: &mut [f32],
    grads: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamStep,
    zero_grads: bool,
) -> Result<(), KernelError> {
    const K: &str = "adam_update";
    let n = params.len();
    check_len(K, "grads", grads.len(), n, "[params]")?;
    check_len(K, "m", m.len(), n, "[params]")?;
    check_len(K, "v", v.len(), n, "[params]")?;
    if n == 0 {
        return Ok(());
    }
    let c = par::chunk_len(n, 4 * COST);
    let chunks = (
        par::Mut(params, c),
        par::Mut(grads, c),
        par::Mut(m, c),
        par::Mut(v, c),
    );
    par::for_each_chunk(chunks, |_, (p, g, m, v)| {
        match (h.weight_decay != 0.0, h.decay != 1.0) {
            (false, false) => adam_chunk::<false, false>(p.0, g.0, m.0, v.0, h, zero_grads),
            (true, false) => adam_chunk::<true, false>(p.0, g.0, m.0, v.0, h, zero_grads),
            (false, true) => adam_chunk::<false, true>(p.0, g.0, m.0, v.0, h, zero_grads),
            (true, true) => adam_chunk::<true, true>(p.0, g.0, m.0, v.0, h, zero_grads),
        }
    });
    Ok(())
}

#[multiversion::multiversion(targets = "simd")]
fn adam_chunk<const WD: bool, const DECOUPLED: bool>(
    params: &mut [f32],
    grads: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamStep,
    zero_grads: bool,
) {
    let (a1, a2) = (1.0 - h.beta1, 1.0 - h.beta2);
    for (((p, g), m), v) in params
        .iter_mut()
        .zip(grads.iter_mut())
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        if DECOUPLED {
            *p *= h.decay;
        }
        let gv = if WD { *g + *p * h.weight_decay } else { *g };
        *m = *m * h.beta1 + a1 * gv;
        *v = *v * h.beta2 + a2 * gv * gv;
        let denom = v.sqrt() / h.bc2_sqrt + h.eps;
        *p -= h.step_size * (*m / denom);
        if zero_grads {
            *g = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_zeroes_grads_only_when_asked_and_checks_lengths() {
        let h = Sgd {
            lr: 0.5,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        };
        let mut p = [1.0f32, 2.0];
        let mut g = [2.0f32, -2.0];
        sgd_update(&mut p, &mut g, &mut [], h, false).unwrap();
        assert_eq!((p, g), ([0.0, 3.0], [2.0, -2.0]));
        sgd_update(&mut p, &mut g, &mut [], h, true).unwrap();
        assert_eq!((p, g), ([-1.0, 4.0], [0.0, 0.0]));
        let err = sgd_update(&mut p, &mut [0.0; 3], &mut [], h, true).unwrap_err();
        assert!(err.to_string().contains("grads"), "{err}");
        let with_momentum = Sgd { momentum: 0.9, ..h };
        assert!(sgd_update(&mut p, &mut g, &mut [0.0], with_momentum, true).is_err());
    }

    #[test]
    fn parallel_split_matches_one_thread() {
        let n = 100_003;
        let init: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.01).collect();
        let grads: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.1 - 0.6).collect();
        let h = AdamStep {
            step_size: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            bc2_sqrt: 0.0316,
            decay: 0.999,
        };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                crate::set_num_threads(threads);
                let (mut p, mut g) = (init.clone(), grads.clone());
                let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
                adam_update(&mut p, &mut g, &mut m, &mut v, h, true).unwrap();
                assert!(g.iter().all(|&x| x == 0.0));
                (p, m, v)
            })
        };
        let one = run(1);
        let two = run(2);
        crate::set_num_threads(1);
        assert_eq!(one, two);
    }
}
