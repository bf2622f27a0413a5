//! `mixtune eval`: one model, or a model against others, on a dataset: ROUGE per model, the
//! absolute improvement over each, and every example's predictions (the Flan-T5 DialogSum lab's
//! table), with CSV and JSONL export.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::facts::check_facts;
use super::rouge::{self, MeanRouge};
use crate::data::{self, LoadOptions, Split};
use crate::device::kernel_shapes::{pad_rows, pads_last_batch};
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;
use crate::generate::GenerationConfig;
use crate::inference::generate_text;
use crate::mixture::template;
use crate::model::{load_pretrained, Pretrained};

/// What to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct EvalRequest {
    /// The model: a folder or a hub id.
    pub model: String,
    /// Models to compare with (typically the base the first was tuned from); each gets its
    /// improvement relative to `model`.
    #[serde(default)]
    pub compare: Vec<String>,
    /// Dataset file (every record is used, whatever its split).
    pub data: PathBuf,
    /// Template giving prompt and reference (built-in name or path); default `dialogue_summary`.
    #[serde(default = "default_template")]
    pub template: String,
    /// Only the first this many examples.
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Inputs longer than this are cut (keeping `</s>`); the report counts them.
    #[serde(default = "default_max_source_tokens")]
    pub max_source_tokens: usize,
    #[serde(default = "default_num_beams")]
    pub num_beams: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Porter-stem tokens before matching (as `rouge_score`'s `use_stemmer=True`).
    #[serde(default = "default_stem")]
    pub stem: bool,
    /// `f32` (default) or `f16`: the precision the models compute in.
    #[serde(default)]
    pub precision: crate::model::Precision,
}

fn default_template() -> String {
    "dialogue_summary".into()
}
fn default_max_source_tokens() -> usize {
    crate::generate::DEFAULT_MAX_SOURCE_TOKENS
}
fn default_max_new_tokens() -> usize {
    128
}
fn default_num_beams() -> usize {
    1
}
fn default_batch_size() -> usize {
    8
}
fn default_stem() -> bool {
    true
}

impl EvalRequest {
    /// A request with defaults for everything but the model and data.
    pub fn new(model: impl Into<String>, data: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            compare: Vec::new(),
            data: data.into(),
            template: default_template(),
            limit: None,
            max_new_tokens: default_max_new_tokens(),
            max_source_tokens: default_max_source_tokens(),
            num_beams: default_num_beams(),
            batch_size: default_batch_size(),
            stem: default_stem(),
            precision: crate::model::Precision::F32,
        }
    }
}

/// One model's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ModelScores {
    pub model: String,
    pub rouge: MeanRouge,
    /// Seconds spent generating.
    pub seconds: f64,
    /// Share of the predictions' facts (names, numbers, dates, …) not in their sources
    /// (`eval::facts`; 0 when they have none).
    #[serde(default)]
    pub invented_rate: f64,
    /// The predictions' facts not in their sources, counted.
    #[serde(default)]
    pub invented_facts: usize,
}

/// One example with every model's prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct EvalRow {
    pub id: String,
    pub source: String,
    pub reference: String,
    /// In the order of [`EvalReport::models`].
    pub predictions: Vec<String>,
    /// ROUGE-1 F-measure of each prediction.
    pub rouge1: Vec<f64>,
    /// Each prediction's facts that the source lacks (`eval::facts`).
    #[serde(default)]
    pub invented: Vec<Vec<String>>,
}

/// The evaluation's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct EvalReport {
    pub data: PathBuf,
    pub examples: usize,
    /// The model, then each comparison model in the order given.
    pub models: Vec<ModelScores>,
    /// First model minus the first comparison model, in absolute F-measure points.
    pub improvement: Option<MeanRouge>,
    /// First model minus each comparison model (`models[1..]`), in absolute points.
    #[serde(default)]
    pub improvements: Vec<MeanRouge>,
    /// Examples whose input was cut to `max_source_tokens`.
    #[serde(default)]
    pub cut_inputs: usize,
    pub max_source_tokens: usize,
    pub rows: Vec<EvalRow>,
    /// Rows of the data that near-duplicate a run's training rows (`mixtune eval --run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub contamination: Option<crate::data::near_dup::NearDuplicates>,
}

fn template_of(name: &str) -> Result<template::TaskTemplates> {
    let as_path = Path::new(name);
    let result = if name.ends_with(".toml") && as_path.exists() {
        template::load_file(as_path)
    } else {
        let file = if name.ends_with(".toml") {
            name.to_string()
        } else {
            format!("{name}.toml")
        };
        template::load_builtin(&file)
    };
    result.map_err(MixtuneError::from)
}

/// Runs the evaluation on `device`; `progress(done, total)` is called after every batch
/// (total = examples × models); setting `cancel` stops it with an error.
pub fn evaluate(
    request: &EvalRequest,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<EvalReport> {
    let mut rows = eval_rows(request)?;
    let specs: Vec<&String> = std::iter::once(&request.model)
        .chain(&request.compare)
        .collect();
    let total = rows.len() * specs.len();
    let config = GenerationConfig {
        max_source_tokens: request.max_source_tokens,
        max_new_tokens: request.max_new_tokens,
        num_beams: request.num_beams,
        ..GenerationConfig::default()
    };
    config.validate()?;
    crate::model::check_precision(device, request.precision)?;
    let (mut models, mut cut_inputs, mut done) = (Vec::new(), 0, 0);
    for spec in specs {
        let mut pretrained = load_pretrained(spec, device, false)?;
        if request.precision != crate::model::Precision::F32 {
            pretrained.model = crate::model::to_precision(pretrained.model, request.precision);
        }
        let mut advance = |rows_done: usize| {
            done += rows_done;
            progress(done, total);
        };
        let (scores, cut) = score_model(
            &pretrained,
            spec,
            request,
            &config,
            &mut rows,
            &mut advance,
            cancel,
        )?;
        if models.is_empty() {
            cut_inputs = cut; // counted once per example, with the first model
        }
        models.push(scores);
    }
    let improvements: Vec<MeanRouge> = models[1..]
        .iter()
        .map(|other| difference(&models[0].rouge, &other.rouge))
        .collect();
    Ok(EvalReport {
        data: request.data.clone(),
        examples: rows.len(),
        models,
        improvement: improvements.first().copied(),
        improvements,
        cut_inputs,
        max_source_tokens: request.max_source_tokens,
        rows,
        contamination: None,
    })
}

/// The request's test rows (at most `limit`), rendered with its template; refused when the
/// data lacks the template's fields or has no rows.
fn eval_rows(request: &EvalRequest) -> Result<Vec<EvalRow>> {
    let templates = template_of(&request.template)?;
    let options = LoadOptions {
        split: Some(Split::Test),
        ..LoadOptions::default()
    };
    let dataset = data::load(&request.data, &options)?;
    templates.require_fields(
        &request.data,
        dataset.schema.fields.keys().map(String::as_str),
    )?;
    let limit = request.limit.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for record in dataset.records.iter().take(limit) {
        let (source, reference) = templates.render(&record.fields, 0, &record.id)?;
        rows.push(EvalRow {
            id: record.id.clone(),
            source,
            reference,
            predictions: Vec::new(),
            rouge1: Vec::new(),
            invented: Vec::new(),
        });
    }
    if rows.is_empty() {
        return Err(MixtuneError::Input(format!(
            "{}: no examples to evaluate",
            request.data.display()
        )));
    }
    Ok(rows)
}

/// Generates with `pretrained` for every row in batches, adding its prediction, ROUGE-1 and
/// invented facts to each row; returns the model's scores and how many prompts were cut.
/// `advance` hears how many rows each batch finished.
fn score_model(
    pretrained: &Pretrained,
    spec: &str,
    request: &EvalRequest,
    config: &GenerationConfig,
    rows: &mut [EvalRow],
    advance: &mut dyn FnMut(usize),
    cancel: &AtomicBool,
) -> Result<(ModelScores, usize)> {
    let started = std::time::Instant::now();
    let (mut facts, mut invented_facts, mut cut_inputs) = (0, 0, 0);
    let pad = pads_last_batch(&pretrained.model.device(), rows.len(), request.batch_size);
    for chunk in rows.chunks_mut(request.batch_size.max(1)) {
        if cancel.load(Ordering::Relaxed) {
            return Err(MixtuneError::Cancelled("evaluation cancelled".into()));
        }
        let prompts: Vec<String> = chunk.iter().map(|row| row.source.clone()).collect();
        // A smaller last batch is padded on a GPU; `zip` drops the padding's outputs.
        let prompts = pad_rows(prompts, request.batch_size, pad);
        for (row, generated) in chunk
            .iter_mut()
            .zip(generate_text(pretrained, &prompts, config)?)
        {
            cut_inputs += usize::from(generated.cut_tokens > 0);
            let prediction = generated.text;
            row.rouge1.push(
                rouge::score(&prediction, &row.reference, request.stem)
                    .rouge1
                    .fmeasure,
            );
            let check = check_facts(&row.source, &prediction);
            facts += check.facts.len();
            invented_facts += check.invented;
            row.invented.push(check.invented_texts());
            row.predictions.push(prediction);
        }
        advance(chunk.len());
    }
    let predictions: Vec<String> = rows
        .iter()
        .map(|r| r.predictions.last().cloned().unwrap_or_default())
        .collect();
    let references: Vec<String> = rows.iter().map(|r| r.reference.clone()).collect();
    let rouge = rouge::mean_fmeasures(&predictions, &references, request.stem)?;
    let scores = ModelScores {
        model: spec.to_string(),
        rouge,
        seconds: started.elapsed().as_secs_f64(),
        invented_rate: if facts == 0 {
            0.0
        } else {
            invented_facts as f64 / facts as f64
        },
        invented_facts,
    };
    Ok((scores, cut_inputs))
}

/// `a − b`, variant by variant.
fn difference(a: &MeanRouge, b: &MeanRouge) -> MeanRouge {
    MeanRouge {
        rouge1: a.rouge1 - b.rouge1,
        rouge2: a.rouge2 - b.rouge2,
        rouge_l: a.rouge_l - b.rouge_l,
        rouge_lsum: a.rouge_lsum - b.rouge_lsum,
    }
}

/// Writes the per-example rows as CSV (`id, reference, prediction per model, rouge1 per
/// model, invented facts per model (`; `-separated), source`), atomically.
pub fn write_csv(report: &EvalReport, path: &Path) -> Result<()> {
    crate::fsutil::check_output(path, &[&report.data])?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_string(), "reference".to_string()];
    for (i, model) in report.models.iter().enumerate() {
        header.push(format!("prediction_{} ({})", i + 1, model.model));
    }
    for (i, _) in report.models.iter().enumerate() {
        header.push(format!("rouge1_{}", i + 1));
    }
    for (i, _) in report.models.iter().enumerate() {
        header.push(format!("invented_{}", i + 1));
    }
    header.push("source".into());
    let csv_error = |e: csv::Error| MixtuneError::io(path, std::io::Error::other(e));
    writer.write_record(&header).map_err(csv_error)?;
    for row in &report.rows {
        let mut record = vec![row.id.clone(), row.reference.clone()];
        record.extend(row.predictions.iter().cloned());
        record.extend(row.rouge1.iter().map(|r| format!("{r:.6}")));
        // Rows without the check (a report from before it) still have one cell per model.
        record.extend((0..report.models.len()).map(|i| {
            row.invented
                .get(i)
                .map(|facts| facts.join("; "))
                .unwrap_or_default()
        }));
        record.push(row.source.clone());
        writer.write_record(&record).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| MixtuneError::io(path, std::io::Error::other(e.to_string())))?;
    write_atomic(path, &bytes)
}

/// Writes the per-example rows as JSON lines, atomically.
pub fn write_jsonl(report: &EvalReport, path: &Path) -> Result<()> {
    crate::fsutil::check_output(path, &[&report.data])?;
    let mut text = String::new();
    for row in &report.rows {
        let line = serde_json::to_string(row)?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}
