//! ROOT's compressed records: a sequence of blocks, each with a 9-byte header (2-byte algorithm
//! tag, method byte, 3-byte little-endian compressed and uncompressed sizes); LZ4 blocks carry an
//! 8-byte big-endian xxhash64 of the compressed bytes after the header. Blocks hold at most
//! 16 MiB - 1 bytes, so large records are several blocks back to back.

use std::io::Read;

use crate::error::{Error, Result};

/// Compression algorithm of a block or of a file's setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Zlib,
    Lzma,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zlib => "ZLIB",
            Compression::Lzma => "LZMA",
            Compression::Lz4 => "LZ4",
            Compression::Zstd => "ZSTD",
        }
    }
}

const HEADER: usize = 9;
const CHECKSUM: usize = 8;

/// Decoder states kept between blocks, so reading many baskets does not set up a ZLIB or ZSTD
/// context (hundreds of kB for ZSTD) per basket.
pub(crate) struct Decoders {
    zlib: flate2::Decompress,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl Default for Decoders {
    fn default() -> Self {
        Decoders {
            zlib: flate2::Decompress::new(true),
            zstd: None,
        }
    }
}

impl std::fmt::Debug for Decoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoders")
    }
}

/// Decompresses `src` (one record's bytes after its key) into `out`, which is cleared and must
/// end up exactly `expected` bytes long. `what` names the record in errors.
pub(crate) fn decompress_into(
    src: &[u8],
    expected: usize,
    out: &mut Vec<u8>,
    dec: &mut Decoders,
    what: &str,
) -> Result<()> {
    out.clear();
    // Grown block by block (each at most 16 MiB), never by the size a header claims up front.
    let mut rest = src;
    while out.len() < expected {
        let header = rest.get(..HEADER).ok_or_else(|| {
            Error::corrupt(
                what,
                format!(
                    "compressed data ends after {} of {expected} bytes",
                    out.len()
                ),
            )
        })?;
        let tag = [header[0], header[1]];
        let csize = le24(&header[3..6]);
        let usize_ = le24(&header[6..9]);
        let body = rest.get(HEADER..HEADER + csize).ok_or_else(|| {
            Error::corrupt(
                what,
                format!(
                    "a compressed block of {csize} bytes runs past the record ({} bytes left)",
                    rest.len().saturating_sub(HEADER)
                ),
            )
        })?;
        rest = &rest[HEADER + csize..];
        if out.len() + usize_ > expected {
            return Err(Error::corrupt(
                what,
                format!(
                    "blocks decompress to more than the record's {expected} bytes ({} + {usize_})",
                    out.len()
                ),
            ));
        }
        let start = out.len();
        match &tag {
            b"ZL" => inflate_zlib(&mut dec.zlib, body, usize_, out, what)?,
            b"XZ" => inflate_xz(body, usize_, out, what)?,
            b"ZS" => inflate_zstd(&mut dec.zstd, body, usize_, out, what)?,
            b"L4" => inflate_lz4(body, usize_, out, what)?,
            _ => {
                return Err(Error::UnknownCompression {
                    what: what.to_string(),
                    tag: String::from_utf8_lossy(&tag).into_owned(),
                })
            }
        }
        if out.len() - start != usize_ {
            return Err(Error::corrupt(
                what,
                format!(
                    "a block header promises {usize_} bytes but the block decompresses to {}",
                    out.len() - start
                ),
            ));
        }
        if usize_ == 0 {
            return Err(Error::corrupt(what, "an empty compressed block"));
        }
    }
    Ok(())
}

fn le24(b: &[u8]) -> usize {
    b.iter()
        .rev()
        .fold(0usize, |acc, &x| (acc << 8) | usize::from(x))
}

fn decompress_error(what: &str, algorithm: &'static str, detail: impl ToString) -> Error {
    Error::Decompress {
        what: what.to_string(),
        algorithm,
        detail: detail.to_string(),
    }
}

/// Reads at most `n` bytes from a decoder, so a corrupt stream cannot grow `out` without bound.
fn read_limited(r: impl Read, n: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    // One byte more than promised, so a block that decompresses to too much is noticed.
    r.take(n as u64 + 1).read_to_end(out).map(|_| ())
}

fn inflate_zlib(
    z: &mut flate2::Decompress,
    body: &[u8],
    n: usize,
    out: &mut Vec<u8>,
    what: &str,
) -> Result<()> {
    z.reset(true);
    let start = out.len();
    // `decompress_vec` writes into the spare capacity; more than `n` bytes is an error below.
    out.reserve(n);
    let status = z
        .decompress_vec(body, out, flate2::FlushDecompress::Finish)
        .map_err(|e| decompress_error(what, "ZLIB", e))?;
    if status != flate2::Status::StreamEnd || out.len() - start > n {
        return Err(decompress_error(
            what,
            "ZLIB",
            format!("stream does not end after the block's {n} bytes"),
        ));
    }
    Ok(())
}

fn inflate_xz(body: &[u8], n: usize, out: &mut Vec<u8>, what: &str) -> Result<()> {
    read_limited(liblzma::read::XzDecoder::new(body), n, out)
        .map_err(|e| decompress_error(what, "LZMA", e))
}

fn inflate_zstd(
    d: &mut Option<zstd::bulk::Decompressor<'static>>,
    body: &[u8],
    n: usize,
    out: &mut Vec<u8>,
    what: &str,
) -> Result<()> {
    if d.is_none() {
        *d = Some(zstd::bulk::Decompressor::new().map_err(|e| decompress_error(what, "ZSTD", e))?);
    }
    let Some(d) = d.as_mut() else {
        return Err(decompress_error(what, "ZSTD", "no decoder"));
    };
    let start = out.len();
    out.resize(start + n, 0);
    match d.decompress_to_buffer(body, &mut out[start..]) {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(decompress_error(what, "ZSTD", e))
        }
    }
}

fn inflate_lz4(body: &[u8], n: usize, out: &mut Vec<u8>, what: &str) -> Result<()> {
    let (checksum, data) = body
        .split_at_checked(CHECKSUM)
        .ok_or_else(|| Error::corrupt(what, "an LZ4 block shorter than its checksum"))?;
    let mut stored = [0u8; CHECKSUM];
    stored.copy_from_slice(checksum);
    let stored = u64::from_be_bytes(stored);
    let computed = xxhash_rust::xxh64::xxh64(data, 0);
    if stored != computed {
        return Err(Error::corrupt(
            what,
            format!("LZ4 block checksum {computed:#018x} does not match the stored {stored:#018x}"),
        ));
    }
    let start = out.len();
    out.resize(start + n, 0);
    match lz4_flex::block::decompress_into(data, &mut out[start..]) {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(decompress_error(what, "LZ4", e))
        }
    }
}

/// Largest uncompressed block ROOT writes (the sizes are 3-byte fields).
const MAX_BLOCK: usize = 0xFF_FFFF;

impl Compression {
    /// ROOT's algorithm number in a compression setting (`algorithm * 100 + level`).
    pub fn root_algorithm(self) -> i32 {
        match self {
            Compression::None => 0,
            Compression::Zlib => 1,
            Compression::Lzma => 2,
            Compression::Lz4 => 4,
            Compression::Zstd => 5,
        }
    }
}

/// Compresses `data` into ROOT blocks (9-byte headers; LZ4 with its checksum). `None` when
/// compression does not make the record smaller, in which case ROOT stores it as it is.
pub(crate) fn compress(data: &[u8], alg: Compression, level: i32) -> Result<Option<Vec<u8>>> {
    if alg == Compression::None || data.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    for chunk in data.chunks(MAX_BLOCK) {
        let (tag, method, body): (&[u8; 2], u8, Vec<u8>) = match alg {
            Compression::Zlib => {
                use std::io::Write;
                let lvl = flate2::Compression::new(level.clamp(1, 9) as u32);
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), lvl);
                e.write_all(chunk)
                    .and_then(|_| e.finish())
                    .map(|b| (b"ZL", 8, b))
            }
            Compression::Lzma => {
                use std::io::Write;
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), level.clamp(1, 9) as u32);
                e.write_all(chunk)
                    .and_then(|_| e.finish())
                    .map(|b| (b"XZ", 0, b))
            }
            Compression::Zstd => {
                zstd::bulk::compress(chunk, level.clamp(1, 22)).map(|b| (b"ZS", 1, b))
            }
            Compression::Lz4 => {
                let c = lz4_flex::block::compress(chunk);
                let mut b = xxhash_rust::xxh64::xxh64(&c, 0).to_be_bytes().to_vec();
                b.extend_from_slice(&c);
                Ok((b"L4", 1, b))
            }
            Compression::None => return Ok(None),
        }
        .map_err(|e| Error::Write {
            what: format!("a {} block", alg.name()),
            detail: e.to_string(),
        })?;
        if body.len() > MAX_BLOCK {
            return Ok(None);
        }
        out.extend_from_slice(tag);
        out.push(method);
        out.extend_from_slice(&le24_bytes(body.len()));
        out.extend_from_slice(&le24_bytes(chunk.len()));
        out.extend_from_slice(&body);
    }
    Ok((out.len() < data.len()).then_some(out))
}

fn le24_bytes(n: usize) -> [u8; 3] {
    [n as u8, (n >> 8) as u8, (n >> 16) as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(tag: &[u8; 2], payload: &[u8], usize_: usize) -> Vec<u8> {
        let mut v = tag.to_vec();
        v.push(0);
        let c = payload.len();
        v.extend_from_slice(&[c as u8, (c >> 8) as u8, (c >> 16) as u8]);
        v.extend_from_slice(&[usize_ as u8, (usize_ >> 8) as u8, (usize_ >> 16) as u8]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn two_zlib_blocks_concatenate() {
        use std::io::Write;
        let mut all = Vec::new();
        for text in [&b"hello "[..], &b"world"[..]] {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text).unwrap();
            all.extend(block(b"ZL", &e.finish().unwrap(), text.len()));
        }
        let mut out = Vec::new();
        decompress_into(&all, 11, &mut out, &mut Decoders::default(), "test").unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn every_algorithm_round_trips_through_our_blocks() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for alg in [
            Compression::Zlib,
            Compression::Lzma,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let c = compress(&data, alg, 5).unwrap().unwrap();
            let mut out = Vec::new();
            decompress_into(&c, data.len(), &mut out, &mut Decoders::default(), "t").unwrap();
            assert_eq!(out, data, "{alg:?}");
        }
        assert!(compress(&[1, 2, 3], Compression::Zlib, 1)
            .unwrap()
            .is_none());
    }

    #[test]
    fn lz4_checksum_is_checked() {
        let data = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbb";
        let c = lz4_flex::block::compress(data);
        let mut payload = xxhash_rust::xxh64::xxh64(&c, 0).to_be_bytes().to_vec();
        payload.extend_from_slice(&c);
        let good = block(b"L4", &payload, data.len());
        let mut out = Vec::new();
        decompress_into(
            &good,
            data.len(),
            &mut out,
            &mut Decoders::default(),
            "test",
        )
        .unwrap();
        assert_eq!(&out[..], &data[..]);
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let err = decompress_into(&bad, data.len(), &mut out, &mut Decoders::default(), "test")
            .unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn short_and_unknown_blocks_are_errors() {
        let mut out = Vec::new();
        let err =
            decompress_into(b"ZL\0", 5, &mut out, &mut Decoders::default(), "basket").unwrap_err();
        assert!(err.to_string().contains("ends after 0 of 5"), "{err}");
        let err = decompress_into(
            &block(b"QQ", b"xyz", 3),
            3,
            &mut out,
            &mut Decoders::default(),
            "basket",
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnknownCompression { .. }), "{err}");
        let err = decompress_into(
            &block(b"ZL", b"xyz", 3),
            3,
            &mut out,
            &mut Decoders::default(),
            "basket",
        )
        .unwrap_err();
        assert!(matches!(err, Error::Decompress { .. }), "{err}");
    }
}
