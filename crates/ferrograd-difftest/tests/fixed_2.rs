//! Fixed-seed generated programs, part 2 of 4 (`build.rs`): reverse vs forward vs the
//! dual-number oracle, and the oracle vs finite differences. `--nocapture` prints the max
//! differences of each batch.

include!(concat!(env!("OUT_DIR"), "/fixed_2.rs"));
