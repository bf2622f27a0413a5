//! A run folder (`output_dir`) and the names of what it holds, spelled once: every module
//! that reads or writes a run folder asks [`RunDir`] for its paths.

use std::path::{Path, PathBuf};

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
/// The event log of a run, one JSON `RunEvent` per line.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Folder of a run's checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The lock file of a run in progress.
pub const LOCK_FILE: &str = ".mixtune.lock";

/// The paths inside one run folder.
#[derive(Debug, Clone, Copy)]
pub struct RunDir<'a>(&'a Path);

impl<'a> RunDir<'a> {
    /// The run folder at `path`.
    pub fn new<P: AsRef<Path> + ?Sized>(path: &'a P) -> Self {
        Self(path.as_ref())
    }

    /// The folder itself.
    pub fn path(self) -> &'a Path {
        self.0
    }

    /// `run.toml`: the run config as it was used.
    pub fn config(self) -> PathBuf {
        self.0.join(CONFIG_FILE)
    }

    /// `mixture.toml`: the mixture config as it was used.
    pub fn mixture(self) -> PathBuf {
        self.0.join(MIXTURE_FILE)
    }

    /// `model/`: the trained model as an HF folder.
    pub fn model(self) -> PathBuf {
        self.0.join(MODEL_DIR)
    }

    /// `adapter/`: a LoRA run's PEFT adapter.
    pub fn adapter(self) -> PathBuf {
        self.0.join(ADAPTER_DIR)
    }

    /// `eval.json`: the last validation pass.
    pub fn eval(self) -> PathBuf {
        self.0.join(EVAL_FILE)
    }

    /// `metrics.jsonl`: the event log.
    pub fn metrics(self) -> PathBuf {
        self.0.join(METRICS_FILE)
    }

    /// `checkpoints/`.
    pub fn checkpoints(self) -> PathBuf {
        self.0.join(CHECKPOINTS_DIR)
    }

    /// `.mixtune.lock`.
    pub fn lock(self) -> PathBuf {
        self.0.join(LOCK_FILE)
    }
}
