//! A whole training run from a run config: model, mixture, batches, the loop, a metrics log
//! and the final HF-format model, all under the run's output folder.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::Serialize;

use super::batch::{Batcher, TrainBatch};
use super::config::TrainConfig;
use super::trainer::{train_steps, StepMetrics};
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;
use crate::mixture::Mixture;
use crate::model::export::export_hf_dir;
use crate::model::load_pretrained;

/// File names inside a run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The run config as it was used.
pub const CONFIG_FILE: &str = "run.toml";
/// The trained model, an HF-format folder.
pub const MODEL_DIR: &str = "model";

/// What a finished run left behind.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub output_dir: PathBuf,
    pub model_dir: PathBuf,
    pub steps: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
}

/// `path` relative to the config file's folder, unless absolute.
fn beside(config_path: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_path.parent().unwrap_or(Path::new(".")).join(path)
    }
}

/// Runs training as `config_path` describes on `device` (made autodiff here); `on_step`
/// sees every step's metrics, which are also appended to `metrics.jsonl`.
pub fn run_from_file(
    config_path: &Path,
    device: &Device,
    show_progress: bool,
    on_step: &mut dyn FnMut(&StepMetrics),
) -> Result<RunSummary> {
    let config = TrainConfig::from_file(config_path)?;
    let mixture_path = beside(config_path, &config.mixture);
    let output_dir = beside(config_path, &config.output_dir);
    let model = if Path::new(&config.model).is_relative()
        && beside(config_path, Path::new(&config.model)).is_dir()
    {
        beside(config_path, Path::new(&config.model))
            .to_string_lossy()
            .into_owned()
    } else {
        config.model.clone()
    };
    let mixture = Mixture::load(&mixture_path).map_err(|e| MixtuneError::Input(e.to_string()))?;
    let device = device.clone().autodiff();
    device.seed(config.seed);
    let pretrained = load_pretrained(&model, &device, show_progress)?;
    let settings = &mixture.config.config.mixture;
    let batcher = Batcher::new(
        pretrained.tokenizer.clone(),
        settings.max_source_tokens,
        settings.max_target_tokens,
    )?;

    std::fs::create_dir_all(&output_dir).map_err(|e| MixtuneError::io(&output_dir, e))?;
    let config_text = std::fs::read(config_path).map_err(|e| MixtuneError::io(config_path, e))?;
    write_atomic(&output_dir.join(CONFIG_FILE), &config_text)?;
    let metrics_path = output_dir.join(METRICS_FILE);
    let mut metrics_file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&metrics_path)
        .map_err(|e| MixtuneError::io(&metrics_path, e))?;

    let mut sampler = mixture
        .sampler()
        .map_err(|e| MixtuneError::Input(e.to_string()))?;
    let batch_size = config.batch_size;
    let batches = std::iter::from_fn(|| -> Option<Result<TrainBatch>> {
        let examples: Result<Vec<_>> = (&mut sampler)
            .take(batch_size)
            .map(|sample| {
                mixture
                    .render(&sample)
                    .map_err(|e| MixtuneError::Input(e.to_string()))
            })
            .collect();
        Some(examples.and_then(|examples| batcher.batch(&examples, &device)))
    });

    let (mut first_loss, mut last_loss, mut steps) = (None, None, 0);
    let mut write_error = None;
    let model = train_steps(
        pretrained.model,
        batches,
        &config,
        &mut |metrics: &StepMetrics| {
            first_loss.get_or_insert(metrics.loss);
            last_loss = Some(metrics.loss);
            steps = metrics.step;
            let line = serde_json::to_string(metrics).unwrap_or_default();
            if let Err(e) = writeln!(metrics_file, "{line}").and_then(|_| metrics_file.flush()) {
                write_error.get_or_insert(e);
            }
            on_step(metrics);
        },
    )?;
    if let Some(e) = write_error {
        return Err(MixtuneError::io(&metrics_path, e));
    }
    let model_dir = output_dir.join(MODEL_DIR);
    export_hf_dir(
        &model,
        &pretrained.tokenizer,
        &pretrained.defaults,
        &model_dir,
    )?;
    Ok(RunSummary {
        output_dir,
        model_dir,
        steps,
        first_loss,
        last_loss,
    })
}
