//! Gives the `ferrograd-bench` binary an rpath to libtorch, as `ferrograd-torch`'s build script
//! asks of every package that links a binary against it, and compiles the heap-allocation
//! counter (`csrc/heap_count.c`) into it.

fn main() {
    println!("cargo:rerun-if-changed=csrc/heap_count.c");
    cc::Build::new()
        .file("csrc/heap_count.c")
        .std("c11")
        .opt_level(2)
        .warnings(true)
        .compile("ferrograd_bench_heap_count");
    if let Ok(lib) = std::env::var("DEP_FERROGRAD_TORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
