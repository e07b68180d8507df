//! # ferrograd-py — the `ferrograd` Python module
//!
//! A thin PyO3 layer over `ferrograd-train`: [`model::Model`] builds, trains, applies, saves
//! and loads a network on numpy arrays; the pure-Python package around it
//! (`python/ferrograd/`) adds `fit_rdf`, which takes a PyROOT `RDataFrame`. Inputs are
//! checked here ([`arrays`]) and every library error becomes a Python exception
//! ([`errors`]): nothing a caller passes can abort the interpreter.
//!
//! Built and installed into the project venv by `scripts/setup-python.sh` (maturin).

mod arrays;
mod errors;
mod model;

use pyo3::prelude::*;

/// The native part of the `ferrograd` package (`ferrograd._ferrograd`).
#[pymodule]
#[pyo3(name = "_ferrograd")]
fn ferrograd_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
