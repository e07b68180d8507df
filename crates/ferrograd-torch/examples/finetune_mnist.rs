//! Fine-tunes a PyTorch-pretrained MNIST CNN with ferrograd, two ways, and attacks it with
//! the fast gradient sign method (FGSM).
//!
//! 1. `examples/py/pretrain_mnist_cnn.py` (the project venv's PyTorch) trains a small CNN
//!    briefly on the first `--pretrain` training images and exports it as TorchScript
//!    (`cnn.pt`, `backbone.pt` + the classifier's weights) and as ONNX (`cnn.onnx`).
//! 2. TorchScript route: the scripted CNN is evaluated with [`TorchScript`]; then a mixed
//!    model (the scripted backbone as a [`TrainableTorchScript`] in a `VarStore`, plus the
//!    ferrograd head of `examples/ts_head`, one autograd node running a generated `_grad`,
//!    initialised with the pretrained classifier) is fine-tuned with tch's Adam on the next
//!    `--finetune` training images: LibTorch's autograd carries the head node's feature
//!    gradient into the convolutions. `--frozen` trains the head only. `--whole` also
//!    fine-tunes the whole scripted CNN as a [`TrainableTorchScript`] (LibTorch's own
//!    cross-entropy, no ferrograd node) on the same images, for comparison.
//! 3. ONNX route: `ferrograd-onnx` runs `cnn.onnx` forward and backward at run time;
//!    plain SGD on its initializers (`Model::set_initializer`) fine-tunes it on
//!    `--onnx-finetune` images. Before that, its logits are compared with the TorchScript
//!    module's on the same test images.
//! 4. FGSM: the input gradient of the loss (through the bridge for the mixed model, through
//!    the ONNX backward for the ONNX model) perturbs `--fgsm` test images by
//!    `eps·sign(∂loss/∂x)` (`--eps` in pixel units of [0, 1], clamped to the pixel range).
//!
//! Test accuracy is reported before and after each fine-tuning (on all 10 000 test images;
//! the first `--onnx-eval` of them for the ONNX model); the example fails if fine-tuning
//! lowers it or FGSM does not. Pretrained files are reused from `--out` when its stamp
//! `pretrained-<n>` exists (the script is deterministic); delete the directory to redo it.
//! About a minute in release on 2 cores, most of it PyTorch's start-up and pretraining.
//!
//! ```text
//! source scripts/env.sh && scripts/fetch-mnist.sh
//! cargo run --release -p ferrograd-torch --example finetune_mnist -- [--data DIR]
//!     [--out DIR] [--pretrain 2000] [--finetune 8000] [--onnx-finetune 8000]
//!     [--onnx-eval 10000] [--fgsm 1000] [--eps 0.1] [--frozen] [--whole] [--threads 2]
//! ```

mod ts_head;

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ferrograd_data::{mnist_default_dir, Mnist, MNIST_MEAN, MNIST_STD};
use ferrograd_torch::{GradOptions, InputSpec, TorchScript, TrainableTorchScript};
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use ts_head::LinearHead;

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

const PIXELS: usize = 28 * 28;
const CLASSES: usize = 10;
const BATCH: usize = 64;

struct Args {
    data: Option<PathBuf>,
    out: PathBuf,
    pretrain: usize,
    finetune: usize,
    onnx_finetune: usize,
    onnx_eval: usize,
    fgsm: usize,
    eps: f32,
    frozen: bool,
    whole: bool,
    threads: usize,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        data: None,
        out: std::env::temp_dir().join("ferrograd-finetune-mnist"),
        pretrain: 2000,
        finetune: 8000,
        onnx_finetune: 8000,
        onnx_eval: 10000,
        fgsm: 1000,
        eps: 0.1,
        frozen: false,
        whole: false,
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--frozen" || flag == "--whole" {
            a.frozen |= flag == "--frozen";
            a.whole |= flag == "--whole";
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data" => a.data = Some(value.into()),
            "--out" => a.out = value.into(),
            "--pretrain" => a.pretrain = value.parse()?,
            "--finetune" => a.finetune = value.parse()?,
            "--onnx-finetune" => a.onnx_finetune = value.parse()?,
            "--onnx-eval" => a.onnx_eval = value.parse()?,
            "--fgsm" => a.fgsm = value.parse()?,
            "--eps" => a.eps = value.parse()?,
            "--threads" => a.threads = value.parse()?,
            other => return Err(format!("unknown argument {other}; see the file's docs").into()),
        }
    }
    Ok(a)
}

/// Runs the pretraining script with the project venv's Python (once per `--out` and
/// `--pretrain`: a stamp file marks a finished run; the script is deterministic).
fn pretrain(args: &Args, mnist_dir: &Path) -> Result<()> {
    let stamp = args.out.join(format!("pretrained-{}", args.pretrain));
    if stamp.exists() {
        println!("pretrained models: reusing {}", args.out.display());
        return Ok(());
    }
    let python = std::env::var_os("FERROGRAD_TORCH_VENV")
        .map(|v| Path::new(&v).join("bin/python"))
        .ok_or("FERROGRAD_TORCH_VENV is not set: `source scripts/env.sh` first")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/py/pretrain_mnist_cnn.py");
    let status = Command::new(&python)
        .arg(&script)
        .arg(mnist_dir)
        .arg(&args.out)
        .arg(args.pretrain.to_string())
        .status()?;
    if !status.success() {
        return Err(format!("{} {} failed", python.display(), script.display()).into());
    }
    std::fs::write(stamp, b"")?;
    Ok(())
}

/// Images `range` of a split as `[n, 1, 28, 28]` and their labels.
fn images(images: &[f32], labels: &[u8], range: std::ops::Range<usize>) -> (Tensor, Vec<usize>) {
    let x = Tensor::from_slice(&images[range.start * PIXELS..range.end * PIXELS]).view([
        range.len() as i64,
        1,
        28,
        28,
    ]);
    let y = labels[range].iter().map(|&l| usize::from(l)).collect();
    (x, y)
}

fn accuracy_of(logits: &Tensor, labels: &[usize]) -> f64 {
    let pred = Vec::<i64>::try_from(logits.argmax(-1, false)).unwrap_or_default();
    let correct = pred
        .iter()
        .zip(labels)
        .filter(|(&p, &l)| usize::try_from(p).ok() == Some(l))
        .count();
    correct as f64 / labels.len().max(1) as f64
}

/// The mixed model's logits on `x`, without a graph.
fn mixed_logits(backbone: &TrainableTorchScript, head: &LinearHead, x: &Tensor) -> Result<Tensor> {
    let features = tch::no_grad(|| backbone.forward(&[x]))?;
    Ok(tch::no_grad(|| head.logits(&features)))
}

/// `x + eps·sign(g)`, clamped to the standardised pixel range.
fn fgsm_step(x: &Tensor, g: &Tensor, eps_pixels: f32) -> Tensor {
    let eps = f64::from(eps_pixels / MNIST_STD);
    let lo = f64::from(-MNIST_MEAN / MNIST_STD);
    let hi = f64::from((1.0 - MNIST_MEAN) / MNIST_STD);
    (x + g.sign() * eps).clamp(lo, hi)
}

fn torchscript_route(args: &Args, data: &Mnist) -> Result<(f64, f64, f64)> {
    let (test, train) = (&data.test, &data.train);
    let (xt, yt) = images(&test.images, &test.labels, 0..test.len());
    let spec = || vec![InputSpec::new(Kind::Float, &[-1, 1, 28, 28])];

    let cnn = TorchScript::load(args.out.join("cnn.pt"))?.with_inputs(spec());
    let before = accuracy_of(&cnn.forward(&[&xt])?, &yt);
    println!(
        "  TorchScript cnn.pt (inference): test accuracy {:.2}%",
        100.0 * before
    );

    let vs = VarStore::new(Device::Cpu);
    let mut backbone =
        TrainableTorchScript::load(args.out.join("backbone.pt"), vs.root() / "backbone")?
            .with_inputs(spec());
    backbone.set_trainable(!args.frozen);
    let read = |f: &str| Tensor::read_npy(args.out.join(f));
    let head = LinearHead::from_tensors(
        &(vs.root() / "head"),
        &read("fc_w.npy")?,
        &read("fc_b.npy")?,
    )?;
    let mixed_before = accuracy_of(&mixed_logits(&backbone, &head, &xt)?, &yt);
    let mut opt = nn::Adam::default().build(&vs, 5e-4)?;
    let start = Instant::now();
    let first = args.pretrain.min(train.len());
    let last = (first + args.finetune).min(train.len());
    let (mut loss_sum, mut steps) = (0.0, 0);
    for b in (first..last).step_by(BATCH) {
        let (x, y) = images(&train.images, &train.labels, b..(b + BATCH).min(last));
        opt.zero_grad();
        let loss = head.loss(&backbone.forward(&[&x])?, &y)?;
        ferrograd_torch::backward(&loss)?;
        opt.step();
        loss_sum += loss.double_value(&[]);
        steps += 1;
    }
    let after = accuracy_of(&mixed_logits(&backbone, &head, &xt)?, &yt);
    println!(
        "  mixed model ({} TorchScript backbone + ferrograd head node), Adam on {} images: \
         mean loss {:.4}, {:.1} s\n    test accuracy {:.2}% -> {:.2}%",
        if args.frozen { "frozen" } else { "trainable" },
        last - first,
        loss_sum / f64::from(steps.max(1)),
        start.elapsed().as_secs_f64(),
        100.0 * mixed_before,
        100.0 * after
    );

    if args.whole {
        whole_model(args, data, &xt, &yt)?;
    }

    // FGSM through the bridge: d loss / d x through the head node and the script.
    let n = args.fgsm.min(test.len());
    let (x, y) = images(&test.images, &test.labels, 0..n);
    let x = x.set_requires_grad(true);
    let loss = head.loss(&backbone.forward(&[&x])?, &y)?;
    let g = ferrograd_torch::grad(&[&loss], &[&x], &[], GradOptions::default())?
        .pop()
        .flatten()
        .ok_or("no input gradient")?;
    let x = x.detach();
    let clean = accuracy_of(&mixed_logits(&backbone, &head, &x)?, &y);
    let adv = accuracy_of(
        &mixed_logits(&backbone, &head, &fgsm_step(&x, &g, args.eps))?,
        &y,
    );
    println!(
        "  FGSM (bridge input gradient), eps {} on {n} test images: accuracy {:.2}% -> {:.2}%",
        args.eps,
        100.0 * clean,
        100.0 * adv
    );
    Ok((before, after, clean - adv))
}

/// Fine-tunes the whole scripted CNN, its parameters in a `VarStore` (tch's Adam, LibTorch's
/// cross-entropy), on the same images as the mixed model.
fn whole_model(args: &Args, data: &Mnist, xt: &Tensor, yt: &[usize]) -> Result<()> {
    let train = &data.train;
    let vs = VarStore::new(Device::Cpu);
    let cnn = TrainableTorchScript::load(args.out.join("cnn.pt"), vs.root())?;
    let mut opt = nn::Adam::default().build(&vs, 5e-4)?;
    let start = Instant::now();
    let first = args.pretrain.min(train.len());
    let last = (first + args.finetune).min(train.len());
    for b in (first..last).step_by(BATCH) {
        let (x, y) = images(&train.images, &train.labels, b..(b + BATCH).min(last));
        let y: Vec<i64> = y.iter().map(|&l| l as i64).collect();
        opt.zero_grad();
        let loss = cnn
            .forward(&[&x])?
            .cross_entropy_for_logits(&Tensor::from_slice(&y));
        ferrograd_torch::backward(&loss)?;
        opt.step();
    }
    let after = accuracy_of(&tch::no_grad(|| cnn.forward(&[xt]))?, yt);
    println!(
        "  whole scripted CNN (TrainableTorchScript, LibTorch loss), Adam on {} images: {:.1} s\n    \
         test accuracy -> {:.2}%",
        last - first,
        start.elapsed().as_secs_f64(),
        100.0 * after
    );
    Ok(())
}

/// d mean-CE / d logits = (softmax − onehot) / batch, and the batch's accuracy.
fn ce_seed(logits: &[f32], labels: &[usize]) -> (Vec<f32>, f64) {
    let n = labels.len();
    let mut d = vec![0.0f32; n * CLASSES];
    let mut correct = 0;
    for (i, &l) in labels.iter().enumerate() {
        let row = &logits[i * CLASSES..(i + 1) * CLASSES];
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
        let arg = (0..CLASSES).fold(0, |a, k| if row[k] > row[a] { k } else { a });
        correct += usize::from(arg == l);
        for k in 0..CLASSES {
            let p = (row[k] - m).exp() / z;
            d[i * CLASSES + k] = (p - f32::from(u8::from(k == l))) / n as f32;
        }
    }
    (d, correct as f64 / n.max(1) as f64)
}

fn onnx_batch(images: &[f32], range: std::ops::Range<usize>) -> Result<ferrograd_onnx::Tensor> {
    let x = images[range.start * PIXELS..range.end * PIXELS].to_vec();
    Ok(ferrograd_onnx::Tensor::f32(
        vec![range.len(), 1, 28, 28],
        x,
    )?)
}

fn onnx_logits(model: &ferrograd_onnx::Model, x: ferrograd_onnx::Tensor) -> Result<Vec<f32>> {
    let fwd = model.forward([("x", x)])?;
    let out = fwd.outputs();
    let (_, y) = out.first().ok_or("the ONNX model has no output")?;
    Ok(y.as_f32().ok_or("logits are not float32")?.to_vec())
}

fn onnx_accuracy(model: &ferrograd_onnx::Model, data: &Mnist, n: usize) -> Result<f64> {
    let test = &data.test;
    let n = n.min(test.len());
    let mut correct = 0.0;
    for b in (0..n).step_by(500) {
        let e = (b + 500).min(n);
        let labels: Vec<usize> = test.labels[b..e].iter().map(|&l| usize::from(l)).collect();
        let logits = onnx_logits(model, onnx_batch(&test.images, b..e)?)?;
        correct += ce_seed(&logits, &labels).1 * (e - b) as f64;
    }
    Ok(correct / n.max(1) as f64)
}

/// The ONNX model's loss seed for `labels`, run forward and backward once: the logits'
/// accuracy and every gradient (inputs and initializers).
fn onnx_grads(
    model: &ferrograd_onnx::Model,
    x: ferrograd_onnx::Tensor,
    labels: &[usize],
) -> Result<ferrograd_onnx::Gradients> {
    let fwd = model.forward([("x", x)])?;
    let (shape, logits) = {
        let out = fwd.outputs();
        let (_, y) = out.first().ok_or("the ONNX model has no output")?;
        let logits = y.as_f32().ok_or("logits are not float32")?.to_vec();
        (y.shape().to_vec(), logits)
    };
    let (seed, _) = ce_seed(&logits, labels);
    Ok(fwd.backward([("logits", ferrograd_onnx::Tensor::f32(shape, seed)?)])?)
}

fn onnx_route(args: &Args, data: &Mnist) -> Result<(f64, f64, f64)> {
    let mut model = ferrograd_onnx::Model::load(args.out.join("cnn.onnx"))?;
    {
        // The same network through two engines: ferrograd-onnx vs LibTorch's TorchScript.
        let test = &data.test;
        let n = 500.min(test.len());
        let ours = onnx_logits(&model, onnx_batch(&test.images, 0..n)?)?;
        let (x, _) = images(&test.images, &test.labels, 0..n);
        let theirs = TorchScript::load(args.out.join("cnn.pt"))?.forward(&[&x])?;
        let diff = (Tensor::from_slice(&ours).view([n as i64, CLASSES as i64]) - &theirs)
            .abs()
            .max()
            .double_value(&[]);
        let scale = theirs.abs().max().double_value(&[]);
        println!(
            "  ONNX (ferrograd-onnx) vs TorchScript (LibTorch) logits on {n} test images: max abs \
             difference {diff:.2e} (max |logit| {scale:.1})"
        );
    }
    let n_eval = args.onnx_eval.min(data.test.len());
    let before = onnx_accuracy(&model, data, n_eval)?;
    let train = &data.train;
    let first = args.pretrain.min(train.len());
    let last = (first + args.onnx_finetune).min(train.len());
    let lr = 0.05f32;
    let start = Instant::now();
    for b in (first..last).step_by(BATCH) {
        let e = (b + BATCH).min(last);
        let labels: Vec<usize> = train.labels[b..e].iter().map(|&l| usize::from(l)).collect();
        let grads = onnx_grads(&model, onnx_batch(&train.images, b..e)?, &labels)?;
        // Plain SGD on every float initializer: w ← w − lr·g.
        for (name, g) in &grads.initializers {
            let Some((_, w)) = model.initializers().find(|(n, _)| n == name) else {
                continue;
            };
            let (Some(wv), Some(gv)) = (w.as_f32(), g.as_f32()) else {
                continue;
            };
            let new: Vec<f32> = wv.iter().zip(gv).map(|(w, g)| w - lr * g).collect();
            let t = ferrograd_onnx::Tensor::f32(w.shape().to_vec(), new)?;
            model.set_initializer(name, t)?;
        }
    }
    let after = onnx_accuracy(&model, data, n_eval)?;
    println!(
        "  ONNX cnn.onnx (ferrograd-onnx run-time backward, SGD lr {lr} via set_initializer) \
         on {} images: {:.1} s\n    test accuracy ({n_eval} images) {:.2}% -> {:.2}%",
        last - first,
        start.elapsed().as_secs_f64(),
        100.0 * before,
        100.0 * after
    );

    // FGSM through the ONNX backward w.r.t. the input x.
    let test = &data.test;
    let n = args.fgsm.min(test.len());
    let labels: Vec<usize> = test.labels[..n].iter().map(|&l| usize::from(l)).collect();
    let grads = onnx_grads(&model, onnx_batch(&test.images, 0..n)?, &labels)?;
    let g = grads
        .get("x")
        .and_then(ferrograd_onnx::Tensor::as_f32)
        .ok_or("no gradient w.r.t. x")?;
    let x = Tensor::from_slice(&test.images[..n * PIXELS]);
    let adv = fgsm_step(&x, &Tensor::from_slice(g), args.eps);
    let adv = Vec::<f32>::try_from(&adv)?;
    let clean = ce_seed(
        &onnx_logits(&model, onnx_batch(&test.images, 0..n)?)?,
        &labels,
    )
    .1;
    let adv_x = ferrograd_onnx::Tensor::f32(vec![n, 1, 28, 28], adv)?;
    let attacked = ce_seed(&onnx_logits(&model, adv_x)?, &labels).1;
    println!(
        "  FGSM (ONNX input gradient), eps {} on {n} test images: accuracy {:.2}% -> {:.2}%",
        args.eps,
        100.0 * clean,
        100.0 * attacked
    );
    Ok((before, after, clean - attacked))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    tch::set_num_threads(args.threads as i32);
    ferrograd_kernels::set_num_threads(args.threads);
    let dir = args
        .data
        .clone()
        .or_else(mnist_default_dir)
        .ok_or("no --data DIR and no default MNIST dir; run scripts/fetch-mnist.sh")?;
    pretrain(&args, &dir)?;
    let data = Mnist::load(&dir)?;
    let (ts_before, ts_after, ts_drop) = torchscript_route(&args, &data)?;
    let (onnx_before, onnx_after, onnx_drop) = onnx_route(&args, &data)?;
    let mut failures = Vec::new();
    if ts_after < ts_before {
        failures.push("TorchScript fine-tuning lowered the accuracy");
    }
    if onnx_after < onnx_before {
        failures.push("ONNX fine-tuning lowered the accuracy");
    }
    if ts_drop <= 0.0 || onnx_drop <= 0.0 {
        failures.push("FGSM did not lower the accuracy");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; ").into())
    }
}
