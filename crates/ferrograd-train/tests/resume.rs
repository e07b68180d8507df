//! Checkpoints: 2 epochs straight vs 1 epoch + save + load + 1 epoch give bit-identical
//! parameters and optimizer state (also when interrupted mid-epoch), and bad checkpoints are
//! clear errors.

mod common;

use ferrograd_train::{
    checkpoint, Dataset, ModelSpec, OptimizerConfig, TrainConfig, TrainError, Trainer,
};

const SPEC: ModelSpec = ModelSpec::Mlp {
    in_features: 20,
    hidden: 16,
    classes: 4,
};

fn data() -> (Vec<f32>, Vec<u8>) {
    common::synthetic(150, 20, 4, 7)
}

fn cfg(epochs: u64, opt: OptimizerConfig, ck: Option<std::path::PathBuf>) -> TrainConfig {
    let mut c = TrainConfig::new(epochs, 16, 42, opt);
    c.checkpoint = ck;
    c
}

fn straight(opt: OptimizerConfig, ds: &Dataset<'_>) -> Trainer {
    let mut t = Trainer::new(SPEC, cfg(2, opt, None), ds.len()).unwrap();
    t.fit(ds, None, &mut |_| {}).unwrap();
    t
}

#[test]
fn one_plus_one_epochs_equal_two() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for opt in [OptimizerConfig::sgd(0.05, 0.9), OptimizerConfig::adam(1e-2)] {
        let path = dir.path().join(format!("{}.safetensors", opt.kind()));
        let a = straight(opt, &ds);

        let mut b = Trainer::new(SPEC, cfg(1, opt, Some(path.clone())), ds.len()).unwrap();
        let r1 = b.fit(&ds, None, &mut |_| {}).unwrap();
        assert_eq!(r1.len(), 1);
        drop(b);
        let mut c =
            Trainer::resume(&path, SPEC, cfg(2, opt, Some(path.clone())), ds.len()).unwrap();
        assert_eq!(c.position(), (1, 0));
        let r2 = c.fit(&ds, None, &mut |_| {}).unwrap();
        assert_eq!(r2.len(), 1);
        assert_eq!(r2[0].epoch, 1);

        assert_eq!(a.steps(), c.steps());
        assert!(
            a.network().params() == c.network().params(),
            "{}: parameters differ",
            opt.kind()
        );
        assert_eq!(a.optimizer(), c.optimizer());
        // and training did something
        let fresh = Trainer::new(SPEC, cfg(2, opt, None), ds.len()).unwrap();
        assert!(fresh.network().params() != a.network().params());
    }
}

#[test]
fn resume_mid_epoch_reports_the_same_epoch_metrics() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let opt = OptimizerConfig::sgd(0.05, 0.9);
    let mut a = Trainer::new(SPEC, cfg(2, opt, None), ds.len()).unwrap();
    let ra = a.fit(&ds, Some(&ds), &mut |_| {}).unwrap();

    // Interrupted after 13 steps (epoch 1, batch 3 of 10), checkpoint every step.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let mut c = cfg(2, opt, Some(path.clone()));
    c.checkpoint_every = Some(1);
    let mut b = Trainer::new(SPEC, c.clone(), ds.len()).unwrap();
    for _ in 0..13 {
        if b.train_step(&ds).unwrap().is_none() {
            b.train_step(&ds).unwrap();
        }
    }
    assert_eq!(b.steps(), 13);
    drop(b); // "killed"
             // The file holds step 12: step 13 wrote it once it had found that state finite.
    let mut r = Trainer::resume(&path, SPEC, c, ds.len()).unwrap();
    assert_eq!(r.position(), (1, 2));
    let rb = r.fit(&ds, Some(&ds), &mut |_| {}).unwrap();
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0], ra[1], "epoch-2 report differs after resume");
    assert!(a.network().params() == r.network().params());
}

#[test]
fn bad_checkpoints_are_errors() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let opt = OptimizerConfig::sgd(0.05, 0.9);
    let mut t = Trainer::new(SPEC, cfg(1, opt, Some(path.clone())), ds.len()).unwrap();
    t.fit(&ds, None, &mut |_| {}).unwrap();

    // different model / batch size / optimizer
    let other = ModelSpec::Mlp {
        in_features: 20,
        hidden: 8,
        classes: 4,
    };
    let e = Trainer::resume(&path, other, cfg(2, opt, None), ds.len()).unwrap_err();
    assert!(e.to_string().contains("model mlp:20:16:4"), "{e}");
    let mut c = cfg(2, opt, None);
    c.batch_size = 8;
    assert!(matches!(
        Trainer::resume(&path, SPEC, c, ds.len()),
        Err(TrainError::Checkpoint { .. })
    ));
    assert!(Trainer::resume(
        &path,
        SPEC,
        cfg(2, OptimizerConfig::adam(0.1), None),
        ds.len()
    )
    .is_err());
    // missing, truncated and garbage files
    assert!(matches!(
        checkpoint::load(&dir.path().join("nope")),
        Err(TrainError::Io { .. })
    ));
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        checkpoint::load(&cut),
        Err(TrainError::Checkpoint { .. })
    ));
    std::fs::write(&cut, b"hello world, not a checkpoint").unwrap();
    assert!(matches!(
        checkpoint::load(&cut),
        Err(TrainError::Checkpoint { .. })
    ));
    // the saved file round-trips
    let ck = checkpoint::load(&path).unwrap();
    assert_eq!(ck.spec, SPEC);
    assert_eq!(ck.params, t.network().params());
    assert_eq!((ck.epoch, ck.batch_in_epoch, ck.step), (1, 0, 10));
}

#[test]
fn non_finite_loss_names_the_step_and_the_checkpoint() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    // A learning rate this large diverges within a few steps.
    let mut c = cfg(50, OptimizerConfig::sgd(1e6, 0.9), Some(path.clone()));
    c.checkpoint_every = Some(1);
    let mut t = Trainer::new(SPEC, c, ds.len()).unwrap();
    let e = t.fit(&ds, None, &mut |_| {}).unwrap_err();
    let failed = match &e {
        TrainError::NonFiniteLoss {
            step,
            last_checkpoint,
            ..
        } => {
            // A step that failed (not taken), or a state that failed its check before saving.
            assert!(*step == t.steps() + 1 || *step == t.steps(), "{e}");
            assert_eq!(last_checkpoint.as_deref(), Some(path.as_path()));
            *step
        }
        other => panic!("expected NonFiniteLoss, got {other}"),
    };
    let msg = e.to_string();
    assert!(msg.contains(&format!("at step {failed}")), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    // the last good checkpoint loads and holds a finite state from before the failure
    let ck = checkpoint::load(&path).unwrap();
    assert!(ck.params.iter().all(|v| v.is_finite()));
    assert!(ck.step < failed);
}
