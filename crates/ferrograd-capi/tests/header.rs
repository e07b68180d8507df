//! `include/ferrograd.h` is what cbindgen generates from this crate today.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn header_is_current() {
    let want = generate();
    let have = std::fs::read_to_string(root().join("include/ferrograd.h")).unwrap_or_default();
    assert!(
        have == want,
        "include/ferrograd.h is stale: run `cargo test -p ferrograd-capi --test header -- --ignored bless`"
    );
}

/// Rewrites the checked-in header (run on purpose, with `--ignored`).
#[test]
#[ignore]
fn bless() {
    std::fs::write(root().join("include/ferrograd.h"), generate()).expect("write header");
}
