//! Issue 10 regressions at the library level: checkpoints never replace a file that is not
//! theirs and record their run, resume keeps every hyper-parameter, only finite states are
//! checkpointed, damaged or non-finite checkpoints are refused on load, rollback on a
//! non-finite state, impossible sizes are errors before allocating, and checkpoint paths are
//! checked before training (no temporary file is left behind on failure).

mod common;

use std::path::Path;

use ferrograd_train::{
    checkpoint, Dataset, ModelSpec, Network, NonFinitePolicy, OptimizerConfig, TrainConfig,
    TrainError, Trainer,
};

const SPEC: ModelSpec = ModelSpec::Mlp {
    in_features: 20,
    hidden: 16,
    classes: 4,
};

fn data() -> (Vec<f32>, Vec<u8>) {
    common::synthetic(150, 20, 4, 7)
}

fn cfg(epochs: u64, opt: OptimizerConfig, ck: &Path) -> TrainConfig {
    let mut c = TrainConfig::new(epochs, 16, 42, opt);
    c.checkpoint = Some(ck.to_owned());
    c
}

/// Files in `dir` other than `keep`.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// Defect 1: a fresh run refuses a path that holds another file or another run's checkpoint,
/// unless overwriting is allowed; checkpoints record their run, resumes keep it.
#[test]
fn checkpoint_never_replaces_what_is_not_its_own() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let opt = OptimizerConfig::sgd(0.05, 0.9);

    // A data file at the path survives.
    std::fs::write(&path, b"precious training data").unwrap();
    let e = Trainer::new(SPEC, cfg(1, opt, &path), ds.len()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious training data");

    // Allowed explicitly: replaced by this run's checkpoint, which records the run.
    let mut c = cfg(1, opt, &path);
    c.overwrite = true;
    let mut a = Trainer::new(SPEC, c, ds.len()).unwrap();
    a.fit(&ds, None, &mut |_| {}).unwrap();
    let ck = checkpoint::load(&path).unwrap();
    assert_eq!(ck.run_id, a.run_id());

    // Another fresh run may not replace run A's (longer) checkpoint.
    let e = Trainer::new(SPEC, cfg(1, opt, &path), ds.len()).unwrap_err();
    assert!(e.to_string().contains("another run"), "{e}");
    assert!(e.to_string().contains(a.run_id()), "{e}");

    // Resuming continues the same run.
    let b = Trainer::resume(&path, SPEC, cfg(2, opt, &path), ds.len()).unwrap();
    assert_eq!(b.run_id(), a.run_id());

    // A file replaced behind a running trainer's back is not overwritten by it.
    let mut r = Trainer::resume(&path, SPEC, cfg(3, opt, &path), ds.len()).unwrap();
    r.train_step(&ds).unwrap();
    r.save_checkpoint().unwrap();
    std::fs::write(&path, b"someone else's file").unwrap();
    let e = r.save_checkpoint().unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's file");
}

/// Defect 2: resume compares every optimizer hyper-parameter with the checkpoint's; changing
/// one needs `resume_with_optimizer`, and the checkpoint's values are what is written back.
#[test]
fn resume_keeps_the_checkpoints_hyperparameters() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let saved = OptimizerConfig::sgd(0.05, 0.5);
    let mut a = Trainer::new(SPEC, cfg(1, saved, &path), ds.len()).unwrap();
    a.fit(&ds, None, &mut |_| {}).unwrap();

    // Today's defaults instead of the saved values: refused, naming what differs.
    let e = Trainer::resume(
        &path,
        SPEC,
        cfg(2, OptimizerConfig::sgd(0.02, 0.9), &path),
        ds.len(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("optimizer settings"), "{e}");
    assert_eq!(checkpoint::load(&path).unwrap().optimizer, saved);

    // The saved values: accepted, and written back unchanged.
    let mut b = Trainer::resume(&path, SPEC, cfg(2, saved, &path), ds.len()).unwrap();
    assert_eq!(b.optimizer().config(), &saved);
    b.fit(&ds, None, &mut |_| {}).unwrap();
    assert_eq!(checkpoint::load(&path).unwrap().optimizer, saved);

    // An explicit change.
    let new = OptimizerConfig::sgd(0.01, 0.5);
    let c = Trainer::resume_with_optimizer(&path, SPEC, cfg(3, new, &path), ds.len()).unwrap();
    assert_eq!(c.optimizer().config(), &new);
}

fn sum_sq(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum()
}

/// Defect 3: with a diverging learning rate the last checkpoint holds a finite state (its
/// parameter norm does not overflow `f32`; before, it held weights around 1e27), and the
/// error says which quantity stopped being finite.
#[test]
fn only_finite_states_are_checkpointed() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let mut named = 0;
    for lr in [1e30, 1e9, 1e6, 1e3] {
        std::fs::remove_file(&path).ok();
        let mut c = cfg(50, OptimizerConfig::sgd(lr, 0.9), &path);
        c.checkpoint_every = Some(1);
        let mut t = Trainer::new(SPEC, c, ds.len()).unwrap();
        let e = t.fit(&ds, None, &mut |_| {}).unwrap_err();
        let TrainError::NonFiniteLoss {
            quantity,
            last_checkpoint,
            ..
        } = &e
        else {
            panic!("expected a non-finite error, got {e}");
        };
        assert!(e.to_string().starts_with(quantity), "{e}");
        // Either no checkpoint yet (the first update already overflowed), or the named one
        // holds a finite state.
        match last_checkpoint {
            None => assert!(!path.exists(), "lr {lr}: {e}"),
            Some(p) => {
                named += 1;
                let ck = checkpoint::load(p).unwrap();
                let n = sum_sq(&ck.params);
                assert!(n.is_finite(), "lr {lr}: checkpoint parameter norm² {n}");
                assert!(ck.state1.iter().all(|v| v.is_finite()));
                // And it is good: its next step (the one that failed for the state after
                // it) has a finite loss and gradient.
                let mut c = cfg(50, OptimizerConfig::sgd(lr, 0.9), &path);
                c.checkpoint_every = Some(1);
                let mut r = Trainer::resume(p, SPEC, c, ds.len()).unwrap();
                let info = r.train_step(&ds).unwrap().unwrap();
                assert!(info.loss.is_finite(), "lr {lr}");
            }
        }
    }
    assert!(named > 0, "no run wrote a checkpoint before diverging");
}

/// Defect 3: a flipped bit anywhere in the tensors or metadata, or a non-finite value, makes
/// `load` fail.
#[test]
fn damaged_or_non_finite_checkpoints_are_refused() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let mut t = Trainer::new(SPEC, cfg(1, OptimizerConfig::adam(1e-2), &path), ds.len()).unwrap();
    t.fit(&ds, None, &mut |_| {}).unwrap();
    let good = std::fs::read(&path).unwrap();
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let bad = dir.path().join("bad.safetensors");
    // One bit in a parameter, in the optimizer state (last byte), and in a metadata digit.
    let key = b"\"opt_steps\":\"";
    let step_digit = good[..header]
        .windows(key.len())
        .position(|w| w == key)
        .unwrap()
        + key.len();
    for (at, bit) in [
        (header + 5, 0x01),
        (good.len() - 1, 0x40),
        (step_digit, 0x01),
    ] {
        let mut b = good.clone();
        b[at] ^= bit;
        std::fs::write(&bad, &b).unwrap();
        match checkpoint::load(&bad) {
            Err(TrainError::Checkpoint { reason, .. }) => assert!(
                reason.contains("checksum") || reason.contains("malformed"),
                "byte {at}: {reason}"
            ),
            other => panic!("byte {at}: flipped bit not caught: {other:?}"),
        }
    }
    // A NaN written with a valid checksum is refused too.
    let mut ck = checkpoint::load(&path).unwrap();
    ck.params[3] = f32::NAN;
    checkpoint::save(&bad, &ck, t.network().param_infos()).unwrap();
    let e = checkpoint::load(&bad).unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
}

/// Defect 3: `NonFinitePolicy::Rollback` goes back to the last finite state with a lower
/// learning rate and finishes the run.
#[test]
fn rollback_recovers_from_divergence() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let mut c = cfg(3, OptimizerConfig::sgd(1e6, 0.9), &path);
    c.checkpoint_every = Some(4);
    c.on_non_finite = NonFinitePolicy::Rollback {
        lr_factor: 0.1,
        max_rollbacks: 12,
    };
    let mut t = Trainer::new(SPEC, c.clone(), ds.len()).unwrap();
    let mut events = 0;
    t.fit(&ds, None, &mut |e| {
        if let ferrograd_train::Event::Rollback { .. } = e {
            events += 1;
        }
    })
    .unwrap();
    assert!(
        t.rollbacks() >= 1 && t.rollbacks() == events,
        "{}",
        t.rollbacks()
    );
    assert!(t.network().params().iter().all(|v| v.is_finite()));
    let lr = t.optimizer().config().lr();
    assert!(lr < 1e6, "learning rate {lr}");
    let ck = checkpoint::load(&path).unwrap();
    assert_eq!(ck.rollbacks, t.rollbacks());
    // Without rollback the same run stops.
    std::fs::remove_file(&path).unwrap();
    c.on_non_finite = NonFinitePolicy::Stop;
    let mut t = Trainer::new(SPEC, c, ds.len()).unwrap();
    assert!(t.fit(&ds, None, &mut |_| {}).is_err());
}

/// Defect 4: a batch larger than the training set, an arena that cannot be allocated and a
/// thread count beyond `MAX_THREADS` are errors, not aborts or hangs.
#[test]
fn impossible_sizes_are_errors() {
    let opt = OptimizerConfig::sgd(0.05, 0.9);
    let e = Trainer::new(SPEC, TrainConfig::new(1, 100_000_000, 0, opt), 150).unwrap_err();
    assert!(e.to_string().contains("150 training examples"), "{e}");
    let huge = ModelSpec::Mlp {
        in_features: 784,
        hidden: 1 << 40,
        classes: 10,
    };
    let bytes = Network::bytes_needed(huge, 64).unwrap();
    assert!(bytes > 1 << 50, "{bytes}");
    let e = Network::new(huge, 64, 0).unwrap_err();
    assert!(e.to_string().contains("cannot allocate"), "{e}");
    assert_eq!(
        Network::bytes_needed(SPEC, 16).unwrap(),
        Network::new(SPEC, 16, 0).unwrap().arena_bytes() as u64
    );
    // Thread counts are bounded (100000 spinning workers hung the process).
    let e = ferrograd_train::with_threads(100_000, || ()).unwrap_err();
    assert!(e.to_string().contains("at most"), "{e}");
    assert_eq!(ferrograd_train::with_threads(2, || 7).unwrap(), 7);
}

/// Defect 6: an unusable checkpoint path fails when the trainer is built, before any step;
/// a failed save leaves no temporary file.
#[test]
fn checkpoint_paths_are_checked_up_front_and_failures_leave_no_temp_file() {
    let (x, y) = data();
    let ds = Dataset::new(&x, &y, 20).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opt = OptimizerConfig::sgd(0.05, 0.9);
    for bad in [
        dir.path().join("no-such-dir").join("ck.safetensors"),
        dir.path().to_owned(),
    ] {
        assert!(
            Trainer::new(SPEC, cfg(1, opt, &bad), ds.len()).is_err(),
            "{}",
            bad.display()
        );
    }
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    assert!(Trainer::new(SPEC, cfg(1, opt, &file.join("ck")), ds.len()).is_err());

    // The rename fails (a directory appeared at the path): the temporary file is removed.
    let path = dir.path().join("ck.safetensors");
    let mut c = cfg(1, opt, &path);
    c.overwrite = true;
    let mut t = Trainer::new(SPEC, c, ds.len()).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("inside"), b"x").unwrap();
    assert!(t.fit(&ds, None, &mut |_| {}).is_err());
    assert_eq!(
        others(dir.path(), &["plain", "ck.safetensors"]),
        Vec::<String>::new()
    );
}
