//! What the app keeps between commands: the device, the runs folder, model folders the user
//! added, loaded models (loading is slow), running trainings and cancellable tasks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use anyhow::Context;
use mixtune::device::{self, DeviceChoice, SelectedDevice};
use mixtune::model::{load_pretrained, resolve_model_dir, to_precision, Precision, Pretrained};
use mixtune::train::RunControl;

use crate::error::CmdError;
use crate::saved::{self, SavedState};

/// Env var: the runs folder (default `$XDG_DATA_HOME/mixtune/runs`).
pub const RUNS_DIR_ENV: &str = "MIXTUNE_RUNS_DIR";
/// Env var: model folders to list, separated like `PATH`.
pub const EXTRA_MODELS_ENV: &str = "MIXTUNE_EXTRA_MODELS";

/// A loaded model shared by commands; the mutex serializes generation on it.
pub type SharedModel = Arc<Mutex<Pretrained>>;

/// A running training: how to pause, resume or cancel it, and where it writes.
#[derive(Debug, Clone)]
pub struct RunHandle {
    pub control: RunControl,
    pub output_dir: PathBuf,
}

/// App state, managed by Tauri.
pub struct AppState {
    /// Chosen on a background thread at launch (probing a GPU can take seconds, and the
    /// window paints meanwhile): [`AppState::device`] waits for it.
    device: Arc<OnceLock<SelectedDevice>>,
    /// Why the GPU was not used, when probing it failed.
    pub device_note: Arc<Mutex<Option<String>>>,
    pub runs_dir: PathBuf,
    /// Folders added with `add_model_folder` or `MIXTUNE_EXTRA_MODELS`.
    pub model_folders: Mutex<Vec<PathBuf>>,
    /// Loaded models by resolved folder.
    models: Mutex<HashMap<(PathBuf, Precision), SharedModel>>,
    /// Running trainings by run id.
    pub runs: Mutex<HashMap<String, RunHandle>>,
    /// Cancel flags of long evaluate / summarize_file tasks by task id.
    pub tasks: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// The task id of the GPU kernel preparation running now (Start waits for it).
    pub gpu_preparation: Mutex<Option<String>>,
    /// What the app remembers between launches, and where (`saved.rs`).
    pub saved: Mutex<SavedState>,
    pub saved_path: PathBuf,
    /// What to tell the user about the remembered state read at launch.
    pub saved_note: Option<String>,
}

impl AppState {
    /// State from the environment: device `auto` (chosen in the background), runs folder,
    /// extra model folders, the remembered state.
    pub fn from_env() -> anyhow::Result<Self> {
        let device = Arc::new(OnceLock::new());
        let device_note = Arc::new(Mutex::new(None));
        {
            let (device, note) = (device.clone(), device_note.clone());
            std::thread::spawn(move || {
                let selected = device::select(DeviceChoice::Auto).unwrap_or_else(|error| {
                    *lock(&note) = Some(format!("using the CPU: {error:#}"));
                    device::cpu()
                });
                let _ = device.set(selected);
            });
        }
        let runs_dir = runs_dir();
        std::fs::create_dir_all(&runs_dir)
            .with_context(|| format!("creating the runs folder {}", runs_dir.display()))?;
        let mut model_folders: Vec<PathBuf> = std::env::var_os(EXTRA_MODELS_ENV)
            .map(|list| {
                std::env::split_paths(&list)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let saved_path = saved::config_dir().join(saved::STATE_FILE);
        let restored = saved::load(&saved_path);
        for folder in &restored.state.model_folders {
            if !model_folders.contains(folder) {
                model_folders.push(folder.clone());
            }
        }
        Ok(Self {
            device,
            device_note,
            runs_dir,
            model_folders: Mutex::new(model_folders),
            models: Mutex::new(HashMap::new()),
            runs: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            gpu_preparation: Mutex::new(None),
            saved: Mutex::new(restored.state),
            saved_path,
            saved_note: restored.note,
        })
    }

    /// The runs and the preparation, for claiming the GPU ([`crate::claims`]).
    pub fn claims(&self) -> crate::claims::Claims<'_> {
        crate::claims::Claims {
            preparation: &self.gpu_preparation,
            runs: &self.runs,
        }
    }

    /// The device, once chosen (blocks while the GPU is probed at launch).
    pub fn device(&self) -> &SelectedDevice {
        self.device.wait()
    }

    /// The device when it is chosen, without waiting.
    pub fn device_if_ready(&self) -> Option<&SelectedDevice> {
        self.device.get()
    }

    /// Changes the remembered state and writes it (atomically) for the next launch.
    pub fn remember(&self, change: impl FnOnce(&mut SavedState)) -> anyhow::Result<()> {
        let mut saved = lock(&self.saved);
        change(&mut saved);
        saved::save(&self.saved_path, &saved)
    }

    /// The model for `spec` (a folder or hub id), loaded once per folder and then reused.
    pub fn model(&self, spec: &str) -> anyhow::Result<SharedModel> {
        self.model_in(spec, Precision::F32)
    }

    /// [`Self::model`] computing in `precision` (f16: weights cast once at load), cached per
    /// folder and precision.
    pub fn model_in(&self, spec: &str, precision: Precision) -> anyhow::Result<SharedModel> {
        let dir =
            resolve_model_dir(spec, false).with_context(|| format!("finding model `{spec}`"))?;
        let key = (
            dir.canonicalize().unwrap_or_else(|_| dir.clone()),
            precision,
        );
        if let Some(model) = lock(&self.models).get(&key) {
            return Ok(model.clone());
        }
        mixtune::model::check_precision(&self.device().device, precision)?;
        // Loaded outside the lock: other models stay usable meanwhile.
        let mut loaded = load_pretrained(&dir.to_string_lossy(), &self.device().device, false)
            .with_context(|| format!("loading model {}", dir.display()))?;
        if precision != Precision::F32 {
            loaded.model = to_precision(loaded.model, precision);
        }
        let model = Arc::new(Mutex::new(loaded));
        Ok(lock(&self.models).entry(key).or_insert(model).clone())
    }

    /// Registers a cancel flag for `task_id` (when given); removed by [`TaskGuard`]'s drop.
    /// Refused (`busy`) while a task of the same id runs.
    pub fn task(&self, task_id: Option<String>) -> Result<TaskGuard<'_>, CmdError> {
        let flag = Arc::new(AtomicBool::new(false));
        if let Some(id) = &task_id {
            let mut tasks = lock(&self.tasks);
            if tasks.contains_key(id) {
                return Err(CmdError::busy(format!("task `{id}` is already running")));
            }
            tasks.insert(id.clone(), flag.clone());
        }
        Ok(TaskGuard {
            state: self,
            id: task_id,
            flag,
        })
    }
}

/// A registered cancel flag, unregistered when dropped.
pub struct TaskGuard<'a> {
    state: &'a AppState,
    id: Option<String>,
    pub flag: Arc<AtomicBool>,
}

impl TaskGuard<'_> {
    /// `result` of the task's work; an error after the cancel flag was set is a `cancelled`
    /// [`CmdError`] (the engine stops with an error once it sees the flag).
    pub fn outcome<T>(&self, result: mixtune::Result<T>) -> anyhow::Result<T> {
        result.map_err(|error| {
            if self.flag.load(std::sync::atomic::Ordering::SeqCst) {
                anyhow::Error::new(CmdError::cancelled(error.to_string()))
            } else {
                anyhow::Error::new(error)
            }
        })
    }
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = &self.id {
            lock(&self.state.tasks).remove(id);
        }
    }
}

/// Locks a mutex, recovering the data when a panicking thread poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `$MIXTUNE_RUNS_DIR`, else `$XDG_DATA_HOME/mixtune/runs`, else `~/.local/share/mixtune/runs`.
pub fn runs_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(RUNS_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    data_home().join("mixtune").join("runs")
}

fn data_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local").join("share")
}

/// `path` made absolute against the current folder (paths typed in the UI may be relative).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
