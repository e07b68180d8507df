//! The frameworks compared, and how each one's worker process is started.

use std::path::Path;
use std::process::Command;

/// One framework of the suite; each runs in worker processes of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    /// The ferrograd arena engine (and ferrograd-fit's generated NLL derivatives for W3).
    Ferrograd,
    /// The ferrograd node inside LibTorch (`ferrograd-torch`): the same generated
    /// `*_loss_grad` as one autograd node over `tch` variables, `tch::nn::Sgd` (W1, W2 only).
    Bridge,
    /// tch autograd from Rust (LibTorch 2.13, the same one PyTorch ships).
    Tch,
    /// PyTorch eager.
    TorchEager,
    /// `torch.compile` (inductor).
    TorchCompile,
    /// JAX: `jit(value_and_grad)` with the SGD update inside the jit.
    Jax,
}

/// Where the interpreters and the Python workers are.
pub struct Launch<'a> {
    pub torch_python: &'a Path,
    pub jax_python: Option<&'a Path>,
    pub workers_dir: &'a Path,
}

impl Framework {
    pub const ALL: [Framework; 6] = [
        Framework::Ferrograd,
        Framework::Bridge,
        Framework::Tch,
        Framework::TorchEager,
        Framework::TorchCompile,
        Framework::Jax,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Framework::Ferrograd => "ferrograd",
            Framework::Bridge => "ferrograd-torch",
            Framework::Tch => "tch",
            Framework::TorchEager => "torch-eager",
            Framework::TorchCompile => "torch-compile",
            Framework::Jax => "jax",
        }
    }

    /// Whether this framework's worker is the Rust binary itself, which counts the heap
    /// allocations of every step (`crate::heap_count`); the Python workers report none.
    pub fn is_rust(self) -> bool {
        matches!(
            self,
            Framework::Ferrograd | Framework::Bridge | Framework::Tch
        )
    }

    pub fn from_name(s: &str) -> Option<Framework> {
        Framework::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The command that starts this framework's worker for `workload` on the inputs in
    /// `data`, or why it cannot be started.
    pub fn command(self, launch: &Launch, workload: &str, data: &Path) -> Result<Command, String> {
        let py = |python: &Path, script: &str, extra: Option<&str>| {
            let mut c = Command::new(python);
            c.arg(launch.workers_dir.join(script))
                .arg(data)
                .arg(workload);
            c.args(extra);
            c
        };
        let mut cmd = match self {
            Framework::Bridge if workload.starts_with("W3") => {
                return Err(format!("unavailable: {}", crate::worker::BRIDGE_NO_W3));
            }
            Framework::Ferrograd | Framework::Bridge | Framework::Tch => {
                let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
                let mut c = Command::new(exe);
                c.args(["worker", "--framework", self.name(), "--workload", workload])
                    .arg("--data")
                    .arg(data);
                c
            }
            Framework::TorchEager => py(launch.torch_python, "torch_worker.py", Some("eager")),
            Framework::TorchCompile => py(launch.torch_python, "torch_worker.py", Some("compile")),
            Framework::Jax => match launch.jax_python {
                Some(p) => py(p, "jax_worker.py", None),
                None => return Err("no JAX python given (--jax-python)".into()),
            },
        };
        if matches!(
            self,
            Framework::Bridge | Framework::Tch | Framework::TorchEager | Framework::TorchCompile
        ) {
            // LibTorch's OpenMP threads (libgomp) by default spin only briefly, then sleep;
            // on this VM a step that wakes them right after an idle spell took ~60 ms instead
            // of ~0.3 ms (W1a), for ~0.5 s after every pause, i.e. in every interleaved round.
            // A bounded spin (a few ms, then sleep) keeps them warm within a round and still
            // frees the cores for the next framework's turn: the counterpart of ferrograd's
            // `keep_warm`, which spins for the length of a command.
            cmd.env("GOMP_SPINCOUNT", "10000000");
        }
        Ok(cmd)
    }
}
