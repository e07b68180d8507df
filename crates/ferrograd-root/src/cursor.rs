//! Checked big-endian reads over a byte slice: every read that would run past the end is an
//! error naming what was being read, so no file content can make the reader panic.

use crate::error::{Error, Result};

/// A position in a byte slice. `origin` is what ROOT adds to positions when it numbers objects
/// for back-references (the key length: positions count from the start of the key).
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    origin: i64,
    what: &'a str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'a str) -> Self {
        Cursor {
            data,
            pos: 0,
            origin: 0,
            what,
        }
    }

    /// A cursor whose back-reference positions are counted from `origin` bytes before `data`.
    pub(crate) fn with_origin(data: &'a [u8], origin: i64, what: &'a str) -> Self {
        Cursor {
            data,
            pos: 0,
            origin,
            what,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The position as ROOT numbers it for back-references.
    pub(crate) fn displacement(&self) -> i64 {
        self.pos as i64 + self.origin
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn error(&self, detail: impl Into<String>) -> Error {
        Error::corrupt(
            self.what,
            format!("{} (at byte {})", detail.into(), self.pos),
        )
    }

    /// Moves to an absolute position inside the slice (the end is allowed).
    pub(crate) fn seek(&mut self, pos: usize) -> Result<()> {
        if pos > self.data.len() {
            return Err(self.error(format!(
                "jump to byte {pos} past the end of a {}-byte record",
                self.data.len()
            )));
        }
        self.pos = pos;
        Ok(())
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end.and_then(|e| self.data.get(self.pos..e).map(|s| (s, e))) {
            Some((s, e)) => {
                self.pos = e;
                Ok(s)
            }
            None => Err(self.error(format!(
                "needs {n} more bytes, the record has {} left",
                self.remaining()
            ))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// ROOT's TString: one length byte, or 255 followed by a 4-byte length.
    pub(crate) fn string(&mut self) -> Result<String> {
        let short = self.u8()?;
        let len = if short == 255 {
            let n = self.i32()?;
            usize::try_from(n).map_err(|_| self.error(format!("negative string length {n}")))?
        } else {
            usize::from(short)
        };
        Ok(String::from_utf8_lossy(self.bytes(len)?).into_owned())
    }

    /// A NUL-terminated C string (class names in object headers).
    pub(crate) fn cstring(&mut self) -> Result<String> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                let s = String::from_utf8_lossy(&rest[..n]).into_owned();
                self.pos += n + 1;
                Ok(s)
            }
            None => Err(self.error("class name without terminating NUL")),
        }
    }

    /// An integer that must be a valid non-negative length or count.
    pub(crate) fn count(&mut self, name: &str) -> Result<usize> {
        let n = self.i32()?;
        usize::try_from(n).map_err(|_| self.error(format!("{name} is negative ({n})")))
    }
}
