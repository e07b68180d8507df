//! Run-time tensors: row-major f32 (what is differentiated) or i64 (shapes, indices, axes).

use crate::error::{OnnxError, Result};
use crate::proto;

/// The elements of a [`Tensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A row-major tensor. `shape` may be empty (a scalar, one element).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

/// Number of elements of `shape`, or `None` on overflow.
pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    /// An f32 tensor; `Err` when `data.len()` is not the product of `shape`.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        Self::new(shape, Data::F32(data))
    }

    /// An i64 tensor; `Err` when `data.len()` is not the product of `shape`.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Self> {
        Self::new(shape, Data::I64(data))
    }

    pub fn new(shape: Vec<usize>, data: Data) -> Result<Self> {
        let len = match &data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        };
        if numel(&shape) != Some(len) {
            return Err(OnnxError::Shape { shape, len });
        }
        Ok(Self { shape, data })
    }

    /// Internal constructor whose length the caller has established.
    pub(crate) fn from_parts(shape: Vec<usize>, data: Data) -> Self {
        debug_assert_eq!(numel(&shape), Some(data_len(&data)));
        Self { shape, data }
    }

    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = numel(&shape).unwrap_or(0);
        Self::from_parts(shape, Data::F32(vec![0.0; n]))
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn len(&self) -> usize {
        data_len(&self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as f32, or `None` for an i64 tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }

    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            Data::F32(_) => None,
        }
    }

    pub fn into_f32(self) -> Option<Vec<f32>> {
        match self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }

    pub fn is_f32(&self) -> bool {
        matches!(self.data, Data::F32(_))
    }

    pub(crate) fn dtype_name(&self) -> &'static str {
        match self.data {
            Data::F32(_) => "float32",
            Data::I64(_) => "int64",
        }
    }

    /// Same elements, another shape of the same size.
    pub(crate) fn reshaped(&self, shape: Vec<usize>) -> Self {
        Self::from_parts(shape, self.data.clone())
    }

    /// Decodes an initializer or a `Constant`'s value (raw_data or the typed fields).
    pub(crate) fn from_proto(t: &proto::TensorProto) -> Result<Self> {
        let err = |msg: String| OnnxError::Tensor {
            name: t.name.clone(),
            msg,
        };
        if t.data_location == 1 || !t.external_data.is_empty() {
            let loc = t
                .external_data
                .iter()
                .find(|e| e.key == "location")
                .map_or("an unnamed file", |e| e.value.as_str());
            return Err(err(format!(
                "its data is stored outside the model (external data in {loc}), which is not \
                 supported: re-save it with onnx.save(model, path, save_as_external_data=False)"
            )));
        }
        let mut shape = Vec::with_capacity(t.dims.len());
        for &d in &t.dims {
            shape.push(usize::try_from(d).map_err(|_| err(format!("negative dimension {d}")))?);
        }
        let n = numel(&shape).ok_or_else(|| err(format!("shape {shape:?} overflows")))?;
        let raw = &t.raw_data;
        let data = match t.data_type {
            proto::FLOAT if !raw.is_empty() => {
                check_len(raw.len(), n, 4).map_err(err)?;
                Data::F32(
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            }
            proto::FLOAT => Data::F32(t.float_data.clone()),
            proto::DOUBLE if !raw.is_empty() => {
                check_len(raw.len(), n, 8).map_err(err)?;
                Data::F32(
                    raw.chunks_exact(8)
                        .map(|c| {
                            let b: [u8; 8] = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                            f64::from_le_bytes(b) as f32
                        })
                        .collect(),
                )
            }
            proto::DOUBLE => Data::F32(t.double_data.iter().map(|&x| x as f32).collect()),
            proto::INT64 if !raw.is_empty() => {
                check_len(raw.len(), n, 8).map_err(err)?;
                Data::I64(
                    raw.chunks_exact(8)
                        .map(|c| {
                            i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect(),
                )
            }
            proto::INT64 => Data::I64(t.int64_data.clone()),
            proto::INT32 if !raw.is_empty() => {
                check_len(raw.len(), n, 4).map_err(err)?;
                Data::I64(
                    raw.chunks_exact(4)
                        .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect(),
                )
            }
            proto::INT32 => Data::I64(t.int32_data.iter().map(|&x| i64::from(x)).collect()),
            other => {
                return Err(err(format!(
                    "element type {other} is not supported (float, double, int32 and int64 are)"
                )))
            }
        };
        if data_len(&data) != n {
            return Err(err(format!(
                "shape {shape:?} needs {n} elements, the file holds {}",
                data_len(&data)
            )));
        }
        Ok(Self { shape, data })
    }
}

fn data_len(d: &Data) -> usize {
    match d {
        Data::F32(v) => v.len(),
        Data::I64(v) => v.len(),
    }
}

fn check_len(bytes: usize, n: usize, size: usize) -> std::result::Result<(), String> {
    if Some(bytes) == n.checked_mul(size) {
        Ok(())
    } else {
        Err(format!(
            "raw_data has {bytes} bytes, {n} elements of {size} bytes expected"
        ))
    }
}
