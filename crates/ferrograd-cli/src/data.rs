//! Loading MNIST or generating the GW data set for a run.

use std::path::Path;

use anyhow::{Context, Result};
use ferrograd_data::{generate_parallel, DataError, GwConfig, Mnist};
use ferrograd_train::{Dataset, ModelSpec};

use crate::{DataKind, TrainArgs};

/// Owned training and test sets.
pub struct Data {
    pub name: &'static str,
    train_x: Vec<f32>,
    train_y: Vec<u8>,
    test_x: Vec<f32>,
    test_y: Vec<u8>,
    row: usize,
    train_size: Option<usize>,
    test_size: Option<usize>,
}

impl Data {
    pub fn train(&self) -> Result<Dataset<'_>> {
        let d = Dataset::new(&self.train_x, &self.train_y, self.row)?;
        Ok(self.train_size.map_or(d, |n| d.take(n)))
    }

    pub fn test(&self) -> Result<Dataset<'_>> {
        let d = Dataset::new(&self.test_x, &self.test_y, self.row)?;
        Ok(self.test_size.map_or(d, |n| d.take(n)))
    }
}

pub fn load(args: &TrainArgs, spec: ModelSpec) -> Result<Data> {
    let (name, train_x, train_y, test_x, test_y) = match args.data {
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
        name,
        train_x,
        train_y,
        test_x,
        test_y,
        row: spec.input_len(),
        train_size: args.train_size,
        test_size: args.test_size,
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
