//! One optimizer step: gradient accumulation, global-norm clipping, AdamW or Adafactor and
//! the schedule. The run loop (`run.rs`) and `mixtune bench train` both step through it.

use std::collections::BTreeMap;
use std::time::Instant;

use super::batch::TrainBatch;
use super::config::{OptimizerKind, TrainConfig};
use super::events::StepMetrics;
use super::grad_scale::ScaledOptimizer;
use super::loss_scale::{LossScaler, ScaleDecision};
use super::schedule::LrSchedule;
use super::working_copy::{widen, Refresh, WorkingCopies};
use crate::device::live_memory;
use crate::device::profile::{self, Phase};
use crate::error::{MixtuneError, Result};
use crate::kernels;
use crate::model::{Precision, T5ForConditionalGeneration};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{
    AdafactorConfig, AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer,
};
use burn::tensor::{Device, Tensor, Transaction};

/// Every parameter's gradient as a matrix ([`kernels::as_rows`]: no copy, even of a column
/// block of a wider gradient), for [`kernels::sum_of_squares`].
struct FlatGrads<'a> {
    grads: &'a GradientsParams,
    flat: Vec<Tensor<2>>,
}

impl ModuleVisitor for FlatGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.flat.push(kernels::as_rows(grad));
        }
    }
}

/// Sum of the squared gradients of `model`'s parameters, on the device (`[1]`): infinite or
/// NaN when any gradient is (how loss scaling detects an f16 overflow).
pub fn squared_grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> Tensor<1> {
    let mut visitor = FlatGrads {
        grads,
        flat: Vec::new(),
    };
    model.visit(&mut visitor);
    // One dispatch per seven gradients on a WGSL device; 4-5 launches per gradient elsewhere.
    kernels::sum_of_squares(visitor.flat).unwrap_or_else(|| {
        let device = model
            .devices()
            .first()
            .cloned()
            .unwrap_or_else(Device::flex);
        // Gradients live on the inner (non-autodiff) device.
        Tensor::zeros([1], &device.inner())
    })
}

/// Global L2 norm of `grads` over `model`'s parameters.
pub fn global_grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    (squared_grad_norm(model, grads).into_scalar::<f32>() as f64).sqrt()
}

/// Whether a backend failure reads as device memory running out (CubeCL reports "can't
/// allocate buffer of size", wgpu "out of memory"; a buffer past the 2 GiB binding limit
/// is "too big").
fn is_out_of_memory(message: &str) -> bool {
    let message = message.to_lowercase();
    [
        "allocate",
        "out of memory",
        "outofmemory",
        "too big",
        "buffertoobig",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// The optimizer the config asks for, with its settings (no clipping of its own: the
/// trainer clips to the global norm through the gradient factor of [`ScaledOptimizer`]).
pub fn build_optimizer(config: &TrainConfig) -> ScaledOptimizer {
    match config.optimizer {
        OptimizerKind::Adamw => ScaledOptimizer::new(
            AdamWConfig::new()
                .with_beta_1(config.adam_beta1 as f32)
                .with_beta_2(config.adam_beta2 as f32)
                .with_epsilon(config.adam_epsilon as f32)
                .with_weight_decay(config.weight_decay as f32)
                .build(),
        ),
        OptimizerKind::Adafactor => ScaledOptimizer::new(
            AdafactorConfig::new()
                .with_relative_step(config.adafactor_relative_step)
                .with_scale_parameter(config.adafactor_scale_parameter)
                .build(),
        ),
    }
}

/// The model under training with its optimizer, schedule and counters. One call of
/// [`Trainer::step`] is one optimizer step over `grad_accumulation` micro-batches.
pub struct Trainer {
    model: Option<T5ForConditionalGeneration>,
    optimizer: ScaledOptimizer,
    schedule: LrSchedule,
    config: TrainConfig,
    /// Optimizer steps done.
    pub step: usize,
    /// Examples of each task seen so far.
    pub examples_seen: BTreeMap<String, usize>,
    /// The `[batch, source_len, target_len]` shapes stepped on in this process: each new one
    /// compiles (and with autotune, tunes) kernels on a GPU.
    shapes: std::collections::BTreeSet<[usize; 3]>,
    /// f16 runs: the dynamic loss scale (`None` in f32).
    loss_scaler: Option<LossScaler>,
    /// f16 runs: whether the forward pass reads f16 working copies of the weights
    /// (`working_copy`; `MIXTUNE_F16_WORKING_COPIES=0` casts at use instead).
    working_copies: bool,
    /// The working copies' bookkeeping and the working model (made at the first step).
    working: Option<Working>,
}

/// f16 training's working model beside the masters (see `working_copy`).
struct Working {
    copies: WorkingCopies,
    /// `None` until the first step, and while a step runs.
    model: Option<T5ForConditionalGeneration>,
}

impl Trainer {
    /// A trainer for `model` (on an autodiff device) over `total_steps` steps. With
    /// `precision = "f16"` the model computes in f16 over its f32 master weights, with dynamic
    /// loss scaling (see `loss_scale.rs`).
    pub fn new(
        mut model: T5ForConditionalGeneration,
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
        model.compute_dtype = config.precision.dtype();
        model.set_dropout(config.dropout_rate);
        let f16 = config.precision == Precision::F16;
        let loss_scaler = f16.then(LossScaler::default);
        let working_copies = f16
            && !std::env::var("MIXTUNE_F16_WORKING_COPIES")
                .is_ok_and(|v| matches!(v.trim(), "0" | "off" | "false"));
        Ok(Self {
            model: Some(model),
            optimizer: build_optimizer(config),
            schedule: config.lr_schedule(total_steps),
            config: config.clone(),
            step: 0,
            examples_seen: BTreeMap::new(),
            shapes: Default::default(),
            loss_scaler,
            working_copies,
            working: None,
        })
    }

    /// f16 runs: with `false`, the forward pass casts each f32 master weight where it is used
    /// instead of reading f16 working copies (the same numerics, bit for bit; more launches:
    /// see `working_copy`). For A/B comparisons and tests.
    pub fn with_working_copies(mut self, on: bool) -> Self {
        self.working_copies = on && self.loss_scaler.is_some();
        self.working = None;
        self
    }

    /// The f16 working model the next step's forward pass reads (`None` in f32, with
    /// working copies off, or before the first step).
    pub fn working_model(&self) -> Option<&T5ForConditionalGeneration> {
        self.working.as_ref().and_then(|w| w.model.as_ref())
    }

    /// Where the working model's copies came from at the last step (`None` without one).
    pub fn working_refresh(&self) -> Option<Refresh> {
        self.working.as_ref().map(|w| w.copies.last_refresh())
    }

    /// Whether a `[batch, source_len, target_len]` step would be the first on that shape in
    /// this process (on a GPU: its kernels get compiled first).
    pub fn is_new_shape(&self, shape: [usize; 3]) -> bool {
        !self.shapes.contains(&shape)
    }

    /// f16 runs: the loss scale and its counters (for checkpoints).
    pub fn loss_scaler(&self) -> Option<&LossScaler> {
        self.loss_scaler.as_ref()
    }

    /// Continues with a saved loss scale (f16 runs; ignored in f32).
    pub fn with_loss_scaler(mut self, scaler: Option<LossScaler>) -> Self {
        if self.loss_scaler.is_some() {
            if let Some(scaler) = scaler {
                self.loss_scaler = Some(scaler);
            }
        }
        self
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
        self.optimizer.module_optimizer()
    }

    /// Continues from a checkpoint: its optimizer state, steps done and examples seen.
    pub fn resumed(
        mut self,
        optimizer: ScaledOptimizer,
        step: usize,
        examples_seen: BTreeMap<String, usize>,
    ) -> Self {
        self.optimizer = optimizer;
        // Working copies are made through the optimizer: start them over with this one.
        self.working = None;
        self.step = step;
        self.examples_seen = examples_seen;
        self
    }

    /// One optimizer step over `micro_batches` (each loss divided by their count): sums the
    /// gradients, clips them to the global norm `max_grad_norm`, updates with the schedule's
    /// rate. `elapsed_s`, `epoch` and `eta_s` of the result are left for the caller.
    ///
    /// The loss and the gradient norm come back to the host together, once per step (one
    /// device sync). A step the device cannot hold fails with
    /// [`MixtuneError::OutOfMemory`] naming the batch and what to lower; the trainer is
    /// unusable after a failed step (the run stops; its last checkpoint stays).
    pub fn step(&mut self, micro_batches: Vec<TrainBatch>) -> Result<StepMetrics> {
        let started = Instant::now();
        profile::set_phase(Phase::Model);
        // The attention kernels' dropout seeds: a sequence of this step's own, as the run
        // loop reseeds the device generator (resumes draw the same masks).
        kernels::attention_dropout::start_step(self.config.seed, self.step as u64);
        let count = micro_batches.len();
        let Some(first) = micro_batches.first() else {
            return Err(MixtuneError::Input(
                "a step needs at least one batch".into(),
            ));
        };
        let [rows, source_len, target_len] = first.shape();
        let model = self
            .model
            .take()
            .expect("the model is only taken during a step");
        let device = model.device();
        let mut tokens = 0usize;
        for batch in &micro_batches {
            tokens += batch.source_tokens + batch.target_tokens;
            self.shapes.insert(batch.shape());
            for task in &batch.tasks {
                *self.examples_seen.entry(task.clone()).or_insert(0) += 1;
            }
        }
        let learning_rate = self.schedule.lr_at(self.step);
        let max_grad_norm = self.config.max_grad_norm;
        if self.working_copies && self.working.is_none() {
            let dtype = model.compute_dtype;
            self.working = Some(Working {
                copies: WorkingCopies::new(&model, dtype, self.optimizer.copy_requests()),
                model: None,
            });
        }
        let working = self.working.as_mut().map(|working| {
            let model = working
                .model
                .take()
                .unwrap_or_else(|| working.copies.working(&model, None));
            (&working.copies, model)
        });
        let (optimizer, scaler) = (&mut self.optimizer, &mut self.loss_scaler);
        // Allocation failures surface as errors at the read below, or as panics from the
        // backend on the way there; both become one error naming what to lower.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            update(
                model,
                working,
                micro_batches,
                optimizer,
                scaler,
                (learning_rate, max_grad_norm),
            )
        }));
        let failure = |message: String| {
            device.memory_cleanup();
            step_failure(
                self.step + 1,
                message,
                [rows, source_len, target_len],
                count,
            )
        };
        let StepOutcome {
            model,
            working,
            loss,
            grad_norm,
            decision,
        } = match outcome {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(message)) => return Err(failure(message)),
            Err(panic) => return Err(failure(panic_message(panic.as_ref()))),
        };
        let Some(model) = model else {
            return Err(MixtuneError::Diverged {
                step: self.step + 1,
            });
        };
        self.model = Some(model);
        if let Some(held) = self.working.as_mut() {
            held.model = working;
        }
        if let Some(scaler) = self.loss_scaler.as_ref().filter(|s| s.exhausted()) {
            return Err(MixtuneError::LossScaleExhausted {
                step: self.step + 1,
                scale: scaler.scale * 2.0,
            });
        }
        self.step += 1;
        let loss_scale = self
            .loss_scaler
            .as_ref()
            .zip(decision)
            .map(|(scaler, decision)| scaler.report(decision));
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        Ok(StepMetrics {
            step: self.step,
            loss,
            learning_rate,
            grad_norm,
            tokens_per_s: tokens as f64 / seconds,
            seconds,
            examples_per_task: self.examples_seen.clone(),
            distinct_shapes: self.shapes.len(),
            epoch: 0.0,
            elapsed_s: 0.0,
            eta_s: None,
            loss_scale,
        })
    }
}

/// What one optimizer step's device work gave: the updated model (`None` when the loss was
/// not finite, so nothing was updated) and its f16 working model, the loss, the gradient
/// norm, and under f16 the loss scaler's decision.
struct StepOutcome {
    model: Option<T5ForConditionalGeneration>,
    working: Option<T5ForConditionalGeneration>,
    loss: f64,
    grad_norm: f64,
    decision: Option<ScaleDecision>,
}

/// The device work of [`Trainer::step`]: [`backward`] (through the f16 `working` model when
/// there is one), then unscaling, global-norm clipping and the update at `(learning rate,
/// max_grad_norm)`, which also makes the next working copies. `Err` carries a backend
/// failure's message.
fn update(
    model: T5ForConditionalGeneration,
    working: Option<(&WorkingCopies, T5ForConditionalGeneration)>,
    micro_batches: Vec<TrainBatch>,
    optimizer: &mut ScaledOptimizer,
    scaler: &mut Option<LossScaler>,
    (learning_rate, max_grad_norm): (f64, f64),
) -> std::result::Result<StepOutcome, String> {
    let scale = scaler.as_ref().map(|scaler| scaler.scale);
    let forward_model = working.as_ref().map_or(&model, |(_, working)| working);
    let (grads, loss, grad_norm) = backward(forward_model, micro_batches, scale)?;
    // The read above ran the forward and backward passes: what is launched from here
    // on is clipping and the update (for `bench train --profile`).
    profile::set_phase(Phase::Optimizer);
    if !loss.is_finite() {
        return Ok(StepOutcome {
            model: None,
            working: None,
            loss,
            grad_norm,
            decision: None,
        });
    }
    // f16: scaled gradients with an inf/NaN skip the update (the scale halves); the
    // others are divided by the scale, together with the clipping below.
    let decision: Option<ScaleDecision> = scaler
        .as_mut()
        .map(|scaler| scaler.update(grad_norm.is_finite()));
    let (grad_norm, mut factor) = match decision {
        Some(decision) if !decision.apply => {
            return Ok(StepOutcome {
                model: Some(model),
                working: working.map(|(_, working)| working),
                loss,
                grad_norm: 0.0,
                decision: Some(decision),
            });
        }
        Some(decision) => (grad_norm / decision.scale_used, 1.0 / decision.scale_used),
        None => (grad_norm, 1.0),
    };
    // Clipped to the global norm as PyTorch's `clip_grad_norm_` (factor
    // `max_norm / (norm + 1e-6)`, applied only when below 1); Burn's
    // `GradientClippingConfig::Norm` clips each tensor by its own norm instead.
    if max_grad_norm > 0.0 {
        let clip = max_grad_norm / (grad_norm + 1e-6);
        if clip < 1.0 {
            factor *= clip;
        }
    }
    // Each gradient is multiplied inside its own update, where the multiply fuses with it;
    // under f16 the update also writes the weight's next working copy.
    if let Some((copies, working)) = &working {
        copies.plan_update(working, &grads);
    }
    let model = optimizer.step(learning_rate, model, grads, factor);
    let working = working.map(|(copies, previous)| copies.working(&model, Some(&previous)));
    Ok(StepOutcome {
        model: Some(model),
        working,
        loss,
        grad_norm,
        decision,
    })
}

/// Forward and backward over `micro_batches` (each loss divided by their count, multiplied
/// by the f16 loss `scale`), with the summed gradients, the loss and their global norm, read
/// back together in one transaction (the step's one device sync).
fn backward(
    model: &T5ForConditionalGeneration,
    micro_batches: Vec<TrainBatch>,
    scale: Option<f64>,
) -> std::result::Result<(GradientsParams, f64, f64), String> {
    let count = micro_batches.len();
    let mut accumulator = GradientsAccumulator::<T5ForConditionalGeneration>::new();
    let mut loss_sum: Option<Tensor<1>> = None;
    for batch in micro_batches {
        let loss = model.loss(batch.input_ids, batch.attention_mask, &batch.labels);
        let loss = loss / count as f64;
        // The stored activations are all live here: a sampled step's (untimed) peak.
        live_memory::sample(|| model.device().memory_pool_usage());
        let backward = match scale {
            Some(scale) => (loss.clone() * scale).backward(),
            None => loss.backward(),
        };
        let mut grads = GradientsParams::from_grads(backward, model);
        if count > 1 {
            // f16 working copies' gradients are summed in f32, as after a cast at use.
            widen(model, &mut grads);
        }
        accumulator.accumulate(model, grads);
        live_memory::sample(|| model.device().memory_pool_usage());
        // The value without its graph, on the inner device like the gradients, so both
        // come back in one transaction.
        let loss = loss.inner();
        loss_sum = Some(match loss_sum {
            Some(sum) => sum + loss,
            None => loss,
        });
    }
    let grads = accumulator.grads();
    let squared_norm = squared_grad_norm(model, &grads);
    let loss = loss_sum.unwrap_or_else(|| Tensor::zeros([1], &model.device().inner()));
    crate::device::profile::count_host_read();
    let values = Transaction::default()
        .register(loss)
        .register(squared_norm)
        .try_execute()
        .map_err(|e| e.to_string())?;
    let scalar = |data: &burn::tensor::TensorData| {
        data.clone()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f32::NAN) as f64
    };
    Ok((grads, scalar(&values[0]), scalar(&values[1]).sqrt()))
}

/// The error of training step `step` whose device work failed with `message`: out of
/// memory (naming the batch shape and what to lower) or a backend failure. The message is
/// all Burn gives: its errors and allocation panics carry no kind, hence the wording test
/// ([`is_out_of_memory`]).
fn step_failure(step: usize, message: String, shape: [usize; 3], count: usize) -> MixtuneError {
    if !is_out_of_memory(&message) {
        return MixtuneError::Backend(format!("training step {step}: {message}"));
    }
    let [rows, source_len, target_len] = shape;
    let micro = if count > 1 {
        format!(", {count} micro-batches")
    } else {
        String::new()
    };
    MixtuneError::OutOfMemory {
        during: format!(
            "in training step {step} (batch {rows} × source {source_len} / target {target_len} tokens{micro})"
        ),
        message,
        advice: "batch_size, or max_source_tokens / max_target_tokens in the mixture; \
                 raise grad_accumulation to keep the effective batch"
            .into(),
    }
}

/// The message of a caught panic (a `String` or `&str` payload).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the backend panicked".into())
}

#[cfg(test)]
mod tests {
    use super::is_out_of_memory;

    #[test]
    fn allocation_failures_read_as_out_of_memory() {
        assert!(is_out_of_memory(
            "can't allocate buffer of size: 3160000000"
        ));
        assert!(is_out_of_memory("Out of memory"));
        assert!(is_out_of_memory("IoError::BufferTooBig"));
        assert!(!is_out_of_memory("shape mismatch: [2, 3] vs [3, 2]"));
    }
}
