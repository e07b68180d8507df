//! Native, panic-free reading of ROOT TTrees (the flat subset physics analyses use), written
//! from the ROOT file-format documentation.
//!
//! ```no_run
//! use ferrograd_root::{Column, RootFile};
//! let file = RootFile::open("data.root")?;
//! let tree = file.tree("bkg/events")?;
//! let mut reader = tree.reader();
//! let mut pt = Column::new(); // reused for every batch: no allocation in steady state
//! for cluster in tree.clusters() {
//!     reader.read("pt", cluster, &mut pt)?;
//! }
//! # Ok::<(), ferrograd_root::Error>(())
//! ```

mod basket;
mod column;
mod compression;
mod cursor;
mod cut;
mod error;
pub mod export;
mod file;
mod loader;
mod reader;
mod source;
mod streamer;
mod tree;
mod types;
mod writer;

pub use column::{Column, ColumnData};
pub use compression::Compression;
pub use cut::{Cut, Op};
pub use error::{Error, Result};
pub use file::{KeyInfo, RootFile};
pub use loader::{Batch, Batches, Loader, LoaderConfig, Source, Split};
pub use reader::TreeReader;
pub use tree::{Branch, Tree};
pub use types::{BranchType, ElemType, Shape};
pub use writer::{BranchSpec, PredictionWriter, RootWriter, TreeWriter};
