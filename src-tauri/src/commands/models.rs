//! Models: the HF cache, added folders and finished runs; downloads with byte progress.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::api::Progress;
use hf_hub::{Cache, Repo, RepoType};
use mixtune::catalog::{self, ModelInfo, ModelSource};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;
use ts_rs::TS;

use crate::error::{blocking, CmdResult};
use crate::state::{absolute, lock, AppState};

/// Every model the app can use.
#[tauri::command]
pub async fn list_models(state: State<'_, AppState>) -> CmdResult<Vec<ModelInfo>> {
    let folders = lock(&state.model_folders).clone();
    let runs_dir = state.runs_dir.clone();
    blocking(move || {
        Ok(catalog::list_models(
            &catalog::hf_hub_dir(),
            &folders,
            &runs_dir,
        ))
    })
    .await
}

/// Validates a model folder (config, weights, tokenizer) and lists it from now on.
#[tauri::command]
pub async fn add_model_folder(state: State<'_, AppState>, path: PathBuf) -> CmdResult<ModelInfo> {
    let dir = absolute(&path);
    let check = dir.clone();
    let info = blocking(move || {
        catalog::describe_folder(&check).with_context(|| format!("adding {}", check.display()))
    })
    .await?;
    {
        let mut folders = lock(&state.model_folders);
        if !folders.contains(&dir) {
            folders.push(dir.clone());
        }
    }
    // Listed again after a restart.
    state
        .remember(|saved| {
            if !saved.model_folders.contains(&dir) {
                saved.model_folders.push(dir.clone());
            }
        })
        .context("remembering the model folder for the next launch")?;
    Ok(info)
}

/// Byte progress of one file of a download.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DownloadProgress {
    pub file: String,
    pub downloaded_bytes: u64,
    pub total_bytes: u64,
}

/// Forwards hf-hub's progress to the channel (at most every 1% or so).
struct ChannelProgress {
    channel: Channel<DownloadProgress>,
    file: String,
    done: u64,
    total: u64,
    last_sent: u64,
}

impl ChannelProgress {
    fn send(&mut self) {
        self.last_sent = self.done;
        let _ = self.channel.send(DownloadProgress {
            file: self.file.clone(),
            downloaded_bytes: self.done,
            total_bytes: self.total,
        });
    }
}

impl Progress for ChannelProgress {
    fn init(&mut self, size: usize, filename: &str) {
        self.file = filename.to_string();
        self.total = size as u64;
        self.done = 0;
        self.send();
    }
    fn update(&mut self, size: usize) {
        self.done += size as u64;
        if self.done - self.last_sent >= (self.total / 100).max(256 * 1024) {
            self.send();
        }
    }
    fn finish(&mut self) {
        self.done = self.total.max(self.done);
        self.send();
    }
}

/// Downloads a hub model into the HF cache (files already cached are skipped).
#[tauri::command]
pub async fn download_model(
    repo_id: String,
    on_progress: Channel<DownloadProgress>,
) -> CmdResult<ModelInfo> {
    blocking(move || {
        let dir =
            download(&repo_id, on_progress).with_context(|| format!("downloading `{repo_id}`"))?;
        catalog::describe(&dir, repo_id, ModelSource::Cache)
            .context("the downloaded model is not usable")
    })
    .await
}

fn download(repo_id: &str, channel: Channel<DownloadProgress>) -> anyhow::Result<PathBuf> {
    let cache = Cache::from_env().repo(Repo::new(repo_id.to_string(), RepoType::Model));
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .context("setting up the hub client")?;
    let repo = api.model(repo_id.to_string());
    let fetch = |file: &str| -> anyhow::Result<PathBuf> {
        if let Some(path) = cache.get(file) {
            return Ok(path);
        }
        let progress = ChannelProgress {
            channel: channel.clone(),
            file: file.to_string(),
            done: 0,
            total: 0,
            last_sent: 0,
        };
        repo.download_with_progress(file, progress)
            .with_context(|| format!("fetching {}", repo.url(file)))
    };
    let config = fetch("config.json")?;
    fetch("tokenizer.json")?;
    // Optional: older repos lack it.
    let _ = fetch("generation_config.json");
    if fetch("model.safetensors").is_err() {
        let index = fetch("model.safetensors.index.json")
            .context("the repo has neither model.safetensors nor a sharded index")?;
        for shard in shard_names(&index)? {
            fetch(&shard)?;
        }
    }
    match config.parent() {
        Some(dir) => Ok(dir.to_path_buf()),
        None => bail!("{}: no snapshot folder", config.display()),
    }
}

fn shard_names(index: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(index).with_context(|| format!("reading {}", index.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", index.display()))?;
    let mut names: Vec<String> = json["weight_map"]
        .as_object()
        .with_context(|| format!("{}: no weight_map", index.display()))?
        .values()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}
