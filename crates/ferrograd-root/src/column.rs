//! Caller-owned column buffers: typed values plus, for jagged branches, entry offsets. A
//! buffer keeps its capacity between reads, so a loop that reuses it allocates nothing once the
//! largest batch has been seen.

use std::ops::Range;

use crate::types::ElemType;

/// Values of one column, in the branch's own element type.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Applies `$body` to the vector inside any variant.
macro_rules! each {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            ColumnData::Bool($v) => $body,
            ColumnData::I8($v) => $body,
            ColumnData::U8($v) => $body,
            ColumnData::I16($v) => $body,
            ColumnData::U16($v) => $body,
            ColumnData::I32($v) => $body,
            ColumnData::U32($v) => $body,
            ColumnData::I64($v) => $body,
            ColumnData::U64($v) => $body,
            ColumnData::F32($v) => $body,
            ColumnData::F64($v) => $body,
        }
    };
}

/// Appends big-endian numbers of `$t` (`$n` bytes each).
macro_rules! be {
    ($v:expr, $bytes:expr, $t:ty, $n:literal) => {
        $v.extend($bytes.chunks_exact($n).map(|c| {
            let mut a = [0u8; $n];
            a.copy_from_slice(c);
            <$t>::from_be_bytes(a)
        }))
    };
}

impl ColumnData {
    fn empty(t: ElemType) -> Self {
        match t {
            ElemType::Bool => ColumnData::Bool(Vec::new()),
            ElemType::I8 => ColumnData::I8(Vec::new()),
            ElemType::U8 => ColumnData::U8(Vec::new()),
            ElemType::I16 => ColumnData::I16(Vec::new()),
            ElemType::U16 => ColumnData::U16(Vec::new()),
            ElemType::I32 => ColumnData::I32(Vec::new()),
            ElemType::U32 => ColumnData::U32(Vec::new()),
            ElemType::I64 => ColumnData::I64(Vec::new()),
            ElemType::U64 => ColumnData::U64(Vec::new()),
            ElemType::F32 => ColumnData::F32(Vec::new()),
            ElemType::F64 => ColumnData::F64(Vec::new()),
        }
    }

    pub fn elem_type(&self) -> ElemType {
        match self {
            ColumnData::Bool(_) => ElemType::Bool,
            ColumnData::I8(_) => ElemType::I8,
            ColumnData::U8(_) => ElemType::U8,
            ColumnData::I16(_) => ElemType::I16,
            ColumnData::U16(_) => ElemType::U16,
            ColumnData::I32(_) => ElemType::I32,
            ColumnData::U32(_) => ElemType::U32,
            ColumnData::I64(_) => ElemType::I64,
            ColumnData::U64(_) => ElemType::U64,
            ColumnData::F32(_) => ElemType::F32,
            ColumnData::F64(_) => ElemType::F64,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn clear(&mut self) {
        each!(self, v => v.clear())
    }

    /// Appends values decoded from big-endian bytes (whole elements only; callers check).
    pub(crate) fn extend_be(&mut self, bytes: &[u8]) {
        match self {
            ColumnData::Bool(v) => v.extend(bytes.iter().map(|&b| b != 0)),
            ColumnData::I8(v) => v.extend(bytes.iter().map(|&b| b as i8)),
            ColumnData::U8(v) => v.extend_from_slice(bytes),
            ColumnData::I16(v) => be!(v, bytes, i16, 2),
            ColumnData::U16(v) => be!(v, bytes, u16, 2),
            ColumnData::I32(v) => be!(v, bytes, i32, 4),
            ColumnData::U32(v) => be!(v, bytes, u32, 4),
            ColumnData::I64(v) => be!(v, bytes, i64, 8),
            ColumnData::U64(v) => be!(v, bytes, u64, 8),
            ColumnData::F32(v) => be!(v, bytes, f32, 4),
            ColumnData::F64(v) => be!(v, bytes, f64, 8),
        }
    }

    /// Value `i` converted to `f64` (exact for all but 64-bit integers above 2^53).
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        match self {
            ColumnData::Bool(v) => v.get(i).map(|&x| f64::from(u8::from(x))),
            ColumnData::I8(v) => v.get(i).map(|&x| f64::from(x)),
            ColumnData::U8(v) => v.get(i).map(|&x| f64::from(x)),
            ColumnData::I16(v) => v.get(i).map(|&x| f64::from(x)),
            ColumnData::U16(v) => v.get(i).map(|&x| f64::from(x)),
            ColumnData::I32(v) => v.get(i).map(|&x| f64::from(x)),
            ColumnData::U32(v) => v.get(i).map(|&x| f64::from(x)),
            ColumnData::I64(v) => v.get(i).map(|&x| x as f64),
            ColumnData::U64(v) => v.get(i).map(|&x| x as f64),
            ColumnData::F32(v) => v.get(i).map(|&x| f64::from(x)),
            ColumnData::F64(v) => v.get(i).copied(),
        }
    }

    /// Value `i` converted to `f32`, the loader's feature type.
    pub fn get_f32(&self, i: usize) -> Option<f32> {
        match self {
            ColumnData::F32(v) => v.get(i).copied(),
            _ => self.get_f64(i).map(|x| x as f32),
        }
    }
}

/// One column read from a branch: values, and for jagged branches the entry offsets.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    data: ColumnData,
    /// Values per entry for fixed-size branches (1 for scalars).
    width: usize,
    /// `entries + 1` offsets into `data` for jagged branches; empty otherwise.
    offsets: Vec<usize>,
    jagged: bool,
}

impl Default for Column {
    fn default() -> Self {
        Column::new()
    }
}

impl Column {
    pub fn new() -> Self {
        Column {
            data: ColumnData::F64(Vec::new()),
            width: 1,
            offsets: Vec::new(),
            jagged: false,
        }
    }

    /// Empties the column for a new read, keeping its buffers when the type is the same.
    pub(crate) fn reset(&mut self, t: ElemType, width: usize, jagged: bool) {
        if self.data.elem_type() == t {
            self.data.clear();
        } else {
            self.data = ColumnData::empty(t);
        }
        self.width = width;
        self.jagged = jagged;
        self.offsets.clear();
        if jagged {
            self.offsets.push(0);
        }
    }

    pub(crate) fn data_mut(&mut self) -> &mut ColumnData {
        &mut self.data
    }

    /// Closes the current entry of a jagged column at the current value count.
    pub(crate) fn push_offset(&mut self) {
        let n = self.data.len();
        self.offsets.push(n);
    }

    pub fn data(&self) -> &ColumnData {
        &self.data
    }

    pub fn is_jagged(&self) -> bool {
        self.jagged
    }

    /// Values per entry of a fixed-size column (1 for scalars).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Entry offsets of a jagged column (`len() + 1` values).
    pub fn offsets(&self) -> Option<&[usize]> {
        self.jagged.then_some(&self.offsets[..])
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        if self.jagged {
            self.offsets.len().saturating_sub(1)
        } else {
            self.data.len() / self.width.max(1)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Range of value indices of entry `i`.
    pub fn entry(&self, i: usize) -> Range<usize> {
        if self.jagged {
            match (self.offsets.get(i), self.offsets.get(i + 1)) {
                (Some(&a), Some(&b)) => a..b,
                _ => 0..0,
            }
        } else {
            i * self.width..(i + 1) * self.width
        }
    }
}
