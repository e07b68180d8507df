//! `ferrograd_gw_write_dataset`: simulated whitened strain (signal + noise) from
//! `ferrograd-gw` written to a ROOT file, so that a macro makes its own gravitational-wave
//! data set for the W2 CNN.

use std::ffi::c_char;

use ferrograd_gw::{write_dataset_with, DatasetConfig};

use crate::error::{guard, CError, FerrogradStatus};
use crate::ffi;

/// What `ferrograd_gw_write_dataset` wrote.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FerrogradGwDataset {
    pub entries: u64,
    /// Entries with a chirp (`label == 1`).
    pub signals: u64,
    /// Samples per strain entry (the length of `strain`).
    pub n_samples: usize,
}

/// Simulates `entries` segments of `n_samples` samples of whitened strain at 2048 Hz (aLIGO
/// design noise; half of them, in a seeded random order, with a chirp whose optimal SNR is
/// drawn uniformly from `[snr_min, snr_max]`; the rest noise only) and writes them to a new
/// ROOT file `path` as tree `tree` with the branches `strain[n_samples]/F`, `label/b` (1 = signal), `snr/F`,
/// `chirp_mass/F`, `mass_ratio/F`, `merger_time/F` and `phase/F`. `n_samples` 0 means the
/// W2 default of 2048. The same arguments give the same entries on every machine; use another
/// `seed` for a test set. Fills `*info` unless it is NULL.
///
/// # Safety
/// `path`, `tree` NUL-terminated strings; `info` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_gw_write_dataset(
    path: *const c_char,
    tree: *const c_char,
    entries: usize,
    n_samples: usize,
    seed: u64,
    snr_min: f64,
    snr_max: f64,
    info: *mut FerrogradGwDataset,
) -> FerrogradStatus {
    guard(|| {
        // SAFETY: NULL (an error) or NUL-terminated (caller contract).
        let (path, tree) = unsafe { (ffi::str_arg(path, "path")?, ffi::str_arg(tree, "tree")?) };
        let mut cfg = DatasetConfig::new(entries, seed, (snr_min, snr_max));
        if n_samples != 0 {
            cfg.gw.n_samples = n_samples;
        }
        let written = write_dataset_with(path, tree, &cfg, &mut |_| {})
            .map_err(|e| CError::Invalid(e.to_string()))?;
        if !info.is_null() {
            // SAFETY: non-NULL `info` is writable (caller contract).
            *unsafe { ffi::out(info, "info") }? = FerrogradGwDataset {
                entries: written.entries,
                signals: written.signals,
                n_samples: written.n_samples,
            };
        }
        Ok(())
    })
}
