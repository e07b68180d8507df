//! Checkpoints of the C ABI keep the training run: training in pieces with a save and a load
//! in between gives bit-for-bit the weights of one uninterrupted training (Adam's moments, its
//! step count and the position in the seeded batch order all survive the file).

use std::ffi::CString;
use std::path::Path;
use std::ptr;

use ferrograd_capi::*;

fn ok(status: FerrogradStatus) {
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    assert_eq!(status, FerrogradStatus::Ok, "{}", unsafe {
        std::ffi::CStr::from_ptr(ferrograd_last_error()).to_string_lossy()
    });
}

/// Two noisy classes, `rows × len`, deterministic.
fn data(rows: usize, len: usize) -> (Vec<f32>, Vec<u8>) {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let y: Vec<u8> = (0..rows).map(|i| (i % 2) as u8).collect();
    let x = y
        .iter()
        .flat_map(|&c| {
            (0..len)
                .map(|j| {
                    u() + if c == 1 {
                        (j as f32 * 0.3).sin() * 0.4
                    } else {
                        0.0
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    (x, y)
}

fn new_model(cnn: bool, len: usize) -> *mut FerrogradModel {
    let mut m = ptr::null_mut();
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    ok(unsafe {
        if cnn {
            ferrograd_model_new_gw_cnn(len, 2, 3, &mut m)
        } else {
            ferrograd_model_new_mlp(len, 16, 2, 3, &mut m)
        }
    });
    m
}

fn train(
    m: *mut FerrogradModel,
    x: &[f32],
    y: &[u8],
    opts: &FerrogradTrainOptions,
) -> FerrogradTrainReport {
    let mut r = FerrogradTrainReport::default();
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    ok(unsafe {
        ferrograd_model_train_opts(
            m,
            x.as_ptr(),
            x.len(),
            y.as_ptr(),
            y.len(),
            ptr::null(),
            opts,
            &mut r,
        )
    });
    r
}

fn save_load(m: *mut FerrogradModel, path: &Path) -> *mut FerrogradModel {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    ok(unsafe { ferrograd_model_save(m, p.as_ptr()) });
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    unsafe { ferrograd_model_free(m) };
    let mut out = ptr::null_mut();
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    ok(unsafe { ferrograd_model_load(p.as_ptr(), &mut out) });
    out
}

fn predict(m: *mut FerrogradModel, x: &[f32], rows: usize) -> Vec<f32> {
    let mut p = vec![0.0f32; rows * 2];
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    ok(unsafe { ferrograd_model_predict(m, x.as_ptr(), x.len(), rows, p.as_mut_ptr(), p.len()) });
    p
}

/// `first` steps, save + load, `second` steps == `first + second` steps in one call, bitwise;
/// and both differ from a run whose moments are reset (a fresh model loaded from weights
/// only would take a different step).
fn check_resume(cnn: bool, len: usize, rows: usize, batch: usize, first: u64, second: u64) {
    let (x, y) = data(rows, len);
    let opts = |steps| FerrogradTrainOptions {
        epochs: 100,
        max_steps: steps,
        batch_size: batch,
        learning_rate: 1e-2,
        seed: 11,
    };
    let dir = tempfile::tempdir().unwrap();

    let straight = new_model(cnn, len);
    let r = train(straight, &x, &y, &opts(first + second));
    assert_eq!((r.steps, r.run_steps), (first + second, first + second));

    let mut pieces = new_model(cnn, len);
    let r1 = train(pieces, &x, &y, &opts(first));
    assert_eq!(r1.run_steps, first);
    pieces = save_load(pieces, &dir.path().join("run.safetensors"));
    let r2 = train(pieces, &x, &y, &opts(second));
    assert_eq!((r2.steps, r2.run_steps), (second, first + second));

    let (a, b) = (predict(straight, &x, rows), predict(pieces, &x, rows));
    assert_eq!(a, b, "resumed training differs from the uninterrupted one");

    // The same pieces with a different seed for the second part start a new run (fresh
    // moments, another order): the weights then differ, so the equality above is not vacuous.
    let mut other = new_model(cnn, len);
    train(other, &x, &y, &opts(first));
    other = save_load(other, &dir.path().join("other.safetensors"));
    let r3 = train(
        other,
        &x,
        &y,
        &FerrogradTrainOptions {
            seed: 12,
            ..opts(second)
        },
    );
    assert_eq!(r3.run_steps, second, "a different seed starts a new run");
    assert_ne!(predict(other, &x, rows), a);
    for m in [straight, pieces, other] {
        // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
        unsafe { ferrograd_model_free(m) };
    }
}

#[test]
fn mlp_two_steps_save_load_one_step_equals_three_steps() {
    check_resume(false, 6, 96, 16, 2, 1);
}

#[test]
fn mlp_resume_across_an_epoch_boundary() {
    // 6 batches per epoch: 4 steps, then 5 more cross into the second epoch.
    check_resume(false, 6, 96, 16, 4, 5);
}

#[test]
fn gw_cnn_two_steps_save_load_one_step_equals_three_steps() {
    check_resume(true, 256, 24, 8, 2, 1);
}

#[test]
fn epochs_in_pieces_equal_epochs_at_once() {
    let (x, y) = data(50, 5);
    let opts = |epochs| FerrogradTrainOptions {
        epochs,
        max_steps: 0,
        batch_size: 8,
        learning_rate: 1e-2,
        seed: 4,
    };
    let dir = tempfile::tempdir().unwrap();
    let a = new_model(false, 5);
    train(a, &x, &y, &opts(3));
    let mut b = new_model(false, 5);
    train(b, &x, &y, &opts(2));
    b = save_load(b, &dir.path().join("b.safetensors"));
    let r = train(b, &x, &y, &opts(1));
    assert_eq!(
        r.run_steps,
        3 * 7,
        "7 batches per epoch (the last one of 2 rows)"
    );
    assert_eq!(predict(a, &x, 50), predict(b, &x, 50));
    // SAFETY: live handles from this file, pointers and lengths of live Rust buffers.
    unsafe {
        ferrograd_model_free(a);
        ferrograd_model_free(b);
    }
}
