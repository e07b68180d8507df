//! Compiles tests/c/test_fit.c and tests/c/test_model.c with the system C compiler against the
//! cdylib and the checked-in header and runs them (bad input included: every case must be an
//! error status with a message, never a crash); compares the C fit with the same fit in Rust.

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
