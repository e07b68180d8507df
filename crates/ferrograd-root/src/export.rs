//! Text views of a file for the command line (`ferrograd root ls` / `dump`): the listing of
//! trees and branches, and entries as JSON lines or CSV. Kept here, beside the reader, so the
//! formats are tested without the CLI; numbers are printed in shortest round-trip form.

use std::fmt::Write as _;
use std::io::Write;
use std::ops::Range;

use crate::column::{Column, ColumnData};
use crate::error::{Error, Result};
use crate::file::{list, RootFile};
use crate::tree::Tree;

/// Output format of [`dump`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per entry: `{"a": 1.5, "v": [1.0, 2.0]}`.
    Jsonl,
    /// A header line, then one line per entry; arrays as quoted JSON lists.
    Csv,
}

/// Entries decoded per read while dumping: bounds memory whatever the tree's size.
const DUMP_CHUNK: u64 = 4096;

fn io(e: std::io::Error) -> Error {
    Error::Io {
        path: "<output>".into(),
        source: e,
    }
}

/// Prints every tree with its path and entry count, then its branches and their types.
pub fn ls(file: &RootFile, out: &mut dyn Write) -> Result<()> {
    for tree in file.trees()? {
        writeln!(out, "{}: {} entries", tree.path(), tree.entries()).map_err(io)?;
        let width = tree
            .branches()
            .iter()
            .map(|b| b.name().len())
            .max()
            .unwrap_or(0);
        for b in tree.branches() {
            writeln!(out, "  {:width$}  {}", b.name(), b.type_name()).map_err(io)?;
        }
    }
    Ok(())
}

/// Prints entries `range` (all when `None`) of `branches` (all when empty) of `tree`.
pub fn dump(
    tree: &Tree,
    branches: &[String],
    range: Option<Range<u64>>,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let names: Vec<String> = if branches.is_empty() {
        tree.branches()
            .iter()
            .map(|b| b.name().to_string())
            .collect()
    } else {
        branches.to_vec()
    };
    for name in &names {
        if let Err(e) = tree.branch(name)?.branch_type() {
            return Err(match e {
                Error::Unsupported {
                    branch,
                    type_name,
                    why,
                } => {
                    let readable: Vec<String> = tree
                        .branches()
                        .iter()
                        .filter(|b| b.branch_type().is_ok())
                        .map(|b| b.name().to_string())
                        .collect();
                    Error::Unsupported {
                        branch,
                        type_name,
                        why: format!(
                            "{why}; choose readable branches with --branches ({})",
                            list(&readable)
                        ),
                    }
                }
                other => other,
            });
        }
    }
    let range = range.unwrap_or(0..tree.entries());
    if range.start > range.end || range.end > tree.entries() {
        return Err(Error::EntryRange {
            tree: tree.path().to_string(),
            start: range.start,
            stop: range.end,
            entries: tree.entries(),
        });
    }
    let mut reader = tree.reader();
    let mut columns: Vec<Column> = names.iter().map(|_| Column::new()).collect();
    let keys: Vec<String> = names.iter().map(|n| json_string(n)).collect();
    if format == Format::Csv {
        let header: Vec<String> = names.iter().map(|n| csv_field(n)).collect();
        writeln!(out, "{}", header.join(",")).map_err(io)?;
    }
    let mut line = String::new();
    let mut start = range.start;
    while start < range.end {
        let stop = range.end.min(start + DUMP_CHUNK);
        for (name, col) in names.iter().zip(columns.iter_mut()) {
            reader.read(name, start..stop, col)?;
        }
        for i in 0..(stop - start) as usize {
            line.clear();
            match format {
                Format::Jsonl => {
                    line.push('{');
                    for (k, (key, col)) in keys.iter().zip(&columns).enumerate() {
                        if k > 0 {
                            line.push_str(", ");
                        }
                        line.push_str(key);
                        line.push_str(": ");
                        entry_json(col, i, &mut line);
                    }
                    line.push('}');
                }
                Format::Csv => {
                    for (k, col) in columns.iter().enumerate() {
                        if k > 0 {
                            line.push(',');
                        }
                        if col.is_jagged() || col.width() != 1 {
                            let mut cell = String::new();
                            entry_json(col, i, &mut cell);
                            line.push_str(&csv_field(&cell));
                        } else {
                            entry_json(col, i, &mut line);
                        }
                    }
                }
            }
            writeln!(out, "{line}").map_err(io)?;
        }
        start = stop;
    }
    out.flush().map_err(io)
}

/// Entry `i` of `col` as JSON: a number, or a list for arrays.
fn entry_json(col: &Column, i: usize, out: &mut String) {
    let range = col.entry(i);
    if !col.is_jagged() && col.width() == 1 {
        value(col.data(), range.start, out);
        return;
    }
    out.push('[');
    for (k, j) in range.enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        value(col.data(), j, out);
    }
    out.push(']');
}

/// One value in shortest round-trip form (`1.0`, `0.1`, `1e-7`; floats keep a `.0` so they
/// read back as floats). Non-finite floats are written as Python's `json` writes them.
fn value(d: &ColumnData, j: usize, out: &mut String) {
    fn float(x: f64, s: String, out: &mut String) {
        if x.is_nan() {
            out.push_str("NaN");
        } else if x.is_infinite() {
            out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        } else {
            out.push_str(&s);
        }
    }
    let _ = match d {
        ColumnData::Bool(v) => v
            .get(j)
            .map(|x| out.push_str(if *x { "true" } else { "false" })),
        ColumnData::I8(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::U8(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::I16(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::U16(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::I32(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::U32(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::I64(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::U64(v) => v.get(j).map(|x| write!(out, "{x}").unwrap_or(())),
        ColumnData::F32(v) => v
            .get(j)
            .map(|&x| float(f64::from(x), format!("{x:?}"), out)),
        ColumnData::F64(v) => v.get(j).map(|&x| float(x, format!("{x:?}"), out)),
    };
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_in_shortest_round_trip_form() {
        let mut s = String::new();
        value(&ColumnData::F32(vec![0.1, 1.0, 1e-7, -2.5e10]), 0, &mut s);
        for j in 1..4 {
            s.push(' ');
            value(&ColumnData::F32(vec![0.1, 1.0, 1e-7, -2.5e10]), j, &mut s);
        }
        assert_eq!(s, "0.1 1.0 1e-7 -25000000000.0");
        s.clear();
        value(&ColumnData::F64(vec![0.1 + 0.2, f64::NAN]), 0, &mut s);
        value(&ColumnData::F64(vec![0.1 + 0.2, f64::NAN]), 1, &mut s);
        assert_eq!(s, "0.30000000000000004NaN");
        assert_eq!(json_string("a\"b"), "\"a\\\"b\"");
        assert_eq!(csv_field("[1.0, 2.0]"), "\"[1.0, 2.0]\"");
    }
}
