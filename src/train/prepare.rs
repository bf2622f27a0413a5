//! Compiling and tuning a run's GPU kernels ahead of it (`mixtune prepare-gpu`): one training
//! step of a random model with the run's dims on each length bucket the run can pad to.
//!
//! A run's first step on a new batch shape compiles the kernels it needs, tunes the matmuls
//! and has the driver build pipelines: over a minute on a fresh machine (80 s measured on an
//! H200 for Flan-T5 small). Weights play no part in that work, only the model's dims, the
//! batch shape, the precision and the adapters, so a random model on the same shapes does it
//! all. What it leaves behind is what the next process finds: CubeCL's autotune results
//! (`gpu-cache` builds, in [`crate::device::kernel_cache_dir`]), the driver's own pipeline
//! cache where it keeps one (NVIDIA's does), and each shape in the record of prepared shapes
//! ([`ShapeRecord`]), so the run says "loading" rather than "preparing".

use std::time::Instant;

use burn::tensor::Device;

use crate::device::kernel_shapes::{model_dims, training_variant, ShapeKey, ShapeRecord};
use crate::error::{MixtuneError, Result};
use crate::model::{Precision, T5Config, T5ForConditionalGeneration};
use crate::train::batch::{length_bucket, padded_batch};
use crate::train::config::{LoraSettings, Method};
use crate::train::{lora, TrainBatch, TrainConfig, Trainer};

/// f16 steps tried per shape until one applies its update (a skipped step, its gradients
/// overflowed at the starting loss scale, would leave the optimizer's kernels uncompiled).
const F16_TRIES: usize = 8;

/// What to prepare: the model's dims, how the run trains it, and the shapes it pads to.
#[derive(Debug, Clone)]
pub struct PreparePlan {
    /// The model's config (only its dims matter; the weights are random).
    pub model: T5Config,
    pub precision: Precision,
    /// The run's LoRA adapters (`None`: full fine-tuning).
    pub lora: Option<LoraSettings>,
    /// Examples per micro-batch.
    pub batch: usize,
    /// `[source_len, target_len]` of each step, from [`bucket_pairs`].
    pub lengths: Vec<[usize; 2]>,
}

impl PreparePlan {
    /// The plan for a run config's batches: every length bucket up to the mixture's limits.
    pub fn for_run(
        model: T5Config,
        config: &TrainConfig,
        max_source_tokens: usize,
        max_target_tokens: usize,
    ) -> Self {
        Self {
            model,
            precision: config.precision,
            lora: (config.method == Method::Lora).then(|| config.lora.clone()),
            batch: config.batch_size,
            lengths: bucket_pairs(max_source_tokens, max_target_tokens),
        }
    }

    /// The record key of one of this plan's shapes on `device`.
    pub fn key(&self, device: &Device, [source, target]: [usize; 2]) -> ShapeKey {
        let lora = self.lora.as_ref().map(|settings| settings.rank);
        ShapeKey::new(
            device,
            &model_dims(&self.model),
            &training_variant(self.precision, lora),
            [self.batch, source, target],
        )
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

/// How one shape went.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeOutcome {
    /// Stepped on: its kernels were compiled and tuned (or loaded from caches) in `seconds`.
    Prepared { seconds: f64, steps: usize },
    /// An earlier run or preparation on this machine recorded it; not stepped on again.
    AlreadyPrepared,
}

/// Progress of [`prepare`], for a progress line.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareProgress {
    /// Shape `index` (0-based) of `total` is about to run.
    Starting {
        index: usize,
        total: usize,
        shape: [usize; 3],
    },
    /// A shape is done.
    Done {
        shape: [usize; 3],
        outcome: ShapeOutcome,
    },
}

/// Runs the plan on `device` (an autodiff device is made of it): a training step per shape not
/// yet in `record` (every shape with `force`), each recorded once its step succeeded, so a
/// preparation stopped midway keeps what it finished. Returns each shape's outcome.
pub fn prepare(
    plan: &PreparePlan,
    device: &Device,
    record: &mut ShapeRecord,
    force: bool,
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
    let device = device.clone().autodiff();
    let mut trainer: Option<Trainer> = None;
    let mut outcomes = Vec::with_capacity(plan.lengths.len());
    for (index, &lengths) in plan.lengths.iter().enumerate() {
        let shape = [plan.batch, lengths[0], lengths[1]];
        let key = plan.key(&device, lengths);
        progress(PrepareProgress::Starting {
            index,
            total: plan.lengths.len(),
            shape,
        });
        let outcome = if record.knows(&key) && !force {
            ShapeOutcome::AlreadyPrepared
        } else {
            // One trainer for all the shapes, made when the first one needs it.
            let mut current = match trainer.take() {
                Some(current) => current,
                None => new_trainer(plan, &device)?,
            };
            let started = Instant::now();
            let steps = step_until_applied(&mut current, plan, lengths, &device)?;
            trainer = Some(current);
            record.remember(&key);
            ShapeOutcome::Prepared {
                seconds: started.elapsed().as_secs_f64(),
                steps,
            }
        };
        progress(PrepareProgress::Done {
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

/// A batch of `plan.batch` examples exactly `lengths` long, of arbitrary token ids (each
/// ending in `</s>`, no padding): only its shape matters.
fn random_batch(
    plan: &PreparePlan,
    [source, target]: [usize; 2],
    device: &Device,
) -> Result<TrainBatch> {
    let vocab = plan.model.vocab_size.clamp(4, 32000) as u32;
    let ids = |len: usize, salt: usize| -> Vec<u32> {
        (0..len)
            .map(|i| match i + 1 == len {
                true => 1,
                false => 3 + ((i * 7919 + salt * 104_729) as u32 % (vocab - 3)),
            })
            .collect()
    };
    let sources: Vec<Vec<u32>> = (0..plan.batch).map(|b| ids(source, b)).collect();
    let targets: Vec<Vec<u32>> = (0..plan.batch)
        .map(|b| ids(target, b + plan.batch))
        .collect();
    let tasks = vec!["prepare".to_string(); plan.batch];
    padded_batch(&sources, &targets, tasks, [source, target], device)
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
}
