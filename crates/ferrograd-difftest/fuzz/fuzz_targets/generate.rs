//! Fuzz target: the difftest generator, driven by the fuzzer's bytes (seed and program
//! index), followed by the AD compiler in process. Every generated program must be accepted
//! by `ferrograd_ad::generate` (no error, no panic) and its output must parse as Rust items.
//! Numerical checks need rustc: see the `fuzz_loop` example.

#![no_main]

use ferrograd_difftest::gen::{self, Coverage, Weights};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = [0u8; 10];
    for (b, d) in bytes.iter_mut().zip(data) {
        *b = *d;
    }
    let seed = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let index = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let p = gen::program(seed, index, &Weights::default(), &mut Coverage::new());
    let src = p.native();
    let mut item: syn::ItemFn = syn::parse_str(&src)
        .unwrap_or_else(|e| panic!("generated program does not parse ({e}):\n{src}"));
    item.attrs.clear(); // as the attribute macro sees it
    let opts = ferrograd_ad::parse_options(proc_macro2::TokenStream::new()).expect("no options");
    let out = ferrograd_ad::generate(&opts, &item).unwrap_or_else(|e| {
        panic!("seed {seed:#x}, program {index}: rejected by the AD compiler: {e}\n{src}")
    });
    if let Err(e) = syn::parse2::<syn::File>(out) {
        panic!("seed {seed:#x}, program {index}: generated code does not parse: {e}\n{src}");
    }
});
