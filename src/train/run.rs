//! A whole training run from a parsed run config, read top-down as Burn's custom training
//! loop: setup → step → evaluate → checkpoint → finish. Everything lands in the run's
//! output folder: the configs as used, the event log (`metrics.jsonl`), checkpoints and the
//! exported model.

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;

use super::batch::{Batcher, TrainBatch};
use super::checkpoint::{self, LoopState};
use super::config::{Method, TrainConfig};
use super::control::RunControl;
use super::events::{read_events, EvalMetrics, EventLog, RunEvent, RunSummary, StepMetrics};
use super::forgetting::ForgettingReport;
use super::lock::RunLock;
use super::lora;
use super::metric;
use super::run_dir::{RunDir, CONFIG_FILE, MIXTURE_FILE};
use super::trainer::{build_optimizer, Trainer};
use super::validate::Validator;
use crate::device::kernel_shapes::{pads_batches, ShapeKey, ShapeRecord};
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;
use crate::mixture::{Mixture, Sampler};
use crate::model::export::export_hf_dir;
use crate::model::{load_pretrained, Pretrained};

/// Where a run reads and writes: the config's paths resolved against its file's folder.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The run config file, copied into the run folder as `run.toml`.
    pub config_file: PathBuf,
    /// The mixture TOML.
    pub mixture: PathBuf,
    /// The run folder.
    pub output_dir: PathBuf,
    /// A local model folder, or the hub id as written.
    pub model: String,
}

impl RunPaths {
    /// Resolves `config`'s relative paths against the folder of `config_file`; for a run
    /// folder's own record (`out/run.toml`, as `train --config out/run.toml --resume`),
    /// against the folder the original config was in, so they name what the run used.
    pub fn resolve(config_file: &Path, config: &TrainConfig) -> Self {
        let folder = config_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let is_record = config_file.file_name() == Some(CONFIG_FILE.as_ref())
            && RunDir::new(&folder).metrics().is_file();
        let base = match is_record {
            true => config_folder(folder, &config.output_dir).unwrap_or(folder.to_path_buf()),
            false => folder.to_path_buf(),
        };
        let beside = |path: &Path| {
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                base.join(path)
            }
        };
        // A relative model path is a folder beside the config when one exists, else a hub id.
        let model = match beside(Path::new(&config.model)) {
            local if Path::new(&config.model).is_relative() && local.is_dir() => {
                local.to_string_lossy().into_owned()
            }
            _ => config.model.clone(),
        };
        Self {
            config_file: config_file.to_path_buf(),
            mixture: beside(&config.mixture),
            output_dir: beside(&config.output_dir),
            model,
        }
    }
}

/// Where the run's `run.toml` lived when it started: the run folder with the config's
/// relative `output_dir` taken off its end (`/p/runs/a` less `runs/a` is `/p`).
pub(crate) fn config_folder(run_dir: &Path, output_dir: &Path) -> Option<PathBuf> {
    if output_dir.is_absolute() {
        return None;
    }
    let mut folder = run_dir.canonicalize().ok()?;
    let parts: Vec<Component> = output_dir
        .components()
        .filter(|part| *part != Component::CurDir)
        .collect();
    for part in parts.iter().rev() {
        match part {
            Component::Normal(name) if folder.file_name() == Some(*name) => {
                folder.pop();
            }
            _ => return None,
        }
    }
    Some(folder)
}

/// How to start a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show a download progress bar when the model comes from the hub.
    pub show_progress: bool,
    /// Continue from the run folder's latest checkpoint.
    pub resume: bool,
    /// On resume, go on although the config differs from the run's record in keys that
    /// change training ([`RunEvent::ConfigChanged`] logs it); otherwise that is refused.
    pub allow_config_change: bool,
    /// The folder whose record of prepared batch shapes a GPU run consults and extends
    /// (`None`: [`crate::device::kernel_cache_dir`]).
    pub kernel_cache: Option<PathBuf>,
}

/// Reads and resolves the run config at `config_file`, then [`run`]s it.
pub fn run_from_file(
    config_file: &Path,
    device: &Device,
    options: &RunOptions,
    control: &RunControl,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<RunSummary> {
    let config = TrainConfig::from_file(config_file)?;
    let paths = RunPaths::resolve(config_file, &config);
    run(&config, &paths, device, options, control, on_event)
}

/// Runs training on a background thread; `on_event` sees every event (also written to
/// `metrics.jsonl`). Errors are also reported as a [`RunEvent::Failed`]. With
/// `options.resume` it continues the run folder's latest intact checkpoint, as `--resume`.
pub fn spawn(
    config: TrainConfig,
    paths: RunPaths,
    device: Device,
    options: RunOptions,
    control: RunControl,
    mut on_event: impl FnMut(&RunEvent) + Send + 'static,
) -> std::thread::JoinHandle<Result<RunSummary>> {
    std::thread::spawn(move || run(&config, &paths, &device, &options, &control, &mut on_event))
}

/// Runs training as `config` describes on `device` (made autodiff here). On failure a
/// [`RunEvent::Failed`] is emitted (once the log is open) and the error returned.
pub fn run(
    config: &TrainConfig,
    paths: &RunPaths,
    device: &Device,
    options: &RunOptions,
    control: &RunControl,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<RunSummary> {
    let output_dir = &paths.output_dir;
    std::fs::create_dir_all(output_dir).map_err(|e| MixtuneError::io(output_dir, e))?;
    // Held for the whole run: a second run on this folder is refused until it ends.
    let (_lock, lock_note) = RunLock::acquire(output_dir)?;
    let mut start = resume_point(output_dir, options.resume)?;
    start.notes.extend(lock_note);
    if options.resume {
        let changes = config_changes(output_dir, config, paths)?;
        if !changes.is_empty() && !options.allow_config_change {
            return Err(MixtuneError::ConfigChanged {
                dir: output_dir.clone(),
                changes,
            });
        }
        start.config_changes = changes;
    }
    let resumed = start
        .resume_from
        .as_ref()
        .map(|(step, _)| (*step, &start.previous[..]));
    let mut log = EventLog::open(output_dir, resumed, on_event)?;
    match train(config, paths, device, options, start, control, &mut log) {
        Ok(summary) => {
            log.check()?;
            Ok(summary)
        }
        Err(error) => {
            let step = log.step;
            log.emit(RunEvent::Failed {
                step,
                message: error.to_string(),
            });
            Err(error)
        }
    }
}

/// Where a run starts: the checkpoint it resumes from (`None` for a fresh run) and what
/// the user should be told about it.
struct Start {
    resume_from: Option<(usize, PathBuf)>,
    /// The run's event log as it was before this resume (read once; empty when fresh).
    previous: Vec<RunEvent>,
    notes: Vec<String>,
    /// Keys a resume changes (`--allow-config-change`), as `key: before → after`.
    config_changes: Vec<String>,
}

/// The checkpoint to resume from (`--resume`): the newest intact one, with a note for each
/// newer damaged one; or none for a fresh run, which a folder that already holds a run
/// refuses. A finished run is not resumed.
fn resume_point(output_dir: &Path, resume: bool) -> Result<Start> {
    if !resume {
        if !checkpoint::list(output_dir)?.is_empty() || RunDir::new(&output_dir).model().exists() {
            return Err(MixtuneError::RunExists {
                dir: output_dir.to_path_buf(),
            });
        }
        return Ok(Start {
            resume_from: None,
            previous: Vec::new(),
            notes: Vec::new(),
            config_changes: Vec::new(),
        });
    }
    checkpoint::clean_partial(output_dir);
    let previous = read_events(output_dir).unwrap_or_default();
    let finished = previous.iter().find_map(|event| match event {
        RunEvent::Finished(summary) => Some(summary.steps),
        _ => None,
    });
    if let Some(steps) = finished {
        return Err(MixtuneError::RunFinished {
            dir: output_dir.to_path_buf(),
            steps,
        });
    }
    let intact = checkpoint::newest_intact(output_dir)?;
    let mut notes = intact.damaged;
    let Some((step, dir)) = intact.newest else {
        return Err(MixtuneError::NoCheckpoint {
            checkpoints: RunDir::new(&output_dir).checkpoints(),
            damaged: notes,
        });
    };
    if !notes.is_empty() {
        notes.push(format!(
            "resuming from the newest intact checkpoint, step {step}"
        ));
    }
    Ok(Start {
        resume_from: Some((step, dir)),
        previous,
        notes,
        config_changes: Vec::new(),
    })
}

/// The loop: setup, then step → evaluate → checkpoint until the last step, early stopping
/// or a cancel, then finish.
fn train(
    config: &TrainConfig,
    paths: &RunPaths,
    device: &Device,
    options: &RunOptions,
    start: Start,
    control: &RunControl,
    log: &mut EventLog,
) -> Result<RunSummary> {
    let mut run = Run::setup(config, paths, device, options, start, log)?;
    // Watched tasks need the baseline their forgetting report starts from.
    let baseline_due = config.eval_at_start || !run.mixture.watched.is_empty();
    if baseline_due && run.trainer.step == 0 {
        run.evaluate_baseline(log)?;
    }
    while run.trainer.step < run.state.total_steps {
        let step = run.trainer.step;
        let waiting = Instant::now();
        let mut was_paused = false;
        let cancelled = control.wait_if_paused(&mut |paused| {
            was_paused |= paused;
            log.emit(if paused {
                RunEvent::Paused { step }
            } else {
                RunEvent::Resumed { step }
            })
        });
        if was_paused {
            // Time spent paused is not training time: elapsed and ETA leave it out.
            run.paused += waiting.elapsed();
        }
        if cancelled {
            return run.cancel(log);
        }
        let metrics = run.step(log)?;
        log.emit(RunEvent::Step(metrics));
        let improved = match run.eval_due() {
            true => Some(run.evaluate(log)?),
            false => None,
        };
        let stop_early = improved == Some(false) && run.patience_spent();
        // Keep-best needs the weights of every new best.
        let best_to_keep = improved == Some(true) && config.keep_best;
        if run.save_due() || stop_early || best_to_keep {
            run.checkpoint(log)?;
        }
        log.check()?;
        if stop_early {
            return run.finish(true, log);
        }
    }
    run.finish(false, log)
}

/// A run's working set between setup and finish.
struct Run<'a> {
    config: &'a TrainConfig,
    output_dir: &'a Path,
    pretrained: Pretrained,
    mixture: Mixture,
    sampler: Sampler,
    batcher: Batcher,
    trainer: Trainer,
    validator: Option<Validator>,
    state: LoopState,
    /// The autodiff device the run trains on.
    device: Device,
    /// When this process started training, and the training seconds before it (resume).
    started: Instant,
    /// Time this process spent paused, left out of the elapsed time.
    paused: std::time::Duration,
    elapsed_before: f64,
    start_step: usize,
    last_checkpoint: Option<PathBuf>,
    last_eval_step: Option<usize>,
    /// The step-0 validation pass the forgetting report compares with.
    baseline: Option<EvalMetrics>,
    /// The latest forgetting report.
    forgetting: Option<ForgettingReport>,
    /// On a GPU, the batch shapes this machine prepared kernels for (`None` on the CPU,
    /// which compiles nothing).
    kernel_shapes: Option<ShapeRecord>,
}

impl<'a> Run<'a> {
    /// Loads the mixture and the model (LoRA applied), restores a checkpoint when resuming,
    /// copies the configs into the run folder and emits `started`.
    fn setup(
        config: &'a TrainConfig,
        paths: &'a RunPaths,
        device: &Device,
        options: &RunOptions,
        start: Start,
        log: &mut EventLog,
    ) -> Result<Self> {
        let Start {
            resume_from,
            previous,
            mut notes,
            config_changes,
        } = start;
        let output_dir = paths.output_dir.as_path();
        let mixture = Mixture::load(&paths.mixture)?;
        let total_steps = config.total_steps(mixture.train_examples());
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let pretrained = load_pretrained(&paths.model, &device, options.show_progress)?;
        let settings = &mixture.config.config.mixture;
        let batcher = Batcher::new(
            pretrained.tokenizer.clone(),
            settings.max_source_tokens,
            settings.max_target_tokens,
        )?;
        copy_into(output_dir, CONFIG_FILE, &paths.config_file)?;
        copy_into(output_dir, MIXTURE_FILE, &paths.mixture)?;

        let mut model = pretrained.model.clone();
        if config.method == Method::Lora {
            model = lora::apply(model, &config.lora)?;
        }
        let (trainer, sampler, state) = match &resume_from {
            None => {
                let sampler = mixture.sampler()?;
                let state = LoopState::new(total_steps, sampler.state(), config.method);
                (Trainer::new(model, config, total_steps)?, sampler, state)
            }
            Some((_, dir)) => resume_from_checkpoint(dir, model, config, &mixture, total_steps)?,
        };

        let validation = mixture.validation_examples(config.eval_examples)?;
        notes.extend(eval_notes(config, &mixture, &validation));
        let validator = (!validation.is_empty() && config.eval_examples > 0)
            .then(|| validator(config, &mixture, validation, &batcher, &pretrained));
        // A resumed run compares with the baseline pass its log kept.
        let baseline = baseline_from_log(&previous);
        let (total_parameters, trainable_parameters) = parameter_counts(trainer.model());
        log.emit(RunEvent::Started {
            output_dir: output_dir.to_path_buf(),
            device: crate::device::describe(&device),
            total_steps,
            start_step: state.step,
            trainable_parameters,
            total_parameters,
            notes,
        });
        if !config_changes.is_empty() {
            log.emit(RunEvent::ConfigChanged {
                step: state.step,
                changes: config_changes,
            });
        }
        let kernel_shapes = (!crate::device::is_cpu(&device)).then(|| {
            options
                .kernel_cache
                .as_deref()
                .map_or_else(ShapeRecord::open, ShapeRecord::in_folder)
        });
        Ok(Self {
            config,
            output_dir,
            pretrained,
            mixture,
            sampler,
            batcher,
            trainer,
            validator,
            elapsed_before: state.elapsed_s,
            start_step: state.step,
            state,
            device,
            started: Instant::now(),
            paused: std::time::Duration::ZERO,
            last_checkpoint: resume_from.map(|(_, dir)| dir),
            last_eval_step: None,
            baseline,
            forgetting: None,
            kernel_shapes,
        })
    }

    /// On a GPU, a [`RunEvent::PreparingKernels`] for each of `batches`' shapes this process
    /// has not stepped on yet; returns their keys, to record once the step succeeded.
    fn announce_new_shapes(&self, batches: &[TrainBatch], log: &mut EventLog) -> Vec<ShapeKey> {
        let Some(record) = &self.kernel_shapes else {
            return Vec::new();
        };
        let mut keys: Vec<ShapeKey> = Vec::new();
        for batch in batches {
            let shape = batch.shape();
            if !self.trainer.is_new_shape(shape) {
                continue;
            }
            let lora = self.config.lora_settings().map(|lora| lora.rank);
            let config = &self.trainer.model().config;
            let dropout = self.config.dropout_rate > 0.0;
            let key = ShapeKey::training(
                &self.device,
                config,
                self.config.precision,
                lora,
                dropout,
                shape,
            );
            if keys.contains(&key) {
                continue;
            }
            log.emit(RunEvent::PreparingKernels {
                step: self.trainer.step + 1,
                batch: shape[0],
                source_len: shape[1],
                target_len: shape[2],
                cached: record.knows(&key),
            });
            keys.push(key);
        }
        keys
    }

    /// One optimizer step over `grad_accumulation` micro-batches drawn from the mixture.
    fn step(&mut self, log: &mut EventLog) -> Result<StepMetrics> {
        let config = self.config;
        // Reseeded per step so a resumed run draws what an uninterrupted one would.
        let step = self.trainer.step;
        self.device.seed(config.seed.wrapping_add(step as u64));
        let mut micro_batches = Vec::with_capacity(config.grad_accumulation);
        for _ in 0..config.grad_accumulation {
            let examples = (&mut self.sampler)
                .take(config.batch_size)
                .map(|sample| self.mixture.render(&sample).map_err(MixtuneError::from))
                .collect::<Result<Vec<_>>>()?;
            micro_batches.push(self.batcher.batch(&examples, &self.device)?);
        }
        let new_shapes = self.announce_new_shapes(&micro_batches, log);
        let mut metrics = self.trainer.step(micro_batches)?;
        if let Some(record) = &mut self.kernel_shapes {
            for key in &new_shapes {
                record.remember(key);
            }
        }

        let elapsed = self
            .started
            .elapsed()
            .saturating_sub(self.paused)
            .as_secs_f64();
        let steps_here = (self.trainer.step - self.start_step).max(1);
        let train_examples = self.mixture.train_examples().max(1) as f64;
        metrics.elapsed_s = self.elapsed_before + elapsed;
        metrics.epoch =
            self.trainer.step as f64 * config.examples_per_step() as f64 / train_examples;
        let steps_left = self.state.total_steps - self.trainer.step;
        metrics.eta_s = Some(elapsed / steps_here as f64 * steps_left as f64);
        self.state.first_loss.get_or_insert(metrics.loss);
        self.state.last_loss = Some(metrics.loss);
        self.state.elapsed_s = metrics.elapsed_s;
        self.state.step = self.trainer.step;
        Ok(metrics)
    }

    /// Whether a validation pass is due after this step.
    fn eval_due(&self) -> bool {
        let every = self.config.eval_every;
        self.validator.is_some() && every > 0 && self.trainer.step.is_multiple_of(every)
    }

    /// Whether a regular checkpoint is due after this step.
    fn save_due(&self) -> bool {
        let every = self.config.save_every;
        every > 0 && self.trainer.step.is_multiple_of(every)
    }

    /// Whether early stopping's patience has run out.
    fn patience_spent(&self) -> bool {
        let patience = self.config.early_stopping_patience;
        patience > 0 && self.state.evals_without_improvement >= patience
    }

    /// The baseline validation pass before the first step: logged, not counted for the best
    /// checkpoint or early stopping.
    fn evaluate_baseline(&mut self, log: &mut EventLog) -> Result<()> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        let eval = validator.run(self.trainer.model(), 0)?;
        let metric = metric::value(&self.config.best_metric, eval.val_loss, &eval.tasks);
        let eval = EvalMetrics {
            metric: metric.unwrap_or(f64::NAN),
            ..eval
        };
        self.baseline = Some(eval.clone());
        log.emit(RunEvent::Eval(eval));
        Ok(())
    }

    /// One validation pass: scores, updates the best/early-stopping state, adds the
    /// forgetting report, logs the event and writes `eval.json`. Returns whether it improved
    /// on the best so far.
    fn evaluate(&mut self, log: &mut EventLog) -> Result<bool> {
        let Some(validator) = &self.validator else {
            return Ok(false);
        };
        let mut eval = validator.run(self.trainer.model(), self.state.step)?;
        // Only [[watch]] tasks scored: nothing picks a best checkpoint or stops early, as
        // without validation.
        let improved = !eval.tasks.is_empty() && self.track_best(&mut eval)?;
        let threshold = self.config.forgetting_threshold;
        eval.forgetting = self
            .baseline
            .as_ref()
            .map(|baseline| eval.forgetting_since(baseline, threshold));
        self.forgetting = eval.forgetting.clone();
        let text = serde_json::to_vec_pretty(&eval)?;
        write_atomic(&RunDir::new(&self.output_dir).eval(), &text)?;
        log.emit(RunEvent::Eval(eval));
        self.last_eval_step = Some(self.state.step);
        Ok(improved)
    }

    /// Sets the pass's `metric` and `best` and updates the best/early-stopping state.
    fn track_best(&mut self, eval: &mut EvalMetrics) -> Result<bool> {
        let config = self.config;
        let value =
            metric::value(&config.best_metric, eval.val_loss, &eval.tasks).ok_or_else(|| {
                MixtuneError::Input(format!(
                    "best_metric `{}` names no task of the mixture",
                    config.best_metric
                ))
            })?;
        let improved = metric::improves(
            &config.best_metric,
            value,
            self.state.best_metric,
            config.early_stopping_threshold,
        );
        eval.metric = value;
        eval.best = improved;
        if improved {
            self.state.best_metric = Some(value);
            self.state.best_step = Some(eval.step);
            self.state.evals_without_improvement = 0;
        } else {
            self.state.evals_without_improvement += 1;
        }
        Ok(improved)
    }

    /// Writes a checkpoint of this step and rotates the old ones.
    fn checkpoint(&mut self, log: &mut EventLog) -> Result<()> {
        self.state.step = self.trainer.step;
        self.state.sampler = self.sampler.state();
        self.state.examples_per_task = self.trainer.examples_seen.clone();
        self.state.loss_scale = self.trainer.loss_scaler().cloned();
        let dir = checkpoint::save(
            self.output_dir,
            self.trainer.model(),
            self.trainer.optimizer(),
            &self.state,
        )?;
        let best = self.state.best_step.filter(|_| self.config.keep_best);
        checkpoint::rotate(self.output_dir, self.config.keep_last, best)?;
        log.emit(RunEvent::Checkpoint {
            step: self.trainer.step,
            path: dir.clone(),
        });
        self.last_checkpoint = Some(dir);
        Ok(())
    }

    /// Whether the latest checkpoint is of the current step.
    fn checkpointed(&self) -> bool {
        let current = checkpoint::checkpoint_dir(self.output_dir, self.trainer.step);
        self.last_checkpoint.as_ref() == Some(&current)
    }

    /// A cancel: a checkpoint of the last step (unless just written), then `cancelled`.
    fn cancel(mut self, log: &mut EventLog) -> Result<RunSummary> {
        let step = self.trainer.step;
        if step > 0 && !self.checkpointed() {
            self.checkpoint(log)?;
        }
        log.emit(RunEvent::Cancelled {
            step,
            checkpoint: self.last_checkpoint.clone(),
        });
        Ok(summary(self.output_dir, &self.state, step, None, false))
    }

    /// The end of the loop: a last validation pass and checkpoint, then the export of the
    /// best weights (or the last) as an HF folder, plus a PEFT adapter for LoRA.
    fn finish(mut self, stopped_early: bool, log: &mut EventLog) -> Result<RunSummary> {
        let step = self.trainer.step;
        let final_eval = self.validator.is_some() && self.last_eval_step != Some(step);
        if final_eval {
            self.evaluate(log)?;
        }
        // Saved again after a final validation pass, whose best-metric state it records.
        if final_eval || !self.checkpointed() {
            self.checkpoint(log)?;
        }
        let config = self.config;
        let mut final_model = self.trainer.into_model();
        if let (true, Some(best_step)) = (config.keep_best, self.state.best_step) {
            if best_step != step {
                let dir = checkpoint::checkpoint_dir(self.output_dir, best_step);
                let optimizer = build_optimizer(config);
                final_model =
                    checkpoint::load_weights(&dir, final_model, optimizer, config.method)?.0;
            }
        }
        let final_model = final_model.valid();
        let adapter_dir = match config.method {
            Method::Lora => {
                let dir = RunDir::new(&self.output_dir).adapter();
                lora::export_peft_adapter(&final_model, &config.lora, &config.model, &dir)?;
                Some(dir)
            }
            Method::Full => None,
        };
        let model_dir = RunDir::new(&self.output_dir).model();
        let pretrained = &self.pretrained;
        export_hf_dir(
            &final_model,
            &pretrained.tokenizer,
            &pretrained.defaults,
            &model_dir,
        )?;
        let mut result = summary(
            self.output_dir,
            &self.state,
            step,
            adapter_dir,
            stopped_early,
        );
        result.model_dir = model_dir;
        result.forgetting = self.forgetting.clone();
        log.emit(RunEvent::Finished(result.clone()));
        Ok(result)
    }
}

/// The trainer, sampler and loop state of a run resumed from checkpoint folder `dir`: the
/// weights, optimizer, sampler position, loss scale and counters as saved. A checkpoint of
/// the other method (full / LoRA) is refused.
fn resume_from_checkpoint(
    dir: &Path,
    model: crate::model::T5ForConditionalGeneration,
    config: &TrainConfig,
    mixture: &Mixture,
    total_steps: usize,
) -> Result<(Trainer, Sampler, LoopState)> {
    let saved = checkpoint::load_state(dir)?;
    if saved.method != config.method {
        return Err(MixtuneError::Input(format!(
            "{}: checkpoint is for a {:?} run, the config asks for {:?}",
            dir.display(),
            saved.method,
            config.method
        )));
    }
    let (model, optimizer) =
        checkpoint::load_weights(dir, model, build_optimizer(config), config.method)?;
    let sampler =
        Sampler::restore(mixture.plan(), saved.sampler).map_err(|e| MixtuneError::Config {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
    let (step, examples_seen) = (saved.step, saved.examples_per_task.clone());
    let state = LoopState {
        total_steps,
        ..saved
    };
    let trainer = Trainer::new(model, config, total_steps)?
        .resumed(optimizer, step, examples_seen)
        .with_loss_scaler(state.loss_scale.clone());
    Ok((trainer, sampler, state))
}

/// The validation pass of a run: `examples` scored as the config says, the mixture's
/// `[[watch]]` tasks reported apart.
fn validator(
    config: &TrainConfig,
    mixture: &Mixture,
    examples: Vec<crate::mixture::RenderedExample>,
    batcher: &Batcher,
    pretrained: &Pretrained,
) -> Validator {
    Validator {
        examples,
        batcher: batcher.clone(),
        tokenizer: pretrained.tokenizer.clone(),
        defaults: pretrained.defaults.clone(),
        batch_size: config.batch_size,
        pad_to_batch: pads_batches(&pretrained.model.device()),
        max_new_tokens: config.eval_max_new_tokens,
        samples: config.sample_predictions,
        watched: mixture
            .watched
            .iter()
            .map(|task| task.name.clone())
            .collect(),
    }
}

/// Validation the config asks for but the data cannot give: a task without validation rows,
/// or no validation at all, each named with what to set.
fn eval_notes(
    config: &TrainConfig,
    mixture: &Mixture,
    validation: &[crate::mixture::RenderedExample],
) -> Vec<String> {
    let asked = if config.eval_every > 0 {
        format!("eval_every = {}", config.eval_every)
    } else if config.eval_at_start {
        "eval_at_start = true".to_string()
    } else {
        return Vec::new();
    };
    if config.eval_examples == 0 {
        return vec![format!(
            "{asked}, but eval_examples = 0: no validation will run"
        )];
    }
    let mut notes = Vec::new();
    if !config.eval_at_start && !mixture.watched.is_empty() {
        notes.push(
            "eval_at_start = false, but the mixture has [[watch]] tasks: a baseline pass runs at step 0 for the forgetting report"
                .to_string(),
        );
    }
    notes.extend(mixture
        .tasks
        .iter()
        .filter(|task| !validation.iter().any(|example| example.task == task.name))
        .map(|task| {
            format!(
                "{asked}, but task `{}` has no validation rows: set its eval_data or a split with validation rows",
                task.name
            )
        }));
    notes
}

/// Copies `from` into the run folder as `name`.
/// `run.toml` keys a resume may change freely: they change what is logged, kept or shown,
/// never the weights.
pub const BOOKKEEPING_KEYS: [&str; 5] = [
    "save_every",
    "keep_last",
    "sample_predictions",
    "eval_max_new_tokens",
    "forgetting_threshold",
];

/// Where the config given to a resume differs from the run folder's record (its `run.toml`
/// and `mixture.toml`, defaults filled in), as `key: before → after`, leaving out the run's
/// own paths and [`BOOKKEEPING_KEYS`]. A folder without a record has nothing to differ from.
fn config_changes(
    output_dir: &Path,
    config: &TrainConfig,
    paths: &RunPaths,
) -> Result<Vec<String>> {
    if !RunDir::new(&output_dir).config().is_file() {
        return Ok(Vec::new());
    }
    let before = super::compare::flat_config(output_dir)?;
    let after = super::compare::flat_configs(config, &paths.config_file, Some(&paths.mixture))?;
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let shown = |value: Option<&String>| value.map_or("(unset)".to_string(), Clone::clone);
    Ok(keys
        .into_iter()
        .filter(|key| !BOOKKEEPING_KEYS.contains(&key.as_str()))
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| {
            format!(
                "{key}: {} → {}",
                shown(before.get(key)),
                shown(after.get(key))
            )
        })
        .collect())
}

fn copy_into(output_dir: &Path, name: &str, from: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| MixtuneError::io(from, e))?;
    write_atomic(&output_dir.join(name), &bytes)
}

fn summary(
    output_dir: &Path,
    state: &LoopState,
    steps: usize,
    adapter_dir: Option<PathBuf>,
    stopped_early: bool,
) -> RunSummary {
    // The best step's checkpoint, while rotation has kept it.
    let best_checkpoint = state
        .best_step
        .map(|step| checkpoint::checkpoint_dir(output_dir, step))
        .filter(|dir| dir.exists());
    RunSummary {
        output_dir: output_dir.to_path_buf(),
        model_dir: RunDir::new(&output_dir).model(),
        adapter_dir,
        steps,
        first_loss: state.first_loss,
        last_loss: state.last_loss,
        best_checkpoint,
        best_metric: state.best_metric,
        stopped_early,
        forgetting: None,
    }
}

/// The baseline (step 0) validation pass of a run's event log, if it has one.
fn baseline_from_log(events: &[RunEvent]) -> Option<EvalMetrics> {
    events.iter().find_map(|event| match event {
        RunEvent::Eval(eval) if eval.step == 0 => Some(eval.clone()),
        _ => None,
    })
}

/// Total and trainable parameter counts.
fn parameter_counts(model: &crate::model::T5ForConditionalGeneration) -> (usize, usize) {
    let total = model.num_params();
    let adapters = lora::adapters(model);
    let trainable = if adapters.is_empty() {
        total
    } else {
        adapters
            .iter()
            .map(|(_, a)| {
                a.a.val().dims().iter().product::<usize>()
                    + a.b.val().dims().iter().product::<usize>()
            })
            .sum()
    };
    (total, trainable)
}
