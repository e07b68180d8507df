//! Compiles the C++ shim in `csrc/` against the same LibTorch that `torch-sys` links.
//!
//! Discovery mirrors torch-sys 0.26:
//! - `LIBTORCH_USE_PYTORCH` set: ask the Python interpreter (`python` inside an
//!   active venv, else `python3`, first on `PATH`) for torch's include paths and
//!   C++ ABI; `scripts/env.sh` sets this up.
//! - otherwise: `LIBTORCH_INCLUDE` or `LIBTORCH` (headers under `<dir>/include`) and
//!   `LIBTORCH_CXX11_ABI` (default 1), or the headers next to torch-sys's lib dir.
//!
//! The lib dir always comes from torch-sys (`DEP_TCH_LIBTORCH_LIB`), so the shim
//! and tch link the very same libtorch. It is re-exported as link metadata
//! (`DEP_FERROGRAD_TORCH_SHIM_LIBTORCH_LIB` in direct dependents' build scripts),
//! and this crate's own test/bench/example binaries get an rpath to it.
//! Cargo does not forward `rustc-link-arg` to dependents: every crate that builds
//! binaries linking libtorch must emit the rpath itself (see ferrograd-torch's build.rs).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const PY_DETAILS: &str = r"
import torch
from torch.utils import cpp_extension
print('FG_VERSION:', torch.__version__.split('+')[0])
print('FG_CXX11:', int(bool(torch._C._GLIBCXX_USE_CXX11_ABI)))
for p in cpp_extension.include_paths():
    print('FG_INCLUDE:', p)
for p in cpp_extension.library_paths():
    print('FG_LIB:', p)
";

struct Torch {
    include_dirs: Vec<PathBuf>,
    cxx11_abi: String,
    lib_dir: PathBuf,
}

fn env_rerun(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok()
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn from_python(lib_dir: PathBuf) -> Result<Torch, String> {
    let python = if env::var_os("VIRTUAL_ENV").is_some() {
        "python"
    } else {
        "python3"
    };
    let out = Command::new(python)
        .arg("-c")
        .arg(PY_DETAILS)
        .output()
        .map_err(|e| {
            format!("cannot run `{python}` to locate torch: {e}; run `source scripts/env.sh`")
        })?;
    if !out.status.success() {
        return Err(format!(
            "`{python}` could not import torch ({}); run `source scripts/env.sh`",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let (mut include_dirs, mut abi, mut py_lib) = (Vec::new(), None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(v) = line.strip_prefix("FG_INCLUDE: ") {
            include_dirs.push(PathBuf::from(v));
        } else if let Some(v) = line.strip_prefix("FG_CXX11: ") {
            abi = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("FG_LIB: ") {
            py_lib.get_or_insert_with(|| PathBuf::from(v));
        } else if let Some(v) = line.strip_prefix("FG_VERSION: ") {
            println!("cargo:rustc-env=FERROGRAD_TORCH_VERSION={}", v.trim());
        }
    }
    if let Some(py_lib) = py_lib {
        if !same_dir(&py_lib, &lib_dir) {
            return Err(format!(
                "`{python}` reports libtorch in {} but torch-sys links {}: mixed installs",
                py_lib.display(),
                lib_dir.display()
            ));
        }
    }
    let cxx11_abi = abi.ok_or_else(|| format!("`{python}` did not report torch's C++ ABI"))?;
    Ok(Torch {
        include_dirs,
        cxx11_abi,
        lib_dir,
    })
}

fn from_env(lib_dir: PathBuf) -> Torch {
    let root = env_rerun("LIBTORCH_INCLUDE")
        .or_else(|| env_rerun("LIBTORCH"))
        .map(PathBuf::from)
        .unwrap_or_else(|| lib_dir.parent().map(Path::to_path_buf).unwrap_or_default());
    let include = root.join("include");
    Torch {
        include_dirs: vec![include.join("torch/csrc/api/include"), include],
        cxx11_abi: env_rerun("LIBTORCH_CXX11_ABI").unwrap_or_else(|| "1".to_owned()),
        lib_dir,
    }
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    let lib_dir = env::var("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .map_err(|_| {
            "torch-sys did not report its libtorch lib dir (DEP_TCH_LIBTORCH_LIB); \
         only Linux and macOS are supported"
                .to_owned()
        })?;
    let torch = if env_rerun("LIBTORCH_USE_PYTORCH").is_some() {
        from_python(lib_dir)?
    } else {
        from_env(lib_dir)
    };
    let header = "torch/csrc/autograd/custom_function.h";
    if !torch.include_dirs.iter().any(|d| d.join(header).is_file()) {
        return Err(format!("{header} not found in {:?}", torch.include_dirs));
    }
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .includes(&torch.include_dirs)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", torch.cxx11_abi))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // `at::parallel_for` is a header template whose OpenMP pragma is compiled here:
        // without -fopenmp it silently runs serially (`fg_parallel_for`).
        .flag("-fopenmp")
        .file("csrc/shim.cpp")
        .try_compile("ferrograd_torch_shim")
        .map_err(|e| format!("compiling csrc/shim.cpp failed: {e}"))?;
    // The OpenMP runtime those pragmas call: GNU libgomp, by its soname `libgomp.so.1`, the
    // same name as the copy bundled with the torch 2.13 wheel, so the process loads one
    // runtime (torch's, found first through the rpath below) and the shim's regions use
    // LibTorch's team. (A libtorch whose bundled runtime has another soname, as some older
    // zip releases did, would give the shim's regions a team of their own: still correct,
    // but two teams.)
    println!("cargo:rustc-link-lib=dylib=gomp");
    let lib = torch.lib_dir.display();
    // Metadata for direct dependents: DEP_FERROGRAD_TORCH_SHIM_LIBTORCH_LIB.
    println!("cargo:libtorch_lib={lib}");
    // For this crate's own tests/examples; not propagated to dependents.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: ferrograd-torch-sys: {e}");
        std::process::exit(1);
    }
}
