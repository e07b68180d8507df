//! Any bytes: loading returns `Ok` or `Err`, never panics; a model that loads runs forward
//! and backward on zeros of its declared input shapes (dynamic dimensions at 2) without
//! panicking.
#![no_main]

use ferrograd_onnx::{Dim, ElemType, Model, Tensor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    let mut feed = Vec::new();
    for v in model.inputs() {
        let shape: Vec<usize> = v
            .dims
            .iter()
            .flatten()
            .map(|d| match d {
                Dim::Fixed(n) => *n,
                Dim::Dynamic(_) => 2,
            })
            .collect();
        let n: usize = shape.iter().product();
        if n > 1 << 20 {
            return;
        }
        let t = match v.elem {
            ElemType::F32 => Tensor::f32(shape, vec![0.0; n]),
            ElemType::I64 => Tensor::i64(shape, vec![0; n]),
        };
        feed.push((v.name.clone(), t.expect("consistent shape")));
    }
    if let Ok(fwd) = model.forward(feed) {
        let _ = fwd.backward_sum();
    }
});
