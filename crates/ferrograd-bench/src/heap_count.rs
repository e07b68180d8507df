//! Heap allocations of the whole worker process, Rust's and C++'s alike, on every thread.
//!
//! `csrc/heap_count.c` replaces glibc's allocation entry points in this executable with
//! counting wrappers; this module reads the count. It is the FFI layer that reads it, and the
//! only `unsafe` of the crate.
//!
//! The count is only trusted after [`counter`] has seen it move for a Rust allocation and for
//! one made inside LibTorch: if the dynamic linker had bound LibTorch's `malloc` to glibc's
//! instead (the executable not exporting the wrappers), the count would silently miss every
//! C++ allocation, and a framework would look allocation-free when it is not.

use std::hint::black_box;
use std::sync::OnceLock;

extern "C" {
    fn ferrograd_bench_heap_allocations() -> u64;
}

/// The number of heap allocations this process has made so far.
fn raw_count() -> u64 {
    // SAFETY: `ferrograd_bench_heap_allocations` (csrc/heap_count.c, compiled into this
    // executable by build.rs) takes no arguments, touches no memory of ours, and only loads an
    // atomic counter; it is safe to call from any thread at any time.
    unsafe { ferrograd_bench_heap_allocations() }
}

/// Why the counter cannot be trusted, or `Ok` when it sees Rust and LibTorch allocations.
fn self_check() -> Result<(), String> {
    let before = raw_count();
    let boxed = black_box(Box::new([0u8; 64]));
    drop(boxed);
    let after_rust = raw_count();
    if after_rust == before {
        return Err("a Rust allocation was not counted".into());
    }
    let t = black_box(tch::Tensor::zeros(
        [4096],
        (tch::Kind::Float, tch::Device::Cpu),
    ));
    drop(t);
    if raw_count() == after_rust {
        return Err("an allocation inside LibTorch was not counted".into());
    }
    Ok(())
}

/// The process-wide allocation counter, once it has passed its self-check; `Err` says why
/// the count would be incomplete (the report then shows no count rather than a wrong one).
pub fn counter() -> Result<fn() -> u64, &'static str> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    match CHECK.get_or_init(self_check) {
        Ok(()) => Ok(raw_count),
        Err(why) => Err(why.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rust_and_libtorch_allocations() {
        let count = counter().expect("the allocation counter passes its self-check");
        let before = count();
        let v: Vec<u32> = black_box((0..1000).collect());
        assert_eq!(v.len(), 1000);
        let after_vec = count();
        assert!(after_vec > before, "a Vec's allocation is counted");
        // A LibTorch op allocates its result's storage (the CPU allocator) and its TensorImpl
        // (`operator new`): at least two allocations per op.
        let x = tch::Tensor::ones([256], (tch::Kind::Float, tch::Device::Cpu));
        let y = black_box(&x + &x);
        let after_ops = count();
        assert!(
            after_ops >= after_vec + 4,
            "two LibTorch ops made {} allocations",
            after_ops - after_vec
        );
        drop(y);
        // Freeing is not counted.
        let freed = count();
        drop(x);
        assert_eq!(count(), freed);
    }
}
