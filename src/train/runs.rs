//! Run history: every folder under a runs root that holds a run's event log, summarised
//! from its config and events (`mixtune runs`, the app's history).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::config::{Method, TrainConfig};
pub use super::events::read_events;
use super::events::RunEvent;
use super::run_dir::RunDir;
use crate::error::{MixtuneError, Result};

/// Where a run stands, from the last event of its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not ended, and a live process holds the run folder's lock.
    Running,
    Paused,
    /// Started and not ended, but no live process holds it: the process was killed, crashed
    /// or closed (the app quit mid-run). Resumable from its checkpoints.
    Interrupted,
    Finished,
    Cancelled,
    Failed,
}

/// One run of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct RunInfo {
    /// The folder name.
    pub id: String,
    pub output_dir: PathBuf,
    /// The base model the config names.
    pub model: String,
    pub method: Method,
    pub status: RunStatus,
    /// Steps done and planned.
    pub steps: usize,
    pub total_steps: usize,
    pub last_loss: Option<f64>,
    /// Last validation loss and mean ROUGE-1 over tasks.
    pub val_loss: Option<f64>,
    pub rouge1: Option<f64>,
    /// Best value of the config's `best_metric`, and that metric's name.
    pub best_metric: Option<f64>,
    pub best_metric_name: String,
    /// Complete checkpoints on disk.
    pub checkpoints: usize,
    /// Whether `--resume` (the app's Resume) can continue it: not finished, not running,
    /// and a checkpoint on disk.
    pub resumable: bool,
    /// The exported model folder, once the run finished.
    pub model_dir: Option<PathBuf>,
    /// Error message of a failed run.
    pub error: Option<String>,
    /// Tasks the latest forgetting report flags (ROUGE-L fell by more than the threshold
    /// since step 0).
    #[serde(default)]
    pub dropped_tasks: Vec<String>,
    /// Seconds since the epoch of the log's last change.
    pub modified: u64,
}

impl RunInfo {
    /// A run in `dir` known only by its folder: failed, no steps ([`run_info`] fills in
    /// the rest from the config and the log).
    fn blank(dir: &Path) -> Self {
        Self {
            id: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            output_dir: dir.to_path_buf(),
            model: String::new(),
            method: Method::Full,
            status: RunStatus::Failed,
            steps: 0,
            total_steps: 0,
            last_loss: None,
            val_loss: None,
            rouge1: None,
            best_metric: None,
            best_metric_name: String::new(),
            checkpoints: 0,
            resumable: false,
            model_dir: None,
            error: None,
            dropped_tasks: Vec::new(),
            modified: 0,
        }
    }
}

/// Summarises the run in `dir` (which holds `metrics.jsonl`).
pub fn run_info(dir: &Path) -> Result<RunInfo> {
    let config = TrainConfig::from_file(&RunDir::new(&dir).config())?;
    let events = read_events(dir)?;
    let mut info = RunInfo {
        model: config.model.clone(),
        method: config.method,
        status: RunStatus::Running,
        total_steps: config.max_steps,
        best_metric_name: config.best_metric.clone(),
        checkpoints: checkpoint::list(dir)?.len(),
        modified: std::fs::metadata(RunDir::new(&dir).metrics())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs()),
        ..RunInfo::blank(dir)
    };
    for event in &events {
        match event {
            RunEvent::Started { total_steps, .. } => {
                info.total_steps = *total_steps;
                info.status = RunStatus::Running;
            }
            RunEvent::Step(m) => {
                info.steps = m.step;
                info.last_loss = Some(m.loss);
            }
            RunEvent::Eval(e) => {
                info.val_loss = Some(e.val_loss);
                if !e.tasks.is_empty() {
                    info.rouge1 = Some(
                        e.tasks.values().map(|t| t.rouge.rouge1).sum::<f64>()
                            / e.tasks.len() as f64,
                    );
                }
                if e.best {
                    info.best_metric = Some(e.metric);
                }
                if let Some(report) = &e.forgetting {
                    info.dropped_tasks = report.dropped().map(|t| t.task.clone()).collect();
                }
            }
            RunEvent::Paused { .. } => info.status = RunStatus::Paused,
            RunEvent::Resumed { .. }
            | RunEvent::ConfigChanged { .. }
            | RunEvent::Checkpoint { .. }
            | RunEvent::PreparingKernels { .. } => {
                if info.status == RunStatus::Paused && matches!(event, RunEvent::Resumed { .. }) {
                    info.status = RunStatus::Running;
                }
            }
            RunEvent::Finished(summary) => {
                info.status = RunStatus::Finished;
                info.steps = summary.steps;
                let model_dir = RunDir::new(&dir).model();
                info.model_dir = model_dir.is_dir().then_some(model_dir);
            }
            RunEvent::Cancelled { .. } => info.status = RunStatus::Cancelled,
            RunEvent::Failed { message, .. } => {
                info.status = RunStatus::Failed;
                info.error = Some(message.clone());
            }
        }
    }
    let live = super::lock::live_holder(dir).is_some();
    if !live && matches!(info.status, RunStatus::Running | RunStatus::Paused) {
        info.status = RunStatus::Interrupted;
    }
    info.resumable = info.checkpoints > 0 && !live && info.status != RunStatus::Finished;
    Ok(info)
}

/// Every run directly under `root`, newest first. Folders without an event log are skipped;
/// a run whose files do not read is reported as failed with the reason.
pub fn list_runs(root: &Path) -> Result<Vec<RunInfo>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MixtuneError::io(root, e)),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let dir = entry.map_err(|e| MixtuneError::io(root, e))?.path();
        if !RunDir::new(&dir).metrics().is_file() {
            continue;
        }
        runs.push(run_info(&dir).unwrap_or_else(|error| RunInfo {
            error: Some(error.to_string()),
            ..RunInfo::blank(&dir)
        }));
    }
    runs.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.id.cmp(&b.id)));
    Ok(runs)
}
