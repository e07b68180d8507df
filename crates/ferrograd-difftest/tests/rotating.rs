//! Programs from a rotating seed (`FERROGRAD_DIFFTEST_SEED`, else the clock at build time),
//! printed with every failure; and the generator's coverage of the fixed set.

include!(concat!(env!("OUT_DIR"), "/rotating.rs"));

mod coverage {
    include!(concat!(env!("OUT_DIR"), "/coverage.rs"));
}

#[test]
fn print_rotating_seed() {
    println!("rotating batch: FERROGRAD_DIFFTEST_SEED={SEED:#x}");
}

/// Every construct of the grammar occurs in the fixed set (except those excluded in
/// `build.rs`, listed with the failure they wait for).
#[test]
fn fixed_set_reaches_every_construct() {
    let missing: Vec<&str> = ferrograd_difftest::gen::constructs()
        .into_iter()
        .filter(|c| !coverage::EXCLUDED.contains(c))
        .filter(|c| !coverage::COVERAGE.iter().any(|(n, k)| n == c && *k > 0))
        .collect();
    println!(
        "{} programs; coverage: {:?}",
        coverage::FIXED_PROGRAMS,
        coverage::COVERAGE
    );
    assert!(missing.is_empty(), "never generated: {missing:?}");
    const { assert!(coverage::FIXED_PROGRAMS >= 2000) };
}

/// The constructs added to the compiler for issue 13 (generic functions, closures, tuples,
/// sub-slices) occur in the fixed set often enough to meet many different contexts.
#[test]
fn fixed_set_uses_the_new_constructs_often() {
    const NEW: &[&str] = &[
        "generic",
        "closure",
        "call:closure",
        "tuple",
        "read:tuple",
        "sub_slice",
        "slice_call",
    ];
    let rare: Vec<(&str, usize)> = ferrograd_difftest::gen::constructs()
        .into_iter()
        .filter(|c| NEW.iter().any(|p| c.starts_with(p)))
        .map(|c| {
            let k = coverage::COVERAGE
                .iter()
                .find(|(n, _)| *n == c)
                .map_or(0, |(_, k)| *k);
            (c, k)
        })
        .filter(|&(_, k)| k < 25)
        .collect();
    assert!(rare.is_empty(), "generated fewer than 25 times: {rare:?}");
}
