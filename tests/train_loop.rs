//! The training loop on a tiny random T5 on `flex` with autodiff: the loss falls on a
//! fixed batch, the reported learning rates follow the schedule, and a seed reproduces a run.

use std::path::Path;
use std::sync::Mutex;

use burn::tensor::Device;
use mixtune::data::tokenizer::T5Tokenizer;
use mixtune::mixture::RenderedExample;
use mixtune::model::{T5Config, T5ForConditionalGeneration};
use mixtune::train::{Batcher, ScheduleKind, StepMetrics, TrainBatch, TrainConfig, Trainer};

/// Seeding and drawing random weights must not interleave across the file's tests.
static RANDOM: Mutex<()> = Mutex::new(());

fn tiny_config() -> T5Config {
    let mut config = T5Config::flan_t5_small();
    config.d_model = 32;
    config.d_kv = 8;
    config.d_ff = 64;
    config.num_heads = 4;
    config.num_layers = 2;
    config.num_decoder_layers = Some(2);
    config.vocab_size = 32128;
    config
}

fn model(seed: u64, device: &Device) -> T5ForConditionalGeneration {
    let _guard = RANDOM.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    T5ForConditionalGeneration::random(&tiny_config(), device)
}

fn example(task: &str, source: &str, target: &str) -> RenderedExample {
    RenderedExample {
        task: task.into(),
        example_id: "0".into(),
        phrasing: "p".into(),
        source: source.into(),
        target: target.into(),
    }
}

fn fixed_batch(device: &Device) -> TrainBatch {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/models/t5-tokenizer/tokenizer.json"
    );
    let tokenizer = T5Tokenizer::from_file(Path::new(path)).unwrap();
    let batcher = Batcher::new(tokenizer, 32, 8).unwrap();
    let examples = [
        example("translate", "translate to German: hello", "hallo"),
        example("translate", "translate to German: thank you", "danke"),
        example("sentiment", "Is this review positive? I loved it.", "yes"),
        example("sentiment", "Is this review positive? Awful.", "no"),
    ];
    batcher.batch(&examples, device).unwrap()
}

fn config(steps: usize) -> TrainConfig {
    let mut config = TrainConfig::new("tiny", "mix.toml", steps);
    config.learning_rate = 1e-2;
    config
}

fn run(config: &TrainConfig, seed: u64) -> Vec<StepMetrics> {
    let device = Device::flex().autodiff();
    let model = model(seed, &device);
    let batch = fixed_batch(&device);
    let mut trainer = Trainer::new(model, config, config.max_steps).unwrap();
    (0..config.max_steps)
        .map(|_| {
            let micro_batches = vec![batch.clone(); config.grad_accumulation];
            trainer.step(micro_batches).unwrap()
        })
        .collect()
}

#[test]
fn loss_falls_on_a_fixed_batch() {
    let mut config = config(30);
    config.warmup_steps = 3;
    config.schedule = ScheduleKind::Linear;
    let metrics = run(&config, 1);
    assert_eq!(metrics.len(), 30);
    let losses: Vec<f64> = metrics.iter().map(|m| m.loss).collect();
    eprintln!("losses: {losses:?}");
    // Step 1 runs at lr 0 (warmup), so step 2 sees the same weights.
    assert_eq!(losses[1], losses[0]);
    let first = losses[0];
    let last5 = losses[25..].iter().sum::<f64>() / 5.0;
    assert!(last5 < first * 0.5, "losses {losses:?}");

    let schedule = config.lr_schedule(config.max_steps);
    for (i, m) in metrics.iter().enumerate() {
        assert_eq!(m.step, i + 1);
        assert_eq!(m.learning_rate, schedule.lr_at(i));
        assert!(m.grad_norm.is_finite() && m.grad_norm > 0.0);
        assert!(m.tokens_per_s > 0.0);
        // Cumulative: two examples of each task per step.
        assert_eq!(m.examples_per_task["translate"], 2 * (i + 1));
        // One fixed batch is one shape for the whole run.
        assert_eq!(m.distinct_shapes, 1);
        assert!(m.seconds > 0.0);
        assert_eq!(m.examples_per_task["sentiment"], 2 * (i + 1));
    }
    assert_eq!(metrics[0].learning_rate, 0.0);
    assert_eq!(metrics[3].learning_rate, 1e-2);
}

#[test]
fn same_seed_gives_identical_losses() {
    let mut config = config(4);
    config.grad_accumulation = 2;
    config.schedule = ScheduleKind::Cosine;
    let a = run(&config, 3);
    let b = run(&config, 3);
    let losses = |m: &[StepMetrics]| m.iter().map(|m| m.loss).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    assert_eq!(a[0].examples_per_task["translate"], 4);
    let c = run(&config, 4);
    assert_ne!(losses(&a), losses(&c));
}

/// T5's dropout (`dropout_rate`) while training: a run reseeded the same way draws the same
/// masks (so the run loop's per-step reseeding makes resumes exact), and the masks change
/// the loss: the first step's loss differs from a run without dropout on the same weights.
#[test]
fn dropout_is_drawn_from_the_seed_and_changes_the_loss() {
    // The whole run under the lock: dropout draws from the device's generator at every step.
    let first_losses = |rate: f64| -> Vec<f64> {
        let _guard = RANDOM.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex().autodiff();
        device.seed(5);
        let model = T5ForConditionalGeneration::random(&tiny_config(), &device);
        let batch = fixed_batch(&device);
        let mut config = config(2);
        config.dropout_rate = rate;
        let mut trainer = Trainer::new(model, &config, 2).unwrap();
        (0..2)
            .map(|step| {
                device.seed(100 + step);
                trainer.step(vec![batch.clone()]).unwrap().loss
            })
            .collect()
    };
    let own_draws = mixtune::model::dropout::own_draws();
    let dropped = first_losses(0.1);
    // The sites took their masks from one draw per stack: none was left to draw its own.
    assert_eq!(mixtune::model::dropout::own_draws(), own_draws);
    assert_eq!(dropped, first_losses(0.1), "same seeds, same masks");
    let plain = first_losses(0.0);
    assert!(dropped.iter().all(|l| l.is_finite()), "{dropped:?}");
    assert_ne!(dropped[0], plain[0], "dropout changed nothing");
    // Without dropout the reseeding draws nothing: the weights alone decide the loss.
    assert!((plain[0] - first_losses(0.0)[0]).abs() == 0.0);
}
