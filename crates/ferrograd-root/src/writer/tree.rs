//! A flat tree being written: per-branch big-endian buffers flushed as baskets of ~32 kB, then
//! the `TTree` object with its `TBranch`/`TLeaf*` children in the class versions ROOT 6.40
//! writes (TTree 20, TBranch 13, TLeaf 2, TLeafX 1, TAttMarker 3), so ROOT reads it with its
//! built-in layouts.

use crate::column::ColumnData;
use crate::error::{Error, Result};
use crate::types::ElemType;

use super::buffer::Buf;
use super::RootWriter;

/// Uncompressed bytes collected per branch before a basket is written (ROOT's default).
const BASKET_BYTES: usize = 32_000;
/// Largest basket we write.
const MAX_BASKET_BYTES: usize = 256 << 20;
/// Basket fields at the end of a basket's key (version, buffer size, entry size, entries,
/// data end, flag).
const BASKET_FIELDS: usize = 2 + 4 + 4 + 4 + 4 + 1;

/// One branch of a flat tree: a scalar (`width` 1) or a fixed-size array.
#[derive(Clone, Debug)]
pub struct BranchSpec {
    pub name: String,
    pub elem: ElemType,
    pub width: usize,
}

impl BranchSpec {
    pub fn scalar(name: impl Into<String>, elem: ElemType) -> Self {
        BranchSpec {
            name: name.into(),
            elem,
            width: 1,
        }
    }

    /// A fixed-size array branch (`name[width]/F`).
    pub fn array(name: impl Into<String>, elem: ElemType, width: usize) -> Self {
        BranchSpec {
            name: name.into(),
            elem,
            width,
        }
    }

    fn entry_bytes(&self) -> usize {
        self.elem.size() * self.width
    }

    fn leaf_title(&self) -> String {
        if self.width == 1 {
            self.name.clone()
        } else {
            format!("{}[{}]", self.name, self.width)
        }
    }
}

struct BranchState {
    spec: BranchSpec,
    pending: Vec<u8>,
    /// (seek, bytes, first entry) of each written basket.
    baskets: Vec<(u64, usize, u64)>,
    written_entries: u64,
    tot_bytes: i64,
    zip_bytes: i64,
}

/// A flat tree being filled column-wise; baskets go to the file as they fill up.
pub struct TreeWriter {
    name: String,
    title: String,
    basket_bytes: usize,
    branches: Vec<BranchState>,
    entries: u64,
}

impl TreeWriter {
    /// A tree with these branches (names must be unique and non-empty).
    pub fn new(name: &str, title: &str, branches: &[BranchSpec]) -> Result<Self> {
        let bad = |detail: String| Error::Write {
            what: format!("tree `{name}`"),
            detail,
        };
        // Names end up in leaf lists (`x[4]/F`) and key headers: keep them to what ROOT parses.
        let plain =
            |n: &str| !n.is_empty() && n.len() <= 200 && !n.contains(['/', '[', ']', ':', '\0']);
        if !plain(name) {
            return Err(bad(
                "a tree name must be 1 to 200 bytes without `/`, `[`, `]` or `:`".into(),
            ));
        }
        for (i, b) in branches.iter().enumerate() {
            if !plain(&b.name) || b.width == 0 {
                return Err(bad(format!(
                    "branch #{i} (`{}`) needs a name of 1 to 200 bytes without `/`, `[`, `]` or `:`, and a width of at least 1",
                    b.name
                )));
            }
            if branches[..i].iter().any(|o| o.name == b.name) {
                return Err(bad(format!("two branches are called `{}`", b.name)));
            }
        }
        Ok(TreeWriter {
            name: name.to_string(),
            title: title.to_string(),
            basket_bytes: BASKET_BYTES,
            branches: branches
                .iter()
                .map(|s| BranchState {
                    spec: s.clone(),
                    pending: Vec::new(),
                    baskets: Vec::new(),
                    written_entries: 0,
                    tot_bytes: 0,
                    zip_bytes: 0,
                })
                .collect(),
            entries: 0,
        })
    }

    /// Sets the uncompressed size at which a branch's basket is written (default 32 000).
    /// At most 256 MiB, far below ROOT's 1 GB basket limit.
    pub fn with_basket_bytes(mut self, bytes: usize) -> Self {
        self.basket_bytes = bytes.clamp(1, MAX_BASKET_BYTES);
        self
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Appends entries: one column per branch, in branch order, of the branch's element type,
    /// all holding the same number of entries (`width` values per entry).
    pub fn append(&mut self, file: &mut RootWriter, columns: &[&ColumnData]) -> Result<()> {
        if columns.len() != self.branches.len() {
            return Err(self.bad(format!(
                "{} columns given for {} branches",
                columns.len(),
                self.branches.len()
            )));
        }
        let mut n = None;
        for (b, c) in self.branches.iter().zip(columns) {
            if c.elem_type() != b.spec.elem {
                return Err(self.bad(format!(
                    "branch `{}` is {} but the column holds {}",
                    b.spec.name,
                    b.spec.elem.root_name(),
                    c.elem_type().root_name()
                )));
            }
            if c.len() % b.spec.width != 0 {
                return Err(self.bad(format!(
                    "branch `{}`: {} values are not whole entries of {}",
                    b.spec.name,
                    c.len(),
                    b.spec.width
                )));
            }
            let entries = c.len() / b.spec.width;
            if *n.get_or_insert(entries) != entries {
                return Err(self.bad(format!(
                    "branch `{}` has {entries} entries, the first column {}",
                    b.spec.name,
                    n.unwrap_or(0)
                )));
            }
        }
        for (k, c) in columns.iter().enumerate() {
            push_be(&mut self.branches[k].pending, c);
            while self.branches[k].pending.len() >= self.basket_bytes {
                self.flush(file, k)?;
            }
        }
        self.entries += n.unwrap_or(0) as u64;
        Ok(())
    }

    fn bad(&self, detail: String) -> Error {
        Error::Write {
            what: format!("tree `{}`", self.name),
            detail,
        }
    }

    /// Writes up to a basket's worth of branch `k`'s pending entries as one basket.
    fn flush(&mut self, file: &mut RootWriter, k: usize) -> Result<()> {
        let tree = self.name.clone();
        let b = &mut self.branches[k];
        if b.pending.is_empty() {
            return Ok(());
        }
        let entry = b.spec.entry_bytes();
        let n = (b.pending.len() / entry).min((self.basket_bytes / entry).max(1));
        let data = n * entry;
        let key_len = RootWriter::key_len("TBasket", &b.spec.name, &tree, BASKET_FIELDS);
        let mut fields = Buf::new(0);
        fields.i16(3); // TBasket class version
        fields.i32(self.basket_bytes as i32);
        fields.i32(entry as i32);
        fields.i32(n as i32);
        fields.i32((key_len + data) as i32);
        fields.u8(0);
        let (seek, nbytes) = file.write_record(
            "TBasket",
            &b.spec.name,
            &tree,
            &fields.bytes,
            &b.pending[..data],
            false,
        )?;
        b.baskets.push((seek, nbytes, b.written_entries));
        b.written_entries += n as u64;
        b.tot_bytes += (data + key_len) as i64;
        b.zip_bytes += nbytes as i64;
        b.pending.drain(..data);
        Ok(())
    }

    /// Writes the last baskets and the tree object; the tree is then listed in the file.
    pub fn finish(mut self, file: &mut RootWriter) -> Result<()> {
        for k in 0..self.branches.len() {
            while !self.branches[k].pending.is_empty() {
                self.flush(file, k)?;
            }
        }
        let key_len = RootWriter::key_len("TTree", &self.name, &self.title, 0);
        let mut b = Buf::new(key_len);
        self.ttree(&mut b, file.setting());
        file.write_record("TTree", &self.name, &self.title, &[], &b.bytes, true)?;
        Ok(())
    }

    fn ttree(&self, b: &mut Buf, setting: i32) {
        let tot: i64 = self.branches.iter().map(|x| x.tot_bytes).sum();
        let zip: i64 = self.branches.iter().map(|x| x.zip_bytes).sum();
        let entries = self.entries as i64;
        let at = b.begin(20);
        b.tnamed(&self.name, &self.title);
        let line = b.begin(2); // TAttLine: color, style, width
        b.i16(602);
        b.i16(1);
        b.i16(1);
        b.end(line);
        let fill = b.begin(2); // TAttFill: color, style
        b.i16(0);
        b.i16(1001);
        b.end(fill);
        let marker = b.begin(3); // TAttMarker: color, style, size
        b.i16(1);
        b.i16(1);
        b.f32(1.0);
        b.end(marker);
        b.i64(entries);
        b.i64(tot); // fTotBytes
        b.i64(zip); // fZipBytes
        b.i64(zip); // fSavedBytes
        b.i64(zip); // fFlushedBytes
        b.f64(1.0); // fWeight
        b.i32(0); // fTimerInterval
        b.i32(25); // fScanField
        b.i32(0); // fUpdate
        b.i32(1000); // fDefaultEntryOffsetLen
        b.i32(0); // fNClusterRange
        b.i64(1_000_000_000_000); // fMaxEntries
        b.i64(1_000_000_000_000); // fMaxEntryLoop
        b.i64(0); // fMaxVirtualSize
        b.i64(-300_000_000); // fAutoSave
        b.i64(-30_000_000); // fAutoFlush
        b.i64(1_000_000); // fEstimate
        b.u8(0); // fClusterRangeEnd: empty
        b.u8(0); // fClusterSize: empty
        tiofeatures(b);
        // fBranches, each branch with its leaf; the leaves' keys for fLeaves below.
        let arr = b.begin(3);
        b.tobject();
        b.string("");
        b.i32(self.branches.len() as i32);
        b.i32(0);
        let mut leaf_keys = Vec::new();
        for br in &self.branches {
            leaf_keys.push(self.tbranch(b, br, setting));
        }
        b.end(arr);
        let arr = b.begin(3);
        b.tobject();
        b.string("");
        b.i32(leaf_keys.len() as i32);
        b.i32(0);
        for k in leaf_keys {
            b.reference(k);
        }
        b.end(arr);
        b.null(); // fAliases
        b.i32(0); // fIndexValues (TArrayD)
        b.i32(0); // fIndex (TArrayI)
        b.null(); // fTreeIndex
        b.null(); // fFriends
        b.null(); // fUserInfo
        b.null(); // fBranchRef
        b.end(at);
    }

    /// A TBranch with its one leaf; returns the leaf's back-reference key.
    fn tbranch(&self, b: &mut Buf, br: &BranchState, setting: i32) -> u32 {
        let spec = &br.spec;
        let nb = br.baskets.len();
        let max_baskets = (nb + 1).max(10);
        let (_, obj) = b.begin_pointer("TBranch");
        let at = b.begin(13);
        b.tnamed(
            &spec.name,
            &format!("{}/{}", spec.leaf_title(), spec.elem.code()),
        );
        let fill = b.begin(2);
        b.i16(0);
        b.i16(1001);
        b.end(fill);
        b.i32(setting); // fCompress
        b.i32(self.basket_bytes as i32); // fBasketSize
        b.i32(0); // fEntryOffsetLen: fixed-size entries
        b.i32(nb as i32); // fWriteBasket
        b.i64(self.entries as i64); // fEntryNumber
        tiofeatures(b);
        b.i32(0); // fOffset
        b.i32(max_baskets as i32);
        b.i32(0); // fSplitLevel
        b.i64(self.entries as i64); // fEntries
        b.i64(0); // fFirstEntry
        b.i64(br.tot_bytes);
        b.i64(br.zip_bytes);
        let arr = b.begin(3); // fBranches: none
        b.tobject();
        b.string("");
        b.i32(0);
        b.i32(0);
        b.end(arr);
        let arr = b.begin(3); // fLeaves: the one leaf
        b.tobject();
        b.string("");
        b.i32(1);
        b.i32(0);
        let leaf_key = self.tleaf(b, spec);
        b.end(arr);
        let arr = b.begin(3); // fBaskets: all on disk
        b.tobject();
        b.string("");
        b.i32(0);
        b.i32(0);
        b.end(arr);
        b.u8(1);
        for i in 0..max_baskets {
            b.i32(br.baskets.get(i).map_or(0, |x| x.1 as i32));
        }
        b.u8(1);
        for i in 0..max_baskets {
            let first = match br.baskets.get(i) {
                Some(x) => x.2 as i64,
                None if i == nb => self.entries as i64,
                None => 0,
            };
            b.i64(first);
        }
        b.u8(1);
        for i in 0..max_baskets {
            b.i64(br.baskets.get(i).map_or(0, |x| x.0 as i64));
        }
        b.string(""); // fFileName
        b.end(at);
        b.end(obj);
        leaf_key
    }

    fn tleaf(&self, b: &mut Buf, spec: &BranchSpec) -> u32 {
        let class = spec.elem.leaf_class();
        let (key, obj) = b.begin_pointer(class);
        let at = b.begin(1);
        let leaf = b.begin(2);
        b.tnamed(&spec.name, &spec.leaf_title());
        b.i32(spec.width as i32); // fLen
        b.i32(spec.elem.size() as i32); // fLenType
        b.i32(0); // fOffset
        b.u8(0); // fIsRange
        b.u8(u8::from(spec.elem.is_unsigned()));
        b.null(); // fLeafCount
        b.end(leaf);
        // fMinimum, fMaximum in the leaf's own type.
        for _ in 0..2 {
            b.bytes.extend(std::iter::repeat_n(0u8, spec.elem.size()));
        }
        b.end(at);
        b.end(obj);
        key
    }
}

/// `ROOT::TIOFeatures`, a class without `ClassDef` (a "foreign" class): ROOT writes version
/// 0, then the class checksum, then `fIOBits` — `40000007 0000 1aa12f10 00` in the trees
/// ROOT 6.40 writes (seen in `tests/corpus/*.root`). Any other version makes ROOT print a
/// `CheckByteCount` error when it opens the tree (`tests/writer_roundtrip.rs` fails on any
/// error ROOT prints).
fn tiofeatures(b: &mut Buf) {
    let at = b.begin(0);
    b.u32(0x1aa1_2f10);
    b.u8(0);
    b.end(at);
}

/// Appends a column's values as big-endian bytes.
fn push_be(out: &mut Vec<u8>, c: &ColumnData) {
    macro_rules! be {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&x.to_be_bytes());
            }
        };
    }
    match c {
        ColumnData::Bool(v) => out.extend(v.iter().map(|&x| u8::from(x))),
        ColumnData::I8(v) => be!(v),
        ColumnData::U8(v) => out.extend_from_slice(v),
        ColumnData::I16(v) => be!(v),
        ColumnData::U16(v) => be!(v),
        ColumnData::I32(v) => be!(v),
        ColumnData::U32(v) => be!(v),
        ColumnData::I64(v) => be!(v),
        ColumnData::U64(v) => be!(v),
        ColumnData::F32(v) => be!(v),
        ColumnData::F64(v) => be!(v),
    }
}
