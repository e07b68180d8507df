//! Loading MNIST or generating the GW data set for a run.

use anyhow::{Context, Result};
use ferrograd_data::{generate_parallel, GwConfig, Mnist};
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
            let m = Mnist::load(&dir)?;
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
