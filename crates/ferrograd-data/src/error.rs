//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading, batching or generating data.
///
/// Every variant carries the data needed to act on it (the path, the expected and found
/// values) and its message says what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A data file does not exist (the message says how to fetch it).
    #[error("{what} not found: {path} ({hint})")]
    MissingFile {
        /// What the file was supposed to hold, e.g. "MNIST training images".
        what: &'static str,
        /// The first path that was tried.
        path: PathBuf,
        /// How to get the file.
        hint: String,
    },

    /// Reading a file failed for a reason other than absence (permissions, I/O error, bad gzip).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The first four bytes are not the IDX magic number that was expected.
    #[error(
        "{path} is not an IDX {expected_kind} file: magic number is {found:#010x}, expected {expected:#010x} \
         (is it an HTML error page or a file of the other kind? re-run scripts/fetch-mnist.sh)"
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// `labels (idx1-ubyte)` or `images (idx3-ubyte)`.
        expected_kind: &'static str,
        /// The magic number found (big-endian u32 of the first four bytes).
        found: u32,
        /// The magic number expected (0x00000801 for labels, 0x00000803 for images).
        expected: u32,
    },

    /// The file ends before the data its header declares.
    #[error(
        "{path} is truncated: its header declares {expected} bytes but only {found} are present \
         (delete it and re-run scripts/fetch-mnist.sh)"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header (or the fixed header size) requires.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },

    /// The file holds more bytes than its header declares.
    #[error("{path} has {extra} byte(s) after the {expected} its header declares (corrupt or not an IDX file)")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header declares.
        expected: u64,
        /// Extra bytes found (at least this many; reading stops early).
        extra: u64,
    },

    /// A well-formed file whose shape or content is not what the caller needs.
    #[error("{path}: {reason}")]
    BadContent {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },

    /// An image file and its label file disagree on the number of examples.
    #[error(
        "{images_path} holds {images} images but {labels_path} holds {labels} labels; \
         the two files must come from the same split"
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// The label file.
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// A configuration value is out of range (or NaN).
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `GwConfig::snr_range`.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// A caller-owned buffer or input slice has the wrong length.
    #[error("{what} has length {found}, expected {expected}")]
    BadLength {
        /// Which buffer.
        what: &'static str,
        /// Required length (a minimum where the message says so in `what`).
        expected: usize,
        /// Actual length.
        found: usize,
    },

    /// A character outside the text vocabulary (`text::VOCAB`, tinyshakespeare's 65).
    #[error("character {ch:?} at position {at} is not in the 65-character vocabulary")]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its position (in characters) in the text.
        at: usize,
    },

    /// A token id outside the text vocabulary (ids are below 65).
    #[error("token id {token} at position {at} is not below the vocabulary size 65")]
    UnknownToken {
        /// The id.
        token: usize,
        /// Its position in the token sequence.
        at: usize,
    },

    /// An FFT reported an error. This is a bug in ferrograd-data, not a problem with the input.
    #[error("FFT failed: {reason} (a bug in ferrograd-data; please report it)")]
    Fft {
        /// The FFT library's message.
        reason: String,
    },
}
