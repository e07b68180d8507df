//! Compiles tests/c/test_fit.c, test_model.c and test_root.c with the system C compiler
//! against the cdylib and the checked-in header and runs them (bad input included: every case
//! must be an error status with a message, never a crash); compares the C fit with the same fit
//! in Rust and checks what the C programs trained (from arrays, and from a ROOT file written
//! here) on the data in Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrograd_fit::{Model, Params};

/// Where cargo put `libferrograd_capi.so` for this test run: next to the test binary. The C
/// programs run with LD_LIBRARY_PATH set to it alone: cargo's own LD_LIBRARY_PATH also lists
/// target/debug, whose uplifted copy of the library can be stale.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    assert!(
        deps.join("libferrograd_capi.so").exists(),
        "no libferrograd_capi.so in {}",
        deps.display()
    );
    deps
}

fn compile(src: &Path, out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = lib_dir();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
        .arg(root.join("include"))
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .arg("-lferrograd_capi")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lm")
        .status()
        .expect("run the C compiler (cc)");
    assert!(status.success(), "cc failed: {status}");
}

#[test]
fn c_program_checks_bad_input_and_fits_like_rust() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("test_fit");
    compile(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/test_fit.c"),
        &exe,
    );
    let n = 20_000;
    let out = Command::new(&exe)
        .arg(n.to_string())
        .env("LD_LIBRARY_PATH", lib_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(
        out.status.success(),
        "C test failed: {}\n{stderr}",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON from C");

    // The same events and fit in Rust: the same numbers to rounding (the cdylib and the rlib
    // are compiled separately; one ulp has been seen).
    let m = Model::new(0.0, 10.0).unwrap();
    let truth = Params::from_array([3.0, 0.8, -0.3, 0.3]);
    let x = m.generate(&truth, n, 1).unwrap();
    let fit = m
        .fit(&x, &Params::from_array([2.8, 1.0, -0.2, 0.5]))
        .unwrap();
    let vals: Vec<f64> = serde_json::from_value(r["values"].clone()).unwrap();
    let errs: Vec<f64> = serde_json::from_value(r["errors"].clone()).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    for k in 0..4 {
        assert!(
            close(vals[k], fit.values[k]),
            "value {k}: C {} Rust {}",
            vals[k],
            fit.values[k]
        );
        assert!(
            close(errs[k], fit.errors[k]),
            "error {k}: C {} Rust {}",
            errs[k],
            fit.errors[k]
        );
    }
    assert!(close(r["min_nll"].as_f64().unwrap(), fit.min_nll));
}

#[test]
fn c_program_trains_predicts_saves_and_loads_an_mlp() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("test_model");
    compile(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/test_model.c"),
        &exe,
    );
    let ckpt = dir.path().join("mlp.safetensors");
    let out = Command::new(&exe)
        .arg(&ckpt)
        .env("LD_LIBRARY_PATH", lib_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(
        out.status.success(),
        "C test failed: {}\n{stderr}",
        out.status
    );
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("JSON from C");
    println!("{r}");
    assert!(r["accuracy"].as_f64().unwrap() > 0.95);
    // The checkpoint is an ordinary ferrograd-train checkpoint.
    let ck = ferrograd_train::checkpoint::load(&ckpt).expect("checkpoint loads in Rust");
    assert_eq!(
        ck.spec,
        ferrograd_train::ModelSpec::Mlp {
            in_features: 4,
            hidden: 16,
            classes: 2
        }
    );
}

/// Deterministic uniform numbers in [0, 1).
fn uniforms(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed.max(1);
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    }
}

const ROOT_ROWS: usize = 2000;

/// Tree `events` for tests/c/test_root.c: two classes `label` with features `x0..x3` around
/// ±1.5, a weight `w`, a cut variable `pt`, and the columns its bad-input cases need (`nanx`
/// with a NaN, a fractional `frac`, a three-class `cls3`, an array `arr[3]`), plus a
/// `strain[256]` array whose class-1 rows carry a sine burst. Returns `(x, labels, pt)`.
fn write_root_file(path: &Path) -> (Vec<f32>, Vec<u8>, Vec<f32>) {
    use ferrograd_root::{BranchSpec, ColumnData, Compression, ElemType, RootWriter, TreeWriter};
    let n = ROOT_ROWS;
    let mut u = uniforms(99);
    let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    let x: Vec<f32> = labels
        .iter()
        .flat_map(|&c| {
            let shift = if c == 1 { 1.5 } else { -1.5 };
            (0..4)
                .map(|_| shift + 2.0 * (u() - 0.5))
                .collect::<Vec<_>>()
        })
        .collect();
    let pt: Vec<f32> = (0..n).map(|_| 100.0 * u()).collect();
    let strain: Vec<f32> = labels
        .iter()
        .flat_map(|&c| {
            (0..256)
                .map(|j| {
                    let burst = if c == 1 && (96..160).contains(&j) {
                        (j as f32 * 0.5).sin()
                    } else {
                        0.0
                    };
                    burst + (u() - 0.5)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut specs: Vec<BranchSpec> = (0..4)
        .map(|k| BranchSpec::scalar(format!("x{k}"), ElemType::F32))
        .collect();
    specs.extend([
        BranchSpec::scalar("label", ElemType::I32),
        BranchSpec::scalar("w", ElemType::F64),
        BranchSpec::scalar("pt", ElemType::F32),
        BranchSpec::scalar("nanx", ElemType::F32),
        BranchSpec::scalar("frac", ElemType::F32),
        BranchSpec::scalar("cls3", ElemType::I32),
        BranchSpec::array("arr", ElemType::F32, 3),
        BranchSpec::array("strain", ElemType::F32, 256),
    ]);
    let mut cols: Vec<ColumnData> = (0..4)
        .map(|k| ColumnData::F32((0..n).map(|i| x[i * 4 + k]).collect()))
        .collect();
    cols.extend([
        ColumnData::I32(labels.iter().map(|&c| i32::from(c)).collect()),
        ColumnData::F64((0..n).map(|i| 0.5 + (i % 3) as f64 * 0.5).collect()),
        ColumnData::F32(pt.clone()),
        ColumnData::F32(
            (0..n)
                .map(|i| if i == 7 { f32::NAN } else { 1.0 })
                .collect(),
        ),
        ColumnData::F32(vec![0.5; n]),
        ColumnData::I32((0..n).map(|i| (i % 3) as i32).collect()),
        ColumnData::F32((0..3 * n).map(|i| i as f32).collect()),
        ColumnData::F32(strain),
    ]);
    let mut w = RootWriter::create(path, Compression::Zstd, 3).unwrap();
    let mut t = TreeWriter::new("events", "for test_root.c", &specs).unwrap();
    t.append(&mut w, &cols.iter().collect::<Vec<_>>()).unwrap();
    t.finish(&mut w).unwrap();
    w.close().unwrap();
    (x, labels, pt)
}

#[test]
fn c_program_trains_from_a_root_file_and_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("test_root");
    compile(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/test_root.c"),
        &exe,
    );
    let file = dir.path().join("events.root");
    let (x, labels, pt) = write_root_file(&file);
    let ckpt = dir.path().join("root_mlp.safetensors");
    let out = Command::new(&exe)
        .arg(&file)
        .arg(&ckpt)
        .env("LD_LIBRARY_PATH", lib_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(
        out.status.success(),
        "C test failed: {}\n{stderr}",
        out.status
    );
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("JSON from C");
    println!("{r}");
    // The cuts selected exactly the entries they name.
    let passing = |cut: f32| pt.iter().filter(|&&p| p > cut).count() as u64;
    assert_eq!(r["mlp_rows"].as_u64(), Some(passing(20.0)));
    assert_eq!(r["cnn_rows"].as_u64(), Some(passing(50.0)));
    assert_eq!(r["resume_equal"].as_bool(), Some(true));
    // The simulated strain file: the CNN trained on the entries its cut keeps (all noise, the
    // chirps above SNR 12), counted here with the native reader.
    let gw = ferrograd_root::RootFile::open(r["gw_file"].as_str().unwrap())
        .unwrap()
        .tree("gw")
        .unwrap();
    let (mut label, mut snr) = (ferrograd_root::Column::new(), ferrograd_root::Column::new());
    let mut reader = gw.reader();
    reader.read("label", 0..gw.entries(), &mut label).unwrap();
    reader.read("snr", 0..gw.entries(), &mut snr).unwrap();
    let kept = (0..gw.entries() as usize)
        .filter(|&i| label.data().get_f64(i) == Some(0.0) || snr.data().get_f64(i).unwrap() > 12.0)
        .count();
    assert_eq!(r["gw_rows"].as_u64(), Some(kept as u64));

    // The model trained in C from the file classifies the file's rows (checked in Rust, from
    // its checkpoint).
    let path = std::ffi::CString::new(ckpt.to_str().unwrap()).unwrap();
    let mut m = std::ptr::null_mut();
    let mut probs = vec![0.0f32; ROOT_ROWS * 2];
    // SAFETY: valid pointers and lengths; the model is freed once.
    unsafe {
        use ferrograd_capi::*;
        assert_eq!(
            ferrograd_model_load(path.as_ptr(), &mut m),
            FerrogradStatus::Ok
        );
        assert_eq!(
            ferrograd_model_predict(
                m,
                x.as_ptr(),
                x.len(),
                ROOT_ROWS,
                probs.as_mut_ptr(),
                probs.len()
            ),
            FerrogradStatus::Ok
        );
        ferrograd_model_free(m);
    }
    let correct = probs
        .chunks(2)
        .zip(&labels)
        .filter(|(p, &y)| (p[1] > p[0]) == (y == 1))
        .count();
    let acc = correct as f64 / ROOT_ROWS as f64;
    println!("accuracy of the ROOT-trained MLP: {acc}");
    assert!(acc > 0.95, "accuracy {acc}");
}
