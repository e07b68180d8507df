//! Column-wise reads of entry ranges. Each branch keeps one decompressed basket, so memory is
//! bounded by one basket per branch plus the caller's buffers, whatever the file size; reading
//! ranges in order (cluster by cluster) decompresses every basket once.

use std::ops::Range;

use crate::basket::Basket;
use crate::column::Column;
use crate::error::{Error, Result};
use crate::tree::{BasketRef, Tree};
use crate::types::{BranchType, Shape};

/// Bytes before each `std::vector` entry: byte count (4), class version (2), size (4).
const VECTOR_HEADER: usize = 10;

/// Reads columns of one tree; cheap to create, one per thread.
pub struct TreeReader<'t> {
    tree: &'t Tree,
    cache: Vec<Cached>,
}

#[derive(Default)]
struct Cached {
    index: Option<usize>,
    basket: Basket,
}

impl<'t> TreeReader<'t> {
    pub(crate) fn new(tree: &'t Tree) -> Self {
        TreeReader {
            tree,
            cache: (0..tree.branches.len())
                .map(|_| Cached::default())
                .collect(),
        }
    }

    pub fn tree(&self) -> &'t Tree {
        self.tree
    }

    /// Reads entries `range` of branch `name` into `out` (its buffers are reused).
    pub fn read(&mut self, name: &str, range: Range<u64>, out: &mut Column) -> Result<()> {
        let i = self.tree.branch_index(name)?;
        self.read_index(i, range, out)
    }

    /// Reads every entry of branch `name`.
    pub fn read_all(&mut self, name: &str) -> Result<Column> {
        let mut out = Column::new();
        self.read(name, 0..self.tree.entries, &mut out)?;
        Ok(out)
    }

    /// As [`read`](Self::read), by position in [`Tree::branches`].
    pub fn read_index(&mut self, index: usize, range: Range<u64>, out: &mut Column) -> Result<()> {
        let tree = self.tree;
        let branch = tree
            .branches
            .get(index)
            .ok_or_else(|| Error::MissingBranch {
                name: format!("#{index}"),
                tree: tree.path.clone(),
                available: format!("{} branches", tree.branches.len()),
            })?;
        let ty = branch.branch_type()?.clone();
        let baskets = branch
            .baskets
            .as_ref()
            .map_err(|e| e.to_error(&tree.path, branch.name()))?;
        if range.start > range.end || range.end > tree.entries {
            return Err(Error::EntryRange {
                tree: tree.path.clone(),
                start: range.start,
                stop: range.end,
                entries: tree.entries,
            });
        }
        let width = match ty.shape {
            Shape::Fixed(n) => n,
            _ => 1,
        };
        out.reset(ty.elem, width, ty.shape.is_jagged());
        let cached = self.cache.get_mut(index).ok_or_else(|| {
            Error::corrupt("reader", format!("no cache slot for branch #{index}"))
        })?;
        let mut k = baskets.partition_point(|b| b.stop <= range.start);
        let mut at = range.start;
        while at < range.end {
            let b = baskets.get(k).ok_or_else(|| Error::EntryCount {
                tree: tree.path.clone(),
                branch: branch.name().to_string(),
                declared: tree.entries,
                found: at,
            })?;
            if cached.index != Some(k) {
                cached.index = None;
                let what = format!(
                    "basket {k} of branch `{}` in tree `{}` (entries {}..{})",
                    branch.name(),
                    tree.path,
                    b.first,
                    b.stop
                );
                cached.basket.load(&tree.source, b, &what)?;
                cached.index = Some(k);
            }
            let stop = range.end.min(b.stop);
            let lo = (at - b.first) as usize;
            let hi = (stop - b.first) as usize;
            decode(&cached.basket, b, &ty, width, lo..hi, out).map_err(|detail| {
                Error::corrupt(
                    format!(
                        "basket {k} of branch `{}` in tree `{}`",
                        branch.name(),
                        tree.path
                    ),
                    detail,
                )
            })?;
            at = stop;
            k += 1;
        }
        Ok(())
    }
}

/// Appends entries `rows` (relative to the basket) to `out`.
fn decode(
    basket: &Basket,
    b: &BasketRef,
    ty: &BranchType,
    width: usize,
    rows: Range<usize>,
    out: &mut Column,
) -> std::result::Result<(), String> {
    let data = basket.data();
    let size = ty.elem.size();
    match ty.shape {
        Shape::Scalar | Shape::Fixed(_) => {
            let entry = size * width;
            if basket.offsets().is_some() || data.len() != entry * basket.entries() {
                return Err(format!(
                    "{} bytes of data for {} entries of {entry} bytes (entries {}..{})",
                    data.len(),
                    basket.entries(),
                    b.first,
                    b.stop
                ));
            }
            let bytes = data
                .get(rows.start * entry..rows.end * entry)
                .ok_or("entry range outside the basket")?;
            out.data_mut().extend_be(bytes);
        }
        Shape::Counted(_) => {
            let offsets = basket
                .offsets()
                .ok_or("a jagged branch's basket has no entry offsets")?;
            for r in rows {
                let (a, z) = entry_bounds(offsets, r)?;
                let bytes = data.get(a..z).ok_or("entry outside the basket data")?;
                if bytes.len() % size != 0 {
                    return Err(format!(
                        "entry of {} bytes is not a whole number of {size}-byte elements",
                        bytes.len()
                    ));
                }
                out.data_mut().extend_be(bytes);
                out.push_offset();
            }
        }
        Shape::Vector => {
            let offsets = basket
                .offsets()
                .ok_or("a std::vector branch's basket has no entry offsets")?;
            for r in rows {
                let (a, z) = entry_bounds(offsets, r)?;
                let bytes = data.get(a..z).ok_or("entry outside the basket data")?;
                let body = vector_body(bytes, size)?;
                out.data_mut().extend_be(body);
                out.push_offset();
            }
        }
    }
    Ok(())
}

fn entry_bounds(offsets: &[usize], r: usize) -> std::result::Result<(usize, usize), String> {
    match (offsets.get(r), offsets.get(r + 1)) {
        (Some(&a), Some(&z)) if a <= z => Ok((a, z)),
        _ => Err(format!("entry {r} has no valid byte range")),
    }
}

/// Checks a `std::vector` entry's header against its length and returns the elements' bytes.
fn vector_body(bytes: &[u8], size: usize) -> std::result::Result<&[u8], String> {
    let (head, body) = bytes.split_at_checked(VECTOR_HEADER).ok_or_else(|| {
        format!(
            "a std::vector entry of {} bytes is shorter than its header",
            bytes.len()
        )
    })?;
    let count = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let n = i32::from_be_bytes([head[6], head[7], head[8], head[9]]);
    let expected_count = (bytes.len() - 4) as u32 | 0x4000_0000;
    let n = usize::try_from(n).map_err(|_| format!("negative std::vector size {n}"))?;
    if count != expected_count || n.checked_mul(size) != Some(body.len()) {
        return Err(format!(
            "std::vector entry header (byte count {count:#x}, size {n}) does not match its {} bytes",
            bytes.len()
        ));
    }
    Ok(body)
}
