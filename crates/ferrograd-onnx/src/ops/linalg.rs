//! MatMul (numpy semantics: batched, broadcast batch dimensions, 1-D operands promoted) and
//! Gemm, on `ferrograd_kernels::matmul` and its pullback.

use super::elementwise::{broadcast_index, broadcast_shape};
use super::f32_input;
use crate::tensor::{Data, Tensor};

/// The batched product's geometry: batch shape, m, k, n and per-batch element offsets.
struct MatMulPlan {
    out_shape: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    a_off: Vec<usize>,
    b_off: Vec<usize>,
}

fn plan(a: &[usize], b: &[usize]) -> Result<MatMulPlan, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    // 1-D operands: a [K] → [1, K], b [K] → [K, 1]; the added dimension is dropped after.
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(format!(
            "shapes {a:?} and {b:?} cannot be multiplied ({k} ≠ {k2})"
        ));
    }
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = broadcast_shape(ab, bb)?;
    let a_off = broadcast_index(&batch, ab)
        .into_iter()
        .map(|i| i * m * k)
        .collect();
    let b_off = broadcast_index(&batch, bb)
        .into_iter()
        .map(|i| i * k * n)
        .collect();
    let mut out_shape = batch;
    if a.len() > 1 {
        out_shape.push(m);
    }
    if b.len() > 1 {
        out_shape.push(n);
    }
    Ok(MatMulPlan {
        out_shape,
        m,
        k,
        n,
        a_off,
        b_off,
    })
}

pub(crate) fn matmul(ins: &[Option<&Tensor>]) -> Result<Tensor, String> {
    let (ta, a) = f32_input(ins, 0)?;
    let (tb, b) = f32_input(ins, 1)?;
    let p = plan(ta.shape(), tb.shape())?;
    let (m, k, n) = (p.m, p.k, p.n);
    let mut out = vec![0.0; p.a_off.len() * m * n];
    for (i, (&ao, &bo)) in p.a_off.iter().zip(&p.b_off).enumerate() {
        ferrograd_kernels::matmul(
            &mut out[i * m * n..(i + 1) * m * n],
            &a[ao..ao + m * k],
            &b[bo..bo + k * n],
            m,
            k,
            n,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(Tensor::from_parts(p.out_shape, Data::F32(out)))
}

pub(crate) fn matmul_pullback(
    ins: &[Option<&Tensor>],
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
) -> Result<(), String> {
    let (ta, a) = f32_input(ins, 0)?;
    let (tb, b) = f32_input(ins, 1)?;
    let p = plan(ta.shape(), tb.shape())?;
    let (m, k, n) = (p.m, p.k, p.n);
    let (d_a, d_b) = d_ins.split_at_mut(1);
    let (d_a, d_b) = (&mut d_a[0], &mut d_b[0]);
    let mut out = vec![0.0; m * n];
    let mut seed = vec![0.0; m * n];
    for (i, (&ao, &bo)) in p.a_off.iter().zip(&p.b_off).enumerate() {
        seed.copy_from_slice(&d_y[i * m * n..(i + 1) * m * n]);
        // dA += dC·Bᵀ, dB += Aᵀ·dC (accumulated over broadcast batches).
        let da: &mut [f32] = if d_a.is_empty() {
            &mut []
        } else {
            &mut d_a[ao..ao + m * k]
        };
        let db: &mut [f32] = if d_b.is_empty() {
            &mut []
        } else {
            &mut d_b[bo..bo + k * n]
        };
        ferrograd_kernels::matmul_pullback(
            &mut out,
            &a[ao..ao + m * k],
            &b[bo..bo + k * n],
            m,
            k,
            n,
            &mut seed,
            da,
            db,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `xᵀ` of a row-major `[r, c]` matrix.
fn transpose2(x: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = x[i * c + j];
        }
    }
    t
}

/// A Gemm operand as a `[rows, cols]` matrix, transposed if asked: (matrix, rows, cols).
fn operand(t: &Tensor, x: &[f32], trans: bool) -> Result<(Vec<f32>, usize, usize), String> {
    let &[r, c] = t.shape() else {
        return Err(format!("Gemm operands must be 2-D, got {:?}", t.shape()));
    };
    Ok(if trans {
        (transpose2(x, r, c), c, r)
    } else {
        (x.to_vec(), r, c)
    })
}

struct GemmParts {
    a: Vec<f32>,
    b: Vec<f32>,
    m: usize,
    k: usize,
    n: usize,
}

fn gemm_parts(ins: &[Option<&Tensor>], trans_a: bool, trans_b: bool) -> Result<GemmParts, String> {
    let (ta, a) = f32_input(ins, 0)?;
    let (tb, b) = f32_input(ins, 1)?;
    let (a, m, k) = operand(ta, a, trans_a)?;
    let (b, k2, n) = operand(tb, b, trans_b)?;
    if k != k2 {
        return Err(format!(
            "A {:?} (transA={}) and B {:?} (transB={}) cannot be multiplied ({k} ≠ {k2})",
            ta.shape(),
            u8::from(trans_a),
            tb.shape(),
            u8::from(trans_b)
        ));
    }
    if let Some(Some(c)) = ins.get(2) {
        if broadcast_shape(c.shape(), &[m, n])? != [m, n] {
            return Err(format!(
                "C {:?} does not broadcast to [{m}, {n}]",
                c.shape()
            ));
        }
    }
    Ok(GemmParts { a, b, m, k, n })
}

/// `Y = alpha·A'·B' + beta·C` with `A' = transA ? Aᵀ : A` ([M, K]), `B'` likewise ([K, N]),
/// `C` broadcast to [M, N] (optional).
pub(crate) fn gemm(
    ins: &[Option<&Tensor>],
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> Result<Tensor, String> {
    let g = gemm_parts(ins, trans_a, trans_b)?;
    let mut y = vec![0.0; g.m * g.n];
    ferrograd_kernels::matmul(&mut y, &g.a, &g.b, g.m, g.k, g.n).map_err(|e| e.to_string())?;
    if alpha != 1.0 {
        y.iter_mut().for_each(|v| *v *= alpha);
    }
    if let Some(Some(c)) = ins.get(2) {
        let cv = c.as_f32().ok_or("C must be float32")?;
        for (v, i) in y.iter_mut().zip(broadcast_index(&[g.m, g.n], c.shape())) {
            *v += beta * cv[i];
        }
    }
    Ok(Tensor::from_parts(vec![g.m, g.n], Data::F32(y)))
}

pub(crate) fn gemm_pullback(
    ins: &[Option<&Tensor>],
    d_y: &[f32],
    d_ins: &mut [Vec<f32>],
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> Result<(), String> {
    let g = gemm_parts(ins, trans_a, trans_b)?;
    let (m, k, n) = (g.m, g.k, g.n);
    // dA' = alpha·dY·B'ᵀ, dB' = alpha·A'ᵀ·dY; transposed back into A's and B's layout.
    let mut seed: Vec<f32> = d_y.iter().map(|v| v * alpha).collect();
    let mut da = if d_ins[0].is_empty() {
        vec![]
    } else {
        vec![0.0; m * k]
    };
    let mut db = if d_ins[1].is_empty() {
        vec![]
    } else {
        vec![0.0; k * n]
    };
    let mut out = vec![0.0; m * n];
    ferrograd_kernels::matmul_pullback(&mut out, &g.a, &g.b, m, k, n, &mut seed, &mut da, &mut db)
        .map_err(|e| e.to_string())?;
    if !da.is_empty() {
        let da = if trans_a { transpose2(&da, m, k) } else { da };
        super::add_into(&mut d_ins[0], &da);
    }
    if !db.is_empty() {
        let db = if trans_b { transpose2(&db, k, n) } else { db };
        super::add_into(&mut d_ins[1], &db);
    }
    // dC += beta·dY, summed over C's broadcast dimensions.
    if let (Some(Some(c)), Some(d_c)) = (ins.get(2), d_ins.get_mut(2)) {
        if !d_c.is_empty() {
            for (g, i) in d_y.iter().zip(broadcast_index(&[m, n], c.shape())) {
                d_c[i] += beta * g;
            }
        }
    }
    Ok(())
}
