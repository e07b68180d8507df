//! What `ferrograd onnx ops|run` do, as library functions (the binary only parses arguments).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{OnnxError, Result};
use crate::model::{self, Model, OPSETS};
use crate::npy::{read_npy, write_npy};

/// A name as a file name: characters outside `[A-Za-z0-9._-]` become `_`.
pub fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The report of `ferrograd onnx ops MODEL`: opset, inputs and outputs, each op type with its
/// count, and every node whose op is unsupported. Works on models that do not load.
pub fn ops_report(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (m, opset) = model::decode(&bytes)?;
    let g = m.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    let mut out = format!(
        "model: {} (producer {} {}, opset {opset}{})\n",
        path.display(),
        if m.producer_name.is_empty() {
            "?"
        } else {
            &m.producer_name
        },
        m.producer_version,
        if OPSETS.contains(&opset) {
            ""
        } else {
            ", UNSUPPORTED: opsets 13 to 21 are"
        }
    );
    let inits: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    // `input: x [N, 1, 2048] float32`; what cannot be read is left out, not an error here.
    let describe = |v: &crate::proto::ValueInfoProto| match model::value_info(v) {
        Ok(i) => format!("{} {} {}", v.name, i.shape_text(), i.elem.name()),
        Err(_) => v.name.clone(),
    };
    for v in g.input.iter().filter(|v| !inits.contains(v.name.as_str())) {
        out += &format!("input: {}\n", describe(v));
    }
    for v in &g.output {
        out += &format!("output: {}\n", describe(v));
    }
    let nodes = model::parse_nodes(g, opset);
    let mut counts: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for (_, op_type, op) in &nodes {
        let e = counts.entry(op_type).or_insert((0, true));
        e.0 += 1;
        e.1 &= op.is_ok();
    }
    out += "ops:\n";
    for (op, (n, ok)) in &counts {
        out += &format!(
            "  {op:<24} {n:>5}{}\n",
            if *ok { "" } else { "  UNSUPPORTED" }
        );
    }
    let bad: Vec<_> = nodes
        .iter()
        .filter_map(|(n, t, op)| op.as_ref().err().map(|e| (n, t, e)))
        .collect();
    if !bad.is_empty() {
        out += "unsupported nodes:\n";
        for (n, t, e) in &bad {
            out += &format!("  node `{n}` ({t}): {e}\n");
        }
    }
    out += &format!(
        "summary: {} nodes, {} op types, {} unsupported\n",
        nodes.len(),
        counts.len(),
        bad.len()
    );
    Ok(out)
}

/// What [`run`] wrote.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub outputs: Vec<PathBuf>,
    pub gradients: Vec<PathBuf>,
}

/// `ferrograd onnx run`: loads the model, reads each input from a `.npy`, writes
/// `out_dir/<output>.npy` per graph output and, with `grad`, `out_dir/grad/<name>.npy`: the
/// gradient of the sum of all outputs w.r.t. every float input and initializer. Names pass
/// through [`file_name`].
pub fn run(
    model: impl AsRef<Path>,
    inputs: &[(String, PathBuf)],
    out_dir: impl AsRef<Path>,
    grad: bool,
) -> Result<RunSummary> {
    let model = Model::load(model)?;
    let feed = inputs
        .iter()
        .map(|(n, p)| Ok((n.clone(), read_npy(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let fwd = model.forward(feed)?;
    let out_dir = out_dir.as_ref();
    let mkdir = |d: &Path| {
        std::fs::create_dir_all(d).map_err(|source| OnnxError::Io {
            path: d.to_path_buf(),
            source,
        })
    };
    mkdir(out_dir)?;
    let mut summary = RunSummary {
        outputs: Vec::new(),
        gradients: Vec::new(),
    };
    let write_all =
        |dir: &Path, items: Vec<(&str, &crate::Tensor)>, paths: &mut Vec<PathBuf>| -> Result<()> {
            let mut seen = std::collections::HashMap::new();
            for (name, t) in items {
                let f = file_name(name);
                if let Some(prev) = seen.insert(f.clone(), name.to_string()) {
                    return Err(OnnxError::Graph(format!(
                        "`{prev}` and `{name}` would both be written to {f}.npy"
                    )));
                }
                let p = dir.join(format!("{f}.npy"));
                write_npy(&p, t)?;
                paths.push(p);
            }
            Ok(())
        };
    write_all(out_dir, fwd.outputs(), &mut summary.outputs)?;
    if grad {
        let g = fwd.backward_sum()?;
        let dir = out_dir.join("grad");
        mkdir(&dir)?;
        write_all(&dir, g.iter().collect(), &mut summary.gradients)?;
    }
    Ok(summary)
}
