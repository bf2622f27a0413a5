//! What a training run reports while it runs: one JSON line per event in `metrics.jsonl`,
//! the same values the desktop app receives live.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::forgetting::{ForgettingReport, TaskChange, FORGETTING_METRIC};
use super::run_dir::RunDir;
use crate::error::{MixtuneError, Result};
use crate::eval::rouge::MeanRouge;
use crate::fsutil::write_atomic;

/// ROUGE F-measures and loss of one task on the validation sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct TaskEval {
    /// Mean cross-entropy of the references (teacher forcing).
    pub loss: f64,
    /// Mean ROUGE F-measures (in the JSON beside `loss`, as `rouge1` … `rougeLsum`).
    #[serde(flatten)]
    #[ts(flatten)]
    pub rouge: MeanRouge,
    /// Validation examples scored.
    pub examples: usize,
    /// Share of the predictions' facts (names, numbers, dates, …) not in their sources
    /// (`eval::facts`); 0 in logs from before the check.
    #[serde(default)]
    pub invented_rate: f64,
}

/// One generated validation example, shown next to its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct SamplePrediction {
    pub task: String,
    pub example_id: String,
    pub source: String,
    pub reference: String,
    pub prediction: String,
}

/// A validation pass: loss over all tasks' held-out examples and ROUGE per task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct EvalMetrics {
    /// Optimizer steps done when it ran.
    pub step: usize,
    /// Mean validation loss over every task's examples.
    pub val_loss: f64,
    /// Per trained task.
    pub tasks: BTreeMap<String, TaskEval>,
    /// Per `[[watch]]` task: scored, never trained on, and left out of `val_loss` and
    /// `metric`, so watching does not change which checkpoint is best.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub watched: BTreeMap<String, TaskEval>,
    /// Every task's ROUGE-L from the baseline pass (step 0) to this one, drops beyond the
    /// run's `forgetting_threshold` flagged; absent on the baseline pass itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgetting: Option<ForgettingReport>,
    /// The value of the config's `best_metric` (e.g. `val_loss`, `rouge1`, `summary/rougeL`).
    pub metric: f64,
    /// Whether this pass improved on every earlier one (by `best_metric`).
    pub best: bool,
    /// A few predictions with their references.
    pub samples: Vec<SamplePrediction>,
    /// Seconds the pass took.
    pub seconds: f64,
}

impl EvalMetrics {
    /// What changed since `baseline`, another validation pass of the same mixture: the
    /// forgetting report. A task scored in only one of them is left out.
    pub fn forgetting_since(&self, baseline: &EvalMetrics, threshold: f64) -> ForgettingReport {
        let now = self;
        let changes = |watched: bool,
                       before: &BTreeMap<String, TaskEval>,
                       after: &BTreeMap<String, TaskEval>| {
            after
                .iter()
                .filter_map(|(task, eval)| {
                    let base = before.get(task)?;
                    Some(TaskChange::new(
                        task,
                        watched,
                        base.rouge.rouge_l,
                        eval.rouge.rouge_l,
                        threshold,
                    ))
                })
                .collect::<Vec<_>>()
        };
        let mut tasks = changes(false, &baseline.tasks, &now.tasks);
        tasks.extend(changes(true, &baseline.watched, &now.watched));
        ForgettingReport {
            metric: FORGETTING_METRIC.to_string(),
            threshold,
            baseline_step: baseline.step,
            step: now.step,
            tasks,
        }
    }
}

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
    /// Seconds this step took (a step on a new batch shape includes compiling, and on a
    /// GPU tuning, its kernels).
    #[serde(default)]
    pub seconds: f64,
    /// Examples of each task seen so far in the run (this step included).
    pub examples_per_task: BTreeMap<String, usize>,
    /// Distinct batch shapes stepped on so far in this process (batches are padded to
    /// length buckets, so this stays small; each new shape compiles kernels on a GPU).
    #[serde(default)]
    pub distinct_shapes: usize,
    /// Passes over the mixture's training examples so far (fractional).
    #[serde(default)]
    pub epoch: f64,
    /// Seconds of training so far in this process (pauses excluded).
    #[serde(default)]
    pub elapsed_s: f64,
    /// Estimated seconds to `max_steps` at the recent step rate.
    #[serde(default)]
    pub eta_s: Option<f64>,
    /// f16 runs (`precision = "f16"`): the loss scale, whether this step was skipped for
    /// overflowing gradients (its `grad_norm` is then 0) and the skipped steps so far; `null`
    /// in f32.
    #[serde(default)]
    pub loss_scale: Option<super::loss_scale::LossScaleReport>,
}

/// What a finished (or stopped) run left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct RunSummary {
    pub output_dir: PathBuf,
    /// The exported model: an HF folder, or for LoRA the merged model.
    pub model_dir: PathBuf,
    /// The PEFT adapter folder of a LoRA run.
    pub adapter_dir: Option<PathBuf>,
    /// Optimizer steps done.
    pub steps: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// The best checkpoint by `best_metric`, when validation ran.
    pub best_checkpoint: Option<PathBuf>,
    pub best_metric: Option<f64>,
    /// Whether early stopping ended the run before `max_steps`.
    pub stopped_early: bool,
    /// The last validation pass's forgetting report (baseline → end, every task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgetting: Option<ForgettingReport>,
}

/// An event of a run, tagged by `kind` in JSON (`{"kind": "step", "step": 3, ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunEvent {
    /// The model is loaded and the loop is about to start (`start_step` > 0 on resume).
    Started {
        output_dir: PathBuf,
        device: String,
        total_steps: usize,
        start_step: usize,
        trainable_parameters: usize,
        total_parameters: usize,
        /// What the user should know before the run goes on: a damaged checkpoint skipped,
        /// a stale lock taken over, validation the data cannot give.
        #[serde(default)]
        notes: Vec<String>,
    },
    /// The next step's batch shape is new to this process on a GPU: its kernels are compiled
    /// (and tuned) before it runs, which takes seconds once per shape. `cached`: an earlier
    /// run on this machine prepared the same shape, so most of that work comes from caches.
    PreparingKernels {
        /// The step about to run (1 for the first).
        step: usize,
        batch: usize,
        source_len: usize,
        target_len: usize,
        cached: bool,
    },
    /// An optimizer step finished.
    Step(StepMetrics),
    /// A validation pass finished.
    Eval(EvalMetrics),
    /// A checkpoint was written (complete, renamed into place).
    Checkpoint { step: usize, path: PathBuf },
    /// The run is paused before the next step.
    Paused { step: usize },
    /// The run goes on.
    Resumed { step: usize },
    /// The run finished (max steps, end of data or early stopping) and exported its model.
    Finished(RunSummary),
    /// A resume went on with a config that differs from the run's record in keys that change
    /// training (`--allow-config-change`): `key: before → after`, from this step on.
    ConfigChanged { step: usize, changes: Vec<String> },
    /// The run was cancelled; the last checkpoint (if any) can be resumed.
    Cancelled {
        step: usize,
        checkpoint: Option<PathBuf>,
    },
    /// The run failed; the message names what was wrong.
    Failed { step: usize, message: String },
}

impl RunEvent {
    /// The optimizer step the event belongs to.
    pub fn step(&self) -> usize {
        match self {
            Self::Started { start_step, .. } => *start_step,
            Self::Step(m) => m.step,
            Self::Eval(e) => e.step,
            Self::Checkpoint { step, .. }
            | Self::PreparingKernels { step, .. }
            | Self::Paused { step }
            | Self::Resumed { step }
            | Self::ConfigChanged { step, .. }
            | Self::Cancelled { step, .. }
            | Self::Failed { step, .. } => *step,
            Self::Finished(summary) => summary.steps,
        }
    }

    /// What a [`RunEvent::PreparingKernels`] says on the terminal and in the app (`None` for
    /// other events).
    pub fn preparing_message(&self) -> Option<String> {
        let Self::PreparingKernels {
            batch,
            source_len,
            target_len,
            cached,
            ..
        } = self
        else {
            return None;
        };
        let shape = format!("{batch}×{source_len}→{target_len} tokens");
        Some(if *cached {
            format!("loading GPU kernels for batch shape {shape} (prepared by an earlier run)")
        } else {
            format!(
                "preparing GPU kernels for batch shape {shape} (first use on this GPU only: \
                 compiled and tuned once, then cached)"
            )
        })
    }

    /// Whether the event ends a run.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Cancelled { .. } | Self::Failed { .. } | Self::Finished(_)
        )
    }
}

/// Reads a run's event log; lines that do not parse (a line cut by a crash) are skipped.
pub fn read_events(output_dir: &Path) -> Result<Vec<RunEvent>> {
    let path = RunDir::new(&output_dir).metrics();
    let text = std::fs::read_to_string(&path).map_err(|e| MixtuneError::io(&path, e))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

/// Appends events to `metrics.jsonl` and hands them on to the caller's callback. Write
/// errors are kept and reported by [`EventLog::check`], so a full disk stops the run at the
/// next check without losing the event the callback got.
pub struct EventLog<'a> {
    file: std::fs::File,
    path: PathBuf,
    on_event: &'a mut dyn FnMut(&RunEvent),
    error: Option<std::io::Error>,
    /// The step of the latest event (failures are reported at it).
    pub step: usize,
    /// A `failed` line should the process abort while the log is open (see `abort_note`).
    abort: Option<super::abort_note::Armed>,
}

impl<'a> EventLog<'a> {
    /// Opens the log of `output_dir`. A fresh run starts it empty; a run resumed from the
    /// checkpoint of step `step`, whose log held `previous` (as [`read_events`] read it),
    /// keeps the events up to that step and drops the later ones (and any final event), so
    /// the log reads as one uninterrupted run.
    pub fn open(
        output_dir: &Path,
        resumed: Option<(usize, &[RunEvent])>,
        on_event: &'a mut dyn FnMut(&RunEvent),
    ) -> Result<Self> {
        let path = RunDir::new(&output_dir).metrics();
        if let Some((step, previous)) = resumed {
            let kept: Vec<String> = previous
                .iter()
                .filter(|event| event.step() <= step && !event.is_final())
                .filter_map(|event| serde_json::to_string(event).ok())
                .collect();
            let mut text = kept.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            write_atomic(&path, text.as_bytes())?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(resumed.is_some())
            .write(true)
            .truncate(resumed.is_none())
            .open(&path)
            .map_err(|e| MixtuneError::io(&path, e))?;
        let abort = super::abort_note::arm(&file);
        let step = resumed.map_or(0, |(step, _)| step);
        if let Some(armed) = &abort {
            armed.set_step(step);
        }
        Ok(Self {
            file,
            path,
            on_event,
            error: None,
            step,
            abort,
        })
    }

    /// Writes `event` as one line and hands it to the callback.
    pub fn emit(&mut self, event: RunEvent) {
        self.step = event.step();
        if let Some(armed) = &self.abort {
            armed.set_step(self.step);
        }
        let line = serde_json::to_string(&event).unwrap_or_default();
        if let Err(e) = writeln!(self.file, "{line}").and_then(|_| self.file.flush()) {
            self.error.get_or_insert(e);
        }
        (self.on_event)(&event);
    }

    /// The first write error since the last check, naming the log file.
    pub fn check(&mut self) -> Result<()> {
        match self.error.take() {
            Some(e) => Err(MixtuneError::io(&self.path, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_kind_and_round_trip() {
        let event = RunEvent::Checkpoint {
            step: 7,
            path: "out/checkpoints/step-7".into(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "checkpoint");
        assert_eq!(json["step"], 7);
        let back: RunEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn preparing_kernels_belongs_to_the_step_it_precedes_and_says_so() {
        let event = RunEvent::PreparingKernels {
            step: 3,
            batch: 8,
            source_len: 512,
            target_len: 128,
            cached: false,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "preparing_kernels");
        assert_eq!(event.step(), 3);
        assert!(!event.is_final());
        let message = event.preparing_message().unwrap();
        assert!(message.contains("8×512→128"), "{message}");
        assert!(message.contains("first use"), "{message}");
        let cached = RunEvent::PreparingKernels {
            step: 3,
            batch: 8,
            source_len: 512,
            target_len: 128,
            cached: true,
        };
        assert!(cached.preparing_message().unwrap().contains("earlier run"));
        assert_eq!(RunEvent::Paused { step: 1 }.preparing_message(), None);
    }

    fn eval(rouge_l: f64) -> TaskEval {
        TaskEval {
            loss: 1.0,
            rouge: MeanRouge {
                rouge1: 0.5,
                rouge2: 0.2,
                rouge_l,
                rouge_lsum: rouge_l,
            },
            examples: 8,
            invented_rate: 0.0,
        }
    }

    fn pass(step: usize, trained: &[(&str, f64)], watched: &[(&str, f64)]) -> EvalMetrics {
        let map = |scores: &[(&str, f64)]| {
            scores
                .iter()
                .map(|&(task, rouge_l)| (task.to_string(), eval(rouge_l)))
                .collect()
        };
        EvalMetrics {
            step,
            val_loss: 1.0,
            tasks: map(trained),
            watched: map(watched),
            forgetting: None,
            metric: 1.0,
            best: false,
            samples: Vec::new(),
            seconds: 0.0,
        }
    }

    #[test]
    fn compares_trained_and_watched_tasks_from_the_baseline() {
        let baseline = pass(0, &[("summary", 0.20)], &[("topic", 0.40), ("gone", 0.3)]);
        let now = pass(
            50,
            &[("summary", 0.31)],
            &[("topic", 0.385), ("new", 0.5), ("gone", 0.1)],
        );
        let report = now.forgetting_since(&baseline, 0.02);
        assert_eq!((report.baseline_step, report.step), (0, 50));
        assert_eq!(report.metric, "rougeL");
        let tasks: Vec<(&str, bool, bool)> = report
            .tasks
            .iter()
            .map(|c| (c.task.as_str(), c.watched, c.dropped))
            .collect();
        // `new` has no baseline and is left out; `gone` fell by 0.2, `topic` by 0.015.
        assert_eq!(
            tasks,
            [
                ("summary", false, false),
                ("gone", true, true),
                ("topic", true, false)
            ]
        );
        for change in &report.tasks {
            assert!((change.delta - (change.now - change.baseline)).abs() < 1e-15);
        }
        assert!((report.tasks[0].delta - 0.11).abs() < 1e-12);
        assert_eq!(
            (report.tasks[2].baseline, report.tasks[2].now),
            (0.40, 0.385)
        );
        let table = report.table("step 0", "step 50");
        assert!(
            table.contains("a drop of more than 0.020 flagged"),
            "{table}"
        );
        let gone = table.lines().find(|l| l.starts_with("gone")).unwrap();
        assert!(gone.contains("watched") && gone.contains("-0.2000") && gone.ends_with("DROPPED"));
        let summary = table.lines().find(|l| l.starts_with("summary")).unwrap();
        assert!(
            summary.contains("+0.1100") && !summary.contains("DROPPED"),
            "{table}"
        );
        assert!(table.ends_with("1 of 3 tasks dropped by more than 0.020 ROUGE-L: gone\n"));
    }

    #[test]
    fn a_task_evals_rouge_stays_beside_its_loss_in_the_json() {
        let json = serde_json::to_value(eval(0.25)).unwrap();
        assert_eq!(json["rougeL"], 0.25);
        assert_eq!(json["rouge1"], 0.5);
        assert!(json.get("rouge").is_none(), "{json}");
        let back: TaskEval = serde_json::from_value(json).unwrap();
        assert_eq!(back, eval(0.25));
    }
}
