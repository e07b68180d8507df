//! The Rust `onnx2rs` generated at build time against the run-time interpreter and PyTorch:
//! outputs equal `Model::forward`'s (1e-6 relative), and `forward_grad`'s gradients w.r.t.
//! the input and every weight equal `Forward::backward_sum`'s (1e-6) and torch autograd's on
//! the original model (1e-4). Errors are ‖got − want‖₂ / ‖want‖₂ per tensor.

use std::path::Path;

use ferrograd_onnx::{file_name, read_npy, Model, Tensor};
use ferrograd_onnx_gen::{weights_path, MODELS_DIR};

const SAME_TOL: f64 = 1e-6;
const TORCH_TOL: f64 = 1e-4;

fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|b| f64::from(*b).powi(2)).sum();
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

fn npy(path: &Path) -> Vec<f32> {
    read_npy(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_f32()
        .expect("f32")
}

/// What a generated module gives the check: outputs, then the input's and the weights'
/// gradients (by ONNX name) of the sum of the outputs.
struct Generated {
    outputs: Vec<(String, Vec<f32>)>,
    grads: Vec<(String, Vec<f32>)>,
}

macro_rules! run_generated {
    ($m:ident, $x:expr) => {{
        use ferrograd_onnx_gen::$m as g;
        let x: &[f32] = $x;
        let w = g::Weights::load(weights_path(stringify!($m))).expect("load weights");
        let plan = g::plan().expect("plan");
        let mut acts = g::Acts::zeros();
        let seed = vec![1.0f32; g::OUTPUTS[0].1.iter().product()];
        // Forward alone, then forward and backward.
        let total =
            g::forward(x, &seed, &w.as_view(), &mut acts.as_view(), &plan).expect("forward");
        let outputs: Vec<(String, Vec<f32>)> = acts
            .outputs()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect();
        let mut d_w = g::Weights::zeros();
        let mut d_acts = g::Acts::zeros();
        let mut d_x = vec![0.0f32; x.len()];
        let mut acts2 = g::Acts::zeros();
        let total2 = g::forward_grad(
            x,
            &seed,
            &w.as_view(),
            &mut acts2.as_view(),
            &plan,
            &mut d_x,
            &mut d_w.as_mut_view(),
            &mut d_acts.as_view(),
        )
        .expect("forward_grad");
        assert_eq!(total, total2, "forward and forward_grad disagree");
        let mut grads = vec![(g::INPUTS[0].0.to_string(), d_x)];
        grads.extend(
            d_w.tensors()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_vec())),
        );
        Generated { outputs, grads }
    }};
}

fn check(name: &str, gen: impl FnOnce(&[f32]) -> Generated) {
    let dir = Path::new(MODELS_DIR);
    let model = Model::load(dir.join(format!("{name}.onnx"))).expect("load");
    let x_name = model.inputs().next().expect("an input").name.clone();
    let x = npy(&dir
        .join(name)
        .join("inputs")
        .join(format!("{}.npy", file_name(&x_name))));
    let shape = read_npy(
        dir.join(name)
            .join("inputs")
            .join(format!("{}.npy", file_name(&x_name))),
    )
    .expect("npy")
    .shape()
    .to_vec();
    let fwd = model
        .forward([(
            x_name.as_str(),
            Tensor::f32(shape, x.clone()).expect("tensor"),
        )])
        .expect("run-time forward");
    let want_grads = fwd.backward_sum().expect("run-time backward");
    let got = gen(&x);

    let mut worst_out = 0f64;
    for (oname, t) in fwd.outputs() {
        let (_, v) = got
            .outputs
            .iter()
            .find(|(n, _)| n == oname)
            .expect("output");
        worst_out = worst_out.max(rel_err(v, t.as_f32().expect("f32")));
    }
    let (mut worst_rt, mut worst_torch) = ((0f64, String::new()), (0f64, String::new()));
    let inits: Vec<&str> = model
        .initializers()
        .filter(|(_, t)| t.is_f32())
        .map(|(n, _)| n)
        .collect();
    let mut n_torch = 0;
    for (gname, v) in &got.grads {
        // Constants folded into the weights (`const_` fields) are not parameters.
        if *gname != x_name && !inits.contains(&gname.as_str()) {
            continue;
        }
        let rt = want_grads
            .get(gname)
            .unwrap_or_else(|| panic!("{name}: no run-time gradient {gname}"));
        let e = rel_err(v, rt.as_f32().expect("f32"));
        if e >= worst_rt.0 {
            worst_rt = (e, gname.clone());
        }
        let torch = dir
            .join(name)
            .join("grad")
            .join(format!("{}.npy", file_name(gname)));
        let want = npy(&torch);
        let norm: f32 = want.iter().map(|v| v * v).sum();
        assert!(norm > 1e-12, "{name}: reference gradient {gname} is zero");
        let e = rel_err(v, &want);
        n_torch += 1;
        if e >= worst_torch.0 {
            worst_torch = (e, gname.clone());
        }
    }
    println!(
        "{name}: max rel err outputs vs run-time {worst_out:.2e}; gradients vs run-time {:.2e} \
         ({}), vs torch autograd {:.2e} ({}), {n_torch} gradients",
        worst_rt.0, worst_rt.1, worst_torch.0, worst_torch.1
    );
    assert!(
        worst_out <= SAME_TOL,
        "{name}: outputs differ from the run-time path by {worst_out:e}"
    );
    assert!(
        worst_rt.0 <= SAME_TOL,
        "{name}: gradient {} differs from the run-time path by {:e}",
        worst_rt.1,
        worst_rt.0
    );
    assert!(
        worst_torch.0 <= TORCH_TOL,
        "{name}: gradient {} differs from torch by {:e}",
        worst_torch.1,
        worst_torch.0
    );
    // The input and every float initializer have a gradient.
    assert_eq!(n_torch, 1 + inits.len(), "{name}: gradients missing");
}

#[test]
fn mlp_generated_matches_runtime_and_torch() {
    check("mlp", |x| run_generated!(mlp, x));
}

#[test]
fn w2cnn_generated_matches_runtime_and_torch() {
    check("w2cnn", |x| run_generated!(w2cnn, x));
}

#[test]
fn w2cnn_dynamic_batch_generated_for_batch_3() {
    check("w2cnn_dyn", |x| run_generated!(w2cnn_dyn, x));
}

#[test]
fn cnn2d_batchnorm_generated_matches_runtime_and_torch() {
    check("cnn2d", |x| run_generated!(cnn2d, x));
}

#[test]
fn block_layernorm_attention_generated_matches_runtime_and_torch() {
    check("block", |x| run_generated!(block, x));
}

#[test]
fn block_dynamic_batch_generated_for_batch_3() {
    check("block_dyn", |x| run_generated!(block_dyn, x));
}

#[test]
fn repeated_operand_and_constants_generated_match_runtime_and_torch() {
    check("square", |x| run_generated!(square, x));
}

/// Two float inputs and two outputs: `forward_grad` with seeds of ones against torch (the
/// gradient of the sum of both outputs), and with other seeds against the run-time
/// `Forward::backward` (a vector-Jacobian product).
#[test]
fn two_inputs_two_outputs_with_seeds() {
    use ferrograd_onnx_gen::two_io as g;
    let name = "two_io";
    let dir = Path::new(MODELS_DIR);
    let model = Model::load(dir.join(format!("{name}.onnx"))).expect("load");
    let input =
        |n: &str| read_npy(dir.join(name).join("inputs").join(format!("{n}.npy"))).expect("npy");
    let (ta, tb) = (input("a"), input("b"));
    let (a, b) = (
        ta.as_f32().expect("f32").to_vec(),
        tb.as_f32().expect("f32").to_vec(),
    );
    let fwd = model
        .forward([("a", ta.clone()), ("b", tb.clone())])
        .expect("forward");
    let w = g::Weights::load(weights_path(name)).expect("weights");
    let plan = g::plan().expect("plan");
    let n = |i: usize| g::OUTPUTS[i].1.iter().product::<usize>();
    let wavy = |len: usize, k: f32| (0..len).map(|i| (i as f32 * k).sin()).collect::<Vec<f32>>();
    let mut worst = 0f64;
    for (s0, s1, torch) in [
        (vec![1.0; n(0)], vec![1.0; n(1)], true),
        (wavy(n(0), 0.7), wavy(n(1), 1.3), false),
    ] {
        let mut acts = g::Acts::zeros();
        let (mut d_a, mut d_b) = (vec![0.0; a.len()], vec![0.0; b.len()]);
        let mut d_w = g::Weights::zeros();
        let mut d_acts = g::Acts::zeros();
        g::forward_grad(
            &a,
            &b,
            &s0,
            &s1,
            &w.as_view(),
            &mut acts.as_view(),
            &plan,
            &mut d_a,
            &mut d_b,
            &mut d_w.as_mut_view(),
            &mut d_acts.as_view(),
        )
        .expect("forward_grad");
        for ((oname, got), (rname, want)) in acts.outputs().into_iter().zip(fwd.outputs()) {
            assert_eq!(oname, rname);
            let e = rel_err(got, want.as_f32().expect("f32"));
            assert!(e <= SAME_TOL, "{oname}: {e:e}");
        }
        let seeds = [
            (
                "y0",
                Tensor::f32(g::OUTPUTS[0].1.to_vec(), s0.clone()).expect("seed"),
            ),
            (
                "y1",
                Tensor::f32(g::OUTPUTS[1].1.to_vec(), s1.clone()).expect("seed"),
            ),
        ];
        let rt = fwd.backward(seeds).expect("run-time backward");
        let mut grads = vec![("a", d_a), ("b", d_b)];
        grads.extend(d_w.tensors().into_iter().map(|(n, v)| (n, v.to_vec())));
        assert_eq!(grads.len(), 4);
        for (gname, v) in &grads {
            let e = rel_err(v, rt.get(gname).expect("grad").as_f32().expect("f32"));
            assert!(e <= SAME_TOL, "{gname} vs run-time: {e:e}");
            if torch {
                let want = npy(&dir
                    .join(name)
                    .join("grad")
                    .join(format!("{}.npy", file_name(gname))));
                let e = rel_err(v, &want);
                worst = worst.max(e);
                assert!(e <= TORCH_TOL, "{gname} vs torch: {e:e}");
            }
        }
    }
    println!("{name}: max rel err gradients vs torch autograd {worst:.2e}");
}
