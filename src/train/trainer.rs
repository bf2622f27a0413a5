//! The optimizer loop: gradient accumulation, global-norm clipping, AdamW and the schedule.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{
    AdafactorConfig, AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer,
};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::batch::TrainBatch;
use super::config::{OptimizerKind, TrainConfig};
use super::schedule::LrSchedule;
use crate::error::{MixtuneError, Result};
use crate::model::T5ForConditionalGeneration;

/// What one optimizer step did, handed to the step callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct StepMetrics {
    /// Optimizer steps done, this one included (1 for the first).
    pub step: usize,
    /// Mean loss over this step's micro-batches.
    pub loss: f64,
    /// Learning rate this step's update used (`schedule.lr_at(step - 1)`).
    pub learning_rate: f64,
    /// Global L2 norm of the accumulated gradients, before clipping.
    pub grad_norm: f64,
    /// Source plus target tokens (without padding) per second of this step.
    pub tokens_per_s: f64,
    /// Examples of each task seen so far in the run (this step included).
    pub examples_per_task: BTreeMap<String, usize>,
    /// Passes over the mixture's training examples so far (fractional).
    #[serde(default)]
    pub epoch: f64,
    /// Seconds of training so far in this process (pauses excluded).
    #[serde(default)]
    pub elapsed_s: f64,
    /// Estimated seconds to `max_steps` at the recent step rate.
    #[serde(default)]
    pub eta_s: Option<f64>,
}

/// Sum of squared gradients over every parameter, kept on the device.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let squared = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + squared,
                None => squared,
            });
        }
    }
}

/// Multiplies every gradient by `factor`.
struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads
                .register::<D>(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// Global L2 norm of `grads` over `model`'s parameters.
pub fn global_grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    let mut visitor = SquaredNorm { grads, total: None };
    model.visit(&mut visitor);
    visitor
        .total
        .map_or(0.0, |t| (t.into_scalar::<f32>() as f64).sqrt())
}

/// Scales `grads` so that their global norm is at most `max_norm`, as PyTorch's
/// `clip_grad_norm_` (factor `max_norm / (norm + 1e-6)`, applied only when below 1).
/// Burn's `GradientClippingConfig::Norm` clips each tensor by its own norm, not the global
/// norm, so it is not used. Returns the norm before clipping.
pub fn clip_grad_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = global_grad_norm(model, grads);
    if max_norm > 0.0 {
        let factor = max_norm / (norm + 1e-6);
        if factor < 1.0 {
            model.visit(&mut ScaleGrads { grads, factor });
        }
    }
    norm
}

/// The optimizer the config asks for, with its settings.
pub fn build_optimizer(config: &TrainConfig) -> ModuleOptimizer {
    match config.optimizer {
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(config.adam_beta1 as f32)
            .with_beta_2(config.adam_beta2 as f32)
            .with_epsilon(config.adam_epsilon as f32)
            .with_weight_decay(config.weight_decay as f32)
            .init(),
        OptimizerKind::Adafactor => AdafactorConfig::new()
            .with_relative_step(config.adafactor_relative_step)
            .with_scale_parameter(config.adafactor_scale_parameter)
            .init(),
    }
}

/// The model under training with its optimizer, schedule and counters. One call of
/// [`Trainer::step`] is one optimizer step over `grad_accumulation` micro-batches.
pub struct Trainer {
    model: Option<T5ForConditionalGeneration>,
    optimizer: ModuleOptimizer,
    schedule: LrSchedule,
    config: TrainConfig,
    /// Optimizer steps done.
    pub step: usize,
    /// Examples of each task seen so far.
    pub examples_seen: BTreeMap<String, usize>,
}

impl Trainer {
    /// A trainer for `model` (on an autodiff device) over `total_steps` steps.
    pub fn new(
        model: T5ForConditionalGeneration,
        config: &TrainConfig,
        total_steps: usize,
    ) -> Result<Self> {
        config
            .validate()
            .map_err(|message| MixtuneError::Input(format!("train config: {message}")))?;
        if !model.device().is_autodiff() {
            return Err(MixtuneError::Device(
                "training needs an autodiff device (`Device::autodiff()`)".into(),
            ));
        }
        Ok(Self {
            model: Some(model),
            optimizer: build_optimizer(config),
            schedule: config.lr_schedule(total_steps),
            config: config.clone(),
            step: 0,
            examples_seen: BTreeMap::new(),
        })
    }

    /// The model as trained so far.
    pub fn model(&self) -> &T5ForConditionalGeneration {
        self.model
            .as_ref()
            .expect("the model is only taken during a step")
    }

    /// Takes the trained model out.
    pub fn into_model(mut self) -> T5ForConditionalGeneration {
        self.model
            .take()
            .expect("the model is only taken during a step")
    }

    /// The optimizer (for checkpoints).
    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optimizer
    }

    /// Replaces the optimizer state (from a checkpoint).
    pub fn set_optimizer(&mut self, optimizer: ModuleOptimizer) {
        self.optimizer = optimizer;
    }

    /// A fresh optimizer of this run's kind, to load a checkpoint's state into.
    pub fn new_optimizer(&self) -> ModuleOptimizer {
        build_optimizer(&self.config)
    }

    /// One optimizer step over `micro_batches` (each loss divided by their count): sums the
    /// gradients, clips them to the global norm `max_grad_norm`, updates with the schedule's
    /// rate. `elapsed_s`, `epoch` and `eta_s` of the result are left for the caller.
    pub fn step(&mut self, micro_batches: Vec<TrainBatch>) -> Result<StepMetrics> {
        let started = Instant::now();
        let count = micro_batches.len();
        if count == 0 {
            return Err(MixtuneError::Input(
                "a step needs at least one batch".into(),
            ));
        }
        let model = self
            .model
            .take()
            .expect("the model is only taken during a step");
        let mut accumulator = GradientsAccumulator::<T5ForConditionalGeneration>::new();
        let mut loss_sum = 0.0f64;
        let mut tokens = 0usize;
        for batch in micro_batches {
            tokens += batch.source_tokens + batch.target_tokens;
            for task in &batch.tasks {
                *self.examples_seen.entry(task.clone()).or_insert(0) += 1;
            }
            let loss = model.loss(batch.input_ids, batch.attention_mask, &batch.labels);
            let loss = loss / count as f64;
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                self.model = Some(model);
                return Err(MixtuneError::Input(format!(
                    "non-finite loss at step {}",
                    self.step + 1
                )));
            }
            loss_sum += value;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            accumulator.accumulate(&model, grads);
        }
        let mut grads = accumulator.grads();
        let grad_norm = clip_grad_norm(&model, &mut grads, self.config.max_grad_norm);
        let learning_rate = self.schedule.lr_at(self.step);
        self.model = Some(self.optimizer.step(learning_rate, model, grads));
        self.step += 1;
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        Ok(StepMetrics {
            step: self.step,
            loss: loss_sum,
            learning_rate,
            grad_norm,
            tokens_per_s: tokens as f64 / seconds,
            examples_per_task: self.examples_seen.clone(),
            epoch: 0.0,
            elapsed_s: 0.0,
            eta_s: None,
        })
    }
}

/// Runs `config.max_steps` optimizer steps (fewer if `batches` ends; a partial
/// accumulation at the end is dropped) on `model`, which must live on an autodiff device,
/// as the batches must. `on_step` gets every step's metrics; the trained model is returned.
///
/// The loop draws no random numbers (the model applies no dropout), so it does not seed
/// the device: the caller seeds it with `config.seed` before drawing weights or samples.
pub fn train_steps(
    model: T5ForConditionalGeneration,
    batches: impl Iterator<Item = Result<TrainBatch>>,
    config: &TrainConfig,
    on_step: &mut dyn FnMut(&StepMetrics),
) -> Result<T5ForConditionalGeneration> {
    let mut trainer = Trainer::new(model, config, config.max_steps)?;
    let mut batches = batches;
    let started = Instant::now();
    while trainer.step < config.max_steps {
        let micro: Vec<TrainBatch> = (&mut batches)
            .take(config.grad_accumulation)
            .collect::<Result<_>>()?;
        if micro.len() < config.grad_accumulation {
            break;
        }
        let mut metrics = trainer.step(micro)?;
        metrics.elapsed_s = started.elapsed().as_secs_f64();
        on_step(&metrics);
    }
    Ok(trainer.into_model())
}
