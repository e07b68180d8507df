//! Seeded, shuffled mini-batches copied into caller-owned buffers.
//!
//! [`EpochOrder`] owns one permutation (allocated once) and reshuffles it in place at each
//! epoch; the order of epoch `e` depends only on `(seed, e)`, so a resumed run that calls
//! [`EpochOrder::seek`] with the saved `(epoch, batch)` sees exactly the batches an
//! uninterrupted run would. [`gather_batch`] copies the selected rows into the caller's
//! buffers; [`Batches`] ties the two to a data set. Nothing allocates per batch.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::DataError;

/// The shuffled order of `n_examples` indices, epoch after epoch, cut into batches.
#[derive(Debug, Clone)]
pub struct EpochOrder {
    perm: Vec<usize>,
    seed: u64,
    epoch: u64,
    batch_size: usize,
    drop_last: bool,
    next_batch: usize,
}

impl EpochOrder {
    /// The order for epoch 0, batches of `batch_size`; the last, smaller batch is kept
    /// (see [`EpochOrder::with_drop_last`]).
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] if `batch_size` is 0.
    pub fn new(n_examples: usize, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::InvalidConfig {
                field: "batch_size",
                reason: "must be at least 1".to_owned(),
            });
        }
        let mut order = EpochOrder {
            perm: (0..n_examples).collect(),
            seed,
            epoch: 0,
            batch_size,
            drop_last: false,
            next_batch: 0,
        };
        order.shuffle();
        Ok(order)
    }

    /// Whether to skip the last batch of an epoch when it is smaller than `batch_size`.
    #[must_use]
    pub fn with_drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Number of examples per batch (the last batch of an epoch may be smaller).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Number of examples in the data set.
    pub fn n_examples(&self) -> usize {
        self.perm.len()
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let n = self.perm.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The current epoch (0-based).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Index within the current epoch of the batch the next call returns.
    pub fn batch_in_epoch(&self) -> usize {
        self.next_batch
    }

    /// Positions the order at batch `batch` of epoch `epoch` (for resuming from a checkpoint).
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] if `batch` exceeds [`EpochOrder::batches_per_epoch`].
    pub fn seek(&mut self, epoch: u64, batch: usize) -> Result<(), DataError> {
        if batch > self.batches_per_epoch() {
            return Err(DataError::InvalidConfig {
                field: "batch",
                reason: format!(
                    "{batch} is past the {} batches of an epoch",
                    self.batches_per_epoch()
                ),
            });
        }
        self.epoch = epoch;
        self.shuffle();
        self.next_batch = batch;
        Ok(())
    }

    /// The example indices of the next batch, or `None` once the current epoch is exhausted —
    /// at which point the order has moved to the next epoch, reshuffled.
    pub fn next_indices(&mut self) -> Option<&[usize]> {
        if self.next_batch >= self.batches_per_epoch() {
            self.epoch = self.epoch.wrapping_add(1);
            self.next_batch = 0;
            self.shuffle();
            return None;
        }
        let start = self.next_batch * self.batch_size;
        let end = start.saturating_add(self.batch_size).min(self.perm.len());
        self.next_batch += 1;
        Some(&self.perm[start..end])
    }

    /// Rebuilds the permutation of the current epoch from `(seed, epoch)` alone.
    fn shuffle(&mut self) {
        for (i, p) in self.perm.iter_mut().enumerate() {
            *p = i;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.epoch);
        self.perm.shuffle(&mut rng);
    }
}

/// Copies rows `indices` of `x` (`[n, row_len]`, row-major) and their labels `y` (`[n]`) into
/// the front of `x_buf` and `y_buf`; returns the number of rows copied. Labels convert from
/// `u8` into the caller's type (`u8`, `usize`, `i64`, `f32`, …).
///
/// # Errors
/// [`DataError::BadLength`] if `x` is not `y.len() * row_len` long, a buffer is too small, or
/// an index is out of range; [`DataError::InvalidConfig`] if `row_len` is 0.
pub fn gather_batch<L: Copy + From<u8>>(
    x: &[f32],
    y: &[u8],
    row_len: usize,
    indices: &[usize],
    x_buf: &mut [f32],
    y_buf: &mut [L],
) -> Result<usize, DataError> {
    check_data(x, y, row_len)?;
    let n = indices.len();
    let need = n.saturating_mul(row_len);
    if x_buf.len() < need {
        return Err(DataError::BadLength {
            what: "x_buf (minimum: batch rows × row_len)",
            expected: need,
            found: x_buf.len(),
        });
    }
    if y_buf.len() < n {
        return Err(DataError::BadLength {
            what: "y_buf (minimum: batch rows)",
            expected: n,
            found: y_buf.len(),
        });
    }
    for (row, &i) in indices.iter().enumerate() {
        let Some(&label) = y.get(i) else {
            return Err(DataError::BadLength {
                what: "data set (an index is past its end)",
                expected: i + 1,
                found: y.len(),
            });
        };
        x_buf[row * row_len..(row + 1) * row_len]
            .copy_from_slice(&x[i * row_len..(i + 1) * row_len]);
        y_buf[row] = L::from(label);
    }
    Ok(n)
}

fn check_data(x: &[f32], y: &[u8], row_len: usize) -> Result<(), DataError> {
    if row_len == 0 {
        return Err(DataError::InvalidConfig {
            field: "row_len",
            reason: "must be at least 1".to_owned(),
        });
    }
    let expected = y
        .len()
        .checked_mul(row_len)
        .ok_or_else(|| DataError::InvalidConfig {
            field: "row_len",
            reason: "labels × row_len overflows usize".to_owned(),
        })?;
    if x.len() != expected {
        return Err(DataError::BadLength {
            what: "x (labels × row_len)",
            expected,
            found: x.len(),
        });
    }
    Ok(())
}

/// Shuffled batches over a borrowed data set `x: [n, row_len]`, `y: [n]`.
///
/// ```
/// # use ferrograd_data::Batches;
/// let x: Vec<f32> = (0..10 * 3).map(|v| v as f32).collect();
/// let y: Vec<u8> = (0..10).collect();
/// let mut batches = Batches::new(&x, &y, 3, 4, 42)?;
/// let (mut xb, mut yb) = (vec![0.0f32; 4 * 3], vec![0usize; 4]);
/// let mut seen = 0;
/// while let Some(rows) = batches.next_into(&mut xb, &mut yb)? {
///     seen += rows; // rows = 4, 4, 2; use xb[..rows * 3], yb[..rows]
/// }
/// assert_eq!(seen, 10);
/// # Ok::<(), ferrograd_data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    x: &'a [f32],
    y: &'a [u8],
    row_len: usize,
    order: EpochOrder,
}

impl<'a> Batches<'a> {
    /// Batches of `batch_size` rows of `row_len` values, shuffled with `seed`.
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] for a zero `row_len` or `batch_size`;
    /// [`DataError::BadLength`] if `x.len() != y.len() * row_len`.
    pub fn new(
        x: &'a [f32],
        y: &'a [u8],
        row_len: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, DataError> {
        check_data(x, y, row_len)?;
        Ok(Batches {
            x,
            y,
            row_len,
            order: EpochOrder::new(y.len(), batch_size, seed)?,
        })
    }

    /// Whether to skip a final batch smaller than `batch_size`.
    #[must_use]
    pub fn with_drop_last(mut self, drop_last: bool) -> Self {
        self.order = self.order.with_drop_last(drop_last);
        self
    }

    /// The epoch order (epoch, position, seek for resuming).
    pub fn order(&self) -> &EpochOrder {
        &self.order
    }

    /// Mutable access to the epoch order, e.g. to [`EpochOrder::seek`].
    pub fn order_mut(&mut self) -> &mut EpochOrder {
        &mut self.order
    }

    /// Fills the next batch into `x_buf` (`≥ batch_size × row_len`) and `y_buf`
    /// (`≥ batch_size`); returns the number of rows filled, or `None` at the end of an epoch
    /// (the next call starts the next epoch).
    ///
    /// # Errors
    /// [`DataError::BadLength`] if a buffer is smaller than a full batch.
    pub fn next_into<L: Copy + From<u8>>(
        &mut self,
        x_buf: &mut [f32],
        y_buf: &mut [L],
    ) -> Result<Option<usize>, DataError> {
        let bs = self.order.batch_size();
        let need = bs.saturating_mul(self.row_len);
        if x_buf.len() < need {
            return Err(DataError::BadLength {
                what: "x_buf (minimum: batch_size × row_len)",
                expected: need,
                found: x_buf.len(),
            });
        }
        if y_buf.len() < bs {
            return Err(DataError::BadLength {
                what: "y_buf (minimum: batch_size)",
                expected: bs,
                found: y_buf.len(),
            });
        }
        let (x, y, row_len) = (self.x, self.y, self.row_len);
        match self.order.next_indices() {
            None => Ok(None),
            Some(indices) => gather_batch(x, y, row_len, indices, x_buf, y_buf).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_indices(order: &mut EpochOrder) -> Vec<usize> {
        let mut all = Vec::new();
        while let Some(ix) = order.next_indices() {
            all.extend_from_slice(ix);
        }
        all
    }

    #[test]
    fn each_epoch_is_a_permutation_and_epochs_differ() {
        let mut o = EpochOrder::new(103, 10, 7).unwrap();
        assert_eq!(o.batches_per_epoch(), 11);
        let e0 = epoch_indices(&mut o);
        let e1 = epoch_indices(&mut o);
        for e in [&e0, &e1] {
            let mut s = e.clone();
            s.sort_unstable();
            assert_eq!(s, (0..103).collect::<Vec<_>>());
        }
        assert_ne!(e0, e1, "epochs must be reshuffled");
        assert_ne!(e0, (0..103).collect::<Vec<_>>(), "epoch 0 must be shuffled");
        assert_eq!(o.epoch(), 2);
    }

    #[test]
    fn same_seed_same_order_and_seek_resumes_exactly() {
        let mut a = EpochOrder::new(50, 8, 1234).unwrap();
        let mut b = EpochOrder::new(50, 8, 1234).unwrap();
        assert_eq!(epoch_indices(&mut a), epoch_indices(&mut b));
        let mut c = EpochOrder::new(50, 8, 1235).unwrap();
        assert_ne!(
            epoch_indices(&mut c),
            epoch_indices(&mut EpochOrder::new(50, 8, 1234).unwrap())
        );

        // Uninterrupted: epochs 0, 1, 2 in sequence. Resumed: jump to (2, 3).
        let mut full = EpochOrder::new(50, 8, 99).unwrap();
        epoch_indices(&mut full);
        epoch_indices(&mut full);
        let e2 = epoch_indices(&mut full);
        let mut resumed = EpochOrder::new(50, 8, 99).unwrap();
        resumed.seek(2, 3).unwrap();
        assert_eq!(resumed.batch_in_epoch(), 3);
        assert_eq!(epoch_indices(&mut resumed), e2[3 * 8..]);
        assert!(resumed.seek(0, 8).is_err());
    }

    #[test]
    fn drop_last_skips_the_short_batch() {
        let mut o = EpochOrder::new(10, 4, 0).unwrap().with_drop_last(true);
        assert_eq!(o.batches_per_epoch(), 2);
        assert_eq!(epoch_indices(&mut o).len(), 8);
    }

    #[test]
    fn batches_copy_matching_rows_and_labels() {
        let row_len = 3;
        let y: Vec<u8> = (0..11).collect();
        // Row i holds i*10 + column, so a copied row identifies its example.
        let x: Vec<f32> = (0..11)
            .flat_map(|i| (0..row_len).map(move |c| (i * 10 + c) as f32))
            .collect();
        let mut b = Batches::new(&x, &y, row_len, 4, 5).unwrap();
        let (mut xb, mut yb) = (vec![0.0f32; 4 * row_len], vec![0i64; 4]);
        let mut seen = Vec::new();
        while let Some(rows) = b.next_into(&mut xb, &mut yb).unwrap() {
            for r in 0..rows {
                let label = yb[r];
                for c in 0..row_len {
                    assert_eq!(xb[r * row_len + c], (label * 10 + c as i64) as f32);
                }
                seen.push(label);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..11).collect::<Vec<i64>>());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = vec![0.0f32; 12];
        let y = vec![0u8; 4];
        assert!(matches!(
            Batches::new(&x, &y, 0, 2, 0),
            Err(DataError::InvalidConfig { .. })
        ));
        assert!(matches!(
            Batches::new(&x, &y, 3, 0, 0),
            Err(DataError::InvalidConfig { .. })
        ));
        assert!(matches!(
            Batches::new(&x, &y, 4, 2, 0),
            Err(DataError::BadLength { .. })
        ));
        let mut b = Batches::new(&x, &y, 3, 2, 0).unwrap();
        let mut small = vec![0.0f32; 5];
        let mut yb = vec![0u8; 2];
        assert!(matches!(
            b.next_into(&mut small, &mut yb),
            Err(DataError::BadLength { expected: 6, .. })
        ));
        let mut xb = vec![0.0f32; 6];
        assert!(matches!(
            gather_batch(&x, &y, 3, &[4], &mut xb, &mut yb),
            Err(DataError::BadLength { .. })
        ));
    }
}
