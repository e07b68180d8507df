//! Diagnostics of `#[differentiable]` on unsupported input, locked in by `trybuild`: each case
//! in `tests/ui/` must fail with exactly the `.stderr` committed next to it — one error on the
//! offending construct, saying what is supported (no cascade from generated code).
//!
//! Regenerate after an intended message change with
//! `TRYBUILD=overwrite cargo test -p ferrograd --test compile_fail`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
