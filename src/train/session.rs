//! A whole training run from a run config: model (full or LoRA), mixture, the loop with
//! validation, checkpoints, early stopping, pause/resume/cancel, the event log
//! (`metrics.jsonl`) and the exported model, all under the run's output folder.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;

use super::batch::Batcher;
use super::checkpoint::{self, LoopState};
use super::config::{Method, TrainConfig};
use super::events::{RunEvent, RunSummary};
use super::lora;
use super::metric;
use super::trainer::Trainer;
use super::validate::Validator;
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;
use crate::mixture::{Mixture, Sampler};
use crate::model::export::export_hf_dir;
use crate::model::{load_pretrained, T5ForConditionalGeneration};

/// The event log of a run, one JSON [`RunEvent`] per line.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The run config as it was used.
pub const CONFIG_FILE: &str = "run.toml";
/// The mixture config as it was used.
pub const MIXTURE_FILE: &str = "mixture.toml";
/// The trained model, an HF-format folder (for LoRA: base with the adapters merged in).
pub const MODEL_DIR: &str = "model";
/// A LoRA run's adapter, a PEFT folder.
pub const ADAPTER_DIR: &str = "adapter";
/// The last validation pass, as JSON.
pub const EVAL_FILE: &str = "eval.json";

#[derive(Debug, Default)]
struct ControlState {
    paused: bool,
    cancelled: bool,
}

/// Pause, resume and cancel a running training from another thread.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    inner: Arc<(Mutex<ControlState>, Condvar)>,
}

impl RunControl {
    /// A control that lets the run go.
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&self, f: impl FnOnce(&mut ControlState)) {
        let (lock, wake) = &*self.inner;
        if let Ok(mut state) = lock.lock() {
            f(&mut state);
        }
        wake.notify_all();
    }

    /// Pauses before the next step.
    pub fn pause(&self) {
        self.update(|s| s.paused = true);
    }

    /// Goes on after a pause.
    pub fn resume(&self) {
        self.update(|s| s.paused = false);
    }

    /// Stops before the next step (a paused run stops at once), writing a checkpoint.
    pub fn cancel(&self) {
        self.update(|s| s.cancelled = true);
    }

    /// Whether a cancel was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.lock().map(|s| s.cancelled).unwrap_or(true)
    }

    /// Blocks while paused; `on_change(true)` runs once when a pause starts and
    /// `on_change(false)` when it ends without a cancel. Returns whether the run was cancelled.
    fn wait_if_paused(&self, on_change: &mut dyn FnMut(bool)) -> bool {
        let (lock, wake) = &*self.inner;
        let Ok(mut state) = lock.lock() else {
            return true;
        };
        if state.paused && !state.cancelled {
            on_change(true);
            while state.paused && !state.cancelled {
                state = match wake.wait(state) {
                    Ok(state) => state,
                    Err(_) => return true,
                };
            }
            if !state.cancelled {
                on_change(false);
            }
        }
        state.cancelled
    }
}

/// How to start a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show a download progress bar when the model comes from the hub.
    pub show_progress: bool,
    /// Continue from the run folder's latest checkpoint.
    pub resume: bool,
}

/// Runs training on a background thread; `on_event` sees every event (also written to
/// `metrics.jsonl`). Errors are also reported as a [`RunEvent::Failed`].
pub fn spawn(
    config_path: PathBuf,
    device: Device,
    control: RunControl,
    mut on_event: impl FnMut(&RunEvent) + Send + 'static,
) -> std::thread::JoinHandle<Result<RunSummary>> {
    std::thread::spawn(move || {
        let options = RunOptions::default();
        run_from_file(&config_path, &device, &options, &control, &mut on_event)
    })
}

/// `path` relative to the config file's folder, unless absolute.
fn beside(config_path: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_path.parent().unwrap_or(Path::new(".")).join(path)
    }
}

/// Appends events to `metrics.jsonl` and hands them on.
struct EventLog<'a> {
    file: std::fs::File,
    path: PathBuf,
    on_event: &'a mut dyn FnMut(&RunEvent),
    error: Option<std::io::Error>,
}

impl EventLog<'_> {
    fn emit(&mut self, event: RunEvent) {
        let line = serde_json::to_string(&event).unwrap_or_default();
        if let Err(e) = writeln!(self.file, "{line}").and_then(|_| self.file.flush()) {
            self.error.get_or_insert(e);
        }
        (self.on_event)(&event);
    }

    fn check(&mut self) -> Result<()> {
        match self.error.take() {
            Some(e) => Err(MixtuneError::io(&self.path, e)),
            None => Ok(()),
        }
    }
}

/// Reads a run's event log; lines that do not parse (a line cut by a crash) are skipped.
pub fn read_events(output_dir: &Path) -> Result<Vec<RunEvent>> {
    let path = output_dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| MixtuneError::io(&path, e))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

fn event_step(event: &RunEvent) -> usize {
    match event {
        RunEvent::Started { start_step, .. } => *start_step,
        RunEvent::Step(m) => m.step,
        RunEvent::Eval(e) => e.step,
        RunEvent::Checkpoint { step, .. }
        | RunEvent::Paused { step }
        | RunEvent::Resumed { step }
        | RunEvent::Cancelled { step, .. }
        | RunEvent::Failed { step, .. } => *step,
        RunEvent::Finished(summary) => summary.steps,
    }
}

/// Runs training as `config_path` describes on `device` (made autodiff here). On failure a
/// [`RunEvent::Failed`] is emitted (when the log could be opened) and the error returned.
pub fn run_from_file(
    config_path: &Path,
    device: &Device,
    options: &RunOptions,
    control: &RunControl,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<RunSummary> {
    let config = TrainConfig::from_file(config_path)?;
    let output_dir = beside(config_path, &config.output_dir);
    std::fs::create_dir_all(&output_dir).map_err(|e| MixtuneError::io(&output_dir, e))?;
    let checkpoints = checkpoint::list(&output_dir)?;
    let resume_from = if options.resume {
        checkpoint::clean_partial(&output_dir);
        Some(checkpoints.last().cloned().ok_or_else(|| {
            MixtuneError::Input(format!(
                "{}: no checkpoint to resume from",
                output_dir.join(checkpoint::CHECKPOINTS_DIR).display()
            ))
        })?)
    } else {
        if !checkpoints.is_empty() || output_dir.join(MODEL_DIR).exists() {
            return Err(MixtuneError::Input(format!(
                "{}: already holds a run; resume it (`--resume`) or choose another output_dir",
                output_dir.display()
            )));
        }
        None
    };

    // The log: on resume keep the events up to the checkpoint, drop the ones after it.
    let metrics_path = output_dir.join(METRICS_FILE);
    if let Some((step, _)) = &resume_from {
        let kept: Vec<String> = read_events(&output_dir)
            .unwrap_or_default()
            .iter()
            .filter(|event| {
                event_step(event) <= *step
                    && !matches!(
                        event,
                        RunEvent::Cancelled { .. }
                            | RunEvent::Failed { .. }
                            | RunEvent::Finished(_)
                    )
            })
            .filter_map(|event| serde_json::to_string(event).ok())
            .collect();
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_atomic(&metrics_path, text.as_bytes())?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(resume_from.is_some())
        .write(true)
        .truncate(resume_from.is_none())
        .open(&metrics_path)
        .map_err(|e| MixtuneError::io(&metrics_path, e))?;
    let mut log = EventLog {
        file,
        path: metrics_path,
        on_event,
        error: None,
    };
    let result = run_logged(
        config_path,
        &config,
        &output_dir,
        device,
        options,
        resume_from,
        control,
        &mut log,
    );
    match result {
        Ok(summary) => {
            log.check()?;
            Ok(summary)
        }
        Err((step, error)) => {
            log.emit(RunEvent::Failed {
                step,
                message: error.to_string(),
            });
            Err(error)
        }
    }
}

/// The run after its log is open; errors carry the step they happened at.
#[allow(clippy::too_many_arguments)]
fn run_logged(
    config_path: &Path,
    config: &TrainConfig,
    output_dir: &Path,
    device: &Device,
    options: &RunOptions,
    resume_from: Option<(usize, PathBuf)>,
    control: &RunControl,
    log: &mut EventLog,
) -> std::result::Result<RunSummary, (usize, MixtuneError)> {
    let at = |step: usize| move |e: MixtuneError| (step, e);
    let mixture_path = beside(config_path, &config.mixture);
    let model_spec = match beside(config_path, Path::new(&config.model)) {
        local if Path::new(&config.model).is_relative() && local.is_dir() => {
            local.to_string_lossy().into_owned()
        }
        _ => config.model.clone(),
    };
    let mixture = Mixture::load(&mixture_path)
        .map_err(|e| MixtuneError::Input(e.to_string()))
        .map_err(at(0))?;
    let total_steps = config.total_steps(mixture.train_examples());
    let device = device.clone().autodiff();
    device.seed(config.seed);
    let pretrained = load_pretrained(&model_spec, &device, options.show_progress).map_err(at(0))?;
    let settings = &mixture.config.config.mixture;
    let batcher = Batcher::new(
        pretrained.tokenizer.clone(),
        settings.max_source_tokens,
        settings.max_target_tokens,
    )
    .map_err(at(0))?;

    let keep = |name: &str, from: &Path| -> Result<()> {
        let bytes = std::fs::read(from).map_err(|e| MixtuneError::io(from, e))?;
        write_atomic(&output_dir.join(name), &bytes)
    };
    keep(CONFIG_FILE, config_path).map_err(at(0))?;
    keep(MIXTURE_FILE, &mixture_path).map_err(at(0))?;

    let mut model = pretrained.model.clone();
    if config.method == Method::Lora {
        model = lora::apply(model, &config.lora).map_err(at(0))?;
    }
    let (total_parameters, trainable_parameters) = parameter_counts(&model);
    let mut trainer = Trainer::new(model, config, total_steps).map_err(at(0))?;
    let mut sampler = mixture
        .sampler()
        .map_err(|e| MixtuneError::Input(e.to_string()))
        .map_err(at(0))?;
    let mut state = LoopState {
        step: 0,
        total_steps,
        sampler: sampler.state(),
        examples_per_task: Default::default(),
        first_loss: None,
        last_loss: None,
        best_metric: None,
        best_step: None,
        evals_without_improvement: 0,
        elapsed_s: 0.0,
        method: config.method,
    };
    if let Some((_, dir)) = &resume_from {
        let saved = checkpoint::load_state(dir).map_err(at(0))?;
        if saved.method != config.method {
            return Err(at(0)(MixtuneError::Input(format!(
                "{}: checkpoint is for a {:?} run, the config asks for {:?}",
                dir.display(),
                saved.method,
                config.method
            ))));
        }
        let (model, optimizer) = checkpoint::load_weights(
            dir,
            trainer.model().clone(),
            trainer.new_optimizer(),
            config.method,
        )
        .map_err(at(0))?;
        trainer = Trainer::new(model, config, total_steps).map_err(at(0))?;
        trainer.set_optimizer(optimizer);
        trainer.step = saved.step;
        trainer.examples_seen = saved.examples_per_task.clone();
        sampler = Sampler::restore(mixture.plan(), saved.sampler)
            .map_err(|e| MixtuneError::Input(format!("{}: {e}", dir.display())))
            .map_err(at(0))?;
        state = saved;
        state.total_steps = total_steps;
    }

    let validation = mixture
        .validation_examples(config.eval_examples)
        .map_err(|e| MixtuneError::Input(e.to_string()))
        .map_err(at(0))?;
    let validator = (!validation.is_empty() && config.eval_examples > 0).then(|| Validator {
        examples: validation,
        batcher: batcher.clone(),
        tokenizer: pretrained.tokenizer.clone(),
        defaults: pretrained.defaults.clone(),
        batch_size: config.batch_size,
        max_new_tokens: config.eval_max_new_tokens,
        samples: config.sample_predictions,
    });

    log.emit(RunEvent::Started {
        output_dir: output_dir.to_path_buf(),
        device: crate::device::describe(&device),
        total_steps,
        start_step: state.step,
        trainable_parameters,
        total_parameters,
    });

    let train_examples = mixture.train_examples().max(1) as f64;
    let examples_per_step = config.examples_per_step() as f64;
    let started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let mut last_checkpoint = resume_from.as_ref().map(|(_, dir)| dir.clone());
    let mut last_eval_step = None;
    let mut stopped_early = false;
    let mut cancelled = false;

    let save = |trainer: &Trainer,
                state: &mut LoopState,
                sampler: &Sampler,
                log: &mut EventLog|
     -> Result<PathBuf> {
        state.step = trainer.step;
        state.sampler = sampler.state();
        state.examples_per_task = trainer.examples_seen.clone();
        let dir = checkpoint::save(output_dir, trainer.model(), trainer.optimizer(), state)?;
        let best = if config.keep_best {
            state.best_step
        } else {
            None
        };
        checkpoint::rotate(output_dir, config.keep_last, best)?;
        log.emit(RunEvent::Checkpoint {
            step: trainer.step,
            path: dir.clone(),
        });
        Ok(dir)
    };

    if let (true, 0, Some(validator)) = (config.eval_at_start, trainer.step, &validator) {
        let eval = validator.run(trainer.model(), 0).map_err(at(0))?;
        let metric = metric::value(&config.best_metric, eval.val_loss, &eval.tasks);
        log.emit(RunEvent::Eval(super::events::EvalMetrics {
            metric: metric.unwrap_or(f64::NAN),
            ..eval
        }));
    }
    while trainer.step < total_steps {
        let step = trainer.step;
        let was_cancelled = control.wait_if_paused(&mut |paused| {
            log.emit(if paused {
                RunEvent::Paused { step }
            } else {
                RunEvent::Resumed { step }
            })
        });
        if was_cancelled {
            cancelled = true;
            break;
        }
        // Reseeded per step so a resumed run draws what an uninterrupted one would.
        device.seed(config.seed.wrapping_add(step as u64));
        let mut micro = Vec::with_capacity(config.grad_accumulation);
        for _ in 0..config.grad_accumulation {
            let examples = (&mut sampler)
                .take(config.batch_size)
                .map(|sample| {
                    mixture
                        .render(&sample)
                        .map_err(|e| MixtuneError::Input(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()
                .map_err(at(step))?;
            micro.push(batcher.batch(&examples, &device).map_err(at(step))?);
        }
        let mut metrics = trainer.step(micro).map_err(at(step))?;
        let elapsed = started.elapsed().as_secs_f64();
        let steps_here = trainer.step - resume_from.as_ref().map_or(0, |(s, _)| *s);
        metrics.elapsed_s = elapsed_before + elapsed;
        metrics.epoch = trainer.step as f64 * examples_per_step / train_examples;
        metrics.eta_s =
            Some(elapsed / steps_here.max(1) as f64 * (total_steps - trainer.step) as f64);
        state.first_loss.get_or_insert(metrics.loss);
        state.last_loss = Some(metrics.loss);
        state.elapsed_s = metrics.elapsed_s;
        state.step = trainer.step;
        log.emit(RunEvent::Step(metrics));

        let step = trainer.step;
        let eval_due = config.eval_every > 0 && step % config.eval_every == 0;
        let mut improved = false;
        if let (true, Some(validator)) = (eval_due, &validator) {
            improved = evaluate(
                validator,
                trainer.model(),
                config,
                &mut state,
                output_dir,
                log,
            )
            .map_err(at(step))?;
            last_eval_step = Some(step);
            if !improved
                && config.early_stopping_patience > 0
                && state.evals_without_improvement >= config.early_stopping_patience
            {
                stopped_early = true;
            }
        }
        let save_due = config.save_every > 0 && step % config.save_every == 0;
        // Keep-best needs the weights of every new best.
        if save_due || stopped_early || (improved && config.keep_best) {
            last_checkpoint = Some(save(&trainer, &mut state, &sampler, log).map_err(at(step))?);
        }
        log.check().map_err(at(step))?;
        if stopped_early {
            break;
        }
    }

    let step = trainer.step;
    // A checkpoint of the last step, unless the loop just wrote it.
    let current = checkpoint::checkpoint_dir(output_dir, step);
    if cancelled {
        if step > 0 && last_checkpoint.as_ref() != Some(&current) {
            last_checkpoint = Some(save(&trainer, &mut state, &sampler, log).map_err(at(step))?);
        }
        log.emit(RunEvent::Cancelled {
            step,
            checkpoint: last_checkpoint,
        });
        return Ok(summary(output_dir, &state, step, None, false));
    }

    let final_eval = last_eval_step != Some(step);
    if let (Some(validator), true) = (&validator, final_eval) {
        evaluate(
            validator,
            trainer.model(),
            config,
            &mut state,
            output_dir,
            log,
        )
        .map_err(at(step))?;
    }
    // Saved again after a final validation pass, whose best-metric state it records.
    if (final_eval && validator.is_some()) || last_checkpoint.as_ref() != Some(&current) {
        save(&trainer, &mut state, &sampler, log).map_err(at(step))?;
    }

    // Export: the best checkpoint's weights when one was kept, else the last.
    let mut final_model = trainer.into_model();
    if let (true, Some(best_step)) = (config.keep_best, state.best_step) {
        if best_step != step {
            let dir = checkpoint::checkpoint_dir(output_dir, best_step);
            let optimizer = super::trainer::build_optimizer(config);
            final_model = checkpoint::load_weights(&dir, final_model, optimizer, config.method)
                .map_err(at(step))?
                .0;
        }
    }
    let final_model = final_model.valid();
    let adapter_dir = if config.method == Method::Lora {
        let dir = output_dir.join(ADAPTER_DIR);
        lora::export_peft_adapter(&final_model, &config.lora, &config.model, &dir)
            .map_err(at(step))?;
        Some(dir)
    } else {
        None
    };
    let model_dir = output_dir.join(MODEL_DIR);
    export_hf_dir(
        &final_model,
        &pretrained.tokenizer,
        &pretrained.defaults,
        &model_dir,
    )
    .map_err(at(step))?;
    let mut result = summary(output_dir, &state, step, adapter_dir, stopped_early);
    result.model_dir = model_dir;
    log.emit(RunEvent::Finished(result.clone()));
    Ok(result)
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
        model_dir: output_dir.join(MODEL_DIR),
        adapter_dir,
        steps,
        first_loss: state.first_loss,
        last_loss: state.last_loss,
        best_checkpoint,
        best_metric: state.best_metric,
        stopped_early,
    }
}

/// One validation pass: scores, updates best/early-stopping state, logs the event and
/// writes `eval.json`. Returns whether it improved on the best so far.
fn evaluate(
    validator: &Validator,
    model: &T5ForConditionalGeneration,
    config: &TrainConfig,
    state: &mut LoopState,
    output_dir: &Path,
    log: &mut EventLog,
) -> Result<bool> {
    let mut eval = validator.run(model, state.step)?;
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
        state.best_metric,
        config.early_stopping_threshold,
    );
    eval.metric = value;
    eval.best = improved;
    if improved {
        state.best_metric = Some(value);
        state.best_step = Some(eval.step);
        state.evals_without_improvement = 0;
    } else {
        state.evals_without_improvement += 1;
    }
    let text = serde_json::to_vec_pretty(&eval).map_err(|e| MixtuneError::Input(e.to_string()))?;
    write_atomic(&output_dir.join(EVAL_FILE), &text)?;
    log.emit(RunEvent::Eval(eval));
    Ok(improved)
}

/// Total and trainable parameter counts.
fn parameter_counts(model: &T5ForConditionalGeneration) -> (usize, usize) {
    let total = model.num_params();
    let trainable = if lora::adapters(model).is_empty() {
        total
    } else {
        lora::adapters(model)
            .iter()
            .map(|(_, a)| {
                a.a.val().dims().iter().product::<usize>()
                    + a.b.val().dims().iter().product::<usize>()
            })
            .sum()
    };
    (total, trainable)
}
