//! `ferrograd_model_train_root`: training from a ROOT file and tree with the native loader of
//! `ferrograd-root` (feature columns, a class-label target, an optional weight column and
//! selection cut), so that a macro hands over the file instead of copying columns.

use std::ffi::c_char;
use std::path::PathBuf;

use ferrograd_root::{Loader, LoaderConfig, Source, Split};

use crate::error::{guard, CError, FerrogradStatus};
use crate::ffi;
use crate::model::FerrogradModel;
use crate::run::{self, FerrogradTrainOptions, FerrogradTrainReport, Origin, Rows};

/// Rows per read of the loader (the whole selection ends up in memory for training).
const READ_BATCH: usize = 4096;

/// Trains the model on the entries of tree `tree` in the ROOT file `path` that pass `cut`,
/// as `ferrograd_model_train_opts` does on arrays (same run continuation, options and
/// report).
///
/// - `features[0..n_features]`: branch names whose values, concatenated, make a row of the
///   model's input length. A scalar gives one value, a fixed-size array (`strain[2048]/F`) its
///   length; a jagged branch (`std::vector<float>`, `x[n]/F`) is padded with 0 or truncated to
///   the model's input length.
/// - `target`: a scalar branch of integer class labels `0..classes`.
/// - `weight`: NULL, or a scalar branch of event weights (MLP only).
/// - `cut`: NULL, or a selection such as `"pt > 25 && abs_eta < 2.5"` (comparisons of
///   scalar branches with numbers joined by `&&`, `||` and parentheses).
///
/// A missing file, tree or branch, a type the loader cannot read, rows of the wrong length for
/// the model, a value that is not finite, or a label out of range is an error; the model is
/// then unchanged.
///
/// # Safety
/// `model` live and not used by another thread; `path`, `tree`, `target` NUL-terminated
/// strings; `features` `n_features` NUL-terminated strings; `weight`, `cut` NULL or
/// NUL-terminated; `options` readable; `report` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferrograd_model_train_root(
    model: *mut FerrogradModel,
    path: *const c_char,
    tree: *const c_char,
    features: *const *const c_char,
    n_features: usize,
    target: *const c_char,
    weight: *const c_char,
    cut: *const c_char,
    options: *const FerrogradTrainOptions,
    report: *mut FerrogradTrainReport,
) -> FerrogradStatus {
    guard(|| {
        // SAFETY: each pointer is NULL (an error, or absent where optional) or valid as the
        // caller contract states.
        let (m, path, tree, features, target, weight, cut, opts) = unsafe {
            (
                ffi::handle_mut(model, "model")?,
                ffi::str_arg(path, "path")?,
                ffi::str_arg(tree, "tree")?,
                ffi::str_array(features, n_features, "features")?,
                ffi::str_arg(target, "target")?,
                ffi::opt_str_arg(weight, "weight")?,
                ffi::opt_str_arg(cut, "cut")?,
                *ffi::handle(options, "options")?,
            )
        };
        if features.is_empty() {
            return Err(CError::Invalid("`features` is empty".into()));
        }
        let spec = m.net.spec();
        let mut cfg = LoaderConfig::new(
            vec![Source {
                path: PathBuf::from(path),
                tree: tree.to_string(),
                label: None,
            }],
            features.iter().map(|f| f.to_string()).collect(),
        );
        cfg.targets = vec![target.to_string()];
        cfg.weights = weight.map(str::to_string);
        cfg.cut = cut.map(str::to_string);
        cfg.max_len = spec.input_len();
        cfg.batch_size = READ_BATCH;
        cfg.shuffle = false;
        let loader = Loader::new(cfg)?;
        if loader.row_len() != spec.input_len() {
            let widths: Vec<String> = features
                .iter()
                .zip(loader.feature_widths())
                .map(|(f, w)| format!("`{f}` {w}"))
                .collect();
            return Err(CError::Invalid(format!(
                "{path}:{tree}: the features give {} values per row ({}); the model takes {}",
                loader.row_len(),
                widths.join(", "),
                spec.input_len()
            )));
        }
        let all = loader.read_split(Split::Train)?;
        if all.len == 0 {
            return Err(CError::Invalid(format!(
                "{path}:{tree}: no entry passes the cut{}",
                cut.map(|c| format!(" `{c}`")).unwrap_or_default()
            )));
        }
        // The branch of every value of a row, for messages.
        let mut columns = Vec::with_capacity(spec.input_len());
        for (f, &w) in features.iter().zip(loader.feature_widths()) {
            if w == 1 {
                columns.push(format!("`{f}`"));
            } else {
                columns.extend((0..w).map(|k| format!("`{f}[{k}]`")));
            }
        }
        let origin = Origin::Tree {
            columns: &columns,
            target,
            weight: weight.unwrap_or(""),
        };
        let w = weight.map(|_| all.weights.as_slice());
        let data = Rows::new(spec, &all.x, &all.labels, w, &origin).map_err(|e| {
            let rows = if cut.is_some() {
                " (rows count the entries that pass the cut)"
            } else {
                ""
            };
            CError::Invalid(format!("{path}:{tree}: {e}{rows}"))
        })?;
        let r = run::train(&mut m.net, &mut m.run, &data, &opts)?;
        if !report.is_null() {
            // SAFETY: non-NULL `report` is writable (caller contract).
            *unsafe { ffi::out(report, "report") }? = r;
        }
        Ok(())
    })
}
