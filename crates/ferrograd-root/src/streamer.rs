//! Deserialisation of the TTree metadata objects (`TTree`, `TBranch`, `TBranchElement`,
//! `TLeaf*`) following ROOT's documented streamer layouts. Objects are read with their byte
//! counts, so base classes whose fields we do not need (`TAttLine`, `TAttFill`, `TAttMarker`,
//! `TIOFeatures`) are skipped by length whatever their version; only the classes whose fields we
//! read are checked against the versions we know.

use std::collections::HashMap;

use crate::cursor::Cursor;
use crate::error::{Error, Result};

const BYTE_COUNT_MASK: u32 = 0x4000_0000;
const CLASS_MASK: u32 = 0x8000_0000;
const NEW_CLASS_TAG: u32 = 0xFFFF_FFFF;
const MAP_OFFSET: i64 = 2;
const IS_REFERENCED: u32 = 1 << 4;
/// Deepest nesting of objects followed (branches inside branches); more is a corrupt file.
const MAX_DEPTH: usize = 64;

/// A TLeaf as stored: enough to know its element type and shape.
#[derive(Clone, Debug)]
pub(crate) struct LeafMeta {
    pub class: String,
    pub name: String,
    pub title: String,
    pub len: i32,
    pub is_unsigned: bool,
    /// The leaf holding the per-entry count (`x[n]/F`): its name when known.
    pub count: Option<String>,
}

/// A TBranch (or TBranchElement) as stored.
#[derive(Clone, Debug)]
pub(crate) struct BranchMeta {
    pub class: String,
    pub name: String,
    pub title: String,
    pub write_basket: usize,
    pub entries: i64,
    pub branches: Vec<BranchMeta>,
    pub leaves: Vec<LeafMeta>,
    pub basket_bytes: Vec<i32>,
    pub basket_entry: Vec<i64>,
    pub basket_seek: Vec<i64>,
    /// TBranchElement only: the C++ class of the branch (`vector<float>`).
    pub element_class: Option<String>,
    pub element_type: i32,
}

/// The part of a TTree we use.
#[derive(Debug)]
pub(crate) struct TreeMeta {
    pub name: String,
    pub title: String,
    pub entries: i64,
    pub branches: Vec<BranchMeta>,
}

enum Obj {
    Branch(Box<BranchMeta>),
    Leaf(LeafMeta),
    Other,
}

enum Ref {
    Class(String),
    Leaf(String),
    Other,
}

/// A cursor plus ROOT's back-reference table (classes and objects already read, by position).
pub(crate) struct ObjReader<'a> {
    c: Cursor<'a>,
    refs: HashMap<i64, Ref>,
    depth: usize,
}

impl<'a> ObjReader<'a> {
    /// `key_len`: positions in back-references count from the start of the key.
    pub(crate) fn new(data: &'a [u8], key_len: usize, what: &'a str) -> Self {
        ObjReader {
            c: Cursor::with_origin(data, key_len as i64, what),
            refs: HashMap::new(),
            depth: 0,
        }
    }

    /// A class version header: an optional byte count (flagged by 0x40000000) then the
    /// version. Returns the version and, with a byte count, where the object ends.
    fn version(&mut self) -> Result<(i16, Option<usize>)> {
        let start = self.c.pos();
        let word = self.c.u32()?;
        if word & BYTE_COUNT_MASK != 0 {
            let n = (word & !BYTE_COUNT_MASK) as usize;
            let end = start + 4 + n;
            if end > start + 4 + self.c.remaining() {
                return Err(self.c.error(format!(
                    "an object of {n} bytes runs past the end of its record"
                )));
            }
            Ok((self.c.i16()?, Some(end)))
        } else {
            self.c.seek(start)?;
            Ok((self.c.i16()?, None))
        }
    }

    fn finish(&mut self, end: Option<usize>) -> Result<()> {
        match end {
            Some(e) if e < self.c.pos() => Err(self.c.error(format!(
                "object fields run past its byte count (ends at {e})"
            ))),
            Some(e) => self.c.seek(e),
            None => Ok(()),
        }
    }

    /// Skips a versioned object that we do not need, by its byte count.
    fn skip_versioned(&mut self, class: &str) -> Result<()> {
        match self.version()? {
            (_, Some(end)) => self.c.seek(end),
            (_, None) => Err(self
                .c
                .error(format!("{class} without a byte count cannot be skipped"))),
        }
    }

    fn tobject(&mut self) -> Result<()> {
        let (_, end) = self.version()?;
        let _unique_id = self.c.u32()?;
        let bits = self.c.u32()?;
        if bits & IS_REFERENCED != 0 {
            let _pid = self.c.u16()?;
        }
        self.finish(end)
    }

    fn tnamed(&mut self) -> Result<(String, String)> {
        let (_, end) = self.version()?;
        self.tobject()?;
        let name = self.c.string()?;
        let title = self.c.string()?;
        self.finish(end)?;
        Ok((name, title))
    }

    fn tobjarray(&mut self) -> Result<Vec<Obj>> {
        let (version, end) = self.version()?;
        self.tobject()?;
        if version > 2 {
            let _name = self.c.string()?;
        }
        let n = self.c.count("TObjArray size")?;
        let _lower = self.c.i32()?;
        if n > self.c.remaining() / 4 {
            return Err(self
                .c
                .error(format!("TObjArray of {n} objects cannot fit its record")));
        }
        let mut out = Vec::new();
        for _ in 0..n {
            if let Some(obj) = self.object_any()? {
                out.push(obj);
            }
        }
        self.finish(end)?;
        Ok(out)
    }

    /// An object pointer (`TBufferFile::ReadObjectAny`): null, a back-reference, or a new
    /// object preceded by its class (new, or a back-reference to a class already seen).
    fn object_any(&mut self) -> Result<Option<Obj>> {
        let beg = self.c.displacement();
        let first = self.c.u32()?;
        let (tag, end) = if first & BYTE_COUNT_MASK == 0 || first == NEW_CLASS_TAG {
            (first, None)
        } else {
            let n = (first & !BYTE_COUNT_MASK) as usize;
            let end = self.c.pos() + n;
            if n > self.c.remaining() {
                return Err(self
                    .c
                    .error(format!("an object of {n} bytes runs past its record")));
            }
            (self.c.u32()?, Some(end))
        };
        if tag & CLASS_MASK == 0 {
            // A reference to an object read before (or null).
            if tag == 0 {
                return Ok(None);
            }
            let obj = match self.refs.get(&i64::from(tag)) {
                Some(Ref::Leaf(name)) => Obj::Leaf(LeafMeta::reference(name)),
                _ => Obj::Other,
            };
            if let Some(e) = end {
                self.c.seek(e)?;
            }
            return Ok(Some(obj));
        }
        let class = if tag == NEW_CLASS_TAG {
            let class_at = beg + if end.is_some() { 4 } else { 0 };
            let name = self.c.cstring()?;
            self.refs
                .insert(class_at + MAP_OFFSET, Ref::Class(name.clone()));
            name
        } else {
            match self.refs.get(&i64::from(tag & !CLASS_MASK)) {
                Some(Ref::Class(name)) => name.clone(),
                _ => {
                    return Err(self
                        .c
                        .error(format!("reference to unknown class {:#x}", tag)))
                }
            }
        };
        let obj_key = beg + MAP_OFFSET;
        self.refs.insert(obj_key, Ref::Other);
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self
                .c
                .error(format!("objects nest deeper than {MAX_DEPTH}")));
        }
        let obj = match class.as_str() {
            "TBranch" => Obj::Branch(Box::new(self.tbranch(class.clone())?)),
            "TBranchElement" => Obj::Branch(Box::new(self.tbranch_element()?)),
            c if c.starts_with("TLeaf") => {
                let leaf = self.tleaf_subclass(c)?;
                self.refs.insert(obj_key, Ref::Leaf(leaf.name.clone()));
                Obj::Leaf(leaf)
            }
            _ => match end {
                Some(e) => {
                    self.c.seek(e)?;
                    Obj::Other
                }
                None => {
                    return Err(self.c.error(format!(
                        "object of class {class} without a byte count cannot be skipped"
                    )))
                }
            },
        };
        self.depth -= 1;
        Ok(Some(obj))
    }

    fn tleaf(&mut self) -> Result<LeafMeta> {
        let (_, end) = self.version()?;
        let (name, title) = self.tnamed()?;
        let len = self.c.i32()?;
        let _len_type = self.c.i32()?;
        let _offset = self.c.i32()?;
        let _is_range = self.c.u8()?;
        let is_unsigned = self.c.u8()? != 0;
        let count = match self.object_any()? {
            Some(Obj::Leaf(l)) => Some(l.name),
            Some(_) => Some(String::new()),
            None => None,
        };
        self.finish(end)?;
        Ok(LeafMeta {
            class: String::new(),
            name,
            title,
            len,
            is_unsigned,
            count,
        })
    }

    /// `TLeafF`, `TLeafI`, …: a TLeaf plus fields (minimum, maximum) that we skip.
    fn tleaf_subclass(&mut self, class: &str) -> Result<LeafMeta> {
        let (_, end) = self.version()?;
        let mut leaf = self.tleaf()?;
        leaf.class = class.to_string();
        match end {
            Some(e) => self.c.seek(e)?,
            None => return Err(self.c.error(format!("{class} without a byte count"))),
        }
        Ok(leaf)
    }

    fn tbranch(&mut self, class: String) -> Result<BranchMeta> {
        let (version, end) = self.version()?;
        if !(12..=13).contains(&version) {
            return Err(Error::UnsupportedVersion {
                class: "TBranch",
                version,
                supported: "12 and 13",
            });
        }
        let (name, title) = self.tnamed()?;
        self.skip_versioned("TAttFill")?;
        let _compress = self.c.i32()?;
        let _basket_size = self.c.i32()?;
        let _entry_offset_len = self.c.i32()?;
        let write_basket = self.c.count("fWriteBasket")?;
        let _entry_number = self.c.i64()?;
        if version >= 13 {
            self.skip_versioned("TIOFeatures")?;
        }
        let _offset = self.c.i32()?;
        let max_baskets = self.c.count("fMaxBaskets")?;
        let _split_level = self.c.i32()?;
        let entries = self.c.i64()?;
        let _first_entry = self.c.i64()?;
        let _tot_bytes = self.c.i64()?;
        let _zip_bytes = self.c.i64()?;
        let mut branches = Vec::new();
        for obj in self.tobjarray()? {
            if let Obj::Branch(b) = obj {
                branches.push(*b);
            }
        }
        let mut leaves = Vec::new();
        for obj in self.tobjarray()? {
            if let Obj::Leaf(l) = obj {
                leaves.push(l);
            }
        }
        let _baskets = self.tobjarray()?;
        if write_basket > max_baskets {
            return Err(self.c.error(format!(
                "branch `{name}` wrote {write_basket} baskets but has room for {max_baskets}"
            )));
        }
        let _ = self.c.u8()?;
        let basket_bytes = self.i32_array(max_baskets)?;
        let _ = self.c.u8()?;
        let basket_entry = self.i64_array(max_baskets)?;
        // The flag (1, or 2 in files past 2 GB) precedes Long64_t seeks either way.
        let _ = self.c.u8()?;
        let basket_seek = self.i64_array(max_baskets)?;
        let _file_name = self.c.string()?;
        self.finish(end)?;
        Ok(BranchMeta {
            class,
            name,
            title,
            write_basket,
            entries,
            branches,
            leaves,
            basket_bytes,
            basket_entry,
            basket_seek,
            element_class: None,
            element_type: 0,
        })
    }

    fn tbranch_element(&mut self) -> Result<BranchMeta> {
        let (version, end) = self.version()?;
        if !(9..=10).contains(&version) {
            return Err(Error::UnsupportedVersion {
                class: "TBranchElement",
                version,
                supported: "9 and 10",
            });
        }
        let mut branch = self.tbranch("TBranchElement".to_string())?;
        let class_name = self.c.string()?;
        let _parent = self.c.string()?;
        let _clones = self.c.string()?;
        let _checksum = self.c.u32()?;
        if version >= 10 {
            let _class_version = self.c.i16()?;
        }
        let _id = self.c.i32()?;
        branch.element_type = self.c.i32()?;
        branch.element_class = Some(class_name);
        // fStreamerType, fMaximum, fBranchCount, fBranchCount2: not needed; skip by length.
        match end {
            Some(e) => self.c.seek(e)?,
            None => return Err(self.c.error("TBranchElement without a byte count")),
        }
        Ok(branch)
    }

    fn i32_array(&mut self, n: usize) -> Result<Vec<i32>> {
        let bytes = self.c.bytes(
            n.checked_mul(4)
                .ok_or_else(|| self.c.error("array too long"))?,
        )?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn i64_array(&mut self, n: usize) -> Result<Vec<i64>> {
        let bytes = self.c.bytes(
            n.checked_mul(8)
                .ok_or_else(|| self.c.error("array too long"))?,
        )?;
        Ok(bytes
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                i64::from_be_bytes(a)
            })
            .collect())
    }

    /// The TTree object at the start of a key's data.
    pub(crate) fn ttree(&mut self) -> Result<TreeMeta> {
        let (version, _end) = self.version()?;
        if !(19..=20).contains(&version) {
            return Err(Error::UnsupportedVersion {
                class: "TTree",
                version,
                supported: "19 and 20 (ROOT 6)",
            });
        }
        let (name, title) = self.tnamed()?;
        self.skip_versioned("TAttLine")?;
        self.skip_versioned("TAttFill")?;
        self.skip_versioned("TAttMarker")?;
        let entries = self.c.i64()?;
        // fTotBytes fZipBytes fSavedBytes fFlushedBytes (4×8), fWeight (8), fTimerInterval
        // fScanField fUpdate fDefaultEntryOffsetLen fNClusterRange (5×4), fMaxEntries
        // fMaxEntryLoop fMaxVirtualSize fAutoSave fAutoFlush fEstimate (6×8).
        self.c.skip(4 * 8 + 8)?;
        self.c.skip(4 * 4)?;
        let n_cluster_range = self.c.count("fNClusterRange")?;
        self.c.skip(6 * 8)?;
        // fClusterRangeEnd and fClusterSize: a flag byte, then fNClusterRange Long64_t each.
        for _ in 0..2 {
            self.c.skip(1)?;
            self.c.skip(
                n_cluster_range
                    .checked_mul(8)
                    .ok_or_else(|| self.c.error("too many cluster ranges"))?,
            )?;
        }
        if version >= 20 {
            self.skip_versioned("TIOFeatures")?;
        }
        let mut branches = Vec::new();
        for obj in self.tobjarray()? {
            if let Obj::Branch(b) = obj {
                branches.push(*b);
            }
        }
        Ok(TreeMeta {
            name,
            title,
            entries,
            branches,
        })
    }
}

impl LeafMeta {
    fn reference(name: &str) -> Self {
        LeafMeta {
            class: String::new(),
            name: name.to_string(),
            title: String::new(),
            len: 0,
            is_unsigned: false,
            count: None,
        }
    }
}
