//! The Mixtune desktop shell: Tauri commands over the `mixtune` engine (docs/ipc.md), progress
//! through `tauri::ipc::Channel`, the window's file drops as `dataset-dropped` events. Thin by
//! design: every decision about data, models and training lives in the engine.

pub mod claims;
pub mod commands;
pub mod error;
pub mod saved;
pub mod state;
#[cfg(test)]
mod ts_types;

use tauri::{DragDropEvent, Emitter, Manager, WindowEvent};

/// The payload of the `dataset-dropped` event.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct DatasetDropped {
    pub paths: Vec<std::path::PathBuf>,
}

/// The `dataset-dropped` payload of a window event: files dropped on the window (not a
/// hover, not another event).
pub fn dropped(event: &WindowEvent) -> Option<DatasetDropped> {
    match event {
        WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) if !paths.is_empty() => {
            Some(DatasetDropped {
                paths: paths.clone(),
            })
        }
        _ => None,
    }
}

/// Builds and runs the app; returns when the last window closes.
pub fn run() {
    let started = std::time::Instant::now();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            app.manage(state::AppState::from_env()?);
            if std::env::var_os("MIXTUNE_TIMING").is_some() {
                eprintln!(
                    "mixtune-app: setup done {} ms after start",
                    started.elapsed().as_millis()
                );
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            if let Some(payload) = dropped(event) {
                if let Err(error) = window.emit("dataset-dropped", payload) {
                    eprintln!("mixtune-app: could not emit dataset-dropped: {error}");
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::load_saved_state,
            commands::save_ui_state,
            commands::models::list_models,
            commands::models::add_model_folder,
            commands::models::download_model,
            commands::datasets::inspect_dataset,
            commands::datasets::dataset_columns,
            commands::mix::list_templates,
            commands::mix::preview_mix,
            commands::train::start_training,
            commands::train::pause_training,
            commands::train::resume_training,
            commands::train::resume_run,
            commands::train::cancel_training,
            commands::train::list_runs,
            commands::train::run_events,
            commands::train::compare_runs,
            commands::gpu::gpu_preparation,
            commands::gpu::prepare_gpu,
            commands::eval::evaluate,
            commands::eval::export_eval_csv,
            commands::summarize::summarize,
            commands::summarize::summarize_actions,
            commands::summarize::summarize_file,
            commands::summarize::export_summaries_csv,
            commands::cancel_task,
        ])
        .run(tauri::generate_context!())
        .expect("error while running the Mixtune app");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tauri::PhysicalPosition;

    #[test]
    fn a_drop_of_files_becomes_dataset_dropped_and_nothing_else_does() {
        let paths = vec![PathBuf::from("/d/a.jsonl"), PathBuf::from("/d/b.csv")];
        let position = PhysicalPosition::new(10.0, 20.0);
        let drop = WindowEvent::DragDrop(DragDropEvent::Drop {
            paths: paths.clone(),
            position,
        });
        assert_eq!(dropped(&drop).map(|d| d.paths), Some(paths.clone()));
        let hover = WindowEvent::DragDrop(DragDropEvent::Enter { paths, position });
        assert!(dropped(&hover).is_none());
        let empty = WindowEvent::DragDrop(DragDropEvent::Drop {
            paths: Vec::new(),
            position,
        });
        assert!(dropped(&empty).is_none());
        assert!(dropped(&WindowEvent::Focused(true)).is_none());
    }
}
