//! What a training run reports while it runs: one JSON line per event in `metrics.jsonl`,
//! the same values the desktop app receives live.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::trainer::StepMetrics;

/// ROUGE F-measures and loss of one task on the validation sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct TaskEval {
    /// Mean cross-entropy of the references (teacher forcing).
    pub loss: f64,
    pub rouge1: f64,
    pub rouge2: f64,
    #[serde(rename = "rougeL")]
    pub rouge_l: f64,
    #[serde(rename = "rougeLsum")]
    pub rouge_lsum: f64,
    /// Validation examples scored.
    pub examples: usize,
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
    /// Per task.
    pub tasks: BTreeMap<String, TaskEval>,
    /// The value of the config's `best_metric` (e.g. `val_loss`, `rouge1`, `summary/rougeL`).
    pub metric: f64,
    /// Whether this pass improved on every earlier one (by `best_metric`).
    pub best: bool,
    /// A few predictions with their references.
    pub samples: Vec<SamplePrediction>,
    /// Seconds the pass took.
    pub seconds: f64,
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
    /// The run was cancelled; the last checkpoint (if any) can be resumed.
    Cancelled {
        step: usize,
        checkpoint: Option<PathBuf>,
    },
    /// The run failed; the message names what was wrong.
    Failed { step: usize, message: String },
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
}
