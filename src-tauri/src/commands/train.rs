//! Training: a run folder per start (`mix.toml`, `run.toml`, then the engine's
//! `metrics.jsonl`, checkpoints and `model/`), events streamed over a channel, and
//! pause / resume / cancel through the engine's `RunControl`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use mixtune::train::compare::{self, RunComparison};
use mixtune::train::events::RunEvent;
use mixtune::train::run_dir::RunDir;
use mixtune::train::runs::{self, RunInfo};
use mixtune::train::TrainConfig;
use mixtune::train::{self, RunControl, RunOptions, RunPaths};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};
use ts_rs::TS;

use super::mix::write_mix;
use crate::error::{blocking, CmdError, CmdResult};
use crate::state::{lock, AppState, RunHandle};

/// `start_training`'s spec: the mix and the run config (TOML keys as JSON; `mixture` and
/// `output_dir` are filled in here).
#[derive(Debug, Clone, Deserialize)]
pub struct TrainSpec {
    pub mix: Value,
    pub config: Value,
}

/// The started run.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StartedRun {
    pub run_id: String,
    pub output_dir: PathBuf,
}

/// Writes the run folder and starts training on a background thread; every event goes to
/// `on_event` (and to the run's `metrics.jsonl`).
#[tauri::command]
pub async fn start_training(
    app: AppHandle,
    spec: TrainSpec,
    on_event: Channel<RunEvent>,
) -> CmdResult<StartedRun> {
    blocking(move || {
        let state = app.state::<AppState>();
        state.claims().no_preparation()?;
        let (run_id, dir) = new_run_dir(&state.runs_dir)?;
        let claimed = write_run_config(&dir, spec).and_then(|(config, paths)| {
            let control = claim_run(&state, &run_id, &paths)?;
            Ok((config, paths, control))
        });
        let (config, paths, control) = match claimed {
            Ok(claimed) => claimed,
            Err(error) => {
                // Leave no half-written run behind for a spec that never started.
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        };
        let options = RunOptions::default();
        launch(&app, run_id, control, config, paths, options, on_event)
    })
    .await
}

/// Continues a run from its latest intact checkpoint, the path of `mixtune train --resume`
/// (after a crash, a cancel or an app restart); every new event goes to `on_event`.
#[tauri::command]
pub async fn resume_run(
    app: AppHandle,
    run_id: String,
    on_event: Channel<RunEvent>,
) -> CmdResult<StartedRun> {
    blocking(move || {
        let state = app.state::<AppState>();
        let dir = run_dir(&state.runs_dir, &run_id)?;
        state.claims().no_preparation()?;
        let config_file = RunDir::new(&dir).config();
        if !config_file.is_file() {
            return Err(CmdError::not_found(format!(
                "no run `{run_id}` (no {})",
                config_file.display()
            ))
            .into());
        }
        let config = TrainConfig::from_file(&config_file)?;
        let paths = RunPaths::resolve(&config_file, &config);
        let options = RunOptions {
            show_progress: false,
            resume: true,
            ..Default::default()
        };
        let control = claim_run(&state, &run_id, &paths)?;
        launch(&app, run_id, control, config, paths, options, on_event)
    })
    .await
}

/// Registers run `run_id` as training in this window ([`crate::claims`]: refused beside a
/// GPU kernel preparation, or when the run trains here already); its control.
fn claim_run(state: &AppState, run_id: &str, paths: &RunPaths) -> CmdResult<RunControl> {
    let control = RunControl::new();
    let handle = RunHandle {
        control: control.clone(),
        output_dir: paths.output_dir.clone(),
    };
    state.claims().run(run_id, handle)?;
    Ok(control)
}

/// Starts `config` on a background thread with the app's device under the `control` that
/// [`claim_run`] registered for `run_id`, and watches it: forgotten when it ends, a failure
/// the events did not carry reported on `on_event`.
fn launch(
    app: &AppHandle,
    run_id: String,
    control: RunControl,
    config: TrainConfig,
    paths: RunPaths,
    options: RunOptions,
    on_event: Channel<RunEvent>,
) -> anyhow::Result<StartedRun> {
    let state = app.state::<AppState>();
    let output_dir = paths.output_dir.clone();
    let ended = Arc::new(AtomicBool::new(false));
    let ended_in_events = ended.clone();
    let events = on_event.clone();
    let handle = train::spawn(
        config,
        paths,
        state.device().device.clone(),
        options,
        control,
        move |event: &RunEvent| {
            if matches!(
                event,
                RunEvent::Finished(_) | RunEvent::Cancelled { .. } | RunEvent::Failed { .. }
            ) {
                ended_in_events.store(true, Ordering::SeqCst);
            }
            let _ = events.send(event.clone());
        },
    );
    let watcher_app = app.clone();
    let watched_id = run_id.clone();
    std::thread::Builder::new()
        .name(format!("watch-{run_id}"))
        .spawn(move || {
            let outcome = match handle.join() {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some("the training thread panicked".to_string()),
            };
            if let Some(message) = outcome {
                if !ended.load(Ordering::SeqCst) {
                    let _ = on_event.send(RunEvent::Failed { step: 0, message });
                }
            }
            lock(&watcher_app.state::<AppState>().runs).remove(&watched_id);
        })
        .context("starting the run watcher")?;
    Ok(StartedRun { run_id, output_dir })
}

/// Writes `mix.toml` and `run.toml` into `dir`; returns the config as the engine parsed it and
/// its resolved paths.
pub(super) fn write_run_config(
    dir: &Path,
    spec: TrainSpec,
) -> anyhow::Result<(TrainConfig, RunPaths)> {
    let mix_path = write_mix(spec.mix, dir)?;
    let Value::Object(mut config) = spec.config else {
        bail!(CmdError::input(
            "the training config must be an object of run.toml keys"
        ));
    };
    config.retain(|_, v| !v.is_null());
    config.insert(
        "mixture".into(),
        Value::String(mix_path.display().to_string()),
    );
    config.insert(
        "output_dir".into(),
        Value::String(dir.display().to_string()),
    );
    let text = toml::to_string(&Value::Object(config)).context("writing the config as TOML")?;
    let path = RunDir::new(&dir).config();
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    // Parsed once, by the engine, so a bad value is named before the thread starts.
    let config = TrainConfig::parse(&path, &text)?;
    let paths = RunPaths::resolve(&path, &config);
    Ok((config, paths))
}

/// A new folder `run-YYYYMMDD-HHMMSS[-N]` under `runs_dir`.
fn new_run_dir(runs_dir: &Path) -> anyhow::Result<(String, PathBuf)> {
    std::fs::create_dir_all(runs_dir)
        .with_context(|| format!("creating {}", runs_dir.display()))?;
    let stamp = utc_stamp(SystemTime::now());
    for n in 0..1000 {
        let id = if n == 0 {
            format!("run-{stamp}")
        } else {
            format!("run-{stamp}-{n}")
        };
        let dir = runs_dir.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("could not name a new run folder in {}", runs_dir.display())
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_stamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn running(state: &AppState, run_id: &str) -> CmdResult<RunControl> {
    lock(&state.runs)
        .get(run_id)
        .map(|run| run.control.clone())
        .ok_or_else(|| CmdError::not_found(format!("no running training `{run_id}`")))
}

/// Pauses a run before its next step.
#[tauri::command]
pub fn pause_training(state: State<'_, AppState>, run_id: String) -> CmdResult<()> {
    running(&state, &run_id)?.pause();
    Ok(())
}

/// Resumes a paused run.
#[tauri::command]
pub fn resume_training(state: State<'_, AppState>, run_id: String) -> CmdResult<()> {
    running(&state, &run_id)?.resume();
    Ok(())
}

/// Cancels a run (it writes a checkpoint and reports `cancelled`).
#[tauri::command]
pub fn cancel_training(state: State<'_, AppState>, run_id: String) -> CmdResult<()> {
    running(&state, &run_id)?.cancel();
    Ok(())
}

/// Every run under the runs folder.
#[tauri::command]
pub async fn list_runs(state: State<'_, AppState>) -> CmdResult<Vec<RunInfo>> {
    let runs_dir = state.runs_dir.clone();
    blocking(move || Ok(runs::list_runs(&runs_dir)?)).await
}

/// A run's recorded events (`metrics.jsonl`).
#[tauri::command]
pub async fn run_events(state: State<'_, AppState>, run_id: String) -> CmdResult<Vec<RunEvent>> {
    let dir = run_dir(&state.runs_dir, &run_id)?;
    blocking(move || Ok(runs::read_events(&dir)?)).await
}

/// Runs side by side: the config keys that differ and the best metrics
/// (`mixtune::train::compare`); two or more run ids.
#[tauri::command]
pub async fn compare_runs(
    state: State<'_, AppState>,
    run_ids: Vec<String>,
) -> CmdResult<RunComparison> {
    let dirs = run_ids
        .iter()
        .map(|id| run_dir(&state.runs_dir, id))
        .collect::<CmdResult<Vec<_>>>()?;
    blocking(move || Ok(compare::compare_runs(&dirs)?)).await
}

/// The folder of `run_id`, refusing ids that would leave the runs folder.
fn run_dir(runs_dir: &Path, run_id: &str) -> CmdResult<PathBuf> {
    let plain =
        !run_id.is_empty() && run_id != "." && run_id != ".." && !run_id.contains(['/', '\\']);
    if !plain {
        return Err(CmdError::input(format!("`{run_id}` is not a run id")));
    }
    Ok(runs_dir.join(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_times() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(utc_stamp(t), "20231114-221320");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101-000000");
    }

    #[test]
    fn run_ids_cannot_escape_the_runs_folder() {
        let root = Path::new("/runs");
        assert!(run_dir(root, "../x").is_err());
        assert!(run_dir(root, "a/b").is_err());
        assert_eq!(run_dir(root, "run-1").unwrap(), root.join("run-1"));
    }
}
