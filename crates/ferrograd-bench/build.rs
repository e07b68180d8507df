//! Gives the `ferrograd-bench` binary an rpath to libtorch, as `ferrograd-torch`'s build script
//! asks of every package that links a binary against it.

fn main() {
    if let Ok(lib) = std::env::var("DEP_FERROGRAD_TORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
