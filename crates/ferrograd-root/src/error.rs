//! The one error type of the crate: every failure on file data ends here, never in a panic.

use std::path::PathBuf;

/// What went wrong while reading or writing a ROOT file. Every variant carries the data needed
/// to say what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused a read or write.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the `root` magic.
    #[error("not a ROOT file: it starts with {found:?}, a ROOT file starts with \"root\"")]
    NotRoot { found: Vec<u8> },
    /// A record points past the end of the file.
    #[error("truncated file: {what} needs bytes {start}..{end} but the file has {len} bytes")]
    Truncated {
        what: String,
        start: u64,
        end: u64,
        len: u64,
    },
    /// Bytes that cannot be what the format says is there.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// A compressed block names an algorithm this reader does not know.
    #[error("corrupt {what}: unknown compression algorithm {tag:?}")]
    UnknownCompression { what: String, tag: String },
    /// The decompressor rejected a block (bad data or wrong sizes).
    #[error("corrupt {what}: {algorithm} block does not decompress: {detail}")]
    Decompress {
        what: String,
        algorithm: &'static str,
        detail: String,
    },
    /// No tree of that name; lists the trees that exist.
    #[error("no tree `{name}` in {file}; trees: {available}")]
    MissingTree {
        name: String,
        file: String,
        available: String,
    },
    /// No branch of that name; lists the branches that exist.
    #[error("no branch `{name}` in tree `{tree}`; branches: {available}")]
    MissingBranch {
        name: String,
        tree: String,
        available: String,
    },
    /// The path names an object that is not a TTree (a TNtuple, a histogram, a directory).
    #[error("`{path}` is a {class}, not a TTree; trees: {available}")]
    NotATree {
        path: String,
        class: String,
        available: String,
    },
    /// A branch whose type is outside the supported subset.
    #[error("branch `{branch}` has type {type_name}, which ferrograd-root does not read: {why}")]
    Unsupported {
        branch: String,
        type_name: String,
        why: String,
    },
    /// A class version whose layout this reader does not know.
    #[error("{class} class version {version} is not supported (reads versions {supported})")]
    UnsupportedVersion {
        class: &'static str,
        version: i16,
        supported: &'static str,
    },
    /// The baskets hold fewer (or more) entries than the tree declares.
    #[error("branch `{branch}` of tree `{tree}`: the tree declares {declared} entries but the baskets hold {found}")]
    EntryCount {
        tree: String,
        branch: String,
        declared: u64,
        found: u64,
    },
    /// A requested entry range outside the tree.
    #[error("entries {start}..{stop} are outside tree `{tree}`, which has {entries} entries")]
    EntryRange {
        tree: String,
        start: u64,
        stop: u64,
        entries: u64,
    },
    /// A configuration that cannot work (a cut that does not parse, loader settings).
    #[error("invalid {what}: {detail}")]
    Config { what: String, detail: String },
    /// A write that cannot be represented (e.g. a column of the wrong length).
    #[error("cannot write {what}: {detail}")]
    Write { what: String, detail: String },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }
}
