//! The engine's error type: every variant names the file, key or field at fault.

use std::path::PathBuf;

/// Any failure of the Mixtune engine.
#[derive(Debug, thiserror::Error)]
pub enum MixtuneError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("model `{model}`: {message}")]
    Hub { model: String, message: String },
    #[error("no model at `{0}`: not a folder with config.json, and not a hub id like `google/flan-t5-base`")]
    ModelNotFound(String),
    #[error("device: {0}")]
    Device(String),
    #[error("invalid input: {0}")]
    Input(String),
    #[error("tensor backend: {0}")]
    Backend(String),
}

/// Result with [`MixtuneError`].
pub type Result<T, E = MixtuneError> = std::result::Result<T, E>;

impl MixtuneError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
