//! Writes a small flat tree (scalars and a fixed array) with the chosen compression; used to
//! try the writer against ROOT by hand.
//!
//! usage: write_demo OUT.root [none|zlib|lz4|zstd|lzma] [ENTRIES]

use ferrograd_root::{BranchSpec, ColumnData, Compression, ElemType, RootWriter, TreeWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .ok_or("usage: write_demo OUT.root [ALG] [ENTRIES]")?;
    let alg = match args.get(2).map_or("zlib", String::as_str) {
        "none" => Compression::None,
        "zlib" => Compression::Zlib,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        "lzma" => Compression::Lzma,
        other => return Err(format!("unknown compression {other}").into()),
    };
    let n: usize = args.get(3).map_or(Ok(1000), |s| s.parse())?;
    let mut w = RootWriter::create(out, alg, 5)?;
    let specs = [
        BranchSpec::scalar("x", ElemType::F32),
        BranchSpec::scalar("i", ElemType::I32),
        BranchSpec::array("arr", ElemType::F64, 3),
    ];
    let mut t = TreeWriter::new("events", "demo", &specs)?;
    let x = ColumnData::F32((0..n).map(|i| i as f32 * 0.5).collect());
    let i = ColumnData::I32((0..n).map(|i| i as i32 - 7).collect());
    let arr = ColumnData::F64((0..3 * n).map(|k| k as f64 / 3.0).collect());
    t.append(&mut w, &[&x, &i, &arr])?;
    t.finish(&mut w)?;
    w.close()?;
    Ok(())
}
