//! Writing ROOT files: the file header, the top directory and its key list, and keyed records
//! (baskets, trees), following the documented `TFile`/`TKey`/`TDirectoryFile` layout. Always
//! the 64-bit-seek variant (header version + 1000000, key version + 1000), which ROOT and
//! uproot read for files of any size. Flat trees are built by [`TreeWriter`].

mod buffer;
mod friend;
mod tree;

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use friend::PredictionWriter;
pub use tree::{BranchSpec, TreeWriter};

use crate::compression::{compress, Compression};
use crate::error::{Error, Result};
use buffer::Buf;

/// Where the top directory's key starts (ROOT's fBEGIN).
const BEGIN: u64 = 100;
/// ROOT version written in the header: 6.40/00, with 1000000 added for 64-bit seeks.
const FILE_VERSION: i32 = 1_064_000;
/// Key class version 4 plus 1000 for 64-bit seeks.
const KEY_VERSION: i16 = 1004;
/// TDirectory class version 5 plus 1000 for 64-bit seeks.
const DIR_VERSION: i16 = 1005;
/// Bytes of the top directory record (version … UUID, plus ROOT's 12 spare bytes).
const DIR_RECORD: usize = 2 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 2 + 16 + 12;

/// A record written to the file, described by its key.
#[derive(Clone, Debug)]
struct Key {
    nbytes: usize,
    obj_len: usize,
    key_len: usize,
    seek: u64,
    class: String,
    name: String,
    title: String,
}

/// A ROOT file being written. Call [`close`](Self::close) at the end: until then the header
/// and the key list are placeholders and the file is not readable.
pub struct RootWriter {
    out: BufWriter<File>,
    path: PathBuf,
    pos: u64,
    file_name: String,
    keys: Vec<Key>,
    compression: Compression,
    level: i32,
    datime: u32,
    uuid: [u8; 16],
}

impl RootWriter {
    /// Creates (or truncates) `path`; records are compressed with `compression` at `level`
    /// (ZLIB/LZMA 1–9, ZSTD 1–22; LZ4 ignores the level).
    pub fn create(path: impl AsRef<Path>, compression: Compression, level: i32) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let file_name = path.file_name().map_or_else(
            || "file.root".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&(now ^ (u128::from(std::process::id()) << 64)).to_be_bytes());
        let mut w = RootWriter {
            out: BufWriter::new(file),
            path,
            pos: 0,
            file_name,
            keys: Vec::new(),
            compression,
            level,
            datime: datime(),
            uuid,
        };
        // Placeholders for the header and the top directory, rewritten by `close`.
        let head = w.top_directory(0, 0, 0, 0, 0, 0)?;
        w.write_all(&head)?;
        Ok(w)
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| self.io(e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn setting(&self) -> i32 {
        match self.compression {
            Compression::None => 0,
            c => c.root_algorithm() * 100 + self.level.clamp(1, 99),
        }
    }

    /// A key header (with `extra` bytes that belong to the key, as a basket's fields do).
    fn key_header(&self, k: &Key, extra: &[u8]) -> Vec<u8> {
        let mut b = Buf::new(0);
        b.i32(k.nbytes as i32);
        b.i16(KEY_VERSION);
        b.i32(k.obj_len as i32);
        b.u32(self.datime);
        b.i16(k.key_len as i16);
        b.i16(1); // cycle
        b.i64(k.seek as i64);
        b.i64(BEGIN as i64); // the directory that holds the key
        b.string(&k.class);
        b.string(&k.name);
        b.string(&k.title);
        b.bytes.extend_from_slice(extra);
        b.bytes
    }

    /// Key length for a key of these strings (and `extra` key bytes).
    fn key_len(class: &str, name: &str, title: &str, extra: usize) -> usize {
        let s = |x: &str| x.len() + if x.len() < 255 { 1 } else { 5 };
        4 + 2 + 4 + 4 + 2 + 2 + 8 + 8 + s(class) + s(name) + s(title) + extra
    }

    /// Writes a keyed record whose object bytes are `object`, compressed when that helps;
    /// `extra` bytes are appended to the key (a basket's fields). Returns (seek, nbytes).
    fn write_record(
        &mut self,
        class: &str,
        name: &str,
        title: &str,
        extra: &[u8],
        object: &[u8],
        list: bool,
    ) -> Result<(u64, usize)> {
        let compressed = compress(object, self.compression, self.level)?;
        let payload = compressed.as_deref().unwrap_or(object);
        let key_len = Self::key_len(class, name, title, extra.len());
        let key = Key {
            nbytes: key_len + payload.len(),
            obj_len: object.len(),
            key_len,
            seek: self.pos,
            class: class.to_string(),
            name: name.to_string(),
            title: title.to_string(),
        };
        if key.nbytes > i32::MAX as usize {
            return Err(Error::Write {
                what: format!("{class} `{name}`"),
                detail: format!(
                    "a record of {} bytes is over ROOT's 2 GB key limit",
                    key.nbytes
                ),
            });
        }
        let header = self.key_header(&key, extra);
        self.write_all(&header)?;
        self.write_all(payload)?;
        let at = (key.seek, key.nbytes);
        if list {
            self.keys.push(key);
        }
        Ok(at)
    }

    /// The 100-byte file header followed by the top directory's key, name and record.
    fn top_directory(
        &self,
        end: u64,
        seek_free: u64,
        nbytes_free: usize,
        seek_info: u64,
        nbytes_info: usize,
        seek_keys: u64,
    ) -> Result<Vec<u8>> {
        let title = "";
        let key_len = Self::key_len("TFile", &self.file_name, title, 0);
        let mut named = Buf::new(0);
        named.string(&self.file_name);
        named.string(title);
        let nbytes_name = key_len + named.bytes.len();
        let mut h = Buf::new(0);
        h.bytes.extend_from_slice(b"root");
        h.i32(FILE_VERSION);
        h.i32(BEGIN as i32);
        h.i64(end as i64);
        h.i64(seek_free as i64);
        h.i32(nbytes_free as i32);
        h.i32(1); // nfree
        h.i32(nbytes_name as i32);
        h.u8(8); // fUnits: 8-byte seeks
        h.i32(self.setting());
        h.i64(seek_info as i64);
        h.i32(nbytes_info as i32);
        h.u16(1); // TUUID version
        h.bytes.extend_from_slice(&self.uuid);
        h.bytes.resize(BEGIN as usize, 0);
        let key = Key {
            nbytes: nbytes_name + DIR_RECORD,
            obj_len: nbytes_name + DIR_RECORD - key_len,
            key_len,
            seek: BEGIN,
            class: "TFile".into(),
            name: self.file_name.clone(),
            title: title.into(),
        };
        let mut k = self.key_header(&key, &[]);
        k[26..34].copy_from_slice(&0i64.to_be_bytes()); // fSeekPdir: the top directory has no parent
        h.bytes.extend_from_slice(&k);
        h.bytes.extend_from_slice(&named.bytes);
        let nbytes_keys = self.keys_list_len();
        h.i16(DIR_VERSION);
        h.u32(self.datime);
        h.u32(self.datime);
        h.i32(nbytes_keys as i32);
        h.i32(nbytes_name as i32);
        h.i64(BEGIN as i64); // fSeekDir
        h.i64(0); // fSeekParent
        h.i64(seek_keys as i64);
        h.u16(1);
        h.bytes.extend_from_slice(&self.uuid);
        h.bytes.extend_from_slice(&[0; 12]);
        Ok(h.bytes)
    }

    /// Bytes of the key list record: its key, the count, and every key header.
    fn keys_list_len(&self) -> usize {
        Self::key_len("TFile", &self.file_name, "", 0)
            + 4
            + self
                .keys
                .iter()
                .map(|k| Self::key_len(&k.class, &k.name, &k.title, 0))
                .sum::<usize>()
    }

    /// Writes the streamer-info record, the key list and the free-segment list, then the real
    /// header and directory. The file is complete afterwards.
    pub fn close(mut self) -> Result<PathBuf> {
        // An empty StreamerInfo list: every class is written in ROOT 6.40's own version, so
        // readers use their built-in layouts.
        let mut info = Buf::new(0);
        let at = info.begin(5);
        info.tobject();
        info.string("");
        info.i32(0);
        info.end(at);
        let (seek_info, nbytes_info) = self.write_record(
            "TList",
            "StreamerInfo",
            "Doubly linked list",
            &[],
            &info.bytes,
            false,
        )?;

        let seek_keys = self.pos;
        let key_len = Self::key_len("TFile", &self.file_name, "", 0);
        let nbytes = self.keys_list_len();
        let list_key = Key {
            nbytes,
            obj_len: nbytes - key_len,
            key_len,
            seek: seek_keys,
            class: "TFile".into(),
            name: self.file_name.clone(),
            title: String::new(),
        };
        let mut list = self.key_header(&list_key, &[]);
        list.extend_from_slice(&(self.keys.len() as i32).to_be_bytes());
        for k in &self.keys {
            list.extend_from_slice(&self.key_header(k, &[]));
        }
        self.write_all(&list)?;

        // One free segment: everything after the end of the file (ROOT's own convention).
        let seek_free = self.pos;
        let free_len = 2 + 8 + 8;
        let key_len = Self::key_len("TFile", &self.file_name, "", 0);
        let free_key = Key {
            nbytes: key_len + free_len,
            obj_len: free_len,
            key_len,
            seek: seek_free,
            class: "TFile".into(),
            name: self.file_name.clone(),
            title: String::new(),
        };
        let end = seek_free + free_key.nbytes as u64;
        let mut free = self.key_header(&free_key, &[]);
        free.extend_from_slice(&1001i16.to_be_bytes());
        free.extend_from_slice(&(end as i64).to_be_bytes());
        free.extend_from_slice(&2_000_000_000i64.to_be_bytes());
        let nbytes_free = free_key.nbytes;
        self.write_all(&free)?;

        let head = self.top_directory(
            end,
            seek_free,
            nbytes_free,
            seek_info,
            nbytes_info,
            seek_keys,
        )?;
        self.out.flush().map_err(|e| self.io(e))?;
        let file = self.out.get_mut();
        let res = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&head))
            .and_then(|_| file.sync_all());
        res.map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })?;
        Ok(self.path)
    }
}

/// ROOT's packed date: (year-1995)<<26 | month<<22 | day<<17 | hour<<12 | minute<<6 | second.
fn datime() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
    ((year.saturating_sub(1995)) << 26)
        | (month << 22)
        | (day << 17)
        | (((rem / 3600) as u32) << 12)
        | ((((rem / 60) % 60) as u32) << 6)
        | ((rem % 60) as u32)
}
