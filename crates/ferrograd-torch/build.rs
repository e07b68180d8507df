//! Gives this crate's binaries (tests, examples, benches) an rpath to libtorch and
//! re-exports its location to dependents.
//!
//! Cargo does not forward `cargo:rustc-link-arg` from a dependency's build script
//! to the final binaries of other packages, so each package that *links a binary*
//! against libtorch needs this one line in its own build.rs (it must depend on
//! `ferrograd-torch` directly to see the variable):
//!
//! ```ignore
//! fn main() {
//!     if let Ok(lib) = std::env::var("DEP_FERROGRAD_TORCH_LIBTORCH_LIB") {
//!         println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
//!     }
//! }
//! ```

fn main() {
    match std::env::var("DEP_FERROGRAD_TORCH_SHIM_LIBTORCH_LIB") {
        Ok(lib) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
            // DEP_FERROGRAD_TORCH_LIBTORCH_LIB in direct dependents' build scripts.
            println!("cargo:libtorch_lib={lib}");
        }
        Err(_) => {
            eprintln!(
                "error: ferrograd-torch: ferrograd-torch-sys did not report libtorch's lib dir"
            );
            std::process::exit(1);
        }
    }
}
