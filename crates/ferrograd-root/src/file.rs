//! The file layer: the header at byte 0, TKeys, and TDirectory records with their key lists
//! (sub-directories included), following ROOT's documented on-disk layout (`TFile`, `TKey`,
//! `TDirectoryFile` streamers). Objects are located by key and decompressed here.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::compression::{decompress_into, Decoders};
use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::source::Source;
use crate::tree::Tree;

/// One key of a directory: a named object on disk.
#[derive(Clone, Debug)]
pub struct KeyInfo {
    /// Path from the top directory, `dir/sub/name`.
    pub path: String,
    pub class_name: String,
    pub name: String,
    pub title: String,
    pub cycle: i16,
    pub(crate) seek_key: u64,
    pub(crate) nbytes: usize,
    pub(crate) obj_len: usize,
    pub(crate) key_len: usize,
}

/// An open ROOT file: its header and every key, walked through all directories once.
#[derive(Debug)]
pub struct RootFile {
    source: Arc<Source>,
    version: i32,
    compression: i32,
    keys: Vec<KeyInfo>,
}

/// Longest directory nesting followed; deeper (or cyclic) directories are a corrupt file.
const MAX_DEPTH: usize = 32;

impl RootFile {
    /// Opens `path` and reads its header and directory tree (not the trees' data).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let source = Arc::new(Source::open(path.as_ref())?);
        let head_len = source.len().min(64) as usize;
        let head = source.read(0, head_len, "file header")?;
        if head.get(..4) != Some(&b"root"[..]) {
            return Err(Error::NotRoot {
                found: head.iter().take(4).copied().collect(),
            });
        }
        let mut c = Cursor::new(&head, "file header");
        c.skip(4)?;
        let version = c.i32()?;
        let large = version >= 1_000_000;
        let begin = c.i32()?;
        let end = if large { c.i64()? } else { i64::from(c.i32()?) };
        let _seek_free = if large { c.i64()? } else { i64::from(c.i32()?) };
        let _nbytes_free = c.i32()?;
        let _nfree = c.i32()?;
        let nbytes_name = c.i32()?;
        let _units = c.u8()?;
        let compression = c.i32()?;
        // fEND is where the file's last record ends: a shorter file lost its tail.
        if u64::try_from(end).map_or(true, |e| e > source.len()) {
            return Err(Error::Truncated {
                what: "the file (its header's fEND)".to_string(),
                start: 0,
                end: u64::try_from(end).unwrap_or(0),
                len: source.len(),
            });
        }
        let dir_at = u64::try_from(i64::from(begin) + i64::from(nbytes_name)).map_err(|_| {
            c.error(format!(
                "negative directory position {begin} + {nbytes_name}"
            ))
        })?;
        let mut file = RootFile {
            source,
            version,
            compression,
            keys: Vec::new(),
        };
        let dir = file.directory_at(dir_at, "top directory")?;
        let mut seen = HashSet::new();
        file.walk(dir, "", 0, &mut seen)?;
        Ok(file)
    }

    /// ROOT version that wrote the file (e.g. 64000 for 6.40/00).
    pub fn version(&self) -> i32 {
        self.version % 1_000_000
    }

    /// The file's compression setting (`algorithm * 100 + level`).
    pub fn compression_setting(&self) -> i32 {
        self.compression
    }

    /// Every key, in directory order, sub-directories after their own key.
    pub fn keys(&self) -> &[KeyInfo] {
        &self.keys
    }

    /// Paths of every TTree, with the highest cycle of each name only.
    pub fn tree_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in self.keys.iter().filter(|k| k.class_name == "TTree") {
            if !out.contains(&k.path) {
                out.push(k.path.clone());
            }
        }
        out
    }

    /// Reads the tree at `path` (e.g. `events` or `bkg/events`): metadata only.
    pub fn tree(&self, path: &str) -> Result<Tree> {
        let path = path.trim_start_matches('/');
        if let Some(other) = self
            .keys
            .iter()
            .find(|k| k.path == path && k.class_name != "TTree")
        {
            return Err(Error::NotATree {
                path: path.to_string(),
                class: other.class_name.clone(),
                available: list(&self.tree_paths()),
            });
        }
        let key = self
            .keys
            .iter()
            .filter(|k| k.path == path && k.class_name == "TTree")
            .max_by_key(|k| k.cycle)
            .ok_or_else(|| Error::MissingTree {
                name: path.to_string(),
                file: self.source.path().display().to_string(),
                available: list(&self.tree_paths()),
            })?;
        let data = self.object_bytes(key)?;
        Tree::parse(&data, key, Arc::clone(&self.source))
    }

    /// Every tree of the file.
    pub fn trees(&self) -> Result<Vec<Tree>> {
        self.tree_paths().iter().map(|p| self.tree(p)).collect()
    }

    /// The uncompressed bytes of a key's object.
    pub(crate) fn object_bytes(&self, key: &KeyInfo) -> Result<Vec<u8>> {
        let what = format!("{} `{}`", key.class_name, key.path);
        let raw = self.source.read(key.seek_key, key.nbytes, &what)?;
        let payload = raw
            .get(key.key_len..)
            .ok_or_else(|| Error::corrupt(&what, "key longer than its record"))?;
        if payload.len() == key.obj_len {
            return Ok(payload.to_vec());
        }
        let mut out = Vec::new();
        decompress_into(
            payload,
            key.obj_len,
            &mut out,
            &mut Decoders::default(),
            &what,
        )?;
        Ok(out)
    }

    /// A TDirectory record: where its key list is and how long it is.
    fn directory_at(&self, at: u64, what: &str) -> Result<DirRecord> {
        let n = (self.source.len().saturating_sub(at)).min(64) as usize;
        let bytes = self.source.read(at, n, what)?;
        let mut c = Cursor::new(&bytes, what);
        let version = c.i16()?;
        let _ctime = c.u32()?;
        let _mtime = c.u32()?;
        let nbytes_keys = c.count("fNbytesKeys")?;
        let _nbytes_name = c.i32()?;
        let large = version > 1000;
        let seek = |c: &mut Cursor| -> Result<i64> {
            if large {
                c.i64()
            } else {
                c.i32().map(i64::from)
            }
        };
        let _seek_dir = seek(&mut c)?;
        let _seek_parent = seek(&mut c)?;
        let seek_keys = seek(&mut c)?;
        let seek_keys = u64::try_from(seek_keys)
            .map_err(|_| c.error(format!("negative key-list position {seek_keys}")))?;
        Ok(DirRecord {
            seek_keys,
            nbytes_keys,
        })
    }

    fn walk(
        &mut self,
        dir: DirRecord,
        prefix: &str,
        depth: usize,
        seen: &mut HashSet<u64>,
    ) -> Result<()> {
        if depth > MAX_DEPTH || !seen.insert(dir.seek_keys) {
            return Err(Error::corrupt(
                "directory structure",
                format!(
                    "directories nest deeper than {MAX_DEPTH} or loop (key list at {})",
                    dir.seek_keys
                ),
            ));
        }
        if dir.seek_keys == 0 {
            return Err(Error::corrupt(
                format!("directory `{prefix}`"),
                "it has no key list (fSeekKeys is 0)",
            ));
        }
        let what = format!("key list of directory `{prefix}`");
        let bytes = self.source.read(dir.seek_keys, dir.nbytes_keys, &what)?;
        let mut c = Cursor::new(&bytes, &what);
        read_key(&mut c, "")?; // the key of the key list itself
        let nkeys = c.count("number of keys")?;
        for _ in 0..nkeys {
            let key = read_key(&mut c, prefix)?;
            let is_dir = matches!(key.class_name.as_str(), "TDirectory" | "TDirectoryFile");
            self.keys.push(key.clone());
            if is_dir {
                let at = key.seek_key + key.key_len as u64;
                let sub = self.directory_at(at, &format!("directory `{}`", key.path))?;
                self.walk(sub, &key.path, depth + 1, seen)?;
            }
        }
        Ok(())
    }
}

struct DirRecord {
    seek_keys: u64,
    nbytes_keys: usize,
}

/// Reads one TKey header (the part before the object's bytes).
pub(crate) fn read_key(c: &mut Cursor, prefix: &str) -> Result<KeyInfo> {
    let nbytes = c.count("key fNbytes")?;
    let version = c.i16()?;
    let obj_len = c.count("key fObjlen")?;
    let _datime = c.u32()?;
    let key_len = usize::try_from(c.i16()?).map_err(|_| c.error("negative key length"))?;
    let cycle = c.i16()?;
    let (seek_key, _seek_pdir) = if version > 1000 {
        (c.i64()?, c.i64()?)
    } else {
        (i64::from(c.i32()?), i64::from(c.i32()?))
    };
    let class_name = c.string()?;
    let name = c.string()?;
    let title = c.string()?;
    let seek_key = u64::try_from(seek_key)
        .map_err(|_| c.error(format!("negative key position {seek_key}")))?;
    if key_len > nbytes {
        return Err(c.error(format!(
            "key length {key_len} exceeds the record's {nbytes} bytes"
        )));
    }
    let path = if prefix.is_empty() {
        name.clone()
    } else {
        format!("{prefix}/{name}")
    };
    Ok(KeyInfo {
        path,
        class_name,
        name,
        title,
        cycle,
        seek_key,
        nbytes,
        obj_len,
        key_len,
    })
}

/// `a, b, c` or `(none)`, for error messages that list what exists.
pub(crate) fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}
