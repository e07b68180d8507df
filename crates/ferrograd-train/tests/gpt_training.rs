//! W4, the mini-GPT (issue 14), trained by the arena engine on the project's generated
//! character corpus (`ferrograd_data::text`): 300 AdamW steps of batch 8 × 64 tokens must take
//! the held-out loss well below that of a uniform guess (ln 65 = 4.17), and the greedy
//! continuation of a prompt must be made of the corpus's characters, not one repeated token.
//!
//! Ignored by default (minutes in a debug build); CI runs it in release with the other
//! training tests (`cargo test --release -p ferrograd-train -- --ignored`, `scripts/test.sh`).

use ferrograd_data::text::{decode, encode, generate_corpus, TextSampler, VOCAB_SIZE};
use ferrograd_train::models::gpt::MiniGpt;
use ferrograd_train::{with_threads, Network, Optimizer, OptimizerConfig};

const BATCH: usize = 8;
const STEPS: usize = 300;

/// Mean loss of the network over a fixed set of held-out batches.
fn held_out_loss(net: &mut Network<MiniGpt>, batches: &[(Vec<f32>, Vec<usize>)]) -> f32 {
    let total: f32 = batches
        .iter()
        .map(|(x, y)| net.forward(x, y).unwrap())
        .sum();
    total / batches.len() as f32
}

#[test]
#[ignore = "trains the W4 GPT for 300 steps: run in release (scripts/test.sh does)"]
fn w4_gpt_loss_falls_on_the_generated_corpus() {
    let model = MiniGpt::W4;
    assert_eq!(model.vocab, VOCAB_SIZE);
    let text = generate_corpus(400_000, 7);
    let tokens = encode(&text).unwrap();
    let split = tokens.len() * 9 / 10;
    let mut train = TextSampler::new(tokens[..split].to_vec(), model.seq, 1).unwrap();
    let mut held = TextSampler::new(tokens[split..].to_vec(), model.seq, 2).unwrap();
    let held_batches: Vec<(Vec<f32>, Vec<usize>)> = (0..4)
        .map(|_| {
            let (mut x, mut y) = (vec![0.0; BATCH * model.seq], vec![0; BATCH * model.seq]);
            held.fill(&mut x, &mut y).unwrap();
            (x, y)
        })
        .collect();

    let (before, after, first, last, sample) = with_threads(2, || {
        let mut net = Network::new(model, BATCH, 42).unwrap();
        let cfg = OptimizerConfig::AdamW {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut opt = Optimizer::new(cfg, net.params().len()).unwrap();
        let before = held_out_loss(&mut net, &held_batches);
        let (mut x, mut y) = (vec![0.0; BATCH * model.seq], vec![0; BATCH * model.seq]);
        let mut losses = Vec::with_capacity(STEPS);
        for _ in 0..STEPS {
            train.fill(&mut x, &mut y).unwrap();
            let loss = net.loss_and_grad(&x, &y).unwrap();
            assert!(loss.is_finite());
            net.step(&mut opt).unwrap();
            losses.push(loss);
        }
        let after = held_out_loss(&mut net, &held_batches);
        let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
        // Greedy continuation of the first held-out window, one token at a time (the model
        // sees the last `seq` tokens; a batch of one, the arena's first row).
        let mut ctx: Vec<f32> = held_batches[0].0[..model.seq].to_vec();
        let mut out = Vec::new();
        for _ in 0..80 {
            net.forward(&ctx, &vec![0; model.seq]).unwrap();
            let logits = net.logits();
            let last = &logits[(model.seq - 1) * model.vocab..model.seq * model.vocab];
            let next = (0..model.vocab)
                .max_by(|&a, &b| last[a].total_cmp(&last[b]))
                .unwrap();
            out.push(next as u8);
            ctx.remove(0);
            ctx.push(next as f32);
        }
        (
            before,
            after,
            mean(&losses[..20]),
            mean(&losses[STEPS - 20..]),
            decode(&out).unwrap(),
        )
    })
    .unwrap();
    println!(
        "W4 GPT, {STEPS} AdamW steps: held-out loss {before:.3} -> {after:.3}; \
         training loss (mean of 20 steps) {first:.3} -> {last:.3}"
    );
    println!("greedy continuation: {sample:?}");
    assert!(
        (before - (VOCAB_SIZE as f32).ln()).abs() < 0.1,
        "a fresh GPT-2 initialisation predicts almost uniformly: {before}"
    );
    assert!(after < 0.6 * before, "held-out loss {before} -> {after}");
    assert!(last < 0.6 * first, "training loss {first} -> {last}");
    let distinct = sample
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(distinct >= 5, "a degenerate continuation: {sample:?}");
}
