//! Preparing the GPU kernels of the Train page's settings ahead of a run, what
//! `mixtune prepare-gpu --config` does: how many of the run's shapes this machine has
//! prepared, and preparing the rest with progress and cancel (`mixtune::train::prepare`).

use anyhow::Context;
use mixtune::device::kernel_shapes::ShapeRecord;
use mixtune::train::prepare::{prepare, PreparePlan, PrepareProgress, ShapeOutcome};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager};
use ts_rs::TS;

use super::train::{write_run_config, TrainSpec};
use crate::error::{blocking, CmdError, CmdResult};
use crate::state::AppState;

/// How far this machine's GPU kernels are prepared for a run of the given settings.
#[derive(Debug, Clone, Serialize, TS)]
pub struct GpuPreparation {
    /// False on the CPU, which compiles no kernels: there is nothing to prepare.
    pub on_gpu: bool,
    pub device: String,
    /// Steps of the plan: a training step per length bucket, a short generation per prompt
    /// length class (0 on the CPU).
    pub training_shapes: usize,
    pub generations: usize,
    /// How many of those steps an earlier run or preparation on this machine recorded.
    pub prepared: usize,
    /// Whether this build keeps tuning results between runs (`gpu-cache`, what set-up builds);
    /// without it only the driver's pipeline cache outlasts the app.
    pub keeps_tuning: bool,
}

/// What a finished preparation did.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PrepareSummary {
    /// Steps run now, and steps skipped because an earlier run or preparation recorded them.
    pub prepared: usize,
    pub skipped: usize,
    pub seconds: f64,
}

/// How far the GPU kernels of a run of `spec` are prepared (nothing is run).
#[tauri::command]
pub async fn gpu_preparation(app: AppHandle, spec: TrainSpec) -> CmdResult<GpuPreparation> {
    blocking(move || {
        let state = app.state::<AppState>();
        let selected = state.device();
        let mut status = GpuPreparation {
            on_gpu: selected.is_gpu,
            device: selected.label.clone(),
            training_shapes: 0,
            generations: 0,
            prepared: 0,
            keeps_tuning: cfg!(feature = "gpu-cache"),
        };
        if !selected.is_gpu {
            return Ok(status);
        }
        let plan = plan_for(spec, false)?;
        status.training_shapes = plan.lengths.len();
        status.generations = plan.generations.len();
        status.prepared = plan.prepared_steps(&selected.device, &ShapeRecord::open());
        Ok(status)
    })
    .await
}

/// Runs the steps of `spec`'s plan that this machine has not prepared, each one's start and end
/// sent to `on_event`; cancellable through `cancel_task(task_id)` (between steps). Refused
/// (`busy`) while a run trains in this window or another preparation runs, and on the CPU
/// (`input`: nothing to prepare).
#[tauri::command]
pub async fn prepare_gpu(
    app: AppHandle,
    spec: TrainSpec,
    task_id: String,
    on_event: Channel<PrepareProgress>,
) -> CmdResult<PrepareSummary> {
    blocking(move || {
        let state = app.state::<AppState>();
        let selected = state.device();
        if !selected.is_gpu {
            return Err(CmdError::input(format!(
                "the app computes on the CPU ({}), which compiles no kernels: nothing to prepare",
                selected.label
            ))
            .into());
        }
        let task = state.task(Some(task_id.clone()))?;
        let _running = state.claims().preparation(&task_id)?;
        // The model is fetched here if it is not on this machine yet, as Start would.
        let plan = plan_for(spec, true)?;
        let started = std::time::Instant::now();
        let mut record = ShapeRecord::open();
        let send = |event: PrepareProgress| {
            let _ = on_event.send(event);
        };
        let outcomes = task.outcome(prepare(
            &plan,
            &selected.device,
            &mut record,
            false,
            &task.flag,
            send,
        ))?;
        let skipped = (outcomes.iter())
            .filter(|(_, outcome)| *outcome == ShapeOutcome::AlreadyPrepared)
            .count();
        Ok(PrepareSummary {
            prepared: outcomes.len() - skipped,
            skipped,
            seconds: started.elapsed().as_secs_f64(),
        })
    })
    .await
}

/// The plan of a run of `spec`: its files written to a temporary folder, read back as the run
/// would read them (`download`: fetch a hub model that is not on this machine).
fn plan_for(spec: TrainSpec, download: bool) -> anyhow::Result<PreparePlan> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let (config, paths) = write_run_config(dir.path(), spec)?;
    Ok(PreparePlan::for_run_config(&config, &paths, download)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The Train page's settings become the plan a run of them meets: the model's dims, the
    /// batch, precision and adapters, and the mixture's length limits.
    #[test]
    fn the_pages_settings_make_the_runs_plan() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
        let model = shared.join("fixtures/tiny-flan");
        let data = shared.join("data/dialogsum/dialogsum.dev.jsonl");
        let spec = TrainSpec {
            mix: json!({
                "mixture": {"max_source_tokens": 200, "max_target_tokens": 48},
                "task": [{"name": "summary", "data": data, "template": "dialogue_summary"}],
            }),
            config: json!({
                "model": model, "max_steps": 3, "batch_size": 4, "precision": "f16",
                "method": "full", "learning_rate": null,
            }),
        };
        let plan = plan_for(spec.clone(), false).unwrap();
        assert_eq!(plan.batch, 4);
        assert_eq!(plan.precision, mixtune::model::Precision::F16);
        assert!(plan.lora.is_none());
        assert_eq!(plan.lengths[0], [200, 48]);
        assert_eq!(plan.generations[0], [1, 200]);

        let bad = TrainSpec {
            config: json!({"model": model, "max_steps": 3, "batch_size": "eight"}),
            ..spec
        };
        let error = format!("{:#}", plan_for(bad, false).unwrap_err());
        assert!(
            error.contains("run.toml") && error.contains("\"eight\""),
            "{error}"
        );
    }
}
