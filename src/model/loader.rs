//! Finding a model (a folder, or a hub id through the HF cache / a download) and loading it.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use super::config::T5Config;
use super::t5::T5ForConditionalGeneration;
use super::weights::{load_model, WeightReader};
use super::GenerationDefaults;
use crate::data::tokenizer::T5Tokenizer;
use crate::error::{MixtuneError, Result};

/// A loaded model with its tokenizer and generation defaults.
pub struct Pretrained {
    pub model: T5ForConditionalGeneration,
    pub tokenizer: T5Tokenizer,
    pub defaults: GenerationDefaults,
    /// The folder it came from.
    pub dir: PathBuf,
}

const WEIGHTS: &str = "model.safetensors";
const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// Whether `spec` reads as a hub id (`name` or `owner/name`) rather than a path.
fn is_hub_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    !spec.is_empty()
        && parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// The folder for `spec`: an existing folder as is; a hub id from the HF cache
/// (`HF_HOME` respected), downloaded from `HF_ENDPOINT` (default the HF hub) when missing.
pub fn resolve_model_dir(spec: &str, show_progress: bool) -> Result<PathBuf> {
    match find_model_dir(spec)? {
        Some(dir) => Ok(dir),
        None => download(spec, show_progress),
    }
}

/// [`resolve_model_dir`] without the network: a hub id that is not in the local cache is an
/// error saying so (for looking at a model's config before anything is downloaded).
pub fn local_model_dir(spec: &str) -> Result<PathBuf> {
    find_model_dir(spec)?.ok_or_else(|| MixtuneError::Hub {
        model: spec.to_string(),
        message: "not on this machine yet (it is downloaded when a run starts, or from the \
                  Models page)"
            .into(),
    })
}

/// The folder for `spec` on this machine: an existing folder as is, a hub id's complete
/// snapshot in the local cache; `None` for a hub id not downloaded yet.
fn find_model_dir(spec: &str) -> Result<Option<PathBuf>> {
    let path = Path::new(spec);
    if path.is_dir() {
        if !path.join("config.json").is_file() {
            return Err(MixtuneError::Config {
                path: path.join("config.json"),
                message: "file not found: a model folder needs config.json".into(),
            });
        }
        return Ok(Some(path.to_path_buf()));
    }
    if !is_hub_id(spec) || path.exists() {
        return Err(MixtuneError::ModelNotFound(spec.to_string()));
    }
    Ok(cached_snapshot(spec))
}

/// A complete snapshot of `id` in the local cache, if there is one.
fn cached_snapshot(id: &str) -> Option<PathBuf> {
    let repo = Cache::from_env().repo(Repo::new(id.to_string(), RepoType::Model));
    let config = repo.get("config.json")?;
    repo.get("tokenizer.json")?;
    let dir = config.parent()?.to_path_buf();
    let has_weights = dir.join(WEIGHTS).is_file()
        || shard_names(&dir.join(WEIGHTS_INDEX))
            .is_some_and(|names| names.iter().all(|n| dir.join(n).is_file()));
    has_weights.then_some(dir)
}

/// Shard file names listed by an index file (`None` when it can't be read).
fn shard_names(index: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(index).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mut names: Vec<String> = json
        .get("weight_map")?
        .as_object()?
        .values()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    names.sort();
    names.dedup();
    Some(names)
}

/// Downloads the files of a T5 model into the HF cache and returns the snapshot folder.
fn download(id: &str, show_progress: bool) -> Result<PathBuf> {
    let hub_error = |message: String| MixtuneError::Hub {
        model: id.to_string(),
        message,
    };
    let api = ApiBuilder::from_env()
        .with_progress(show_progress)
        .build()
        .map_err(|e| hub_error(e.to_string()))?;
    let repo = api.model(id.to_string());
    let fetch = |file: &str| {
        repo.get(file).map_err(|e| {
            hub_error(format!(
                "could not download {file} from {}: {e}",
                repo.url(file)
            ))
        })
    };
    let config = fetch("config.json")?;
    fetch("tokenizer.json")?;
    // Optional: older repos lack it.
    let _ = repo.get("generation_config.json");
    if fetch(WEIGHTS).is_err() {
        let index = fetch(WEIGHTS_INDEX).map_err(|_| {
            hub_error(format!(
                "neither {WEIGHTS} nor {WEIGHTS_INDEX} could be downloaded from {}",
                repo.url(WEIGHTS)
            ))
        })?;
        let names = shard_names(&index)
            .ok_or_else(|| hub_error(format!("{}: unreadable weight_map", index.display())))?;
        for name in names {
            fetch(&name)?;
        }
    }
    config
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| hub_error("cache path has no parent folder".into()))
}

/// Loads config, weights, tokenizer and generation defaults from a model folder.
pub fn load_dir(dir: &Path, device: &Device) -> Result<Pretrained> {
    let config = T5Config::from_file(&dir.join("config.json"))?;
    let tokenizer = T5Tokenizer::from_file(&dir.join("tokenizer.json"))?;
    let weights = if dir.join(WEIGHTS).is_file() {
        dir.join(WEIGHTS)
    } else if dir.join(WEIGHTS_INDEX).is_file() {
        dir.join(WEIGHTS_INDEX)
    } else {
        return Err(MixtuneError::Safetensors {
            path: dir.join(WEIGHTS),
            message: format!("file not found (nor {WEIGHTS_INDEX})"),
        });
    };
    let mut reader = WeightReader::open(&weights)?;
    let mut model = load_model(&mut reader, &config, device)?;
    model.pack_for_cpu(false);
    model.pack_projections();
    let defaults = GenerationDefaults::from_dir(dir, &config)?;
    Ok(Pretrained {
        model,
        tokenizer,
        defaults,
        dir: dir.to_path_buf(),
    })
}

/// Resolves `spec` (folder or hub id) and loads it onto `device`.
pub fn load_pretrained(spec: &str, device: &Device, show_progress: bool) -> Result<Pretrained> {
    let dir = resolve_model_dir(spec, show_progress)?;
    load_dir(&dir, device)
}

#[cfg(test)]
mod tests {
    use super::is_hub_id;

    #[test]
    fn hub_ids_are_told_from_paths() {
        assert!(is_hub_id("google/flan-t5-base"));
        assert!(is_hub_id("t5-small"));
        assert!(!is_hub_id("./models/x"));
        assert!(!is_hub_id("/abs/path"));
        assert!(!is_hub_id("a/b/c"));
        assert!(!is_hub_id("../x"));
    }
}
