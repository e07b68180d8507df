//! One basket: its key, its (de)compressed payload, and the per-entry byte offsets that follow
//! the data for variable-size entries (`TBasket` on-disk layout). Buffers are reused from one
//! basket to the next, so steady-state reading allocates nothing.

use crate::compression::{decompress_into, Decoders};
use crate::cursor::Cursor;
use crate::error::Result;
use crate::source::Source;
use crate::tree::BasketRef;

/// Bytes at the end of a basket's key: fVersion (2), fBufferSize, fNevBufSize, fNevBuf, fLast
/// (4 each) and a flag byte.
const BASKET_FIELDS: usize = 19;

/// A decompressed basket, reused across loads.
#[derive(Default, Debug)]
pub(crate) struct Basket {
    file_buf: Vec<u8>,
    raw: Vec<u8>,
    border: usize,
    /// Entry start offsets into `data()`, plus the end; empty for fixed-size entries.
    offsets: Vec<usize>,
    entries: usize,
    decoders: Decoders,
}

impl Basket {
    /// The entry data (before the offset table).
    pub(crate) fn data(&self) -> &[u8] {
        self.raw.get(..self.border).unwrap_or(&[])
    }

    /// Entry byte offsets (`entries + 1` values) when entries vary in size.
    pub(crate) fn offsets(&self) -> Option<&[usize]> {
        (!self.offsets.is_empty()).then_some(&self.offsets[..])
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// Reads, checks and decompresses the basket `r` of a branch; `what` names it in errors.
    pub(crate) fn load(&mut self, source: &Source, r: &BasketRef, what: &str) -> Result<()> {
        source.read_into(r.seek, r.bytes, &mut self.file_buf, what)?;
        let mut c = Cursor::new(&self.file_buf, what);
        let nbytes = c.count("basket fNbytes")?;
        let _key_version = c.i16()?;
        let obj_len = c.count("basket fObjlen")?;
        let _datime = c.u32()?;
        let key_len = usize::try_from(c.i16()?).map_err(|_| c.error("negative key length"))?;
        if nbytes != r.bytes {
            return Err(c.error(format!(
                "the basket key says {nbytes} bytes, the branch's table says {}",
                r.bytes
            )));
        }
        if key_len < BASKET_FIELDS + 18 || key_len > nbytes {
            return Err(c.error(format!("basket key length {key_len} is impossible")));
        }
        c.seek(key_len - BASKET_FIELDS)?;
        let _version = c.i16()?;
        let _buffer_size = c.i32()?;
        let _nev_buf_size = c.i32()?;
        let nev = c.count("basket fNevBuf")?;
        let last = c.count("basket fLast")?;
        let expected = usize::try_from(r.stop - r.first).unwrap_or(usize::MAX);
        if nev != expected {
            return Err(c.error(format!(
                "the basket holds {nev} entries, the branch's table says {expected}"
            )));
        }
        let border = last
            .checked_sub(key_len)
            .filter(|&b| b <= obj_len)
            .ok_or_else(|| c.error(format!("data end {last} outside the basket")))?;
        let payload = self.file_buf.get(key_len..).unwrap_or(&[]);
        if payload.len() == obj_len {
            self.raw.clear();
            self.raw.extend_from_slice(payload);
        } else {
            decompress_into(payload, obj_len, &mut self.raw, &mut self.decoders, what)?;
        }
        self.border = border;
        self.entries = nev;
        self.offsets.clear();
        if border < obj_len {
            self.read_offsets(key_len, what)?;
        }
        Ok(())
    }

    /// The offset table after the data: a count, then one start per entry (counted from the
    /// key's start). The last entry ends at the data border.
    fn read_offsets(&mut self, key_len: usize, what: &str) -> Result<()> {
        let table = self.raw.get(self.border..).unwrap_or(&[]);
        let mut c = Cursor::new(table, what);
        let n = c.count("entry offset count")?;
        if n < self.entries {
            return Err(c.error(format!(
                "offset table lists {n} entries, the basket holds {}",
                self.entries
            )));
        }
        let mut prev = 0;
        for i in 0..self.entries {
            let at = c.count("entry offset")?;
            let start = at.checked_sub(key_len).unwrap_or(usize::MAX);
            if start < prev || start > self.border || (i == 0 && start != 0) {
                return Err(c.error(format!(
                    "entry {i} starts at byte {at}, outside {}..{}",
                    key_len + prev,
                    key_len + self.border
                )));
            }
            self.offsets.push(start);
            prev = start;
        }
        self.offsets.push(self.border);
        Ok(())
    }
}
