//! The models the desktop app can pick from: snapshots in the Hugging Face cache, model
//! folders the user added, and the exported model of every finished training run.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::TokenizerError;
use crate::error::{MixtuneError, Result};
use crate::model::T5Config;

/// Where a listed model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// A snapshot in the HF cache (`$HF_HOME/hub/models--owner--name`).
    Cache,
    /// A folder the user added.
    Folder,
    /// The `model/` folder of a finished run.
    Run,
}

/// One model, described from its `config.json` and weight headers (nothing is loaded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ModelInfo {
    /// Hub id (`google/flan-t5-base`), folder name, or run name.
    pub id: String,
    /// The model folder (what `load_pretrained` takes).
    pub path: PathBuf,
    pub source: ModelSource,
    /// `architectures[0]` of `config.json`, else its `model_type`.
    pub architecture: String,
    pub d_model: usize,
    pub num_layers: usize,
    pub num_decoder_layers: usize,
    pub vocab_size: usize,
    /// Parameters stored in the safetensors files (tied weights counted once).
    pub parameters: u64,
    /// Bytes of the folder's files (symlinks followed).
    pub size_bytes: u64,
}

const WEIGHTS: &str = "model.safetensors";
const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// The HF hub cache folder (`$HF_HOME/hub`, else `~/.cache/huggingface/hub`).
pub fn hf_hub_dir() -> PathBuf {
    hf_hub::Cache::from_env().path().clone()
}

/// Describes a model folder, checking it has `config.json`, weights and `tokenizer.json`.
pub fn describe(dir: &Path, id: impl Into<String>, source: ModelSource) -> Result<ModelInfo> {
    if !dir.is_dir() {
        return Err(MixtuneError::ModelNotFound(dir.display().to_string()));
    }
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        return Err(MixtuneError::Config {
            path: config_path,
            message: "file not found: a model folder needs config.json".into(),
        });
    }
    let config = T5Config::from_file(&config_path)?;
    let tokenizer = dir.join("tokenizer.json");
    if !tokenizer.is_file() {
        return Err(TokenizerError {
            path: tokenizer,
            message: "file not found: a model folder needs tokenizer.json".into(),
        }
        .into());
    }
    let weight_files = weight_files(dir)?;
    let mut parameters = 0;
    for file in &weight_files {
        parameters += safetensors_parameters(file)?;
    }
    let raw: serde_json::Value = fs::read_to_string(&config_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let architecture = raw["architectures"][0]
        .as_str()
        .or_else(|| raw["model_type"].as_str())
        .unwrap_or("t5")
        .to_string();
    Ok(ModelInfo {
        id: id.into(),
        path: dir.to_path_buf(),
        source,
        architecture,
        d_model: config.d_model,
        num_layers: config.num_layers,
        num_decoder_layers: config.decoder_layers(),
        vocab_size: config.vocab_size,
        parameters,
        size_bytes: folder_size(dir),
    })
}

/// Describes a folder the user picked (source `folder`, id its name).
pub fn describe_folder(dir: &Path) -> Result<ModelInfo> {
    let id = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    describe(dir, id, ModelSource::Folder)
}

/// The weight files of a folder: `model.safetensors`, or the shards its index names.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(WEIGHTS);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(WEIGHTS_INDEX);
    if !index.is_file() {
        return Err(MixtuneError::Safetensors {
            path: single,
            message: format!("file not found (nor {WEIGHTS_INDEX})"),
        });
    }
    let text = fs::read_to_string(&index).map_err(|e| MixtuneError::io(&index, e))?;
    let bad = |message: String| MixtuneError::Safetensors {
        path: index.clone(),
        message,
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
    let mut names: Vec<&str> = json["weight_map"]
        .as_object()
        .ok_or_else(|| bad("no `weight_map` object".into()))?
        .values()
        .filter_map(|v| v.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let files: Vec<PathBuf> = names.iter().map(|name| dir.join(name)).collect();
    if let Some(missing) = files.iter().find(|file| !file.is_file()) {
        return Err(MixtuneError::Safetensors {
            path: missing.clone(),
            message: format!("file not found (named by {WEIGHTS_INDEX})"),
        });
    }
    Ok(files)
}

/// Parameter count from a safetensors header (the tensors are not read).
fn safetensors_parameters(path: &Path) -> Result<u64> {
    let bad = |message: String| MixtuneError::Safetensors {
        path: path.to_path_buf(),
        message,
    };
    let mut file = fs::File::open(path).map_err(|e| MixtuneError::io(path, e))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|e| bad(format!("no header: {e}")))?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 {
        return Err(bad(format!("header of {len} bytes is implausible")));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(format!("truncated header: {e}")))?;
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header: {e}")))?;
    Ok(json
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .map(|(_, info)| {
            info["shape"]
                .as_array()
                .map_or(0, |dims| dims.iter().filter_map(|d| d.as_u64()).product())
        })
        .sum())
}

/// Total bytes of the files directly in `dir` (symlinks followed, as in HF snapshots).
fn folder_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| fs::metadata(entry.ok()?.path()).ok())
                .filter(|meta| meta.is_file())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Every complete model snapshot in the HF cache folder `hub` (unusable ones are skipped).
pub fn cached_models(hub: &Path) -> Vec<ModelInfo> {
    let Ok(entries) = fs::read_dir(hub) else {
        return Vec::new();
    };
    let mut models = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(repo) = name.strip_prefix("models--") else {
            continue;
        };
        let id = repo.replace("--", "/");
        if let Some(snapshot) = snapshot_dir(&entry.path()) {
            if let Ok(info) = describe(&snapshot, id, ModelSource::Cache) {
                models.push(info);
            }
        }
    }
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models
}

/// The snapshot `refs/main` points at, else the most recently modified one.
fn snapshot_dir(repo: &Path) -> Option<PathBuf> {
    let snapshots = repo.join("snapshots");
    if let Ok(main) = fs::read_to_string(repo.join("refs/main")) {
        let dir = snapshots.join(main.trim());
        if dir.join("config.json").is_file() {
            return Some(dir);
        }
    }
    fs::read_dir(&snapshots)
        .ok()?
        .flatten()
        .filter(|entry| entry.path().join("config.json").is_file())
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
        .map(|entry| entry.path())
}

/// The exported `model/` folder of every run under `runs_dir` that has one.
pub fn run_models(runs_dir: &Path) -> Vec<ModelInfo> {
    let Ok(entries) = fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    let mut models: Vec<ModelInfo> = entries
        .flatten()
        .filter_map(|entry| {
            let model = entry.path().join("model");
            let id = entry.file_name().to_string_lossy().into_owned();
            model
                .join("config.json")
                .is_file()
                .then(|| describe(&model, id, ModelSource::Run).ok())
                .flatten()
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models
}

/// Cache models, then `folders` (skipping ones that fail to describe), then run models.
pub fn list_models(hub: &Path, folders: &[PathBuf], runs_dir: &Path) -> Vec<ModelInfo> {
    let mut models = cached_models(hub);
    for folder in folders {
        if models.iter().any(|m| &m.path == folder) {
            continue;
        }
        if let Ok(info) = describe_folder(folder) {
            models.push(info);
        }
    }
    models.extend(run_models(runs_dir));
    models
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/tiny-flan"
        ))
    }

    #[test]
    fn describes_the_fixture_and_finds_it_in_a_cache_layout() {
        let fixture = fixture();
        if !fixture.is_dir() {
            eprintln!("skipped: no fixture");
            return;
        }
        let info = describe_folder(&fixture).unwrap();
        assert_eq!(info.id, "tiny-flan");
        assert_eq!(info.source, ModelSource::Folder);
        assert_eq!(info.architecture, "T5ForConditionalGeneration");
        assert_eq!(info.d_model, 32);
        assert_eq!(info.num_decoder_layers, 2);
        assert!(info.parameters > 32128 * 32);
        assert!(info.size_bytes > 0);

        let hub = tempfile::tempdir().unwrap();
        let repo = hub.path().join("models--google--tiny");
        let snapshot = repo.join("snapshots/abc123");
        fs::create_dir_all(&snapshot).unwrap();
        fs::create_dir_all(repo.join("refs")).unwrap();
        fs::write(repo.join("refs/main"), "abc123").unwrap();
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            fs::copy(fixture.join(file), snapshot.join(file)).unwrap();
        }
        // An incomplete snapshot is skipped.
        fs::create_dir_all(hub.path().join("models--x--broken/snapshots/1")).unwrap();
        fs::write(
            hub.path().join("models--x--broken/snapshots/1/config.json"),
            "{}",
        )
        .unwrap();
        let runs = tempfile::tempdir().unwrap();
        let listed = list_models(hub.path(), std::slice::from_ref(&fixture), runs.path());
        let ids: Vec<&str> = listed.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["google/tiny", "tiny-flan"]);
        assert_eq!(listed[0].source, ModelSource::Cache);
        assert_eq!(listed[0].parameters, info.parameters);
    }

    #[test]
    fn a_folder_without_weights_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = fixture();
        if !fixture.is_dir() {
            return;
        }
        for file in ["config.json", "tokenizer.json"] {
            fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
        }
        let error = describe_folder(dir.path()).unwrap_err().to_string();
        assert!(error.contains("model.safetensors"), "{error}");
    }
}
