//! Evaluation: ROUGE of a model (and optionally a base model to compare) on a dataset file,
//! with progress and cancel; the report exported as CSV.

use std::path::PathBuf;

use mixtune::eval::compare::{self, EvalReport, EvalRequest};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager};

use super::summarize::Progress;
use crate::error::{blocking, CmdResult};
use crate::state::{absolute, AppState};

/// Generates for every example and scores it; cancellable through `cancel_task(task_id)`.
#[tauri::command]
pub async fn evaluate(
    app: AppHandle,
    request: EvalRequest,
    on_progress: Channel<Progress>,
    task_id: Option<String>,
) -> CmdResult<EvalReport> {
    blocking(move || {
        let state = app.state::<AppState>();
        let task = state.task(task_id)?;
        let mut progress = |done, total| {
            let _ = on_progress.send(Progress { done, total });
        };
        let report = task.outcome(compare::evaluate(
            &request,
            &state.device().device,
            &mut progress,
            &task.flag,
        ))?;
        Ok(report)
    })
    .await
}

/// Writes an evaluation report as CSV.
#[tauri::command]
pub async fn export_eval_csv(report: EvalReport, path: PathBuf) -> CmdResult<()> {
    blocking(move || Ok(compare::write_csv(&report, &absolute(&path))?)).await
}
