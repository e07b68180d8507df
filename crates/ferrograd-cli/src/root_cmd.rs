//! `ferrograd root ls|dump`: look into ROOT files from the shell. The listing and the entry
//! formats live in `ferrograd_root::export` (tested there); this file only parses arguments.
//!
//! ```text
//! ferrograd root ls FILE
//! ferrograd root dump FILE TREE [--branches a,b,...] [--entries START..STOP] --format jsonl|csv
//! ```

use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ferrograd_root::export::{self, Format};
use ferrograd_root::RootFile;

#[derive(clap::Args, Debug)]
pub struct RootArgs {
    #[command(subcommand)]
    command: RootCommand,
}

#[derive(clap::Subcommand, Debug)]
enum RootCommand {
    /// List every tree (by path, e.g. `bkg/events`) with its entry count and branch types.
    #[command(after_help = "Example: ferrograd root ls data.root")]
    Ls {
        /// The ROOT file.
        file: PathBuf,
    },
    /// Print entries of a tree, one JSON object (or CSV line) per entry.
    #[command(
        after_help = "Example: ferrograd root dump data.root bkg/events --branches pt,eta --entries 0..10 --format jsonl"
    )]
    Dump {
        /// The ROOT file.
        file: PathBuf,
        /// Path of the tree in the file (`events`, `bkg/events`).
        tree: String,
        /// Comma-separated branch names [default: every branch].
        #[arg(long, value_delimiter = ',')]
        branches: Vec<String>,
        /// Entries START..STOP (STOP excluded; either end may be left out).
        #[arg(long, value_parser = entry_range)]
        entries: Option<EntryRange>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: FormatArg,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FormatArg {
    Jsonl,
    Csv,
}

/// `START..STOP` with optional ends.
#[derive(Clone, Copy, Debug)]
pub struct EntryRange {
    start: Option<u64>,
    stop: Option<u64>,
}

fn entry_range(s: &str) -> std::result::Result<EntryRange, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?} is not a range; write START..STOP, e.g. 0..100"))?;
    let num = |x: &str| -> std::result::Result<Option<u64>, String> {
        let x = x.trim();
        if x.is_empty() {
            return Ok(None);
        }
        x.parse()
            .map(Some)
            .map_err(|_| format!("{x:?} is not an entry number (0 or more)"))
    };
    let (start, stop) = (num(a)?, num(b)?);
    if let (Some(a), Some(b)) = (start, stop) {
        if a > b {
            return Err(format!("{s:?} ends before it starts"));
        }
    }
    Ok(EntryRange { start, stop })
}

impl EntryRange {
    fn resolve(self, entries: u64) -> Range<u64> {
        self.start.unwrap_or(0)..self.stop.unwrap_or(entries)
    }
}

pub fn run(args: RootArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match args.command {
        RootCommand::Ls { file } => open(&file).and_then(|f| Ok(export::ls(&f, &mut out)?)),
        RootCommand::Dump {
            file,
            tree,
            branches,
            entries,
            format,
        } => open(&file).and_then(|f| {
            let t = f.tree(&tree)?;
            let range = entries.map(|r| r.resolve(t.entries()));
            let format = match format {
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Csv => Format::Csv,
            };
            Ok(export::dump(&t, &branches, range, format, &mut out)?)
        }),
    };
    match result {
        // `ferrograd root dump … | head`: the reader went away, which is not a failure.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => out.flush().or_else(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Ok(()),
            _ => Err(e).context("writing the output"),
        }),
    }
}

fn open(path: &std::path::Path) -> Result<RootFile> {
    Ok(RootFile::open(path)?)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<ferrograd_root::Error>(),
        Some(ferrograd_root::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe
    )
}
