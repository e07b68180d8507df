//! TorchScript through the bridge, against real PyTorch: tests/py/make_torchscript.py
//! scripts and traces a small CNN, and writes its outputs, one SGD step's parameters and the
//! autograd gradients of a mixed model (scripted backbone + linear head), all computed by
//! PyTorch in the test's own run.
//!
//! - inference ([`TorchScript`]) equals eager PyTorch's logits (scripted and traced);
//! - one SGD step of a [`TrainableTorchScript`] with tch's optimizer equals PyTorch's step;
//! - a mixed model (the scripted backbone + the ferrograd head of `examples/ts_head`, one
//!   autograd node running a generated `_grad`) has PyTorch autograd's gradients for the
//!   head and, when trainable, the backbone and the input (FGSM's gradient); frozen, the
//!   backbone gets none;
//! - five SGD steps of the mixed model (one `VarStore`, one tch optimizer) equal PyTorch's;
//! - missing/corrupt files and wrong inputs are clear errors.

#[path = "../examples/ts_head/mod.rs"]
mod ts_head;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ferrograd_torch::{Error, InputSpec, TorchScript, TrainableTorchScript};
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use ts_head::LinearHead;

/// The Python of the project venv; a clear failure when it is not set up.
fn python() -> PathBuf {
    let venv = std::env::var_os("FERROGRAD_TORCH_VENV").unwrap_or_else(|| {
        panic!(
            "FERROGRAD_TORCH_VENV is not set: run `source scripts/env.sh` first (these tests \
             need PyTorch from the project venv to make the TorchScript models)"
        )
    });
    let py = Path::new(&venv).join("bin/python");
    assert!(
        py.exists(),
        "no python at {} (FERROGRAD_TORCH_VENV)",
        py.display()
    );
    py
}

/// The directory make_torchscript.py wrote, made once per build directory and script
/// contents (an edited script regenerates) and reused.
fn models() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/make_torchscript.py");
        let src = std::fs::read(&script).expect("read make_torchscript.py");
        let key = src.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("torchscript-models-{key:016x}"));
        if dir.join("done").exists() {
            return dir;
        }
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut cmd = Command::new(python());
        cmd.arg(&script).arg(&tmp);
        let out = cmd.output().expect("start python");
        assert!(
            out.status.success(),
            "{cmd:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(tmp.join("done"), b"").expect("write marker");
        // Another test process may have finished first: theirs is as good as ours.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

fn npy(rel: &str) -> Tensor {
    let p = models().join(rel);
    Tensor::read_npy(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn labels() -> Vec<usize> {
    Vec::<i64>::try_from(&npy("labels.npy"))
        .expect("labels")
        .into_iter()
        .map(|l| usize::try_from(l).expect("label"))
        .collect()
}

/// max |got − want| / max |want|, checked against `tol` (returned for the log).
fn assert_close(what: &str, got: &Tensor, want: &Tensor, tol: f64) -> f64 {
    assert_eq!(got.size(), want.size(), "{what}: shape");
    let err = (got - want).abs().max().double_value(&[]);
    let scale = want.abs().max().double_value(&[]).max(1e-30);
    let rel = err / scale;
    println!("{what}: max abs err {err:.3e}, relative {rel:.3e}");
    assert!(rel <= tol, "{what}: relative error {rel:.3e} > {tol:e}");
    rel
}

#[test]
fn inference_matches_pytorch_scripted_and_traced() {
    let x = npy("x.npy");
    let want = npy("logits.npy");
    for file in ["cnn_scripted.pt", "cnn_traced.pt"] {
        let m = TorchScript::load(models().join(file))
            .expect("load")
            .with_inputs(vec![InputSpec::new(Kind::Float, &[-1, 1, 8, 8])]);
        let y = m.forward(&[&x]).expect("forward");
        assert!(!y.requires_grad(), "inference records no graph");
        assert_close(file, &y, &want, 1e-5);
    }
}

#[test]
fn one_sgd_step_matches_pytorch() {
    let vs = VarStore::new(Device::Cpu);
    let m = TrainableTorchScript::load(models().join("cnn_scripted.pt"), vs.root()).expect("load");
    assert_eq!(m.parameters().len(), 6);
    let mut opt = nn::Sgd::default().build(&vs, 0.1).expect("sgd");
    let x = npy("x.npy");
    let y = npy("labels.npy");
    opt.zero_grad();
    let loss = m
        .forward(&[&x])
        .expect("forward")
        .cross_entropy_for_logits(&y);
    ferrograd_torch::backward(&loss).expect("backward");
    opt.step();
    let vars = vs.variables();
    for (name, _) in m.parameters() {
        assert_close(
            &format!("step {name}"),
            &vars[name],
            &npy(&format!("step/{name}.npy")),
            1e-5,
        );
    }
    // The step changed the script's own weights: its output moved.
    let after = tch::no_grad(|| m.forward(&[&x])).expect("forward");
    assert!((after - npy("logits.npy")).abs().max().double_value(&[]) > 1e-4);
}

/// Gradients of CE(head(backbone(x))) through the ferrograd head node; with a trainable
/// backbone also w.r.t. the input `x` (returned), as FGSM needs.
fn mixed_grads(trainable: bool) -> (TrainableTorchScript, LinearHead, Tensor) {
    let vs_backbone = VarStore::new(Device::Cpu);
    let vs_head = VarStore::new(Device::Cpu);
    let mut backbone = TrainableTorchScript::load(models().join("backbone.pt"), vs_backbone.root())
        .expect("load")
        .with_inputs(vec![InputSpec::new(Kind::Float, &[-1, 1, 8, 8])]);
    backbone.set_trainable(trainable);
    assert_eq!(backbone.is_trainable(), trainable);
    let head = LinearHead::from_tensors(&vs_head.root(), &npy("head_w.npy"), &npy("head_b.npy"))
        .expect("head");
    let x = npy("x.npy").set_requires_grad(trainable);
    let features = backbone.forward(&[&x]).expect("backbone");
    assert_eq!(features.requires_grad(), trainable);
    let loss = head.loss(&features, &labels()).expect("head loss");
    ferrograd_torch::backward(&loss).expect("backward");
    (backbone, head, x)
}

#[test]
fn mixed_model_gradients_match_pytorch_trainable_backbone() {
    let (backbone, head, x) = mixed_grads(true);
    assert_close("d x", &x.grad(), &npy("mixed/d_x.npy"), 1e-4);
    assert_close("d head w", &head.w.grad(), &npy("mixed/d_head_w.npy"), 1e-4);
    assert_close("d head b", &head.b.grad(), &npy("mixed/d_head_b.npy"), 1e-4);
    for (name, p) in backbone.parameters() {
        assert_close(
            &format!("d {name}"),
            &p.grad(),
            &npy(&format!("mixed/d_{name}.npy")),
            1e-4,
        );
    }
}

#[test]
fn mixed_model_frozen_backbone_gets_no_gradient() {
    let (mut backbone, head, _) = mixed_grads(false);
    assert_close("d head w", &head.w.grad(), &npy("mixed/d_head_w.npy"), 1e-4);
    assert_close("d head b", &head.b.grad(), &npy("mixed/d_head_b.npy"), 1e-4);
    for (name, p) in backbone.parameters() {
        assert!(!p.grad().defined(), "{name} is frozen but got a gradient");
    }
    backbone.set_trainable(true);
    assert!(backbone.parameters().iter().all(|(_, p)| p.requires_grad()));
}

/// Five SGD steps of the mixed model (backbone and head in one `VarStore`, one tch optimizer)
/// equal five steps of the all-PyTorch model.
#[test]
fn mixed_model_training_matches_pytorch() {
    let vs = VarStore::new(Device::Cpu);
    let backbone = TrainableTorchScript::load(models().join("backbone.pt"), vs.root() / "backbone")
        .expect("load");
    let head = LinearHead::from_tensors(
        &(vs.root() / "head"),
        &npy("head_w.npy"),
        &npy("head_b.npy"),
    )
    .expect("head");
    let mut opt = nn::Sgd::default().build(&vs, 0.1).expect("sgd");
    let (x, y) = (npy("x.npy"), labels());
    let mut losses = Vec::new();
    for _ in 0..5 {
        opt.zero_grad();
        let features = backbone.forward(&[&x]).expect("backbone");
        let loss = head.loss(&features, &y).expect("head loss");
        ferrograd_torch::backward(&loss).expect("backward");
        opt.step();
        losses.push(loss.double_value(&[]));
    }
    println!("losses {losses:?}");
    assert!(
        losses[4] < losses[0],
        "training lowers the loss: {losses:?}"
    );
    assert_close("trained head w", &head.w, &npy("trained/head_w.npy"), 1e-4);
    assert_close("trained head b", &head.b, &npy("trained/head_b.npy"), 1e-4);
    for (name, p) in backbone.parameters() {
        let want = npy(&format!("trained/{name}.npy"));
        assert_close(&format!("trained {name}"), p, &want, 1e-4);
    }
}

#[test]
fn clear_errors() {
    let missing = TorchScript::load("/nonexistent/model.pt").unwrap_err();
    assert!(
        matches!(missing, Error::TorchScript { .. })
            && missing.to_string().contains("no such file"),
        "{missing}"
    );

    let corrupt = Path::new(env!("CARGO_TARGET_TMPDIR")).join("not_a_model.pt");
    std::fs::write(&corrupt, b"these bytes are not a zip archive").expect("write");
    let e = TorchScript::load(&corrupt).unwrap_err();
    assert!(e.to_string().contains("not a loadable TorchScript"), "{e}");
    let vs = VarStore::new(Device::Cpu);
    assert!(TrainableTorchScript::load(&corrupt, vs.root()).is_err());

    // Declared inputs: checked before the script runs.
    let m = TorchScript::load(models().join("cnn_scripted.pt"))
        .expect("load")
        .with_inputs(vec![InputSpec::new(Kind::Float, &[-1, 1, 8, 8])]);
    let e = m.forward(&[&Tensor::zeros([2, 1, 8, 8], (Kind::Double, Device::Cpu))]);
    assert!(matches!(e, Err(Error::Dtype { .. })), "{e:?}");
    let e = m.forward(&[&Tensor::zeros([2, 1, 9, 8], (Kind::Float, Device::Cpu))]);
    assert!(matches!(e, Err(Error::Shape { .. })), "{e:?}");
    let x = npy("x.npy");
    let e = m.forward(&[&x, &x]);
    assert!(matches!(e, Err(Error::InputCount { .. })), "{e:?}");

    // Undeclared: the script's own failure, as one line naming the file.
    let m = TorchScript::load(models().join("cnn_scripted.pt")).expect("load");
    let e = m
        .forward(&[&Tensor::zeros([2, 1, 12, 12], (Kind::Float, Device::Cpu))])
        .unwrap_err();
    let msg = e.to_string();
    println!("{msg}");
    assert!(matches!(e, Error::TorchScript { .. }), "{msg}");
    assert!(
        msg.contains("cnn_scripted.pt") && !msg.contains('\n'),
        "{msg}"
    );
}
