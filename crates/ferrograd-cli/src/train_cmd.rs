//! `ferrograd train`: arguments (every range checked at parse time, the same for both
//! engines), the checks made before any work starts, resume with the checkpoint's settings,
//! and the ferrograd engine's loop.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, ValueEnum};
use ferrograd_train::checkpoint::{self, Owner};
use ferrograd_train::{
    median_ms, with_threads, Dataset, EpochReport, EvalReport, Event, ModelSpec, Network,
    NonFinitePolicy, OptimizerConfig, TrainConfig, Trainer,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{self, usage};
use crate::{data, torch_engine};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// W1: Linear(784→H) → ReLU → Linear(H→10).
    Mlp,
    /// W2: the three-layer 1D CNN on 2048 samples.
    Cnn,
}

/// `--data`: `mnist`, `gw` or `root:FILE:TREE` ([`args::data`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// MNIST digits (scripts/fetch-mnist.sh).
    Mnist,
    /// Synthetic gravitational-wave chirps in whitened aLIGO noise.
    Gw,
    /// A TTree: `--features` as inputs, `--target` as the class label.
    Root { file: PathBuf, tree: String },
}

impl std::fmt::Display for DataKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataKind::Mnist => f.write_str("mnist"),
            DataKind::Gw => f.write_str("gw"),
            DataKind::Root { file, tree } => write!(f, "root:{}:{tree}", file.display()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// Kernels with pullbacks, one arena, fused optimizers (pure Rust).
    Ferrograd,
    /// The same model with LibTorch's native autograd and tch::nn optimizers.
    Libtorch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptKind {
    Sgd,
    Adam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnNan {
    /// Stop, naming the last good checkpoint.
    Stop,
    /// Go back to the last finite state with the learning rate divided by 10 (at most 5 times).
    Rollback,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// mnist, gw, or root:FILE:TREE (a TTree; with --features and --target).
    #[arg(long, value_parser = args::data)]
    pub data: DataKind,
    #[arg(long, value_enum, default_value = "ferrograd")]
    pub engine: Engine,
    /// Epochs in total, 1 to 100000 (a resumed run continues up to this many; default: the
    /// checkpoint's, else 5).
    #[arg(long, default_value_t = 5, value_parser = args::epochs, allow_negative_numbers = true)]
    pub epochs: u64,
    /// Batch size, at most the training-set size [default: 64 for the MLP, 32 for the CNN].
    #[arg(long, value_parser = args::batch, allow_negative_numbers = true)]
    pub batch: Option<usize>,
    /// Threads for the kernels (or LibTorch's intra-op pool), 1 to the number of CPUs.
    #[arg(long, default_value_t = 1, value_parser = args::threads, allow_negative_numbers = true)]
    pub threads: usize,
    /// Hidden units of the MLP (W1a: 128, W1b: 512).
    #[arg(long, default_value_t = 128, value_parser = args::hidden, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Learning rate, > 0 [default: 0.02 for SGD, 0.001 for Adam].
    #[arg(long, value_parser = args::lr, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// SGD momentum in [0, 1).
    #[arg(long, default_value_t = 0.9, value_parser = args::momentum, allow_negative_numbers = true)]
    pub momentum: f32,
    #[arg(long, value_enum, default_value = "sgd")]
    pub optimizer: OptKind,
    /// Seed of the initialisation, the shuffling and the GW data.
    #[arg(long, default_value_t = 0, value_parser = args::seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Checkpoint file (safetensors), written at every epoch end. An existing file is only
    /// replaced with --overwrite (or continued with --resume).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Also write the checkpoint every this many steps.
    #[arg(long, requires = "checkpoint", value_parser = args::steps, allow_negative_numbers = true)]
    pub checkpoint_every: Option<u64>,
    /// Continue from --checkpoint with its settings (values given again must match them).
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
    /// Replace an existing file at --checkpoint that is not this run's checkpoint.
    #[arg(long, requires = "checkpoint", conflicts_with = "resume")]
    pub overwrite: bool,
    /// With --resume: let --lr, --momentum, --on-nan, --test-size, --gw-test and --far given
    /// on the command line replace the checkpoint's values.
    #[arg(long = "override", requires = "resume")]
    pub override_settings: bool,
    /// When the loss, gradient or parameters stop being finite.
    #[arg(long, value_enum, default_value = "stop")]
    pub on_nan: OnNan,
    /// MNIST directory [default: $FERROGRAD_CACHE/mnist or ~/.cache/ferrograd/mnist].
    #[arg(long)]
    pub mnist_dir: Option<PathBuf>,
    /// Use only the first N training examples.
    #[arg(long, value_parser = args::examples, allow_negative_numbers = true)]
    pub train_size: Option<usize>,
    /// Use only the first N test examples.
    #[arg(long, value_parser = args::examples, allow_negative_numbers = true)]
    pub test_size: Option<usize>,
    /// GW: generated training examples (2 to 1000000).
    #[arg(long, default_value_t = 8000, value_parser = args::gw_examples, allow_negative_numbers = true)]
    pub gw_train: usize,
    /// GW: generated held-out examples (another seed; 2 to 1000000).
    #[arg(long, default_value_t = 2000, value_parser = args::gw_examples, allow_negative_numbers = true)]
    pub gw_test: usize,
    /// GW: lowest and highest injected SNR, in (0, 1000].
    #[arg(long, default_value_t = 8.0, value_parser = args::snr, allow_negative_numbers = true)]
    pub snr_min: f64,
    #[arg(long, default_value_t = 20.0, value_parser = args::snr, allow_negative_numbers = true)]
    pub snr_max: f64,
    /// False-alarm probability for the detection efficiency, in (0, 1).
    #[arg(long, default_value_t = 0.01, value_parser = args::far, allow_negative_numbers = true)]
    pub far: f64,
    /// ROOT data: input branches, comma-separated (numeric scalars, fixed-size arrays, or
    /// jagged ones cut or padded to --max-len values).
    #[arg(long, value_name = "A,B,C")]
    pub features: Option<String>,
    /// ROOT data: the branch holding the class label (a whole number 0 to 255).
    #[arg(long, value_name = "BRANCH")]
    pub target: Option<String>,
    /// ROOT data: event-weight branch, used in the loss (weights finite and >= 0; scaled to
    /// mean 1 over the training set).
    #[arg(long, value_name = "BRANCH")]
    pub weight: Option<String>,
    /// ROOT data: selection, e.g. "pt > 25 && eta < 2.5" (comparisons with numbers
    /// joined by && and ||).
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    pub cut: Option<String>,
    /// ROOT data: fraction of every chunk of entries held out as the test set, in (0, 1)
    /// [default: 0.2].
    #[arg(long, value_parser = args::validation_split, allow_negative_numbers = true)]
    pub validation_split: Option<f64>,
    /// ROOT data: values kept per jagged feature (padded with 0) [default: 1].
    #[arg(long, value_parser = args::max_len, allow_negative_numbers = true)]
    pub max_len: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Testing aid: exit abruptly (status 137, no cleanup) right after this global step.
    #[arg(long, hide = true, value_parser = args::steps)]
    pub kill_after_steps: Option<u64>,
}

/// Training examples in MNIST.
const MNIST_TRAIN: usize = 60_000;

/// Arguments recorded in checkpoints and restored on resume, by how they may change then:
/// `Fixed` ones define the run (the data, the model, the batch order), `Overridable` ones
/// need `--override` to change, `Free` ones take the checkpoint's value only when not given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Fixed,
    Overridable,
    Free,
}

const RECORDED: &[(&str, Change)] = &[
    ("model", Change::Fixed),
    ("data", Change::Fixed),
    ("hidden", Change::Fixed),
    ("batch", Change::Fixed),
    ("optimizer", Change::Fixed),
    ("seed", Change::Fixed),
    ("train-size", Change::Fixed),
    ("gw-train", Change::Fixed),
    ("snr-min", Change::Fixed),
    ("snr-max", Change::Fixed),
    ("features", Change::Fixed),
    ("target", Change::Fixed),
    ("weight", Change::Fixed),
    ("cut", Change::Fixed),
    ("validation-split", Change::Fixed),
    ("max-len", Change::Fixed),
    ("lr", Change::Overridable),
    ("momentum", Change::Overridable),
    ("on-nan", Change::Overridable),
    ("test-size", Change::Overridable),
    ("gw-test", Change::Overridable),
    ("far", Change::Overridable),
    ("epochs", Change::Free),
];

fn enum_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_owned())
}

impl TrainArgs {
    pub(crate) fn batch(&self) -> usize {
        self.batch.unwrap_or(match self.model {
            ModelKind::Mlp => 64,
            ModelKind::Cnn => 32,
        })
    }

    pub(crate) fn optimizer(&self) -> OptimizerConfig {
        match self.optimizer {
            OptKind::Sgd => OptimizerConfig::sgd(self.lr.unwrap_or(0.02), self.momentum),
            OptKind::Adam => OptimizerConfig::adam(self.lr.unwrap_or(1e-3)),
        }
    }

    fn on_non_finite(&self) -> NonFinitePolicy {
        match self.on_nan {
            OnNan::Stop => NonFinitePolicy::Stop,
            OnNan::Rollback => NonFinitePolicy::ROLLBACK,
        }
    }

    /// The model; `layout` is a ROOT tree's `(values per row, classes)`.
    fn spec(&self, layout: Option<(usize, usize)>) -> Result<ModelSpec> {
        Ok(match (self.model, &self.data) {
            (ModelKind::Mlp, DataKind::Root { .. }) => {
                let Some((in_features, classes)) = layout else {
                    usage!("the ROOT tree's layout is not known yet (bug)");
                };
                ModelSpec::Mlp {
                    in_features,
                    hidden: self.hidden,
                    classes,
                }
            }
            (ModelKind::Mlp, DataKind::Mnist) => ModelSpec::Mlp {
                in_features: 784,
                hidden: self.hidden,
                classes: 10,
            },
            (ModelKind::Cnn, DataKind::Gw) => ModelSpec::W2,
            (m, d @ DataKind::Root { .. }) => usage!(
                "--model {} does not fit --data {d}: ROOT trees train the MLP; use --model mlp",
                enum_name(&m)
            ),
            (m, d) => usage!(
                "--model {} does not fit --data {d}: use `--model mlp --data mnist` or `--model cnn --data gw`",
                enum_name(&m)
            ),
        })
    }

    /// The recorded arguments' values, as they would be written on a command line.
    fn recorded(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_owned(), v);
        };
        put("model", enum_name(&self.model));
        put("data", self.data.to_string());
        if let DataKind::Root { .. } = self.data {
            for (k, v) in [
                ("features", &self.features),
                ("target", &self.target),
                ("weight", &self.weight),
                ("cut", &self.cut),
            ] {
                if let Some(v) = v {
                    put(k, v.clone());
                }
            }
            put("validation-split", self.validation_split().to_string());
            put("max-len", self.max_len().to_string());
        }
        put("hidden", self.hidden.to_string());
        put("batch", self.batch().to_string());
        put("optimizer", enum_name(&self.optimizer));
        put("seed", self.seed.to_string());
        if let Some(n) = self.train_size {
            put("train-size", n.to_string());
        }
        put("gw-train", self.gw_train.to_string());
        put("snr-min", self.snr_min.to_string());
        put("snr-max", self.snr_max.to_string());
        put("lr", self.optimizer().lr().to_string());
        put("momentum", self.momentum.to_string());
        put("on-nan", enum_name(&self.on_nan));
        if let Some(n) = self.test_size {
            put("test-size", n.to_string());
        }
        put("gw-test", self.gw_test.to_string());
        put("far", self.far.to_string());
        put("epochs", self.epochs.to_string());
        m
    }

    pub(crate) fn validation_split(&self) -> f64 {
        self.validation_split.unwrap_or(0.2)
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_len.unwrap_or(1)
    }

    /// The feature branches of `--features`: names separated by commas, none empty or
    /// repeated.
    pub(crate) fn feature_list(&self) -> Result<Vec<String>> {
        let text = self.features.as_deref().unwrap_or_default();
        let names: Vec<String> = text.split(',').map(|f| f.trim().to_owned()).collect();
        if names.iter().any(String::is_empty) {
            usage!("--features {text:?} has an empty name; give branch names separated by commas, such as --features pt,eta,phi");
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                usage!("--features names `{n}` twice; give each branch once");
            }
        }
        Ok(names)
    }

    /// The ROOT-only options: required with `--data root:…` (features, target), refused with
    /// the other data, checked for form (names, the cut's syntax) before the file is opened.
    fn check_data_args(&self) -> Result<()> {
        let root_only = [
            ("features", self.features.is_some()),
            ("target", self.target.is_some()),
            ("weight", self.weight.is_some()),
            ("cut", self.cut.is_some()),
            ("validation-split", self.validation_split.is_some()),
            ("max-len", self.max_len.is_some()),
        ];
        let DataKind::Root { .. } = self.data else {
            if let Some((flag, _)) = root_only.iter().find(|(_, given)| *given) {
                usage!(
                    "--{flag} is for ROOT data (--data root:FILE:TREE) only; drop it with --data {}",
                    self.data
                );
            }
            return Ok(());
        };
        if self.model != ModelKind::Mlp {
            self.spec(None)?;
        }
        if self.features.is_none() || self.target.is_none() {
            usage!(
                "--data {} needs --features A,B,C (the input branches) and --target BRANCH (the class label); see `ferrograd root ls FILE` for the branches",
                self.data
            );
        }
        self.feature_list()?;
        for (flag, v) in [("target", &self.target), ("weight", &self.weight)] {
            if v.as_deref()
                .is_some_and(|n| n.trim().is_empty() || n.contains(','))
            {
                usage!("--{flag} takes one branch name");
            }
        }
        if let Some(cut) = &self.cut {
            if let Err(e) = ferrograd_root::Cut::parse(cut) {
                usage!("--cut {cut:?}: {e}");
            }
        }
        Ok(())
    }

    /// Checks made before any data is loaded or memory allocated (for ROOT data: after the
    /// tree is read, with its `layout`, `(values per row, classes)`, and training-set size).
    fn check(&self, root: Option<(usize, usize, usize)>) -> Result<ModelSpec> {
        self.check_data_args()?;
        let spec = self.spec(root.map(|(row, classes, _)| (row, classes)))?;
        if self.snr_min > self.snr_max {
            usage!(
                "--snr-min {} is above --snr-max {}; give the lower bound first",
                self.snr_min,
                self.snr_max
            );
        }
        if self.engine == Engine::Libtorch {
            if self.checkpoint.is_some() {
                usage!("--checkpoint is implemented for --engine ferrograd only; drop it or use the ferrograd engine");
            }
            if self.on_nan == OnNan::Rollback {
                usage!("--on-nan rollback is implemented for --engine ferrograd only; drop it or use the ferrograd engine");
            }
        }
        let available = match (&self.data, root) {
            (DataKind::Root { .. }, Some((_, _, n))) => n,
            (DataKind::Root { .. }, None) => usage!("the ROOT tree was not read yet (bug)"),
            (DataKind::Mnist, _) => MNIST_TRAIN,
            (DataKind::Gw, _) => self.gw_train,
        };
        if let Some(n) = self.train_size {
            if n > available {
                usage!("--train-size {n} is larger than the {available} training examples; use at most {available}");
            }
        }
        let n_train = self.train_size.unwrap_or(available);
        if self.batch() > n_train {
            usage!(
                "--batch {} is larger than the training set ({n_train} examples); use --batch {n_train} or less",
                self.batch()
            );
        }
        // Memory, before allocating any of it: the arena (twice for LibTorch, which keeps its
        // own copy of the model), the data set, and for Adam two moments per parameter.
        let arena = Network::bytes_needed(spec, self.batch())?;
        let data = match self.data {
            // MNIST is not read yet; a ROOT tree is already in memory.
            DataKind::Mnist | DataKind::Root { .. } => 0,
            DataKind::Gw => ((self.gw_train + self.gw_test) as u64) * spec.input_len() as u64 * 4,
        };
        let need = arena
            .saturating_mul(if self.engine == Engine::Libtorch {
                2
            } else {
                1
            })
            .saturating_add(arena / 2)
            .saturating_add(data);
        if let Some(avail) = args::available_memory() {
            if need > avail {
                usage!(
                    "this run needs about {} of memory ({} with --hidden {} and --batch {}), more than the {} available; use a smaller --batch{}",
                    args::gib(need),
                    spec.tag(),
                    self.hidden,
                    self.batch(),
                    args::gib(avail),
                    match self.data {
                        DataKind::Mnist | DataKind::Root { .. } => " or --hidden",
                        DataKind::Gw => ", --gw-train or --gw-test",
                    }
                );
            }
        }
        Ok(spec)
    }
}

/// Runs `ferrograd train`. `matches` are the subcommand's, for telling given arguments from
/// defaults.
pub fn train(args: TrainArgs, matches: Option<&ArgMatches>) -> Result<()> {
    let given = |id: &str| {
        let id = id.replace('-', "_");
        matches.is_some_and(|m| m.value_source(&id) == Some(ValueSource::CommandLine))
    };
    let mut args = args;
    let mut resume = false;
    if let (Some(path), true) = (args.checkpoint.clone(), args.resume) {
        if !path.exists() {
            usage!(
                "--resume: no checkpoint at {}; drop --resume to start a new run there",
                path.display()
            );
        }
        let ck = checkpoint::load(&path)?;
        args = restore_args(&args, &ck.run_args, &given)?;
        resume = true;
    } else if let Some(path) = &args.checkpoint {
        if !args.overwrite {
            let what = match checkpoint::owner(path) {
                Owner::Absent => None,
                Owner::Run(id) => Some(format!("the checkpoint of run {id}")),
                Owner::Other(what) => Some(what),
            };
            if let Some(what) = what {
                usage!(
                    "--checkpoint {} already exists ({what}); pass --resume to continue that run, --overwrite to replace it, or choose another path",
                    path.display()
                );
            }
        }
        // Before any work: an unwritable path fails now, not after an epoch.
        checkpoint::check_writable(path)?;
    }
    let (spec, data) = if let DataKind::Root { .. } = args.data {
        args.check_data_args()?;
        let data = data::load_root(&args)?;
        let spec = args.check(Some((data.row(), data.classes(), data.train_len())))?;
        (spec, data)
    } else {
        let spec = args.check(None)?;
        (spec, data::load(&args, spec)?)
    };
    let train = data.train()?;
    let test = data.test()?;
    if args.batch() > train.len() {
        usage!(
            "--batch {} is larger than the training set ({} examples); use --batch {} or less",
            args.batch(),
            train.len(),
            train.len()
        );
    }
    println!(
        "{} on {} ({} train / {} test examples), engine {:?}, batch {}, {} thread(s), {} lr {}",
        spec.tag(),
        data.name,
        train.len(),
        test.len(),
        args.engine,
        args.batch(),
        args.threads,
        args.optimizer().kind(),
        args.optimizer().lr()
    );
    if let Some(line) = data.weights_line() {
        println!("{line}");
    }
    let (last, step_seconds) = match args.engine {
        Engine::Ferrograd => run_ferrograd(&args, spec, &train, &test, resume)?,
        Engine::Libtorch => torch_engine::run(&args, spec, &train, &test)?,
    };
    summary(&last, &step_seconds, args.far);
    Ok(())
}

/// The arguments of a resumed run: the checkpoint's recorded values for those not given, and
/// an error for a given value that differs where that is not allowed.
fn restore_args(
    args: &TrainArgs,
    saved: &BTreeMap<String, String>,
    given: &dyn Fn(&str) -> bool,
) -> Result<TrainArgs> {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    for (key, _) in RECORDED {
        if let (false, Some(v)) = (given(key), saved.get(*key)) {
            argv.push(format!("--{key}").into());
            argv.push(v.into());
        }
    }
    let restored = reparse(&argv)?;
    let now = restored.recorded();
    for &(key, change) in RECORDED {
        let (Some(old), Some(new)) = (saved.get(key), now.get(key)) else {
            continue;
        };
        if old == new || change == Change::Free {
            continue;
        }
        match change {
            Change::Fixed => usage!(
                "--{key} {new} differs from the checkpoint's {old}, and a resumed run keeps it; drop --{key} (or start a new run)"
            ),
            Change::Overridable if !args.override_settings => usage!(
                "--{key} {new} differs from the checkpoint's {old}; drop --{key} to keep {old}, or add --override to continue with {new}"
            ),
            _ => {}
        }
    }
    Ok(restored)
}

/// Parses a full command line again into `train`'s arguments.
fn reparse(argv: &[OsString]) -> Result<TrainArgs> {
    let m = crate::Cli::command()
        .try_get_matches_from(argv)
        .map_err(|e| {
            args::UsageError(format!(
                "the checkpoint's recorded settings do not parse: {}",
                e.kind()
            ))
        })?;
    let sub = m
        .subcommand_matches("train")
        .ok_or_else(|| args::UsageError("not a train command".into()))?;
    Ok(TrainArgs::from_arg_matches(sub)?)
}

/// The `name: value` lines at the end of a run.
fn summary(test: &Option<EvalReport>, step_seconds: &[f64], far: f64) {
    if let Some(t) = test {
        println!("test loss: {:.6}", t.loss);
        println!("test accuracy: {:.2}%", 100.0 * t.accuracy);
        if let Some(auc) = t.auc {
            println!("test AUC: {auc:.3}");
        }
        if let Some((_, eff)) = t.efficiency {
            println!("test efficiency at FAR {far}: {:.2}%", 100.0 * eff);
        }
    }
    match median_ms(step_seconds, 20.min(step_seconds.len() / 2)) {
        Some(ms) => println!("median step: {ms:.3} ms"),
        None => println!("median step: n/a"),
    }
}

pub(crate) fn epoch_line(r: &EpochReport, epochs: u64) -> String {
    let mut s = format!(
        "epoch {}/{epochs}: train loss {:.4}, train accuracy {:.2}%",
        r.epoch + 1,
        r.train_loss,
        100.0 * r.train_accuracy
    );
    if let Some(t) = &r.test {
        s += &format!(
            ", test loss {:.4}, test accuracy {:.2}%",
            t.loss,
            100.0 * t.accuracy
        );
        if let Some(auc) = t.auc {
            s += &format!(", test AUC {auc:.4}");
        }
    }
    s
}

pub(crate) fn progress_bar(args: &TrainArgs, batches: usize) -> ProgressBar {
    let pb = ProgressBar::new(batches as u64);
    if args.no_progress {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

fn run_ferrograd(
    args: &TrainArgs,
    spec: ModelSpec,
    train: &Dataset<'_>,
    test: &Dataset<'_>,
    resume: bool,
) -> Result<(Option<EvalReport>, Vec<f64>)> {
    let mut cfg = TrainConfig::new(args.epochs, args.batch(), args.seed, args.optimizer());
    cfg.checkpoint = args.checkpoint.clone();
    cfg.checkpoint_every = args.checkpoint_every;
    cfg.far = args.far;
    cfg.overwrite = args.overwrite;
    cfg.on_non_finite = args.on_non_finite();
    cfg.run_args = args.recorded();
    let mut trainer = match (&args.checkpoint, resume) {
        (Some(path), true) => {
            let t = if args.override_settings {
                Trainer::resume_with_optimizer(path, spec, cfg, train.len())?
            } else {
                Trainer::resume(path, spec, cfg, train.len())?
            };
            let (e, b) = t.position();
            println!(
                "resumed from {} at epoch {}, batch {} (step {})",
                path.display(),
                e + 1,
                b,
                t.steps()
            );
            t
        }
        _ => Trainer::new(spec, cfg, train.len())?,
    };
    let batches = trainer.batches_per_epoch();
    let epochs = args.epochs;
    let mut pb = progress_bar(args, batches);
    let mut last = None;
    let kill = args.kill_after_steps;
    let result = with_threads(args.threads, || {
        trainer.fit(train, Some(test), &mut |e| match e {
            Event::Step(s) => {
                if s.batch == 0 || pb.is_finished() {
                    pb = progress_bar(args, s.batches_per_epoch);
                    pb.set_prefix(format!("epoch {}/{epochs}", s.epoch + 1));
                }
                pb.set_position(s.batch as u64 + 1);
                if s.batch % 32 == 0 {
                    pb.set_message(format!("loss {:.4}", s.loss));
                }
                if kill == Some(s.step) {
                    pb.abandon();
                    eprintln!("killed after step {} (--kill-after-steps)", s.step);
                    std::process::exit(137);
                }
            }
            Event::Epoch(r) => {
                pb.finish_and_clear();
                println!("{}", epoch_line(r, epochs));
                last = r.test;
            }
            Event::Checkpoint(p) => {
                pb.println(format!("checkpoint: {}", p.display()));
            }
            Event::Rollback { error, step, lr } => {
                let what = error.to_string();
                let what = what.split(';').next().unwrap_or_default();
                pb.suspend(|| {
                    println!("rollback: {what}; back to step {step}, learning rate now {lr}");
                });
            }
        })
    })?;
    result.context("training failed")?;
    if last.is_none() {
        // Nothing left to train (resumed a finished run): evaluate what we have.
        last = Some(ferrograd_train::evaluate(
            trainer.network_mut(),
            test,
            args.far,
        )?);
    }
    Ok((last, trainer.step_seconds().to_vec()))
}
