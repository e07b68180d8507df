//! Positional reads from the file on disk, bounds-checked against the file length so that a
//! seek past the end is a `Truncated` error that says which record wanted the bytes.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An open file that many readers can read from at once (positional reads, no shared cursor).
#[derive(Debug)]
pub(crate) struct Source {
    file: File,
    path: PathBuf,
    len: u64,
}

impl Source {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Source {
            file,
            path: path.to_path_buf(),
            len,
        })
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `n` bytes at `offset` into `buf` (cleared first; its capacity is reused).
    pub(crate) fn read_into(
        &self,
        offset: u64,
        n: usize,
        buf: &mut Vec<u8>,
        what: &str,
    ) -> Result<()> {
        let end = offset.checked_add(n as u64).filter(|&e| e <= self.len);
        if end.is_none() {
            return Err(Error::Truncated {
                what: what.to_string(),
                start: offset,
                end: offset.saturating_add(n as u64),
                len: self.len,
            });
        }
        buf.clear();
        buf.resize(n, 0);
        self.read_exact_at(buf, offset).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })
    }

    pub(crate) fn read(&self, offset: u64, n: usize, what: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(offset, n, &mut buf, what)?;
        Ok(buf)
    }

    #[cfg(unix)]
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    #[cfg(windows)]
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match self.file.seek_read(buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}
