//! `ferrograd gw-demo`: the gravitational-wave analysis of `ferrograd-gw` on embedded
//! defaults (a few minutes on 2 cores), with progress bars and stable summary lines.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::ValueEnum;
use ferrograd_gw::{run_demo, Compression, DemoConfig, DemoEvent, TrainEvent, TrainSettings};
use ferrograd_train::{ModelSpec, Network, OptimizerConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{self, usage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptKind {
    Sgd,
    Adam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompressionKind {
    None,
    Zlib,
    Lz4,
    Zstd,
    Lzma,
}

#[derive(clap::Args, Debug, Clone)]
pub struct GwDemoArgs {
    /// Output directory: gw_train.root, gw_test.root, gw_results.root and plots/.
    #[arg(long, default_value = "gw-demo")]
    pub out: PathBuf,
    /// Simulated training segments (half with a chirp), 2 to 1000000.
    #[arg(long, default_value_t = 16000, value_parser = args::gw_examples, allow_negative_numbers = true)]
    pub train: usize,
    /// Simulated held-out segments (another seed), 2 to 1000000; at least 2000 puts 1000
    /// noise segments behind the 1e-3 false-alarm threshold.
    #[arg(long, default_value_t = 4000, value_parser = args::gw_examples, allow_negative_numbers = true)]
    pub test: usize,
    /// Epochs, 1 to 100000.
    #[arg(long, default_value_t = 5, value_parser = args::epochs, allow_negative_numbers = true)]
    pub epochs: u64,
    /// Batch size, at most --train.
    #[arg(long, default_value_t = 32, value_parser = args::batch, allow_negative_numbers = true)]
    pub batch: usize,
    /// Threads for the kernels and the simulation, 1 to the number of CPUs [default: all].
    #[arg(long, value_parser = args::threads, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Seed of the data (training file SEED, test file SEED+1), initialisation and shuffling.
    #[arg(long, default_value_t = 0, value_parser = args::seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Lowest and highest injected SNR, in (0, 1000].
    #[arg(long, default_value_t = 5.0, value_parser = args::snr, allow_negative_numbers = true)]
    pub snr_min: f64,
    #[arg(long, default_value_t = 20.0, value_parser = args::snr, allow_negative_numbers = true)]
    pub snr_max: f64,
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptKind,
    /// Learning rate, > 0 [default: 0.001 for Adam, 0.02 for SGD].
    #[arg(long, value_parser = args::lr, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Compression of the data files (level 1).
    #[arg(long, value_enum, default_value = "zlib")]
    pub compression: CompressionKind,
    /// Bins of the efficiency-vs-SNR curve, 1 to 100.
    #[arg(long, default_value_t = 6, value_parser = snr_bins, allow_negative_numbers = true)]
    pub snr_bins: usize,
    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

fn snr_bins(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if !(1..=100).contains(&v) {
        return Err(format!("{v} is out of range; use 1 to 100"));
    }
    Ok(v)
}

impl GwDemoArgs {
    fn config(&self) -> Result<DemoConfig> {
        if self.snr_min > self.snr_max {
            usage!(
                "--snr-min {} is above --snr-max {}; give the lower bound first",
                self.snr_min,
                self.snr_max
            );
        }
        if self.batch > self.train {
            usage!(
                "--batch {} is larger than the training set (--train {}); use --batch {} or less",
                self.batch,
                self.train,
                self.train
            );
        }
        // Memory: the arena and the loader's shuffle buffer (4 chunks of 1024 entries);
        // the data sets live in files, not in memory.
        let arena = Network::bytes_needed(ModelSpec::W2, self.batch)?;
        let need = arena
            .saturating_add(arena / 2)
            .saturating_add(4 * 1024 * 2048 * 4 * 2);
        if let Some(avail) = args::available_memory() {
            if need > avail {
                usage!(
                    "this run needs about {} of memory with --batch {}, more than the {} available; use a smaller --batch",
                    args::gib(need),
                    self.batch,
                    args::gib(avail)
                );
            }
        }
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let optimizer = match self.optimizer {
            OptKind::Adam => OptimizerConfig::adam(self.lr.unwrap_or(1e-3)),
            OptKind::Sgd => OptimizerConfig::sgd(self.lr.unwrap_or(0.02), 0.9),
        };
        Ok(DemoConfig {
            out: self.out.clone(),
            train_entries: self.train,
            test_entries: self.test,
            snr_range: (self.snr_min, self.snr_max),
            train: TrainSettings {
                epochs: self.epochs as usize,
                batch: self.batch,
                optimizer,
                seed: self.seed,
                threads,
            },
            compression: match self.compression {
                CompressionKind::None => Compression::None,
                CompressionKind::Zlib => Compression::Zlib,
                CompressionKind::Lz4 => Compression::Lz4,
                CompressionKind::Zstd => Compression::Zstd,
                CompressionKind::Lzma => Compression::Lzma,
            },
            snr_bins: self.snr_bins,
        })
    }

    fn bar(&self, len: u64, prefix: String) -> ProgressBar {
        let pb = ProgressBar::new(len);
        if self.no_progress {
            pb.set_draw_target(ProgressDrawTarget::hidden());
        }
        pb.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(prefix);
        pb
    }
}

/// Runs `ferrograd gw-demo`.
pub fn run(a: GwDemoArgs) -> Result<()> {
    let cfg = a.config()?;
    let start = Instant::now();
    println!(
        "gw-demo: {} training / {} test segments of 2048 samples (SNR {}–{}), W2 CNN, {} epochs, batch {}, {} {}, {} thread(s), output in {}",
        cfg.train_entries,
        cfg.test_entries,
        a.snr_min,
        a.snr_max,
        cfg.train.epochs,
        cfg.train.batch,
        cfg.train.optimizer.kind(),
        cfg.train.optimizer.lr(),
        cfg.train.threads,
        cfg.out.display()
    );
    let epochs = cfg.train.epochs;
    let mut pb = ProgressBar::hidden();
    let report = run_demo(&cfg, &mut |e| match e {
        DemoEvent::Writing { file, done, total } => {
            if pb.is_finished() || pb.length() != Some(total) || pb.position() > done {
                pb.finish_and_clear();
                let name = file
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                pb = a.bar(total, format!("simulating {name}"));
            }
            pb.set_position(done);
            if done == total {
                pb.finish_and_clear();
                println!("wrote {} ({total} entries)", file.display());
            }
        }
        DemoEvent::Train(TrainEvent::EpochStart { epoch, batches }) => {
            pb.finish_and_clear();
            pb = a.bar(batches as u64, format!("epoch {}/{epochs}", epoch + 1));
        }
        DemoEvent::Train(TrainEvent::Step { batch, loss }) => {
            pb.set_position(batch as u64 + 1);
            if batch % 16 == 0 {
                pb.set_message(format!("loss {loss:.4}"));
            }
        }
        DemoEvent::Train(TrainEvent::EpochEnd(h)) => {
            pb.finish_and_clear();
            println!(
                "epoch {}/{epochs}: train loss {:.4}, test loss {:.4}, test AUC {}",
                h.epoch + 1,
                h.train_loss,
                h.test_loss,
                h.test_auc.map_or("n/a".into(), |v| format!("{v:.4}"))
            );
        }
        DemoEvent::Analysing => {
            pb.finish_and_clear();
        }
    })?;
    let m = &report.metrics;
    println!(
        "results: {} (tree `{}`, {} entries, in the order of {})",
        report.files.results.display(),
        ferrograd_gw::RESULTS_TREE,
        m.noise + m.signals,
        report.files.test.display()
    );
    println!("efficiency vs SNR (FAP 1e-2 / 1e-3):");
    for b in &m.snr_bins {
        let pct = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v));
        println!(
            "  SNR {:5.1}–{:5.1}: {:>6} / {:>6} ({} signals)",
            b.lo,
            b.hi,
            pct(b.efficiency.first().copied().flatten()),
            pct(b.efficiency.get(1).copied().flatten()),
            b.signals
        );
    }
    let [gen, train, analyse] = report.seconds;
    println!(
        "time: {:.1} s (simulate {gen:.1} s, train {train:.1} s, analyse {analyse:.1} s)",
        start.elapsed().as_secs_f64()
    );
    println!("test AUC: {:.4}", m.auc);
    for p in &m.faps {
        println!(
            "efficiency at FAP {}: {:.2}%",
            fap_name(p.fap),
            100.0 * p.efficiency
        );
    }
    println!("plots: {}", report.files.plots_dir.display());
    Ok(())
}

/// `1e-2` for 0.01 (as the summary lines spell it).
fn fap_name(f: f64) -> String {
    let e = f.log10().round();
    if (10f64.powf(e) - f).abs() < 1e-12 * f {
        format!("1e{}", e as i32)
    } else {
        format!("{f}")
    }
}
