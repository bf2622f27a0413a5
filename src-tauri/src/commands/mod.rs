//! The Tauri commands of docs/ipc.md, grouped by page. Each returns `Result<T, CmdError>` (the
//! error's kind and its whole context chain on one line) and runs heavy work off the main
//! thread.

pub mod datasets;
pub mod eval;
pub mod gpu;
pub mod mix;
pub mod models;
pub mod summarize;
pub mod train;

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::error::{CmdError, CmdResult};
use crate::state::{lock, AppState};

/// The device the engine runs on.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DeviceInfo {
    pub label: String,
    pub is_gpu: bool,
    /// False while the app is still choosing it at launch (probing the GPU): ask again.
    pub ready: bool,
    /// Why the GPU is not used, when probing it failed.
    pub note: Option<String>,
}

/// `app_info()`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub device: DeviceInfo,
    pub runs_dir: PathBuf,
    pub cache_dir: PathBuf,
}

/// Version, device, runs folder and HF cache folder.
#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        device: match state.device_if_ready() {
            Some(device) => DeviceInfo {
                label: device.label.clone(),
                is_gpu: device.is_gpu,
                ready: true,
                note: lock(&state.device_note).clone(),
            },
            None => DeviceInfo {
                label: "preparing the GPU…".into(),
                is_gpu: false,
                ready: false,
                note: None,
            },
        },
        runs_dir: state.runs_dir.clone(),
        cache_dir: mixtune::catalog::hf_hub_dir(),
    }
}

/// What the app remembered at its last launch (model folders, the pages' work in progress).
#[tauri::command]
pub fn load_saved_state(state: State<'_, AppState>) -> crate::saved::RestoredState {
    crate::saved::RestoredState {
        state: lock(&state.saved).clone(),
        note: state.saved_note.clone(),
    }
}

/// Remembers the pages' state (`SavedUi` of `ui/src/lib/persist.ts`) for the next launch.
#[tauri::command]
pub async fn save_ui_state(app: tauri::AppHandle, ui: serde_json::Value) -> CmdResult<()> {
    use tauri::Manager;
    crate::error::blocking(move || {
        let state = app.state::<AppState>();
        state.remember(|saved| saved.ui = ui)
    })
    .await
}

/// Cancels a running `evaluate` / `summarize_file` started with this `task_id`.
#[tauri::command]
pub fn cancel_task(state: State<'_, AppState>, task_id: String) -> CmdResult<()> {
    match lock(&state.tasks).get(&task_id) {
        Some(flag) => {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        }
        None => Err(CmdError::not_found(format!("no running task `{task_id}`"))),
    }
}
