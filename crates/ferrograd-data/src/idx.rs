//! Reader for the IDX format of the MNIST files (`*-idx1-ubyte` labels, `*-idx3-ubyte` images),
//! raw or gzip-compressed.
//!
//! An IDX file is a big-endian header followed by the data in row-major order:
//!
//! ```text
//! magic: [0x00, 0x00, type, ndims]   type 0x08 = unsigned byte
//! dims:  ndims × u32 (big-endian)
//! data:  prod(dims) × u8
//! ```
//!
//! Labels are `0x00000801` with one dimension (count); images are `0x00000803` with three
//! (count, rows, cols). Compression is detected from the content (gzip magic `1f 8b`), not the
//! file name. The reader never trusts the header for allocation: memory grows with the bytes
//! actually present, so a corrupt header cannot make it allocate gigabytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;

use crate::DataError;

/// Magic number of an IDX file of unsigned-byte labels with one dimension.
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;
/// Magic number of an IDX file of unsigned-byte images with three dimensions.
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;

/// Images read from an `idx3-ubyte` file: `count` images of `rows × cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image (28 for MNIST).
    pub rows: usize,
    /// Columns per image (28 for MNIST).
    pub cols: usize,
    /// `count * rows * cols` pixel values, image after image, row-major, 0 = background.
    pub pixels: Vec<u8>,
}

/// Reads an `idx1-ubyte` label file (raw or gzip).
///
/// # Errors
/// [`DataError::MissingFile`] if the file does not exist, [`DataError::BadMagic`] if it is not
/// an IDX label file, [`DataError::Truncated`] / [`DataError::TrailingBytes`] if its length does
/// not match its header, [`DataError::Io`] for other read failures (including corrupt gzip).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let (dims, data) = read_idx(path, IDX_LABELS_MAGIC, "labels (idx1-ubyte)")?;
    debug_assert_eq!(dims.len(), 1);
    Ok(data)
}

/// Reads an `idx3-ubyte` image file (raw or gzip).
///
/// # Errors
/// As [`read_idx_labels`], plus [`DataError::BadContent`] if an image has zero rows or columns.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let (dims, pixels) = read_idx(path, IDX_IMAGES_MAGIC, "images (idx3-ubyte)")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::BadContent {
            path: path.to_path_buf(),
            reason: format!("images of {rows}×{cols} pixels are empty"),
        });
    }
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Opens `path`, undoing gzip if the content starts with the gzip magic.
fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let file = File::open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            DataError::MissingFile {
                what: "IDX file",
                path: path.to_path_buf(),
                hint: "check the path".to_owned(),
            }
        } else {
            io_err(path, source)
        }
    })?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|e| io_err(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads a whole IDX file of unsigned bytes with the given magic; returns (dims, data).
fn read_idx(
    path: &Path,
    expected_magic: u32,
    expected_kind: &'static str,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let mut reader = open_maybe_gz(path)?;

    let mut magic = [0u8; 4];
    let got = read_full(&mut reader, &mut magic).map_err(|e| read_err(path, e, 4, 0))?;
    if got < magic.len() {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: 4,
            found: got as u64,
        });
    }
    let found = u32::from_be_bytes(magic);
    if found != expected_magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected_kind,
            found,
            expected: expected_magic,
        });
    }

    let ndims = usize::from(magic[3]);
    let header_len = 4 + 4 * ndims as u64;
    let mut dim_bytes = vec![0u8; 4 * ndims];
    let got =
        read_full(&mut reader, &mut dim_bytes).map_err(|e| read_err(path, e, header_len, 4))?;
    if got < dim_bytes.len() {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: header_len,
            found: 4 + got as u64,
        });
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();

    let too_big = || DataError::BadContent {
        path: path.to_path_buf(),
        reason: format!("header declares dimensions {dims:?}, too large to load"),
    };
    let data_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_big)?;
    let total = u64::try_from(data_len)
        .ok()
        .and_then(|n| n.checked_add(header_len))
        .ok_or_else(too_big)?;

    // Grow with the data actually present rather than trusting the header.
    let mut data = Vec::with_capacity(data_len.min(1 << 26));
    (&mut reader)
        .take(data_len as u64)
        .read_to_end(&mut data)
        .map_err(|e| read_err(path, e, total, header_len))?;
    if data.len() < data_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: total,
            found: header_len + data.len() as u64,
        });
    }
    let extra =
        io::copy(&mut reader.take(1 << 20), &mut io::sink()).map_err(|e| io_err(path, e))?;
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected: total,
            extra,
        });
    }
    Ok((dims, data))
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn io_err(path: &Path, source: io::Error) -> DataError {
    DataError::Io {
        path: PathBuf::from(path),
        source,
    }
}

/// A gzip stream that ends early reports `UnexpectedEof`: that is a truncated file.
fn read_err(path: &Path, source: io::Error, expected: u64, found_at_least: u64) -> DataError {
    if source.kind() == io::ErrorKind::UnexpectedEof {
        DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            found: found_at_least,
        }
    } else {
        io_err(path, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_raw_and_gz_identically() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8 * 7).collect();
        let raw = idx_bytes(IDX_IMAGES_MAGIC, &[2, 3, 4], &pixels);
        let a = read_idx_images(&write(&dir, "a", &raw)).unwrap();
        let b = read_idx_images(&write(&dir, "b.gz", &gz(&raw))).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.count, a.rows, a.cols), (2, 3, 4));
        assert_eq!(a.pixels, pixels);

        let labels = idx_bytes(IDX_LABELS_MAGIC, &[5], &[3, 1, 4, 1, 5]);
        assert_eq!(
            read_idx_labels(&write(&dir, "l", &labels)).unwrap(),
            [3, 1, 4, 1, 5]
        );
        assert_eq!(
            read_idx_labels(&write(&dir, "l.gz", &gz(&labels))).unwrap(),
            [3, 1, 4, 1, 5]
        );
    }

    #[test]
    fn wrong_magic_is_reported_with_both_values() {
        let dir = tempfile::tempdir().unwrap();
        // A label file passed where images are expected.
        let p = write(&dir, "l", &idx_bytes(IDX_LABELS_MAGIC, &[2], &[1, 2]));
        match read_idx_images(&p) {
            Err(DataError::BadMagic {
                found, expected, ..
            }) => {
                assert_eq!((found, expected), (IDX_LABELS_MAGIC, IDX_IMAGES_MAGIC));
            }
            other => panic!("expected BadMagic, got {other:?}"),
        }
        let html = write(&dir, "h", b"<!DOCTYPE html><html>");
        let err = read_idx_labels(&html).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    found: 0x3c21_444f,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("not an IDX labels"), "{err}");
    }

    #[test]
    fn truncation_is_detected_in_header_and_data_raw_and_gz() {
        let dir = tempfile::tempdir().unwrap();
        let full = idx_bytes(IDX_IMAGES_MAGIC, &[2, 2, 2], &[9; 8]);
        for cut in [0, 3, 10, full.len() - 1] {
            let bytes = &full[..cut];
            for (name, content) in [("raw", bytes.to_vec()), ("gz", gz(bytes))] {
                let p = write(&dir, name, &content);
                match read_idx_images(&p) {
                    Err(DataError::Truncated {
                        expected, found, ..
                    }) => {
                        assert!(found < expected, "cut {cut} {name}: {found} !< {expected}");
                    }
                    other => panic!("cut {cut} {name}: expected Truncated, got {other:?}"),
                }
            }
        }
        // The data part: the message gives both sizes.
        let p = write(&dir, "d", &full[..full.len() - 3]);
        let msg = read_idx_images(&p).unwrap_err().to_string();
        assert!(msg.contains("declares 24 bytes but only 21"), "{msg}");
    }

    #[test]
    fn truncated_gzip_stream_is_truncated_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let full = gz(&idx_bytes(IDX_LABELS_MAGIC, &[1000], &[7; 1000]));
        let p = write(&dir, "t.gz", &full[..full.len() / 2]);
        let err = read_idx_labels(&p).unwrap_err();
        assert!(
            matches!(err, DataError::Truncated { .. } | DataError::Io { .. }),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = idx_bytes(IDX_LABELS_MAGIC, &[2], &[1, 2]);
        bytes.extend_from_slice(&[0, 0, 0]);
        let err = read_idx_labels(&write(&dir, "x", &bytes)).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TrailingBytes {
                    extra: 3,
                    expected: 10,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn huge_header_does_not_allocate_or_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "h",
            &idx_bytes(IDX_IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[1]),
        );
        let err = read_idx_images(&p).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadContent { .. } | DataError::Truncated { .. }
            ),
            "{err}"
        );
        let p = write(
            &dir,
            "g",
            &idx_bytes(IDX_IMAGES_MAGIC, &[60_000, 28, 28], &[1; 10]),
        );
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::Truncated { found: 26, .. })
        ));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_idx_labels(Path::new("/nonexistent/dir/labels-idx1-ubyte")).unwrap_err();
        assert!(matches!(err, DataError::MissingFile { .. }));
        assert!(
            err.to_string()
                .contains("/nonexistent/dir/labels-idx1-ubyte"),
            "{err}"
        );
    }

    #[test]
    fn zero_sized_images_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "z", &idx_bytes(IDX_IMAGES_MAGIC, &[3, 0, 28], &[]));
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::BadContent { .. })
        ));
    }
}
