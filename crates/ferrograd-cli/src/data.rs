//! Loading MNIST, generating the GW data set, or reading a ROOT tree for a run.

use std::path::Path;

use anyhow::{Context, Result};
use ferrograd_data::{generate_parallel, DataError, GwConfig, Mnist};
use ferrograd_train::{Dataset, ModelSpec};

use crate::args::usage;
use crate::{DataKind, TrainArgs};

/// Owned training and test sets.
pub struct Data {
    pub name: String,
    train_x: Vec<f32>,
    train_y: Vec<u8>,
    test_x: Vec<f32>,
    test_y: Vec<u8>,
    row: usize,
    train_size: Option<usize>,
    test_size: Option<usize>,
    /// ROOT data: classes (largest label + 1, at least 2).
    classes: usize,
    /// Event weights of the training and test rows (ROOT data with `--weight`), scaled so
    /// that the training weights have mean 1, and the branch's name.
    weights: Option<(String, Vec<f32>, Vec<f32>)>,
}

impl Data {
    pub fn train(&self) -> Result<Dataset<'_>> {
        let mut d = Dataset::new(&self.train_x, &self.train_y, self.row)?;
        if let Some((_, w, _)) = &self.weights {
            d = d.with_weights(w)?;
        }
        Ok(self.train_size.map_or(d, |n| d.take(n)))
    }

    pub fn test(&self) -> Result<Dataset<'_>> {
        let mut d = Dataset::new(&self.test_x, &self.test_y, self.row)?;
        if let Some((_, _, w)) = &self.weights {
            d = d.with_weights(w)?;
        }
        Ok(self.test_size.map_or(d, |n| d.take(n)))
    }

    /// Values per example.
    pub fn row(&self) -> usize {
        self.row
    }

    /// Classes of a ROOT target.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Training examples read.
    pub fn train_len(&self) -> usize {
        self.train_y.len()
    }

    /// What the event weights are, for the run's header.
    pub fn weights_line(&self) -> Option<String> {
        let (name, train, test) = self.weights.as_ref()?;
        let n_train = self.train_size.map_or(train.len(), |n| n.min(train.len()));
        let n_test = self.test_size.map_or(test.len(), |n| n.min(test.len()));
        let sum = |w: &[f32]| w.iter().map(|&v| f64::from(v)).sum::<f64>();
        Some(format!(
            "event weights: `{name}` in the training and test loss (scaled to mean 1 on the training set: train sum {:.1}, test sum {:.1})",
            sum(&train[..n_train]),
            sum(&test[..n_test])
        ))
    }
}

/// Whether an error of `Loader::new` is about the arguments (a tree, branch or type that the
/// command line names wrongly): those are usage errors.
fn names_wrong_thing(e: &ferrograd_root::Error) -> bool {
    use ferrograd_root::Error as E;
    matches!(
        e,
        E::MissingTree { .. }
            | E::MissingBranch { .. }
            | E::NotATree { .. }
            | E::Unsupported { .. }
            | E::Config { .. }
    )
}

/// Reads `--data root:FILE:TREE`: `--features` as the rows, `--target` as the labels,
/// `--weight` as event weights, `--cut` applied, the last `--validation-split` of every
/// chunk as the test set, rows shuffled with `--seed`.
pub fn load_root(args: &TrainArgs) -> Result<Data> {
    let DataKind::Root { file, tree } = &args.data else {
        usage!("not ROOT data (bug)");
    };
    let spec = &args.data;
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            usage!("--data {spec}: no file {}", file.display())
        }
        Err(e) => usage!("--data {spec}: cannot read {}: {e}", file.display()),
        Ok(m) if !m.is_file() => usage!(
            "--data {spec}: {} is {}, not a ROOT file",
            file.display(),
            kind(&m)
        ),
        Ok(_) => {}
    }
    let source = ferrograd_root::Source {
        path: file.clone(),
        tree: tree.clone(),
        label: None,
    };
    let mut cfg = ferrograd_root::LoaderConfig::new(vec![source], args.feature_list()?);
    cfg.targets = args.target.iter().cloned().collect();
    cfg.weights = args.weight.clone();
    cfg.cut = args.cut.clone();
    cfg.max_len = args.max_len();
    cfg.validation_split = args.validation_split();
    cfg.seed = args.seed;
    cfg.shuffle = true;
    let loader = match ferrograd_root::Loader::new(cfg) {
        Ok(l) => l,
        Err(e) if names_wrong_thing(&e) => usage!("--data {spec}: {e}"),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let read = |split| {
        loader
            .read_split(split)
            .with_context(|| format!("reading tree `{tree}` of {}", file.display()))
    };
    let train = read(ferrograd_root::Split::Train)?;
    let test = read(ferrograd_root::Split::Validation)?;
    let entries: u64 = loader.entries().iter().sum();
    let selection = match &args.cut {
        Some(c) => format!(" passing --cut {c:?}"),
        None => String::new(),
    };
    if train.len == 0 {
        usage!(
            "--data {spec}: no training entries (the tree has {entries}, none{selection}); loosen --cut or use another tree"
        );
    }
    if test.len == 0 {
        usage!(
            "--data {spec}: no test entries ({} train entries{selection}, --validation-split {}); raise --validation-split",
            train.len,
            args.validation_split()
        );
    }
    let classes = train
        .labels
        .iter()
        .chain(&test.labels)
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(2)
        .max(2);
    let weights = match &args.weight {
        Some(name) => {
            let bad = train
                .weights
                .iter()
                .chain(&test.weights)
                .filter(|w| !(w.is_finite() && **w >= 0.0))
                .count();
            if bad > 0 {
                anyhow::bail!(
                    "--weight `{name}`: {bad} selected entries have a negative or non-finite weight; weights in the loss must be finite and >= 0 (select them away with --cut \"{name} >= 0\")"
                );
            }
            let sum: f64 = train.weights.iter().map(|&w| f64::from(w)).sum();
            if sum <= 0.0 {
                anyhow::bail!("--weight `{name}`: every training weight is 0");
            }
            let scale = (train.len as f64 / sum) as f32;
            let norm = |w: Vec<f32>| w.into_iter().map(|v| v * scale).collect::<Vec<_>>();
            Some((name.clone(), norm(train.weights), norm(test.weights)))
        }
        None => None,
    };
    Ok(Data {
        name: format!("tree `{tree}` of {}", file.display()),
        row: loader.row_len(),
        train_x: train.x,
        train_y: train.labels,
        test_x: test.x,
        test_y: test.labels,
        train_size: args.train_size,
        test_size: args.test_size,
        classes,
        weights,
    })
}

pub fn load(args: &TrainArgs, spec: ModelSpec) -> Result<Data> {
    let (name, train_x, train_y, test_x, test_y) = match args.data {
        DataKind::Root { .. } => return load_root(args),
        DataKind::Mnist => {
            let dir = match &args.mnist_dir {
                Some(d) => d.clone(),
                None => ferrograd_data::mnist_default_dir()
                    .context("cannot locate MNIST: pass --mnist-dir or set HOME/FERROGRAD_CACHE")?,
            };
            check_mnist_dir(&dir)?;
            let m = Mnist::load(&dir).map_err(explain)?;
            (
                "MNIST",
                m.train.images,
                m.train.labels,
                m.test.images,
                m.test.labels,
            )
        }
        DataKind::Gw => {
            let cfg = GwConfig {
                snr_range: (args.snr_min, args.snr_max),
                seed: args.seed.wrapping_mul(2).wrapping_add(1_000_003),
                ..GwConfig::default()
            };
            let threads = args.threads.max(1);
            let train = generate_parallel(&cfg, args.gw_train, threads)?;
            let test_cfg = GwConfig {
                seed: args.seed.wrapping_mul(2).wrapping_add(2_000_003),
                ..cfg
            };
            let test = generate_parallel(&test_cfg, args.gw_test, threads)?;
            ("synthetic GW", train.x, train.y, test.x, test.y)
        }
    };
    Ok(Data {
        name: name.to_owned(),
        train_x,
        train_y,
        test_x,
        test_y,
        row: spec.input_len(),
        train_size: args.train_size,
        test_size: args.test_size,
        classes: spec.classes(),
        weights: None,
    })
}

/// What a path is, in words, when it is not a regular file.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Before opening anything (a FIFO would block): the MNIST directory exists and each data
/// file that is present is a regular file.
fn check_mnist_dir(dir: &Path) -> Result<()> {
    let fetch = format!("run `scripts/fetch-mnist.sh {}`", dir.display());
    match std::fs::metadata(dir) {
        Err(_) => anyhow::bail!(
            "MNIST directory {} does not exist; {fetch} or pass --mnist-dir",
            dir.display()
        ),
        Ok(m) if !m.is_dir() => anyhow::bail!(
            "--mnist-dir {} is {}; it takes the directory that holds the four MNIST files",
            dir.display(),
            if m.is_file() { "a file" } else { kind(&m) }
        ),
        Ok(_) => {}
    }
    for name in [
        ferrograd_data::TRAIN_IMAGES,
        ferrograd_data::TRAIN_LABELS,
        ferrograd_data::TEST_IMAGES,
        ferrograd_data::TEST_LABELS,
    ] {
        for file in [dir.join(name), dir.join(format!("{name}.gz"))] {
            if let Ok(m) = std::fs::metadata(&file) {
                if !m.is_file() {
                    anyhow::bail!(
                        "{} is {}, not a data file; replace it with the MNIST file ({fetch})",
                        file.display(),
                        kind(&m)
                    );
                }
            }
        }
    }
    Ok(())
}

/// Says what a short read of a gzip file means: the compressed file is cut off.
fn explain(e: DataError) -> anyhow::Error {
    if let DataError::Truncated {
        path,
        expected,
        found,
    } = &e
    {
        let gzip = std::fs::File::open(path).ok().and_then(|mut f| {
            let mut magic = [0u8; 2];
            std::io::Read::read_exact(&mut f, &mut magic).ok()?;
            Some(magic == [0x1f, 0x8b])
        });
        if gzip == Some(true) {
            return anyhow::anyhow!(
                "{} is a truncated gzip file: it decompresses to {found} of the {expected} bytes its header declares (an interrupted download?); delete it and re-run scripts/fetch-mnist.sh",
                path.display()
            );
        }
    }
    e.into()
}
