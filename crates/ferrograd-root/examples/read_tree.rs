//! Reads every branch of a tree in chunks of at most 100k entries into reused buffers (threads
//! take chunks in turn, each with its own reader); prints the best time of several passes.
//! Used by `bench/throughput.sh` against uproot.
//!
//! usage: read_tree FILE TREE [THREADS] [REPEAT]

use std::time::Instant;

use ferrograd_root::{Column, RootFile, Tree};

const CHUNK: u64 = 100_000;

/// Reads chunks `first`, `first + step`, … of every branch in `names`.
fn read_chunks(
    tree: &Tree,
    names: &[String],
    first: usize,
    step: usize,
) -> ferrograd_root::Result<usize> {
    let mut reader = tree.reader();
    let mut cols: Vec<Column> = names.iter().map(|_| Column::new()).collect();
    let mut values = 0;
    for chunk in tree.chunks(CHUNK).skip(first).step_by(step) {
        for (name, col) in names.iter().zip(cols.iter_mut()) {
            reader.read(name, chunk.clone(), col)?;
            values += col.data().len();
        }
    }
    Ok(values)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(file), Some(tree_path)) = (args.get(1), args.get(2)) else {
        return Err("usage: read_tree FILE TREE [THREADS] [REPEAT]".into());
    };
    let threads: usize = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let repeat: usize = args.get(4).map_or(Ok(5), |s| s.parse())?;
    let mut best = f64::INFINITY;
    let mut values = 0;
    let mut entries = 0;
    for _ in 0..repeat {
        let start = Instant::now();
        let f = RootFile::open(file)?;
        let tree = f.tree(tree_path)?;
        entries = tree.entries();
        let names: Vec<String> = tree
            .branches()
            .iter()
            .filter(|b| b.branch_type().is_ok())
            .map(|b| b.name().to_string())
            .collect();
        values = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (tree, names) = (&tree, &names);
                    s.spawn(move || read_chunks(tree, names, t, threads))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| "reader thread failed")?
                        .map_err(|e| e.to_string())
                })
                .sum::<Result<usize, _>>()
        })?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("entries {entries} values {values} seconds {best:.6}");
    Ok(())
}
