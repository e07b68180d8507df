//! numpy inputs. A C-contiguous `float32` array is borrowed as it is (no copy); other numeric
//! arrays and nested sequences are converted once; anything else is a `TypeError`. Shapes and
//! values (finite, labels in range) are checked here, before the GIL is released.

use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::IntoPyDict;

/// numpy dtype kinds accepted as numbers: bool, signed, unsigned, float.
const NUMERIC: &[u8] = b"biuf";

/// `obj` as a numpy array of a numeric dtype (sequences through `numpy.asarray`).
fn numeric_array<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    let array = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => {
            let np = PyModule::import(obj.py(), "numpy")?;
            let a = np.call_method1("asarray", (obj,)).map_err(|e| {
                PyTypeError::new_err(format!(
                    "`{what}` must be a numpy array or a sequence of numbers: {e}"
                ))
            })?;
            a.cast_into::<PyUntypedArray>()
                .map_err(|e| PyTypeError::new_err(format!("`{what}`: {e}")))?
        }
    };
    let dtype = array.dtype();
    if !NUMERIC.contains(&dtype.kind()) {
        return Err(PyTypeError::new_err(format!(
            "`{what}` must hold numbers (bool, int or float); its dtype is {}",
            dtype.str()?
        )));
    }
    Ok(array)
}

/// `array` as a C-contiguous array of `T`: the array itself when it already is one,
/// otherwise `numpy.ascontiguousarray(array, dtype=T)` (one copy).
fn contiguous<'py, T: numpy::Element>(
    array: Bound<'py, PyUntypedArray>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    if array.is_c_contiguous() {
        if let Ok(a) = array.cast::<PyArrayDyn<T>>() {
            return Ok(a.clone());
        }
    }
    let py = array.py();
    let np = PyModule::import(py, "numpy")?;
    let kwargs = [("dtype", numpy::dtype::<T>(py))].into_py_dict(py)?;
    let converted = np.call_method("ascontiguousarray", (array,), Some(&kwargs))?;
    Ok(converted.cast_into::<PyArrayDyn<T>>()?)
}

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Fails with the first non-finite value of `values`: a matrix with rows of `row_len`, or a
/// vector for `row_len == 0`.
fn check_finite(values: &[f32], row_len: usize, what: &str) -> PyResult<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) if row_len > 0 => Err(PyValueError::new_err(format!(
            "`{what}[{}, {}]` is {}: inputs must be finite (no NaN or infinity)",
            i / row_len,
            i % row_len,
            values[i]
        ))),
        Some(i) => Err(PyValueError::new_err(format!(
            "`{what}[{i}]` is {}: values must be finite (no NaN or infinity)",
            values[i]
        ))),
    }
}

/// Feature rows `x: [rows, row_len]` as `float32`, borrowed when possible; every value
/// finite.
pub fn features<'py>(
    obj: &Bound<'py, PyAny>,
    row_len: usize,
) -> PyResult<PyReadonlyArrayDyn<'py, f32>> {
    let array = contiguous::<f32>(numeric_array(obj, "x")?)?;
    let shape = array.shape().to_vec();
    if shape.len() != 2 || shape[1] != row_len {
        return Err(PyValueError::new_err(format!(
            "`x` must be a 2-D array [rows, {row_len}] (the model takes {row_len} values per \
             row); its shape is {}",
            shape_text(&shape)
        )));
    }
    let view = array.try_readonly()?;
    check_finite(view.as_slice()?, row_len, "x")?;
    Ok(view)
}

/// Class labels `y: [rows]` as bytes: integers (bool, int, or integral floats) in
/// `0..classes`.
pub fn labels(obj: &Bound<'_, PyAny>, rows: usize, classes: usize) -> PyResult<Vec<u8>> {
    let array = contiguous::<f64>(numeric_array(obj, "y")?)?;
    let shape = array.shape().to_vec();
    if shape != [rows] {
        return Err(PyValueError::new_err(format!(
            "`y` must be a 1-D array of {rows} labels (one per row of `x`); its shape is {}",
            shape_text(&shape)
        )));
    }
    let view = array.try_readonly()?;
    // Labels are stored as bytes by the training library.
    let bound = classes.min(256);
    view.as_slice()?
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v < bound as f64 {
                Ok(v as u8)
            } else {
                Err(PyValueError::new_err(format!(
                    "`y[{i}]` is {v}: labels must be integers in 0..{bound} (the model has \
                     {classes} classes)"
                )))
            }
        })
        .collect()
}

/// Event weights `w: [rows]` as `float32`, every one finite.
pub fn weights(obj: &Bound<'_, PyAny>, rows: usize) -> PyResult<Vec<f32>> {
    let array = contiguous::<f32>(numeric_array(obj, "weight")?)?;
    let shape = array.shape().to_vec();
    if shape != [rows] {
        return Err(PyValueError::new_err(format!(
            "`weight` must be a 1-D array of {rows} weights (one per row of `x`); its shape \
             is {}",
            shape_text(&shape)
        )));
    }
    let view = array.try_readonly()?;
    let w = view.as_slice()?;
    check_finite(w, 0, "weight")?;
    Ok(w.to_vec())
}
