//! The engine's error type: every variant names the file, key or field at fault, and each
//! module's own error type is kept whole inside it (`#[from]`), so callers can match on it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::{DataError, TokenizerError};
use crate::eval::rouge::RougeError;
use crate::mixture::MixtureError;

/// Any failure of the Mixtune engine.
#[derive(Debug, thiserror::Error)]
pub enum MixtuneError {
    /// The message already carries the cause, so it is not also chained as a `source`
    /// (which printed it twice: "Permission denied: Permission denied").
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: invalid config: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: corrupt or unreadable safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{path}: missing weight `{key}`")]
    MissingWeight { path: PathBuf, key: String },
    #[error("{path}: weight `{key}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: weight `{key}` has unsupported dtype {dtype}")]
    UnsupportedDtype {
        path: PathBuf,
        key: String,
        dtype: String,
    },
    #[error("{path}: unused weights not part of a T5 model: {keys}")]
    UnusedWeights { path: PathBuf, keys: String },
    /// A tokenizer that cannot be loaded, or text it cannot encode or decode.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("model `{model}`: {message}")]
    Hub { model: String, message: String },
    #[error("no model at `{0}`: not a folder with config.json, and not a hub id like `google/flan-t5-base`")]
    ModelNotFound(String),
    /// A dataset file that could not be read or mapped.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A template, mixture config or sampler failure (boxed: it is large).
    #[error(transparent)]
    Mixture(Box<MixtureError>),
    /// Predictions and references that cannot be scored.
    #[error(transparent)]
    Rouge(#[from] RougeError),
    /// The device cannot hold the work: names what to lower.
    #[error("out of device memory {during}: {message}; lower {advice}")]
    OutOfMemory {
        during: String,
        message: String,
        advice: String,
    },
    /// Another live process runs in this run folder.
    #[error("{dir}: a run is in progress there (process {pid}); wait for it to end or cancel it, or choose another output_dir")]
    RunLocked { dir: PathBuf, pid: u32 },
    /// An output that is one of the command's inputs (by any path or link): writing it
    /// would destroy the input.
    #[error("{output}: is the input file {input}; write to another file (the input would be overwritten)")]
    OutputIsInput { output: PathBuf, input: PathBuf },
    /// An output path naming a device, pipe, socket or folder, which a write would replace.
    #[error(
        "{path}: not a regular file (a device, pipe or folder); give the name of a file to write"
    )]
    NotARegularFile { path: PathBuf },
    /// A resume whose config differs from the run's record in keys that change training.
    #[error("{dir}: the config differs from the run's record in keys that change training ({}); resume with the run's own config ({dir}/run.toml), or pass --allow-config-change to go on with the change logged", changes.join("; "))]
    ConfigChanged { dir: PathBuf, changes: Vec<String> },
    /// A fresh run into a folder that already holds one (the app offers Resume).
    #[error("{}: already holds a run; resume it (`--resume`) or choose another output_dir", dir.display())]
    RunExists { dir: PathBuf },
    /// `--resume` of a run that finished.
    #[error("{}: the run finished at step {steps}; nothing to resume (train more in a new output_dir)", dir.display())]
    RunFinished { dir: PathBuf, steps: usize },
    /// `--resume` where no checkpoint is whole (`damaged` says why each newer one is not).
    #[error("{}: no intact checkpoint to resume from{}", checkpoints.display(), if damaged.is_empty() { String::new() } else { format!(" ({})", damaged.join("; ")) })]
    NoCheckpoint {
        checkpoints: PathBuf,
        damaged: Vec<String>,
    },
    /// The loss became infinite or NaN: training diverged.
    #[error("non-finite loss at step {step}: lower the learning rate or check the data")]
    Diverged { step: usize },
    /// f16 gradients overflowed at every loss scale the scaler tried.
    #[error("f16 gradients overflowed at every loss scale down to {scale:e} (step {step}): train with precision = \"f32\"")]
    LossScaleExhausted { step: usize, scale: f64 },
    /// A precision the device cannot compute in (int8 off the CPU or under autodiff).
    #[error(
        "int8 runs on the CPU only, for inference (choose the CPU device); on a GPU use f16 or f32"
    )]
    UnsupportedPrecision,
    /// A generation setting out of range: the field and why.
    #[error("generation `{field}` {why}")]
    Generation { field: &'static str, why: String },
    #[error("device: {0}")]
    Device(String),
    /// The user cancelled the work (the message says how far it got).
    #[error("{0}")]
    Cancelled(String),
    /// Generation was asked for with no prompt, or an empty one.
    #[error("a prompt is empty: give text to generate from")]
    EmptyPrompt,
    /// An evaluation (`eval --run`, a run's validation) found no rows to score.
    #[error("{}: nothing to evaluate: {why}", path.display())]
    NothingToEvaluate { path: PathBuf, why: String },
    #[error("invalid input: {0}")]
    Input(String),
    #[error("tensor backend: {0}")]
    Backend(String),
    /// A value that could not be written as JSON (a bug, not bad input).
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with [`MixtuneError`].
pub type Result<T, E = MixtuneError> = std::result::Result<T, E>;

/// What kind of failure an error is, for callers that act on it (the app shows a
/// different hint for a bad file than for a busy or too small GPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A file, setting or text the user gave is wrong: fix it and retry.
    Input,
    /// A model, file or folder does not exist.
    NotFound,
    /// The model hub could not be reached or refused.
    Network,
    /// The device is missing, unusable or busy.
    Device,
    /// The same work is already running (a run folder in use).
    Busy,
    /// The work does not fit in device memory: lower the batch size or lengths.
    OutOfMemory,
    /// Reading or writing a file failed (permissions, disk full).
    Io,
    /// A bug in Mixtune: report it.
    Internal,
    /// The user cancelled the work.
    Cancelled,
}

impl MixtuneError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error: source,
        }
    }

    /// The kind of failure, for callers that act on it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Self::Io { .. } => ErrorKind::Io,
            Self::ModelNotFound(_) => ErrorKind::NotFound,
            Self::Hub { .. } => ErrorKind::Network,
            Self::OutOfMemory { .. } => ErrorKind::OutOfMemory,
            Self::Device(_) => ErrorKind::Device,
            Self::Cancelled(_) => ErrorKind::Cancelled,
            Self::RunLocked { .. } => ErrorKind::Busy,
            Self::Backend(_) | Self::Json(_) => ErrorKind::Internal,
            Self::Mixture(inner) => match inner.as_ref() {
                MixtureError::Io { error, .. }
                | MixtureError::Data(DataError::Io { error, .. })
                    if error.kind() == std::io::ErrorKind::NotFound =>
                {
                    ErrorKind::NotFound
                }
                _ => ErrorKind::Input,
            },
            Self::Data(DataError::Io { error, .. })
                if error.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::NotFound
            }
            Self::Config { .. }
            | Self::Safetensors { .. }
            | Self::MissingWeight { .. }
            | Self::ShapeMismatch { .. }
            | Self::UnsupportedDtype { .. }
            | Self::UnusedWeights { .. }
            | Self::Tokenizer(_)
            | Self::Data(_)
            | Self::Rouge(_)
            | Self::OutputIsInput { .. }
            | Self::NotARegularFile { .. }
            | Self::ConfigChanged { .. }
            | Self::RunExists { .. }
            | Self::RunFinished { .. }
            | Self::EmptyPrompt
            | Self::NothingToEvaluate { .. }
            | Self::NoCheckpoint { .. }
            | Self::Diverged { .. }
            | Self::LossScaleExhausted { .. }
            | Self::Generation { .. }
            | Self::Input(_) => ErrorKind::Input,
            Self::UnsupportedPrecision => ErrorKind::Device,
        }
    }
}

impl From<MixtureError> for MixtuneError {
    fn from(error: MixtureError) -> Self {
        Self::Mixture(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_states_its_cause_once() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let cause = denied.to_string();
        let error = anyhow::Error::new(MixtuneError::io("out/model/config.json", denied));
        let message = format!("{error:#}");
        assert_eq!(message.matches(&cause).count(), 1, "{message}");
        assert!(message.starts_with("out/model/config.json: "), "{message}");
        let data = MixtuneError::from(DataError::io(
            "d.jsonl",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
        assert_eq!(data.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn typed_run_and_precision_errors_keep_their_words_and_kinds() {
        let exists = MixtuneError::RunExists { dir: "out".into() };
        assert_eq!(exists.kind(), ErrorKind::Input);
        assert!(exists.to_string().starts_with("out: already holds a run"));
        let none = MixtuneError::NoCheckpoint {
            checkpoints: "out/checkpoints".into(),
            damaged: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            none.to_string(),
            "out/checkpoints: no intact checkpoint to resume from (a; b)"
        );
        assert_eq!(MixtuneError::UnsupportedPrecision.kind(), ErrorKind::Device);
        assert_eq!(
            MixtuneError::Cancelled("stopped".into()).kind(),
            ErrorKind::Cancelled
        );
    }
}
