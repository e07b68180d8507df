//! `.npy` files in and out (C order; float32, float64 read as float32, int64).

use std::io::BufWriter;
use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{OnnxError, Result};
use crate::tensor::Tensor;

fn err(path: &Path, msg: impl Into<String>) -> OnnxError {
    OnnxError::Npy {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Reads a C-order `.npy` of float32, float64 (converted to float32) or int64.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| err(path, format!("not a .npy file: {e}")))?;
    if file.order() != npyz::Order::C {
        return Err(err(
            path,
            "Fortran-order arrays are not supported: save with np.ascontiguousarray",
        ));
    }
    let shape = file
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| err(path, "dimension too large")))
        .collect::<Result<Vec<_>>>()?;
    let descr = file.dtype().descr();
    // Before reading: a header may claim more elements than the file holds (no huge allocation).
    let item = if descr.contains("f4") { 4 } else { 8 };
    let fits = crate::tensor::numel(&shape)
        .and_then(|n| n.checked_mul(item))
        .is_some_and(|b| b <= bytes.len());
    if !fits {
        return Err(err(
            path,
            format!("the header's shape {shape:?} is larger than the file"),
        ));
    }
    let bad = |e: std::io::Error| err(path, format!("truncated or corrupt data: {e}"));
    let t = match descr.trim_matches('\'') {
        "<f4" => Tensor::f32(shape, file.into_vec::<f32>().map_err(bad)?),
        "<f8" => Tensor::f32(
            shape,
            file.into_vec::<f64>()
                .map_err(bad)?
                .into_iter()
                .map(|x| x as f32)
                .collect(),
        ),
        "<i8" => Tensor::i64(shape, file.into_vec::<i64>().map_err(bad)?),
        other => {
            return Err(err(
                path,
                format!("dtype {other} is not supported (float32, float64 and int64 are)"),
            ))
        }
    };
    t.map_err(|e| err(path, e.to_string()))
}

/// Writes a tensor as a C-order `.npy` (float32 or int64).
pub fn write_npy(path: impl AsRef<Path>, t: &Tensor) -> Result<()> {
    let path = path.as_ref();
    let io = |source: std::io::Error| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    match t.data() {
        crate::tensor::Data::F32(v) => {
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(file)
                .begin_nd()
                .map_err(io)?;
            w.extend(v.iter().copied()).map_err(io)?;
            w.finish().map_err(io)
        }
        crate::tensor::Data::I64(v) => {
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(file)
                .begin_nd()
                .map_err(io)?;
            w.extend(v.iter().copied()).map_err(io)?;
            w.finish().map_err(io)
        }
    }
}
