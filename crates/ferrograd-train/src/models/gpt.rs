//! W4: a GPT-2-style character model, as a [`Model`]: token and position embeddings, `layers`
//! pre-LN blocks (causal multi-head self-attention, then a GELU MLP of width `4·dim`, each
//! around a residual connection), a final layer norm and the output projection tied to the
//! token embedding, with softmax cross-entropy over the vocabulary for every next token.
//!
//! The per-layer parameters are stacked (`h.ln_1.weight: [layers, dim]`, …) and so are the
//! per-layer activations (`[layers, batch·seq·dim]`), so the loss is one loop over layers that
//! hands sub-slices to the kernels; the AD compiler gives each sub-slice the same range of
//! the adjoint. The residual stream `stream: [layers + 1, batch·seq·dim]` holds each block's
//! input (row 0: the embeddings) and `mid` the stream between attention and MLP.

// Kernels are found with their `_pullback`s by name.
use ferrograd::kernels::*;

use crate::init::SplitMix64;
use crate::model::{Batch, Model, ParamInfo, Workspace};
use crate::TrainError;

/// GPT's parameters over any storage, PyTorch layouts (`[out, in]` weights), per-layer ones
/// stacked over the layers.
#[derive(Debug)]
pub struct GptParams<S> {
    /// Token embedding `[vocab, dim]`, also the output projection (tied, as in GPT-2).
    pub wte: S,
    /// Position embedding `[seq, dim]`.
    pub wpe: S,
    pub ln1_w: S,
    pub ln1_b: S,
    /// `[layers, 3·dim, dim]`: query, key and value projections.
    pub qkv_w: S,
    pub qkv_b: S,
    /// `[layers, dim, dim]`: the attention's output projection.
    pub proj_w: S,
    pub proj_b: S,
    pub ln2_w: S,
    pub ln2_b: S,
    /// `[layers, 4·dim, dim]`.
    pub fc_w: S,
    pub fc_b: S,
    /// `[layers, dim, 4·dim]`.
    pub fc_proj_w: S,
    pub fc_proj_b: S,
    pub lnf_w: S,
    pub lnf_b: S,
}

impl<S> GptParams<S> {
    /// From the arena's regions, in [`MiniGpt::params`] order.
    pub fn from_regions(
        [wte, wpe, ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fc_proj_w, fc_proj_b, lnf_w, lnf_b]: [S; 16],
    ) -> Self {
        GptParams {
            wte,
            wpe,
            ln1_w,
            ln1_b,
            qkv_w,
            qkv_b,
            proj_w,
            proj_b,
            ln2_w,
            ln2_b,
            fc_w,
            fc_b,
            fc_proj_w,
            fc_proj_b,
            lnf_w,
            lnf_b,
        }
    }
}

/// GPT's activations (`n = batch·seq·dim`; per-layer ones stacked over the layers).
#[derive(Debug)]
pub struct GptActs<S> {
    /// Token embeddings `[n]`.
    pub tok: S,
    /// Each block's input `[layers + 1, n]`; row 0 is the embeddings, row `layers` the output.
    pub stream: S,
    /// The stream after each block's attention `[layers, n]`.
    pub mid: S,
    pub ln1: S,
    /// `[layers, 3n]`.
    pub qkv: S,
    /// Attention probabilities `[layers, batch, heads, seq, seq]`.
    pub att: S,
    pub att_out: S,
    pub ln2: S,
    /// `[layers, 4n]`.
    pub fc: S,
    /// `[layers, 4n]`.
    pub fc_gelu: S,
    /// GELU's gate `σ(2u)` of `fc`, which `linear_gelu`'s pullback reads, `[layers, 4n]`.
    pub fc_gate: S,
    /// Final layer norm `[n]`.
    pub lnf: S,
    /// `[batch·seq, vocab]`.
    pub logits: S,
    pub probs: S,
}

/// How many activation regions [`GptActs`] has.
pub const ACT_REGIONS: usize = 14;

impl<S> GptActs<S> {
    /// From the arena's regions, in [`MiniGpt::activation_row_lens`] order.
    pub fn from_regions(
        [tok, stream, mid, ln1, qkv, att, att_out, ln2, fc, fc_gelu, lnf, logits, probs, fc_gate]: [S; ACT_REGIONS],
    ) -> Self {
        GptActs {
            tok,
            stream,
            mid,
            ln1,
            qkv,
            att,
            att_out,
            ln2,
            fc,
            fc_gelu,
            fc_gate,
            lnf,
            logits,
            probs,
        }
    }
}

/// The sizes of one batch.
#[derive(Clone, Copy, Debug)]
pub struct GptDims {
    pub batch: usize,
    pub seq: usize,
    pub vocab: usize,
    pub dim: usize,
    pub heads: usize,
    pub layers: usize,
}

/// Layer norm's ε (PyTorch's default).
const LN_EPS: f32 = 1e-5;

/// Mean cross-entropy of predicting `targets[b, t]` (the token after `ids[b, t]`) over
/// `ids, targets: [batch, seq]`.
#[ferrograd::differentiable(wrt(p), reverse_only)]
pub fn gpt_loss(
    ids: &[usize],
    targets: &[usize],
    p: &GptParams<&[f32]>,
    a: &mut GptActs<&mut [f32]>,
    d: &GptDims,
) -> Result<f32, KernelError> {
    let (rows, c) = (d.batch * d.seq, d.dim);
    let n = rows * c;
    let att_len = d.batch * d.heads * d.seq * d.seq;
    embedding(a.tok, p.wte, ids, d.vocab, c)?;
    add_positions(&mut a.stream[..n], a.tok, p.wpe, d.batch, d.seq, c)?;
    for l in 0..d.layers {
        let (v, m) = (l * c, l * n);
        layer_norm(
            &mut a.ln1[m..m + n],
            &a.stream[m..m + n],
            &p.ln1_w[v..v + c],
            &p.ln1_b[v..v + c],
            rows,
            c,
            LN_EPS,
        )?;
        linear(
            &mut a.qkv[3 * m..3 * (m + n)],
            &a.ln1[m..m + n],
            &p.qkv_w[3 * c * v..3 * c * (v + c)],
            &p.qkv_b[3 * v..3 * (v + c)],
            rows,
            c,
            3 * c,
        )?;
        causal_attention(
            &mut a.att_out[m..m + n],
            &mut a.att[l * att_len..(l + 1) * att_len],
            &a.qkv[3 * m..3 * (m + n)],
            d.batch,
            d.seq,
            d.heads,
            c,
        )?;
        linear_residual(
            &mut a.mid[m..m + n],
            &a.att_out[m..m + n],
            &p.proj_w[c * v..c * (v + c)],
            &p.proj_b[v..v + c],
            &a.stream[m..m + n],
            rows,
            c,
            c,
        )?;
        layer_norm(
            &mut a.ln2[m..m + n],
            &a.mid[m..m + n],
            &p.ln2_w[v..v + c],
            &p.ln2_b[v..v + c],
            rows,
            c,
            LN_EPS,
        )?;
        linear_gelu(
            &mut a.fc_gelu[4 * m..4 * (m + n)],
            &mut a.fc[4 * m..4 * (m + n)],
            &mut a.fc_gate[4 * m..4 * (m + n)],
            &a.ln2[m..m + n],
            &p.fc_w[4 * c * v..4 * c * (v + c)],
            &p.fc_b[4 * v..4 * (v + c)],
            rows,
            c,
            4 * c,
        )?;
        linear_residual(
            &mut a.stream[m + n..m + 2 * n],
            &a.fc_gelu[4 * m..4 * (m + n)],
            &p.fc_proj_w[4 * c * v..4 * c * (v + c)],
            &p.fc_proj_b[v..v + c],
            &a.mid[m..m + n],
            rows,
            4 * c,
            c,
        )?;
    }
    let last = d.layers * n;
    layer_norm(
        a.lnf,
        &a.stream[last..last + n],
        p.lnf_w,
        p.lnf_b,
        rows,
        c,
        LN_EPS,
    )?;
    matmul_nt(a.logits, a.lnf, p.wte, rows, c, d.vocab)?;
    let loss = softmax_cross_entropy(a.probs, a.logits, targets, rows, d.vocab)?;
    Ok(loss)
}

/// W4's model: a character-level GPT. The batch input is `[batch, seq]` token ids (as `f32`,
/// exact below 2²⁴), the labels `[batch·seq]` the next token of each position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiniGpt {
    pub vocab: usize,
    /// Context length (tokens per sequence).
    pub seq: usize,
    /// Model width (`d_model`).
    pub dim: usize,
    pub heads: usize,
    pub layers: usize,
}

impl MiniGpt {
    /// W4 (issue 14): vocabulary 65, context 64, `d_model` 128, 4 heads, 4 layers.
    pub const W4: MiniGpt = MiniGpt {
        vocab: 65,
        seq: 64,
        dim: 128,
        heads: 4,
        layers: 4,
    };

    /// The sizes for `batch` sequences.
    pub fn dims(&self, batch: usize) -> GptDims {
        GptDims {
            batch,
            seq: self.seq,
            vocab: self.vocab,
            dim: self.dim,
            heads: self.heads,
            layers: self.layers,
        }
    }

    fn validate(&self) -> Result<(), TrainError> {
        for (f, v) in [
            ("vocab", self.vocab),
            ("seq", self.seq),
            ("dim", self.dim),
            ("heads", self.heads),
            ("layers", self.layers),
        ] {
            if v == 0 {
                return Err(TrainError::config(f, "must be at least 1"));
            }
        }
        if !self.dim.is_multiple_of(self.heads) {
            return Err(TrainError::config(
                "dim",
                format!("{} is not a multiple of heads = {}", self.dim, self.heads),
            ));
        }
        Ok(())
    }
}

impl Model for MiniGpt {
    fn name(&self) -> String {
        format!(
            "gpt:{}:{}:{}:{}:{}",
            self.vocab, self.seq, self.dim, self.heads, self.layers
        )
    }

    fn input_len(&self) -> usize {
        self.seq
    }

    fn classes(&self) -> usize {
        self.vocab
    }

    fn labels_per_example(&self) -> usize {
        self.seq
    }

    fn params(&self) -> Result<Vec<ParamInfo>, TrainError> {
        self.validate()?;
        let (c, l) = (self.dim, self.layers);
        let p = |name, shape: Vec<usize>, fan_in| ParamInfo {
            name,
            shape,
            fan_in,
        };
        Ok(vec![
            p("wte.weight", vec![self.vocab, c], c),
            p("wpe.weight", vec![self.seq, c], c),
            p("h.ln_1.weight", vec![l, c], c),
            p("h.ln_1.bias", vec![l, c], c),
            p("h.attn.c_attn.weight", vec![l, 3 * c, c], c),
            p("h.attn.c_attn.bias", vec![l, 3 * c], c),
            p("h.attn.c_proj.weight", vec![l, c, c], c),
            p("h.attn.c_proj.bias", vec![l, c], c),
            p("h.ln_2.weight", vec![l, c], c),
            p("h.ln_2.bias", vec![l, c], c),
            p("h.mlp.c_fc.weight", vec![l, 4 * c, c], c),
            p("h.mlp.c_fc.bias", vec![l, 4 * c], c),
            p("h.mlp.c_proj.weight", vec![l, c, 4 * c], 4 * c),
            p("h.mlp.c_proj.bias", vec![l, c], 4 * c),
            p("ln_f.weight", vec![c], c),
            p("ln_f.bias", vec![c], c),
        ])
    }

    /// GPT-2's initialisation: weights and embeddings `N(0, 0.02)`, the residual projections
    /// (`c_proj`) `N(0, 0.02/√(2·layers))`, biases 0, layer-norm weights 1.
    fn init_params(&self, infos: &[ParamInfo], params: &mut [f32], seed: u64) {
        let mut rng = SplitMix64::new(seed);
        let proj_std = 0.02 / ((2 * self.layers) as f32).sqrt();
        let mut off = 0;
        for info in infos {
            let w = &mut params[off..off + info.len()];
            off += info.len();
            let name = info.name;
            if name.starts_with("h.ln_") || name.starts_with("ln_f") {
                w.fill(if name.ends_with(".weight") { 1.0 } else { 0.0 });
            } else if name.ends_with(".bias") {
                w.fill(0.0);
            } else {
                let std = if name.ends_with("c_proj.weight") {
                    proj_std
                } else {
                    0.02
                };
                w.iter_mut().for_each(|v| *v = rng.normal(0.0, std));
            }
        }
    }

    fn activation_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        self.validate()?;
        let (t, c, l) = (self.seq, self.dim, self.layers);
        let n = t * c;
        Ok(vec![
            n,                      // tok
            (l + 1) * n,            // stream
            l * n,                  // mid
            l * n,                  // ln1
            3 * l * n,              // qkv
            l * self.heads * t * t, // att
            l * n,                  // att_out
            l * n,                  // ln2
            4 * l * n,              // fc
            4 * l * n,              // fc_gelu
            n,                      // lnf
            t * self.vocab,         // logits
            t * self.vocab,         // probs
            4 * l * n,              // fc_gate
        ])
    }

    fn index_row_lens(&self) -> Result<Vec<usize>, TrainError> {
        self.validate()?;
        Ok(vec![self.seq])
    }

    fn logits_region(&self) -> usize {
        11
    }

    fn loss(&self, batch: &Batch<'_>, ws: Workspace<'_>) -> Result<f32, TrainError> {
        let d = self.dims(ws.rows());
        let r = ws.split::<16, ACT_REGIONS, 1>()?;
        let [ids] = r.index;
        for (i, (o, &v)) in ids.iter_mut().zip(batch.x).enumerate() {
            if !(v >= 0.0 && v < self.vocab as f32 && v.fract() == 0.0) {
                return Err(TrainError::config(
                    "batch input",
                    format!(
                        "token {i} is {v}; tokens must be whole numbers in 0..{}",
                        self.vocab
                    ),
                ));
            }
            *o = v as usize;
        }
        let ids = &*ids;
        let p = GptParams::from_regions(r.params);
        let mut a = GptActs::from_regions(r.acts);
        let loss = match r.grads {
            None => gpt_loss(ids, batch.labels, &p, &mut a, &d)?,
            Some((g, da)) => gpt_loss_grad(
                ids,
                batch.labels,
                &p,
                &mut a,
                &d,
                &mut GptParams::from_regions(g),
                &mut GptActs::from_regions(da),
            )?,
        };
        Ok(loss)
    }
}
