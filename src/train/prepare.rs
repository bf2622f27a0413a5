//! Compiling and tuning a run's GPU kernels ahead of it (`mixtune prepare-gpu`): one training
//! step of a random model with the run's dims on each length bucket the run can pad to, and a
//! short generation per prompt-length class (a run's validation, the app's summaries).
//!
//! A run's first step on a new batch shape compiles the kernels it needs, tunes the matmuls
//! and has the driver build pipelines: over a minute on a fresh machine (80 s measured on an
//! H200 for Flan-T5 small). Weights play no part in that work, only the model's dims, the
//! batch shape, the precision and the adapters, so a random model on the same shapes does it
//! all. What it leaves behind is what the next process finds: CubeCL's autotune results
//! (`gpu-cache` builds, in [`crate::device::kernel_cache_dir`]), the driver's own pipeline
//! cache where it keeps one (NVIDIA's does), and each step in the record of prepared shapes
//! ([`ShapeRecord`]), so the run says "loading" rather than "preparing".

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::Device;
use serde::Serialize;

use crate::device::kernel_shapes::{model_dims, ShapeKey, ShapeRecord};
use crate::error::{MixtuneError, Result};
use crate::generate::{generate, Decoding, GenerationConfig};
use crate::model::loader::{local_model_dir, resolve_model_dir};
use crate::model::{
    to_precision, GenerationDefaults, Precision, T5Config, T5ForConditionalGeneration,
};
use crate::train::batch::{length_bucket, padded_batch};
use crate::train::config::{LoraSettings, Method};
use crate::train::{lora, RunPaths, TrainBatch, TrainConfig, Trainer};

/// f16 steps tried per shape until one applies its update (a skipped step, its gradients
/// overflowed at the starting loss scale, would leave the optimizer's kernels uncompiled).
const F16_TRIES: usize = 8;

/// Tokens each preparing generation makes: its first decoder step compiles the step's kernels
/// (the cache they write into is sized at run time), a few more let them run as a loop.
const GENERATE_TOKENS: usize = 4;

/// What a step of the preparation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// A training step on `[batch, source_len, target_len]`.
    Train,
    /// A greedy generation on `[batch, prompt_len, new_tokens]`.
    Generate,
}

/// What to prepare: the model's dims, how the run trains it, and the shapes it meets.
#[derive(Debug, Clone)]
pub struct PreparePlan {
    /// The model's config (only its dims matter; the weights are random).
    pub model: T5Config,
    pub precision: Precision,
    /// The run's LoRA adapters (`None`: full fine-tuning).
    pub lora: Option<LoraSettings>,
    /// T5's dropout while training (`dropout_rate`; 0: none).
    pub dropout_rate: f64,
    /// Examples per micro-batch.
    pub batch: usize,
    /// `[source_len, target_len]` of each training step, from [`bucket_pairs`].
    pub lengths: Vec<[usize; 2]>,
    /// `[batch, prompt_len]` of each generation, from [`generation_shapes`] (empty: none).
    pub generations: Vec<[usize; 2]>,
}

impl PreparePlan {
    /// The plan for a run config: every length bucket up to the mixture's limits, and the
    /// generations of its validation and of summaries in the app.
    pub fn for_run(
        model: T5Config,
        config: &TrainConfig,
        max_source_tokens: usize,
        max_target_tokens: usize,
    ) -> Self {
        Self {
            model,
            precision: config.precision,
            lora: config.lora_settings().cloned(),
            dropout_rate: config.dropout_rate,
            batch: config.batch_size,
            lengths: bucket_pairs(max_source_tokens, max_target_tokens),
            generations: generation_shapes(config.batch_size, max_source_tokens),
        }
    }

    /// The plan of a run config ([`Self::for_run`] with its model's `config.json` and its
    /// mixture's length limits), its paths resolved ([`RunPaths::resolve`]). `download`: fetch
    /// a hub model that is not on this machine (else that is an error).
    pub fn for_run_config(config: &TrainConfig, paths: &RunPaths, download: bool) -> Result<Self> {
        let mixture = crate::mixture::config::load(&paths.mixture)?;
        let settings = &mixture.config.mixture;
        let dir = match download {
            true => resolve_model_dir(&paths.model, true)?,
            false => local_model_dir(&paths.model)?,
        };
        let model = T5Config::from_file(&dir.join("config.json"))?;
        Ok(Self::for_run(
            model,
            config,
            settings.max_source_tokens,
            settings.max_target_tokens,
        ))
    }

    /// Every step of the plan, its training steps first: `(work, [batch, source or prompt
    /// length, target length or new tokens])`.
    pub fn steps(&self) -> Vec<(Work, [usize; 3])> {
        let train = (self.lengths.iter()).map(|&[s, t]| (Work::Train, [self.batch, s, t]));
        let generate = (self.generations.iter())
            .map(|&[batch, len]| (Work::Generate, [batch, len, GENERATE_TOKENS]));
        train.chain(generate).collect()
    }

    /// How many of the plan's steps `record` holds for `device` (what [`prepare`] would skip).
    pub fn prepared_steps(&self, device: &Device, record: &ShapeRecord) -> usize {
        let training = device.clone().autodiff();
        (self.steps().into_iter())
            .filter(|&(work, shape)| record.knows(&self.key(&training, work, shape)))
            .count()
    }

    /// The record key of one of this plan's steps on `device` (a training step's is the key
    /// the run looks up).
    pub fn key(&self, device: &Device, work: Work, shape: [usize; 3]) -> ShapeKey {
        match work {
            Work::Train => {
                let lora = self.lora.as_ref().map(|lora| lora.rank);
                let dropout = self.dropout_rate > 0.0;
                ShapeKey::training(device, &self.model, self.precision, lora, dropout, shape)
            }
            Work::Generate => {
                // `v2`: since the attention's projections are packed at load (12-07), a
                // generation multiplies by products of other widths; a step recorded before
                // prepared the old ones, so it is prepared again.
                let variant = format!("{}-generate-v2", self.precision.name());
                ShapeKey::new(device, &model_dims(&self.model), &variant, shape)
            }
        }
    }
}

/// Every length a batch can be padded to ([`length_bucket`]) up to `max`, longest first.
pub fn buckets(max: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (1..=max.max(1))
        .map(|len| length_bucket(len, max))
        .collect();
    all.dedup();
    all.reverse();
    all
}

/// One `[source, target]` per step that, together, put every source bucket and every target
/// bucket through a step, longest first (the step most likely not to fit in memory says so
/// before any time goes to the others): the i-th longest source with the i-th longest target,
/// the shortest one repeated once a side runs out. Most tuned kernels depend on one side's
/// length only (the encoder's on the source, the decoder's and the head's on the target), so
/// this covers them in max(sources, targets) steps where every pair would take their product;
/// a pair first met in a run tunes what depends on both (seconds, once).
pub fn bucket_pairs(max_source: usize, max_target: usize) -> Vec<[usize; 2]> {
    let (sources, targets) = (buckets(max_source), buckets(max_target));
    let at = |side: &[usize], i: usize| side[i.min(side.len() - 1)];
    (0..sources.len().max(targets.len()))
        .map(|i| [at(&sources, i), at(&targets, i)])
        .collect()
}

/// `[batch, prompt_len]` of the generations that prepare a model's inference: batch 1 (a chat
/// summarised in the app or by `summarize`) and `batch` (a run's validation, in batches of
/// its `batch_size`), each at every power of two from 16 below `max_source` and at
/// `max_source`, longest first. Prompts are not padded to buckets; Burn's tuning keys round
/// sizes to powers of two, so these stand for the lengths in between.
pub fn generation_shapes(batch: usize, max_source: usize) -> Vec<[usize; 2]> {
    let mut lengths: Vec<usize> = std::iter::successors(Some(16), |len| Some(len * 2))
        .take_while(|&len| len < max_source)
        .collect();
    lengths.push(max_source.max(1));
    lengths.reverse();
    let mut batches = vec![1, batch.max(1)];
    batches.dedup();
    (batches.iter())
        .flat_map(|&b| lengths.iter().map(move |&len| [b, len]))
        .collect()
}

/// How one step went.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShapeOutcome {
    /// Run: its kernels were compiled and tuned (or loaded from caches) in `seconds`, over
    /// `steps` training steps (f16 may take more than one) or one generation.
    Prepared { seconds: f64, steps: usize },
    /// An earlier run or preparation on this machine recorded it; not run again.
    AlreadyPrepared,
}

/// Progress of [`prepare`], for a progress line (and the app, tagged by `kind` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrepareProgress {
    /// Step `index` (0-based) of `total` is about to run.
    Starting {
        index: usize,
        total: usize,
        work: Work,
        shape: [usize; 3],
    },
    /// A step is done.
    Done {
        work: Work,
        shape: [usize; 3],
        outcome: ShapeOutcome,
    },
}

/// Runs the plan's steps on `device` (the training steps on an autodiff device made of it):
/// each one not yet in `record` (every one with `force`), recorded once it succeeded, so a
/// preparation stopped midway keeps what it finished. `cancel` is looked at before each step
/// (a step itself runs to its end): once set, the call stops with [`MixtuneError::Cancelled`].
/// Returns each step's outcome.
pub fn prepare(
    plan: &PreparePlan,
    device: &Device,
    record: &mut ShapeRecord,
    force: bool,
    cancel: &AtomicBool,
    mut progress: impl FnMut(PrepareProgress),
) -> Result<Vec<(ShapeKey, ShapeOutcome)>> {
    if plan.batch == 0 {
        return Err(MixtuneError::Input("batch size must be at least 1".into()));
    }
    if plan.precision == Precision::Int8 {
        return Err(MixtuneError::Input(
            "precision int8: training runs in f32 or f16 (int8 is for inference on the CPU)".into(),
        ));
    }
    let training = device.clone().autodiff();
    // One trainer and one inference model for all the steps, made when a step needs them.
    let mut trainer: Option<Trainer> = None;
    let mut inference: Option<T5ForConditionalGeneration> = None;
    let steps = plan.steps();
    let mut outcomes = Vec::with_capacity(steps.len());
    for (index, &(work, shape)) in steps.iter().enumerate() {
        if cancel.load(Ordering::SeqCst) {
            return Err(MixtuneError::Cancelled(format!(
                "GPU kernel preparation stopped after {index} of {} steps (the finished ones \
                 are kept)",
                steps.len()
            )));
        }
        let key = plan.key(&training, work, shape);
        progress(PrepareProgress::Starting {
            index,
            total: steps.len(),
            work,
            shape,
        });
        let outcome = if record.knows(&key) && !force {
            ShapeOutcome::AlreadyPrepared
        } else {
            let started = Instant::now();
            let steps = match work {
                Work::Train => {
                    let mut current = match trainer.take() {
                        Some(current) => current,
                        None => new_trainer(plan, &training)?,
                    };
                    let lengths = [shape[1], shape[2]];
                    let steps = step_until_applied(&mut current, plan, lengths, &training)
                        .and_then(|steps| validation_pass(&current, plan, lengths).map(|_| steps));
                    trainer = Some(current);
                    steps?
                }
                Work::Generate => {
                    let model = inference.get_or_insert_with(|| {
                        let random = T5ForConditionalGeneration::random(&plan.model, device);
                        to_precision(random, plan.precision)
                    });
                    generate_once(model, plan, [shape[0], shape[1]], device)?;
                    1
                }
            };
            record.remember(&key);
            ShapeOutcome::Prepared {
                seconds: started.elapsed().as_secs_f64(),
                steps,
            }
        };
        progress(PrepareProgress::Done {
            work,
            shape,
            outcome: outcome.clone(),
        });
        outcomes.push((key, outcome));
    }
    Ok(outcomes)
}

/// A trainer for a random model of the plan's dims, with the plan's adapters and precision.
fn new_trainer(plan: &PreparePlan, device: &Device) -> Result<Trainer> {
    let mut model = T5ForConditionalGeneration::random(&plan.model, device);
    let mut config = TrainConfig::new("random", "none", usize::MAX / 2);
    config.batch_size = plan.batch;
    config.precision = plan.precision;
    config.dropout_rate = plan.dropout_rate;
    // A tiny rate: the weights are thrown away, the update only has to run.
    config.learning_rate = 1e-6;
    if let Some(settings) = &plan.lora {
        config.method = Method::Lora;
        config.lora = settings.clone();
        model = lora::apply(model, settings)?;
    }
    Trainer::new(model, &config, config.max_steps)
}

/// Steps on a random batch of `lengths` until a step applies its update (f32: the first; f16:
/// the first whose gradients did not overflow, at most [`F16_TRIES`]), so the optimizer's
/// kernels are compiled too; syncs at the end. Returns the steps taken.
fn step_until_applied(
    trainer: &mut Trainer,
    plan: &PreparePlan,
    lengths: [usize; 2],
    device: &Device,
) -> Result<usize> {
    for tries in 1..=F16_TRIES {
        let metrics = trainer.step(vec![random_batch(plan, lengths, device)?])?;
        let skipped = metrics.loss_scale.as_ref().is_some_and(|s| s.skipped);
        if !skipped {
            let _ = device.sync();
            return Ok(tries);
        }
    }
    let _ = device.sync();
    Ok(F16_TRIES)
}

/// The run's validation pass on a batch of `lengths` (validation pads its batches to the
/// run's, `Validator::pad_to_batch`): the loss and a short generation of the trained model
/// without autodiff, whose kernels are not the training step's (no saved activations, the
/// inference attention) nor, in f16, those of a model cast to f16 (the trained model keeps
/// f32 weights and casts them where they are used).
fn validation_pass(trainer: &Trainer, plan: &PreparePlan, lengths: [usize; 2]) -> Result<()> {
    use burn::module::Module;
    let model = trainer.model().valid();
    let device = model.device();
    let batch = random_batch(plan, lengths, &device)?;
    let loss = model.loss(batch.input_ids, batch.attention_mask, &batch.labels);
    // Read back, as validation does, so the pass has run when the step is timed.
    let _ = loss.into_scalar::<f32>();
    generate_once(&model, plan, [plan.batch, lengths[0]], &device)
}

/// A batch of `plan.batch` examples exactly `lengths` long, of arbitrary token ids (each
/// ending in `</s>`, no padding): only its shape matters.
fn random_batch(
    plan: &PreparePlan,
    [source, target]: [usize; 2],
    device: &Device,
) -> Result<TrainBatch> {
    let sources: Vec<Vec<u32>> = (0..plan.batch)
        .map(|b| token_ids(plan, source, b))
        .collect();
    let targets: Vec<Vec<u32>> = (0..plan.batch)
        .map(|b| token_ids(plan, target, b + plan.batch))
        .collect();
    let tasks = vec!["prepare".to_string(); plan.batch];
    padded_batch(&sources, &targets, tasks, [source, target], device)
}

/// A greedy generation of [`GENERATE_TOKENS`] tokens for `batch` prompts `len` tokens long,
/// synced at its end.
fn generate_once(
    model: &T5ForConditionalGeneration,
    plan: &PreparePlan,
    [batch, len]: [usize; 2],
    device: &Device,
) -> Result<()> {
    let config = GenerationConfig {
        max_source_tokens: len,
        max_new_tokens: GENERATE_TOKENS,
        min_new_tokens: GENERATE_TOKENS,
        ..GenerationConfig::default()
    };
    let defaults = GenerationDefaults::from_config(&plan.model);
    let decoding = Decoding {
        config: &config,
        defaults: &defaults,
        vocab_limit: plan.model.vocab_size.min(32100),
    };
    let prompts: Vec<Vec<u32>> = (0..batch).map(|b| token_ids(plan, len, b)).collect();
    generate(model, &prompts, decoding)?;
    let _ = device.sync();
    Ok(())
}

/// `len` arbitrary ordinary token ids (varied by `salt`), the last one `</s>`.
fn token_ids(plan: &PreparePlan, len: usize, salt: usize) -> Vec<u32> {
    let vocab = plan.model.vocab_size.clamp(4, 32000) as u32;
    (0..len)
        .map(|i| match i + 1 == len {
            true => 1,
            false => 3 + ((i * 7919 + salt * 104_729) as u32 % (vocab - 3)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_every_padded_length_longest_first() {
        assert_eq!(buckets(128), vec![128, 96, 64, 48, 32, 16]);
        assert_eq!(
            buckets(512),
            vec![512, 384, 256, 192, 128, 96, 64, 48, 32, 16]
        );
        // A limit between buckets is a bucket of its own (a batch at the limit).
        assert_eq!(buckets(100), vec![100, 96, 64, 48, 32, 16]);
        assert_eq!(buckets(1), vec![1]);
    }

    #[test]
    fn pairs_cover_every_bucket_of_each_side() {
        let pairs = bucket_pairs(512, 128);
        assert_eq!(pairs.len(), 10);
        assert_eq!(pairs[0], [512, 128]);
        assert_eq!(pairs[9], [16, 16]);
        for source in buckets(512) {
            assert!(pairs.iter().any(|p| p[0] == source), "source {source}");
        }
        for target in buckets(128) {
            assert!(pairs.iter().any(|p| p[1] == target), "target {target}");
        }
        // More target buckets than source ones: the sources' shortest repeats.
        assert_eq!(
            bucket_pairs(32, 64),
            vec![[32, 64], [16, 48], [16, 32], [16, 16]]
        );
    }

    #[test]
    fn generations_cover_each_power_of_two_at_batch_one_and_the_runs_batch() {
        let shapes = generation_shapes(8, 512);
        assert_eq!(shapes.len(), 12);
        assert_eq!(
            &shapes[..6],
            &[[1, 512], [1, 256], [1, 128], [1, 64], [1, 32], [1, 16]]
        );
        assert_eq!(shapes[6], [8, 512]);
        assert_eq!(shapes[11], [8, 16]);
        assert_eq!(
            generation_shapes(1, 100),
            vec![[1, 100], [1, 64], [1, 32], [1, 16]]
        );
        assert_eq!(generation_shapes(2, 16), vec![[1, 16], [2, 16]]);
    }
}
