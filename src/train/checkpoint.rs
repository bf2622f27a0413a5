//! Checkpoints: the trainable weights (Burn record: the whole model, or only the LoRA
//! adapters), the optimizer state, and the loop's state (step, sampler position, counters,
//! best metric) in `checkpoints/step-NNNNNNN/`. A checkpoint is written into a hidden
//! temporary folder and renamed into place only once complete, so a crash never leaves a
//! half-written one where a resume looks; rotation keeps the last K and the best.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use super::config::Method;
use super::grad_scale::ScaledOptimizer;
use super::lora;
use super::run_dir::RunDir;
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;
use crate::mixture::SamplerState;
use crate::model::T5ForConditionalGeneration;

const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.json";
/// SHA-256 of every other file of the checkpoint, written last: a checkpoint whose files do
/// not match it is damaged.
const CHECKSUMS_FILE: &str = "checksums.json";
/// Set to `model@STEP` or `optimizer@STEP` to kill the process right after that file of
/// step STEP's checkpoint is written (fault injection for the crash-safety test).
pub const FAULT_ENV: &str = "MIXTUNE_FAULT_ABORT_IN_CHECKPOINT";

/// The training loop's state in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Optimizer steps done.
    pub step: usize,
    /// Steps the run was planned for.
    pub total_steps: usize,
    /// The mixture sampler's position.
    pub sampler: SamplerState,
    pub examples_per_task: BTreeMap<String, usize>,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// Best value of the config's `best_metric` so far and the step it was reached at.
    pub best_metric: Option<f64>,
    pub best_step: Option<usize>,
    /// Validation passes since the last improvement (early stopping).
    pub evals_without_improvement: usize,
    /// Training seconds so far.
    pub elapsed_s: f64,
    /// The method the weights belong to.
    pub method: Method,
    /// f16 runs: the loss scale and its counters, so a resumed run scales as an
    /// uninterrupted one (absent in f32 runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<super::loss_scale::LossScaler>,
}

impl LoopState {
    /// The state of a run about to take its first step.
    pub fn new(total_steps: usize, sampler: SamplerState, method: Method) -> Self {
        Self {
            step: 0,
            total_steps,
            sampler,
            examples_per_task: BTreeMap::new(),
            first_loss: None,
            last_loss: None,
            best_metric: None,
            best_step: None,
            evals_without_improvement: 0,
            elapsed_s: 0.0,
            method,
            loss_scale: None,
        }
    }
}

/// `checkpoints/step-0000042` for step 42 (zero-padded so names sort by step).
pub fn checkpoint_dir(output_dir: &Path, step: usize) -> PathBuf {
    RunDir::new(output_dir)
        .checkpoints()
        .join(format!("step-{step:07}"))
}

/// The injected crash: the process dies at once, as on `kill -9` or a power cut (SIGKILL on
/// Unix: nothing runs after it, not even `abort_note`'s last event, which an abort would
/// write).
fn fault(stage: &str, step: usize) {
    if std::env::var(FAULT_ENV).is_ok_and(|v| v == format!("{stage}@{step}")) {
        #[cfg(unix)]
        // SAFETY: signals this very process; SIGKILL cannot be caught.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
        std::process::abort();
    }
}

fn record_error(path: &Path, e: impl std::fmt::Display) -> MixtuneError {
    MixtuneError::Config {
        path: path.to_path_buf(),
        message: format!("checkpoint record: {e}"),
    }
}

/// Writes a checkpoint of `model`, `optimizer` and `state` atomically; returns its folder.
pub fn save(
    output_dir: &Path,
    model: &T5ForConditionalGeneration,
    optimizer: &ModuleOptimizer,
    state: &LoopState,
) -> Result<PathBuf> {
    let final_dir = checkpoint_dir(output_dir, state.step);
    let parent = RunDir::new(&output_dir).checkpoints();
    std::fs::create_dir_all(&parent).map_err(|e| MixtuneError::io(&parent, e))?;
    let tmp = parent.join(format!(
        ".tmp-step-{:07}-{}",
        state.step,
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| MixtuneError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| MixtuneError::io(&tmp, e))?;
    let result = (|| {
        let record = match state.method {
            Method::Full => model.clone().into_record(),
            Method::Lora => model.clone().into_record_group(lora::adapter_group(model)),
        };
        let mut checksums = BTreeMap::new();
        let model_path = tmp.join(MODEL_FILE);
        let bytes = record
            .into_bytes()
            .map_err(|e| record_error(&model_path, e))?;
        write_atomic(&model_path, &bytes[..])?;
        checksums.insert(MODEL_FILE.to_string(), sha256(&bytes[..]));
        fault("model", state.step);
        let optimizer_path = tmp.join(OPTIMIZER_FILE);
        let bytes = optimizer
            .into_bytes()
            .map_err(|e| record_error(&optimizer_path, e))?;
        write_atomic(&optimizer_path, &bytes[..])?;
        checksums.insert(OPTIMIZER_FILE.to_string(), sha256(&bytes[..]));
        fault("optimizer", state.step);
        let text = serde_json::to_vec_pretty(state)?;
        write_atomic(&tmp.join(STATE_FILE), &text)?;
        checksums.insert(STATE_FILE.to_string(), sha256(&text));
        let text = serde_json::to_vec_pretty(&checksums)?;
        write_atomic(&tmp.join(CHECKSUMS_FILE), &text)?;
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).map_err(|e| MixtuneError::io(&final_dir, e))?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(|e| MixtuneError::io(&final_dir, e))?;
        if let Ok(dir) = std::fs::File::open(&parent) {
            let _ = dir.sync_all();
        }
        Ok(final_dir.clone())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// The checkpoint folders of a run, oldest first: `(step, folder)`, intact or not (see
/// [`verify`]). Temporary folders of an interrupted write are ignored.
pub fn list(output_dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let parent = RunDir::new(&output_dir).checkpoints();
    let entries = match std::fs::read_dir(&parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MixtuneError::io(&parent, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| MixtuneError::io(&parent, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(step) = name
            .strip_prefix("step-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        found.push((step, entry.path()));
    }
    found.sort();
    Ok(found)
}

/// SHA-256 of `bytes`, as lowercase hex.
fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What is wrong with a checkpoint folder, naming the file ([`verify`]).
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// One of its files is not there.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// `checksums.json` is not there: nothing tells whether the weights are whole.
    #[error("{CHECKSUMS_FILE} is missing, so its files cannot be checked")]
    NoChecksums,
    /// A file that could not be read.
    #[error("{file}: {error}")]
    Unreadable {
        file: &'static str,
        error: std::io::Error,
    },
    /// `checksums.json` that does not parse.
    #[error("{CHECKSUMS_FILE} is not readable: {0}")]
    BadChecksums(serde_json::Error),
    /// `checksums.json` without an entry for a file.
    #[error("{CHECKSUMS_FILE} has no checksum for {0}")]
    NoChecksumFor(&'static str),
    /// A file whose bytes do not match their checksum.
    #[error("{0} does not match its checksum (damaged or truncated)")]
    Mismatch(&'static str),
}

/// Whether the checkpoint in `dir` is intact: every file present and matching the checksum
/// written with it (`checksums.json`, itself required). `Err` says what is wrong.
pub fn verify(dir: &Path) -> std::result::Result<(), Damage> {
    for file in [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE] {
        if !dir.join(file).is_file() {
            return Err(Damage::Missing(file));
        }
    }
    let text = match std::fs::read(dir.join(CHECKSUMS_FILE)) {
        Ok(text) => text,
        // Every checkpoint is written with its checksums: without them nothing tells
        // whether the weights are whole, so the checkpoint is not trusted.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Damage::NoChecksums),
        Err(error) => {
            return Err(Damage::Unreadable {
                file: CHECKSUMS_FILE,
                error,
            })
        }
    };
    let sums: BTreeMap<String, String> =
        serde_json::from_slice(&text).map_err(Damage::BadChecksums)?;
    for file in [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE] {
        let expected = sums.get(file).ok_or(Damage::NoChecksumFor(file))?;
        let bytes =
            std::fs::read(dir.join(file)).map_err(|error| Damage::Unreadable { file, error })?;
        if &sha256(&bytes) != expected {
            return Err(Damage::Mismatch(file));
        }
    }
    Ok(())
}

/// What [`newest_intact`] found.
#[derive(Debug, Clone, Default)]
pub struct Intact {
    /// The newest intact checkpoint: `(step, folder)`; `None` when none is.
    pub newest: Option<(usize, PathBuf)>,
    /// A note for every newer checkpoint that is damaged (named, with what is wrong).
    pub damaged: Vec<String>,
}

/// The newest intact checkpoint of a run, and what is wrong with every newer one.
pub fn newest_intact(output_dir: &Path) -> Result<Intact> {
    let mut damaged = Vec::new();
    for (step, dir) in list(output_dir)?.into_iter().rev() {
        match verify(&dir) {
            Ok(()) => {
                return Ok(Intact {
                    newest: Some((step, dir)),
                    damaged,
                })
            }
            Err(problem) => damaged.push(format!(
                "checkpoint {} is damaged ({problem}); skipped",
                dir.display()
            )),
        }
    }
    Ok(Intact {
        newest: None,
        damaged,
    })
}

/// Removes temporary folders left by an interrupted write.
pub fn clean_partial(output_dir: &Path) {
    let parent = RunDir::new(&output_dir).checkpoints();
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Deletes checkpoints beyond the last `keep_last` (0 keeps all), sparing `best_step`.
pub fn rotate(output_dir: &Path, keep_last: usize, best_step: Option<usize>) -> Result<()> {
    if keep_last == 0 {
        return Ok(());
    }
    let all = list(output_dir)?;
    let cut = all.len().saturating_sub(keep_last);
    for (step, dir) in &all[..cut] {
        if Some(*step) != best_step {
            std::fs::remove_dir_all(dir).map_err(|e| MixtuneError::io(dir, e))?;
        }
    }
    Ok(())
}

/// Reads a checkpoint's loop state.
pub fn load_state(dir: &Path) -> Result<LoopState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read(&path).map_err(|e| MixtuneError::io(&path, e))?;
    serde_json::from_slice(&text).map_err(|e| MixtuneError::Config {
        path,
        message: e.to_string(),
    })
}

/// Loads a checkpoint's weights into `model` (built as the run built it: same base, LoRA
/// applied for LoRA runs) and its optimizer state into `optimizer`.
pub fn load_weights(
    dir: &Path,
    model: T5ForConditionalGeneration,
    optimizer: ScaledOptimizer,
    method: Method,
) -> Result<(T5ForConditionalGeneration, ScaledOptimizer)> {
    let model_path = dir.join(MODEL_FILE);
    let bytes = std::fs::read(&model_path).map_err(|e| MixtuneError::io(&model_path, e))?;
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| record_error(&model_path, e))?
        .allow_partial(method == Method::Lora);
    let model = model
        .try_load_record(record)
        .map_err(|e| record_error(&model_path, e))?;
    let optimizer_path = dir.join(OPTIMIZER_FILE);
    let bytes = std::fs::read(&optimizer_path).map_err(|e| MixtuneError::io(&optimizer_path, e))?;
    let optimizer = optimizer
        .try_map(|optimizer| optimizer.from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)))
        .map_err(|e| record_error(&optimizer_path, e))?;
    Ok((model, optimizer))
}
