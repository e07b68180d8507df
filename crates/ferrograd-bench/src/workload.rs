//! The workloads, their inputs (generated once per run, written as raw little-endian files
//! with a JSON manifest that every framework's worker reads) and their flop counts.

use std::path::Path;

use anyhow::{Context, Result};
use ferrograd_data::text;
use ferrograd_fit::{Model, Params};
use ferrograd_train::models::gpt::MiniGpt;
use ferrograd_train::{CnnDims, ModelSpec, Network};
use serde_json::{json, Value};

/// SGD learning rate of the training workloads.
pub const LR: f32 = 0.01;
/// Seed of the initial parameters and of the batch.
pub const SEED: u64 = 0;
/// W3: events, observable range, truth (generation) and the point where the NLL is derived.
pub const W3_EVENTS: usize = 100_000;
/// W3 at issue 16's second size (value and gradient only).
pub const W3_EVENTS_1M: usize = 1_000_000;
pub const W3_RANGE: (f64, f64) = (0.0, 10.0);
pub const W3_TRUTH: Params = Params {
    mean: 3.0,
    sigma: 0.8,
    c: -0.3,
    frac: 0.3,
};
pub const W3_AT: Params = Params {
    mean: 2.8,
    sigma: 1.0,
    c: -0.2,
    frac: 0.5,
};

/// W4's batch (sequences of [`MiniGpt::W4`]'s 64 tokens).
pub const W4_BATCH: usize = 8;
/// W4's AdamW (issue 14): learning rate, β₁, β₂, ε and the decoupled weight decay, applied
/// to every parameter (embeddings, biases and layer-norm weights included).
pub const W4_LR: f32 = 1e-3;
pub const W4_BETAS: (f32, f32) = (0.9, 0.95);
pub const W4_EPS: f32 = 1e-8;
pub const W4_WEIGHT_DECAY: f32 = 0.1;
/// Characters of generated corpus W4's batch windows are drawn from (`ferrograd_data::text`).
pub const W4_CORPUS_CHARS: usize = 100_000;

/// W4's optimizer for the arena engine.
pub fn w4_adamw() -> ferrograd_train::OptimizerConfig {
    ferrograd_train::OptimizerConfig::AdamW {
        lr: W4_LR,
        beta1: W4_BETAS.0,
        beta2: W4_BETAS.1,
        eps: W4_EPS,
        weight_decay: W4_WEIGHT_DECAY,
    }
}

/// One workload of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// MLP 784→128→10, batch 64: one SGD step.
    W1a,
    /// MLP 784→512→10, batch 256: one SGD step.
    W1b,
    /// The GW 1D-CNN on [32, 1, 2048]: one SGD step.
    W2,
    /// W3 NLL (100k f64 events): value and gradient.
    W3Grad,
    /// W3 NLL: the 4×4 Hessian.
    W3Hess,
    /// W3 NLL over 1M events: value and gradient (where threads and lanes pay fully).
    W3Grad1M,
    /// Mini-GPT ([`MiniGpt::W4`]) on a generated character corpus, batch 8: one AdamW step.
    W4,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::W1a,
        Workload::W1b,
        Workload::W2,
        Workload::W3Grad,
        Workload::W3Hess,
        Workload::W3Grad1M,
        Workload::W4,
    ];

    /// The workloads `--sweep` sweeps over batch size and threads (when selected).
    pub const SWEPT: [Workload; 2] = [Workload::W1a, Workload::W4];

    pub fn name(self) -> &'static str {
        match self {
            Workload::W1a => "W1a",
            Workload::W1b => "W1b",
            Workload::W2 => "W2",
            Workload::W3Grad => "W3-grad",
            Workload::W3Hess => "W3-hess",
            Workload::W3Grad1M => "W3-grad-1M",
            Workload::W4 => "W4",
        }
    }

    pub fn from_name(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// What one timed step is, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Workload::W1a => "MLP 784-128-10, batch 64, f32: one SGD step",
            Workload::W1b => "MLP 784-512-10, batch 256, f32: one SGD step",
            Workload::W2 => "1D-CNN on [32,1,2048], f32: one SGD step",
            Workload::W3Grad => "unbinned NLL, 100k f64 events: value + gradient",
            Workload::W3Hess => "unbinned NLL, 100k f64 events: 4x4 Hessian",
            Workload::W3Grad1M => "unbinned NLL, 1M f64 events: value + gradient",
            Workload::W4 => {
                "mini-GPT (4 layers, 4 heads, d 128, context 64, vocab 65), batch 8, f32: one AdamW step"
            }
        }
    }

    /// The workload's own batch size (`None` for W3, which has events, not a batch).
    pub fn own_batch(self) -> Option<usize> {
        match self {
            Workload::W4 => Some(W4_BATCH),
            w => w.network().map(|(_, b)| b),
        }
    }

    /// The training network, for W1a/W1b/W2: (spec, batch).
    pub fn network(self) -> Option<(ModelSpec, usize)> {
        match self {
            Workload::W1a => Some((
                ModelSpec::Mlp {
                    in_features: 784,
                    hidden: 128,
                    classes: 10,
                },
                64,
            )),
            Workload::W1b => Some((
                ModelSpec::Mlp {
                    in_features: 784,
                    hidden: 512,
                    classes: 10,
                },
                256,
            )),
            Workload::W2 => Some((
                ModelSpec::GwCnn {
                    len: 2048,
                    classes: 2,
                },
                32,
            )),
            Workload::W3Grad | Workload::W3Hess | Workload::W3Grad1M | Workload::W4 => None,
        }
    }

    /// Float precision: the agreement tolerance (max relative difference) follows from it.
    /// W4 (f32, ~0.8M parameters) keeps the f32 tolerance: the peers agree with ferrograd
    /// within 2e-6 on it (bench/README.md, "Agreement on W4").
    pub fn tolerance(self) -> f64 {
        match self {
            Workload::W3Grad | Workload::W3Hess | Workload::W3Grad1M => 1e-9,
            _ => 1e-4,
        }
    }

    /// Flops of the matrix products in one step at `batch` (`None`: the workload's own batch;
    /// forward, weight gradients, input gradients except the data's), as in `step_bench`;
    /// `None` for W3 (no products).
    pub fn step_flops_at(self, batch: Option<usize>) -> Result<Option<f64>> {
        if self == Workload::W4 {
            return Ok(Some(gpt_step_flops(
                &MiniGpt::W4,
                batch.unwrap_or(W4_BATCH),
            )));
        }
        let Some((spec, own)) = self.network() else {
            return Ok(None);
        };
        let batch = batch.unwrap_or(own);
        let b = batch as f64;
        Ok(Some(match spec {
            ModelSpec::Mlp {
                in_features,
                hidden,
                classes,
            } => {
                let (i, h, c) = (in_features as f64, hidden as f64, classes as f64);
                2.0 * b * i * h * 2.0 + 2.0 * b * h * c * 3.0
            }
            ModelSpec::GwCnn { len, classes } => {
                let d = CnnDims::new(len, classes, batch)?;
                let mut f = 0.0;
                for (i, c) in d.conv.iter().enumerate() {
                    let l_out = c.len_out()? as f64;
                    let one = 2.0 * b * (c.c_out * c.c_in * c.kernel) as f64 * l_out;
                    f += one * if i == 0 { 2.0 } else { 3.0 };
                }
                let (fl, h, k) = (d.flat as f64, d.hidden as f64, d.classes as f64);
                f + 3.0 * 2.0 * b * fl * h + 3.0 * 2.0 * b * h * k
            }
        }))
    }

    /// Writes the manifest `<dir>/<name>.json` and the raw inputs it names, at `batch` (`None`:
    /// the workload's own; the scaling sweep sets others). The parameters do not depend on the batch; the batch is the first `batch` rows of the same
    /// generator's sequence, and workers read the batch size from the manifest.
    pub fn write_inputs_at(self, dir: &Path, batch: Option<usize>) -> Result<()> {
        let name = self.name();
        let file = |suffix: &str| format!("{name}.{suffix}.bin");
        let manifest = match self.network() {
            None if self == Workload::W4 => {
                let batch = batch.unwrap_or(W4_BATCH);
                anyhow::ensure!(batch > 0, "batch size 0");
                let g = MiniGpt::W4;
                // GPT-2's initialisation (`MiniGpt::init_params`, seeded), in the order and
                // layouts of `MiniGpt::params` (PyTorch's, per-layer tensors stacked).
                let net = Network::new(g, 1, SEED)?;
                let params = net.params();
                // The batch: seeded windows of the generated corpus; the first `batch`
                // windows are the same at every batch size (the sampler draws in order).
                let tokens = text::encode(&text::generate_corpus(W4_CORPUS_CHARS, SEED))?;
                let mut sampler = text::TextSampler::new(tokens, g.seq, SEED)?;
                let mut x = vec![0.0f32; batch * g.seq];
                let mut y = vec![0usize; batch * g.seq];
                sampler.fill(&mut x, &mut y)?;
                let x: Vec<i64> = x.iter().map(|&v| v as i64).collect();
                let y: Vec<i64> = y.iter().map(|&v| v as i64).collect();
                write_raw(
                    dir,
                    &file("params"),
                    params.iter().flat_map(|v| v.to_le_bytes()),
                )?;
                write_raw(dir, &file("x"), x.iter().flat_map(|v| v.to_le_bytes()))?;
                write_raw(dir, &file("y"), y.iter().flat_map(|v| v.to_le_bytes()))?;
                json!({
                    "workload": name,
                    "kind": "gpt",
                    "batch": batch,
                    "vocab": g.vocab,
                    "seq": g.seq,
                    "dim": g.dim,
                    "heads": g.heads,
                    "layers": g.layers,
                    "lr": W4_LR,
                    "betas": [W4_BETAS.0, W4_BETAS.1],
                    "eps": W4_EPS,
                    "weight_decay": W4_WEIGHT_DECAY,
                    "param_names": net.param_infos().iter().map(|p| p.name).collect::<Vec<_>>(),
                    "param_shapes": net.param_infos().iter().map(|p| p.shape.clone()).collect::<Vec<_>>(),
                    "files": {
                        "params": {"file": file("params"), "dtype": "<f4", "shape": [params.len()]},
                        "x": {"file": file("x"), "dtype": "<i8", "shape": [batch, g.seq]},
                        "y": {"file": file("y"), "dtype": "<i8", "shape": [batch * g.seq]},
                    },
                })
            }
            Some((spec, own)) => {
                let batch = batch.unwrap_or(own);
                anyhow::ensure!(batch > 0, "batch size 0");
                // ferrograd's initialisation (Kaiming-uniform, SplitMix64): the parameters in
                // the order and layout of `ModelSpec::params` (PyTorch's).
                let net = Network::new(spec, batch, SEED)?;
                let params = net.params();
                let n_in = spec.input_len();
                let classes = spec.classes();
                let x: Vec<f32> = (0..batch * n_in)
                    .map(|i| ((i * 2_654_435_761 % 1000) as f32) / 500.0 - 1.0)
                    .collect();
                let y: Vec<i64> = (0..batch).map(|i| ((i * 7 + 3) % classes) as i64).collect();
                write_raw(
                    dir,
                    &file("params"),
                    params.iter().flat_map(|v| v.to_le_bytes()),
                )?;
                write_raw(dir, &file("x"), x.iter().flat_map(|v| v.to_le_bytes()))?;
                write_raw(dir, &file("y"), y.iter().flat_map(|v| v.to_le_bytes()))?;
                let mut m = json!({
                    "workload": name,
                    "batch": batch,
                    "classes": classes,
                    "lr": LR,
                    "files": {
                        "params": {"file": file("params"), "dtype": "<f4", "shape": [params.len()]},
                        "x": {"file": file("x"), "dtype": "<f4", "shape": [batch, n_in]},
                        "y": {"file": file("y"), "dtype": "<i8", "shape": [batch]},
                    },
                });
                match spec {
                    ModelSpec::Mlp {
                        in_features,
                        hidden,
                        ..
                    } => {
                        m["kind"] = json!("mlp");
                        m["in"] = json!(in_features);
                        m["hidden"] = json!(hidden);
                    }
                    ModelSpec::GwCnn { len, .. } => {
                        m["kind"] = json!("cnn");
                        m["len"] = json!(len);
                    }
                }
                m
            }
            None => {
                let model = Model::new(W3_RANGE.0, W3_RANGE.1)?;
                let events = if self == Workload::W3Grad1M {
                    W3_EVENTS_1M
                } else {
                    W3_EVENTS
                };
                let x = model.generate(&W3_TRUTH, events, SEED + 1)?;
                let p = W3_AT.to_array();
                write_raw(dir, &file("params"), p.iter().flat_map(|v| v.to_le_bytes()))?;
                write_raw(dir, &file("x"), x.iter().flat_map(|v| v.to_le_bytes()))?;
                json!({
                    "workload": name,
                    "kind": "nll",
                    "mode": if self == Workload::W3Hess { "hessian" } else { "grad" },
                    "lo": W3_RANGE.0,
                    "hi": W3_RANGE.1,
                    "files": {
                        "params": {"file": file("params"), "dtype": "<f8", "shape": [p.len()]},
                        "x": {"file": file("x"), "dtype": "<f8", "shape": [x.len()]},
                    },
                })
            }
        };
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&manifest)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// Flops of the matrix products in one W4-style training step at `batch`: per layer the
/// four projections (`qkv`, attention output, MLP in and out: `24·rows·dim²` forward) and the
/// attention's two products (`q·kᵀ` and `att·v`) over the causal pairs `j ≤ t` only
/// (`2·batch·dim·seq·(seq+1)` forward: the work the masked half does not need is not
/// counted), plus the tied output projection (`2·rows·dim·vocab`). Backward does two products
/// per forward one (no product takes the data: the ids enter through an embedding), so the
/// step is 3× the forward.
pub fn gpt_step_flops(g: &MiniGpt, batch: usize) -> f64 {
    let (b, t, c, v, l) = (
        batch as f64,
        g.seq as f64,
        g.dim as f64,
        g.vocab as f64,
        g.layers as f64,
    );
    let rows = b * t;
    let per_layer = 24.0 * rows * c * c + 2.0 * b * c * t * (t + 1.0);
    3.0 * (l * per_layer + 2.0 * rows * c * v)
}

fn write_raw(dir: &Path, name: &str, bytes: impl Iterator<Item = u8>) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes.collect::<Vec<u8>>())
        .with_context(|| format!("writing {}", path.display()))
}

/// A workload's manifest and its raw arrays, as a worker reads them.
pub struct Inputs {
    pub manifest: Value,
    dir: std::path::PathBuf,
}

impl Inputs {
    /// The training network as the manifest sets it up: the workload's model at the manifest's
    /// batch size (the sweep's differ from the workload's own); `None` for W3.
    pub fn network(&self, workload: Workload) -> Result<Option<(ModelSpec, usize)>> {
        let Some((spec, _)) = workload.network() else {
            return Ok(None);
        };
        let batch = self.batch(workload)?.with_context(|| "no batch")?;
        Ok(Some((spec, batch)))
    }

    /// The batch size the manifest sets (the sweep's differ from the workload's own);
    /// `None` for W3.
    pub fn batch(&self, workload: Workload) -> Result<Option<usize>> {
        let Some(own) = workload.own_batch() else {
            return Ok(None);
        };
        match self.manifest.get("batch") {
            None => Ok(Some(own)),
            Some(b) => Ok(Some(
                b.as_u64()
                    .and_then(|b| usize::try_from(b).ok())
                    .filter(|&b| b > 0)
                    .with_context(|| format!("manifest batch `{b}` is not a positive integer"))?,
            )),
        }
    }

    pub fn load(dir: &Path, workload: Workload) -> Result<Inputs> {
        let path = dir.join(format!("{}.json", workload.name()));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Inputs {
            manifest: serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?,
            dir: dir.to_path_buf(),
        })
    }

    fn bytes(&self, key: &str, width: usize) -> Result<Vec<[u8; 8]>> {
        let file = self.manifest["files"][key]["file"]
            .as_str()
            .with_context(|| format!("manifest has no file for `{key}`"))?;
        let path = self.dir.join(file);
        let raw = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        anyhow::ensure!(
            raw.len() % width == 0,
            "{}: {} bytes is not a multiple of {width}",
            path.display(),
            raw.len()
        );
        Ok(raw
            .chunks_exact(width)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..width].copy_from_slice(c);
                b
            })
            .collect())
    }

    pub fn f32s(&self, key: &str) -> Result<Vec<f32>> {
        Ok(self
            .bytes(key, 4)?
            .into_iter()
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    pub fn f64s(&self, key: &str) -> Result<Vec<f64>> {
        Ok(self
            .bytes(key, 8)?
            .into_iter()
            .map(f64::from_le_bytes)
            .collect())
    }

    pub fn i64s(&self, key: &str) -> Result<Vec<i64>> {
        Ok(self
            .bytes(key, 8)?
            .into_iter()
            .map(i64::from_le_bytes)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrograd_train::Model as _;

    #[test]
    fn the_sweep_batch_travels_in_the_manifest() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("ferrograd-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        for (batch, want) in [(Some(8), 8), (None, 64)] {
            Workload::W1a.write_inputs_at(&dir, batch)?;
            let inputs = Inputs::load(&dir, Workload::W1a)?;
            let (_, got) = inputs.network(Workload::W1a)?.context("W1a is a network")?;
            assert_eq!(got, want);
            assert_eq!(inputs.f32s("x")?.len(), want * 784);
            assert_eq!(inputs.i64s("y")?.len(), want);
            // The parameters do not depend on the batch; the flops scale with it.
            assert_eq!(
                inputs.f32s("params")?.len(),
                784 * 128 + 128 + 128 * 10 + 10
            );
            let flops = Workload::W1a.step_flops_at(batch)?.context("flops")?;
            let per_example = 2.0 * 784.0 * 128.0 * 2.0 + 2.0 * 128.0 * 10.0 * 3.0;
            assert!((flops - per_example * want as f64).abs() < 1.0);
        }
        assert!(Workload::W1a.write_inputs_at(&dir, Some(0)).is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn w4_inputs_are_corpus_windows_and_the_same_first_rows_at_every_batch() -> Result<()> {
        let dir =
            std::env::temp_dir().join(format!("ferrograd-bench-test-w4-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let g = MiniGpt::W4;
        Workload::W4.write_inputs_at(&dir, Some(2))?;
        let small = Inputs::load(&dir, Workload::W4)?;
        let (x2, y2) = (small.i64s("x")?, small.i64s("y")?);
        Workload::W4.write_inputs_at(&dir, None)?;
        let own = Inputs::load(&dir, Workload::W4)?;
        assert_eq!(own.batch(Workload::W4)?, Some(W4_BATCH));
        let (x, y) = (own.i64s("x")?, own.i64s("y")?);
        assert_eq!((x.len(), y.len()), (W4_BATCH * g.seq, W4_BATCH * g.seq));
        assert_eq!((&x[..2 * g.seq], &y[..2 * g.seq]), (&x2[..], &y2[..]));
        // Labels are the next token: within a window, label t is input t + 1.
        for (xs, ys) in x.chunks_exact(g.seq).zip(y.chunks_exact(g.seq)) {
            assert_eq!(&xs[1..], &ys[..g.seq - 1]);
            assert!(xs.iter().chain(ys).all(|&t| (0..65).contains(&t)));
        }
        // The parameters are MiniGpt's GPT-2 initialisation in its layout.
        let n: usize = g.params()?.iter().map(|p| p.len()).sum();
        let params = own.f32s("params")?;
        assert_eq!(params.len(), n);
        let ln_f_weight = &params[n - 2 * g.dim..n - g.dim];
        assert!(ln_f_weight.iter().all(|&w| w == 1.0));
        // Flops: 3x the forward products; the attention counts causal pairs only.
        let f = Workload::W4.step_flops_at(None)?.context("flops")?;
        let rows = (W4_BATCH * g.seq) as f64;
        let dense = 3.0
            * (4.0 * (24.0 * rows * 128.0 * 128.0 + 2.0 * 8.0 * 128.0 * 64.0 * 65.0)
                + 2.0 * rows * 128.0 * 65.0);
        assert!((f - dense).abs() < 1.0, "{f} vs {dense}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
