//! Trees and branches as the user sees them: names, entry counts, types, and where each
//! branch's baskets are. Built from the streamer metadata; whatever is outside the supported
//! subset stays listed, with the reason it cannot be read.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::file::{list, KeyInfo};
use crate::reader::TreeReader;
use crate::source::Source;
use crate::streamer::{BranchMeta, ObjReader};
use crate::types::{vector_element, BranchType, ElemType, Shape};

/// A TTree: metadata and the file it reads from.
#[derive(Debug)]
pub struct Tree {
    pub(crate) path: String,
    pub(crate) title: String,
    pub(crate) entries: u64,
    pub(crate) branches: Vec<Branch>,
    pub(crate) source: Arc<Source>,
}

/// Where one basket is and which entries it holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BasketRef {
    pub seek: u64,
    pub bytes: usize,
    pub first: u64,
    pub stop: u64,
}

/// One top-level branch.
#[derive(Clone, Debug)]
pub struct Branch {
    name: String,
    title: String,
    kind: std::result::Result<BranchType, Unsupported>,
    pub(crate) baskets: std::result::Result<Vec<BasketRef>, BasketTableError>,
}

/// Why a branch's basket tables cannot be used.
#[derive(Clone, Debug)]
pub(crate) enum BasketTableError {
    /// The baskets hold another number of entries than the tree declares.
    Count { declared: u64, found: u64 },
    /// The tables contradict themselves.
    Bad(String),
}

impl BasketTableError {
    pub(crate) fn to_error(&self, tree: &str, branch: &str) -> Error {
        match self {
            BasketTableError::Count { declared, found } => Error::EntryCount {
                tree: tree.to_string(),
                branch: branch.to_string(),
                declared: *declared,
                found: *found,
            },
            BasketTableError::Bad(detail) => Error::corrupt(
                format!("basket table of branch `{branch}` in tree `{tree}`"),
                detail.clone(),
            ),
        }
    }
}

#[derive(Clone, Debug)]
struct Unsupported {
    type_name: String,
    why: String,
}

impl Tree {
    pub(crate) fn parse(data: &[u8], key: &KeyInfo, source: Arc<Source>) -> Result<Tree> {
        let what = format!("TTree `{}`", key.path);
        let meta = ObjReader::new(data, key.key_len, &what).ttree()?;
        let entries = u64::try_from(meta.entries)
            .map_err(|_| Error::corrupt(&what, format!("negative entry count {}", meta.entries)))?;
        let _ = (&meta.name, &meta.title);
        let branches = meta
            .branches
            .iter()
            .map(|b| Branch::from_meta(b, entries))
            .collect();
        Ok(Tree {
            path: key.path.clone(),
            title: meta.title,
            entries,
            branches,
            source,
        })
    }

    /// Path inside the file (`bkg/events`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    /// Number of entries the tree declares; every read branch delivers exactly this many.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn branches(&self) -> &[Branch] {
        &self.branches
    }

    /// The branch called `name`, or an error listing the branches that exist.
    pub fn branch(&self, name: &str) -> Result<&Branch> {
        self.branch_index(name).map(|i| &self.branches[i])
    }

    pub(crate) fn branch_index(&self, name: &str) -> Result<usize> {
        self.branches
            .iter()
            .position(|b| b.name == name)
            .ok_or_else(|| Error::MissingBranch {
                name: name.to_string(),
                tree: self.path.clone(),
                available: list(
                    &self
                        .branches
                        .iter()
                        .map(|b| b.name.clone())
                        .collect::<Vec<_>>(),
                ),
            })
    }

    /// A reader for column-wise reads; it keeps one decompressed basket per branch.
    pub fn reader(&self) -> TreeReader<'_> {
        TreeReader::new(self)
    }

    /// Entry ranges at which every readable branch starts a new basket (ROOT's clusters when
    /// the file was written with aligned baskets, as `RDataFrame::Snapshot` does).
    pub fn clusters(&self) -> Vec<std::ops::Range<u64>> {
        let mut cuts: Option<Vec<u64>> = None;
        for b in &self.branches {
            let (Ok(_), Ok(baskets)) = (&b.kind, &b.baskets) else {
                continue;
            };
            let starts: Vec<u64> = baskets.iter().map(|k| k.first).collect();
            cuts = Some(match cuts {
                None => starts,
                Some(c) => c
                    .into_iter()
                    .filter(|x| starts.binary_search(x).is_ok())
                    .collect(),
            });
        }
        let mut cuts = cuts.unwrap_or_default();
        cuts.retain(|&c| c > 0 && c < self.entries);
        let mut out = Vec::new();
        let mut start = 0;
        for c in cuts {
            out.push(start..c);
            start = c;
        }
        if start < self.entries {
            out.push(start..self.entries);
        }
        out
    }
}

impl Tree {
    /// [`clusters`](Self::clusters) cut into ranges of at most `max_entries` entries: what a
    /// streaming loop reads at a time, so buffers stay bounded even when ROOT's clusters are
    /// large (its default is ~30 MB per cluster).
    pub fn chunks(&self, max_entries: u64) -> impl Iterator<Item = std::ops::Range<u64>> {
        let step = max_entries.max(1);
        self.clusters().into_iter().flat_map(move |c| {
            let n = (c.end - c.start).div_ceil(step);
            (0..n).map(move |k| c.start + k * step..c.end.min(c.start + (k + 1) * step))
        })
    }
}

impl Branch {
    fn from_meta(meta: &BranchMeta, tree_entries: u64) -> Branch {
        Branch {
            name: meta.name.clone(),
            title: meta.title.clone(),
            kind: classify(meta),
            baskets: basket_refs(meta, tree_entries),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    /// The branch's type, or the reason it is outside the supported subset.
    pub fn branch_type(&self) -> Result<&BranchType> {
        self.kind.as_ref().map_err(|u| Error::Unsupported {
            branch: self.name.clone(),
            type_name: u.type_name.clone(),
            why: u.why.clone(),
        })
    }

    /// A printable type: `Float_t[4]`, `std::vector<double>`, or the stored type of an
    /// unsupported branch followed by `(unsupported)`.
    pub fn type_name(&self) -> String {
        match &self.kind {
            Ok(t) => t.to_string(),
            Err(u) => format!("{} (unsupported)", u.type_name),
        }
    }

    /// Checks that the branch is readable and that its baskets hold exactly the tree's
    /// entries, without reading them.
    pub(crate) fn check(&self, tree: &str) -> Result<()> {
        self.branch_type()?;
        self.baskets
            .as_ref()
            .map(|_| ())
            .map_err(|e| e.to_error(tree, &self.name))
    }

    /// Number of baskets on disk.
    pub fn basket_count(&self) -> usize {
        self.baskets.as_ref().map_or(0, |b| b.len())
    }
}

fn unsupported(type_name: impl Into<String>, why: impl Into<String>) -> Unsupported {
    Unsupported {
        type_name: type_name.into(),
        why: why.into(),
    }
}

fn classify(meta: &BranchMeta) -> std::result::Result<BranchType, Unsupported> {
    if let Some(class) = &meta.element_class {
        let elem = vector_element(class).and_then(ElemType::from_cpp);
        return match elem {
            Some(elem) if meta.branches.is_empty() && meta.element_type == 0 => Ok(BranchType {
                elem,
                shape: Shape::Vector,
            }),
            _ => Err(unsupported(
                class.clone(),
                "only std::vector of numbers is read from a TBranchElement; objects and their split sub-branches are not",
            )),
        };
    }
    if !meta.branches.is_empty() {
        return Err(unsupported(
            meta.class.clone(),
            format!("a branch with {} sub-branches", meta.branches.len()),
        ));
    }
    let [leaf] = meta.leaves.as_slice() else {
        let names: Vec<String> = meta
            .leaves
            .iter()
            .map(|l| format!("{}/{}", l.name, l.class))
            .collect();
        return Err(unsupported(
            format!("leaf list `{}`", meta.title),
            format!(
                "{} leaves ({}); write one leaf per branch",
                meta.leaves.len(),
                names.join(":")
            ),
        ));
    };
    let Some(elem) = ElemType::from_leaf(&leaf.class, leaf.is_unsigned) else {
        let what = match leaf.class.as_str() {
            "TLeafC" => "a string leaf",
            "TLeafF16" | "TLeafD32" => "a reduced-precision float leaf",
            "TLeafElement" | "TLeafObject" => "an object leaf",
            _ => "a leaf class outside the numeric subset",
        };
        return Err(unsupported(leaf.class.clone(), what));
    };
    let shape = match (&leaf.count, leaf.len) {
        (Some(count), _) => {
            let name = if count.is_empty() {
                leaf.title
                    .split_once('[')
                    .and_then(|(_, r)| r.split_once(']'))
                    .map_or_else(|| "?".to_string(), |(n, _)| n.to_string())
            } else {
                count.clone()
            };
            Shape::Counted(name)
        }
        (None, 1) => Shape::Scalar,
        (None, n) if n > 1 => Shape::Fixed(n as usize),
        (None, n) => {
            return Err(unsupported(
                leaf.class.clone(),
                format!("leaf `{}` declares {n} elements per entry", leaf.name),
            ))
        }
    };
    Ok(BranchType { elem, shape })
}

/// The written baskets and their entry ranges, checked to cover exactly the tree's entries.
fn basket_refs(
    meta: &BranchMeta,
    tree_entries: u64,
) -> std::result::Result<Vec<BasketRef>, BasketTableError> {
    use BasketTableError::Bad;
    let n = meta.write_basket;
    let mut out = Vec::with_capacity(n);
    let mut expected_first = 0u64;
    for i in 0..n {
        let (Some(&bytes), Some(&first), Some(&seek)) = (
            meta.basket_bytes.get(i),
            meta.basket_entry.get(i),
            meta.basket_seek.get(i),
        ) else {
            return Err(Bad(format!(
                "basket {i} is missing from the branch's basket tables"
            )));
        };
        let stop = match meta.basket_entry.get(i + 1) {
            Some(&s) if i + 1 < n || s > first => s,
            _ => meta.entries,
        };
        let (Ok(first), Ok(stop), Ok(seek), Ok(bytes)) = (
            u64::try_from(first),
            u64::try_from(stop),
            u64::try_from(seek),
            usize::try_from(bytes),
        ) else {
            return Err(Bad(format!(
                "basket {i} has a negative position, size or entry number"
            )));
        };
        if first != expected_first || stop < first {
            return Err(Bad(format!(
                "basket {i} holds entries {first}..{stop}, expected it to start at {expected_first}"
            )));
        }
        expected_first = stop;
        if stop > first {
            out.push(BasketRef {
                seek,
                bytes,
                first,
                stop,
            });
        }
    }
    if expected_first != tree_entries {
        return Err(BasketTableError::Count {
            declared: tree_entries,
            found: expected_first,
        });
    }
    Ok(out)
}
