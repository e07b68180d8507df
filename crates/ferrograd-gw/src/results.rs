//! The results tree: one entry per test entry, in the test file's entry order, so ROOT can
//! attach it with `AddFriend` and `Draw("score", "label == 1")` works on either.

use std::path::Path;

use ferrograd_root::{BranchSpec, ColumnData, Compression, ElemType, RootWriter, TreeWriter};

use crate::error::{GwError, Result};
use crate::train::Scored;

/// Branches of the results tree: `index/l` (entry number in the test tree), `score/F`
/// (p(signal) in [0, 1]), `log_odds/F`, `label/b`, `snr/F`.
pub const RESULT_BRANCHES: [&str; 5] = ["index", "score", "log_odds", "label", "snr"];

/// Writes `scored` as tree `tree` of a new file at `path` (ZLIB level 1).
///
/// # Errors
/// [`GwError::Root`] if the file cannot be written; [`GwError::Config`] if the scored
/// columns differ in length.
pub fn write_results(path: impl AsRef<Path>, tree: &str, scored: &Scored) -> Result<()> {
    let n = scored.labels.len();
    if scored.log_odds.len() != n || scored.snr.len() != n {
        return Err(GwError::config(
            "results",
            format!(
                "{} scores, {n} labels and {} SNRs",
                scored.log_odds.len(),
                scored.snr.len()
            ),
        ));
    }
    let specs = [
        BranchSpec::scalar(RESULT_BRANCHES[0], ElemType::U64),
        BranchSpec::scalar(RESULT_BRANCHES[1], ElemType::F32),
        BranchSpec::scalar(RESULT_BRANCHES[2], ElemType::F32),
        BranchSpec::scalar(RESULT_BRANCHES[3], ElemType::U8),
        BranchSpec::scalar(RESULT_BRANCHES[4], ElemType::F32),
    ];
    let mut file = RootWriter::create(path, Compression::Zlib, 1)?;
    let mut t = TreeWriter::new(tree, "classifier output per test entry", &specs)?;
    let cols = [
        ColumnData::U64((0..n as u64).collect()),
        ColumnData::F32(scored.probabilities()),
        ColumnData::F32(scored.log_odds.clone()),
        ColumnData::U8(scored.labels.clone()),
        ColumnData::F32(scored.snr.clone()),
    ];
    t.append(&mut file, &cols.iter().collect::<Vec<_>>())?;
    t.finish(&mut file)?;
    file.close()?;
    Ok(())
}
