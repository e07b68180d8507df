//! Predictions written next to their input as a friend tree: `index` (the entry number in the
//! source tree, so ROOT's `AddFriend` lines entries up and a reader can check it), copied
//! columns, and `prediction` (`Float_t`, or `Float_t[k]` for k outputs per entry).

use crate::column::ColumnData;
use crate::error::{Error, Result};
use crate::types::ElemType;

use super::{BranchSpec, RootWriter, TreeWriter};

/// A friend tree of predictions being written.
pub struct PredictionWriter {
    tree: TreeWriter,
    outputs: usize,
    index: ColumnData,
}

impl PredictionWriter {
    /// `copied`: the source columns to repeat next to the predictions (names and types as in
    /// the source tree); `outputs`: predictions per entry.
    pub fn new(name: &str, copied: &[BranchSpec], outputs: usize) -> Result<Self> {
        let mut specs = vec![BranchSpec::scalar("index", ElemType::U64)];
        specs.extend_from_slice(copied);
        specs.push(BranchSpec::array(
            "prediction",
            ElemType::F32,
            outputs.max(1),
        ));
        Ok(PredictionWriter {
            tree: TreeWriter::new(name, "predictions (friend tree)", &specs)?,
            outputs: outputs.max(1),
            index: ColumnData::U64(Vec::new()),
        })
    }

    /// Appends the predictions of source entries `first..first + n` (`n` = predictions /
    /// outputs) with the copied columns of the same entries. Entries must come in order.
    pub fn append(
        &mut self,
        file: &mut RootWriter,
        first: u64,
        predictions: &[f32],
        copied: &[&ColumnData],
    ) -> Result<()> {
        if first != self.tree.entries() {
            return Err(Error::Write {
                what: "predictions".into(),
                detail: format!(
                    "entries must be appended in order: got entry {first}, expected {}",
                    self.tree.entries()
                ),
            });
        }
        let n = (predictions.len() / self.outputs) as u64;
        if let ColumnData::U64(v) = &mut self.index {
            v.clear();
            v.extend(first..first + n);
        }
        let preds = ColumnData::F32(predictions.to_vec());
        let mut cols: Vec<&ColumnData> = vec![&self.index];
        cols.extend_from_slice(copied);
        cols.push(&preds);
        self.tree.append(file, &cols)
    }

    /// Writes the tree; ROOT then reads it with `tree->AddFriend(name, file)`.
    pub fn finish(self, file: &mut RootWriter) -> Result<()> {
        self.tree.finish(file)
    }
}
