//! Summarize: a pasted chat with the summary streamed token by token, or every dialogue of a
//! file with progress and cancel.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{bail, Context};
use mixtune::data::{LoadOptions, RecordReader, SpeakerStyle};
use mixtune::error::MixtuneError;
use mixtune::eval::facts::{check_facts, Fact};
use mixtune::generate::GenerationConfig;
use mixtune::inference::{generate_text, stream_text, summary_prompt};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager};
use ts_rs::TS;

use crate::error::{blocking, CmdError, CmdResult};
use crate::state::{absolute, lock, AppState};

/// Generation settings shared by `summarize` and `summarize_file` (unset: engine defaults).
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[ts(optional_fields)]
pub struct GenerationOptions {
    pub max_new_tokens: Option<usize>,
    pub num_beams: Option<usize>,
    pub do_sample: Option<bool>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    /// `keep` or `person-tags`.
    #[ts(as = "Option<SpeakerStyle>")]
    pub speakers: Option<String>,
    /// `f32` (default) or `f16`: the precision the model computes in.
    pub precision: Option<mixtune::model::Precision>,
}

impl GenerationOptions {
    pub fn config(&self) -> GenerationConfig {
        let defaults = GenerationConfig::default();
        GenerationConfig {
            max_new_tokens: self.max_new_tokens.unwrap_or(defaults.max_new_tokens),
            num_beams: self.num_beams.unwrap_or(defaults.num_beams),
            do_sample: self.do_sample.unwrap_or(defaults.do_sample),
            temperature: self.temperature.unwrap_or(defaults.temperature),
            top_p: self.top_p.unwrap_or(defaults.top_p),
            top_k: self.top_k.unwrap_or(defaults.top_k),
            ..defaults
        }
    }

    pub fn speakers(&self) -> anyhow::Result<SpeakerStyle> {
        match &self.speakers {
            Some(name) => name
                .parse()
                .map_err(|message: String| CmdError::input(message).into()),
            None => Ok(SpeakerStyle::default()),
        }
    }
}

/// `summarize`'s request.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct SummarizeRequest {
    pub model: String,
    pub chat: String,
    #[serde(flatten)]
    pub options: GenerationOptions,
}

/// The text generated so far.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TokenText {
    pub text: String,
}

/// The summary and the prompt the model saw.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SummarizeResult {
    pub summary: String,
    pub prompt: String,
    /// Tokens of the prompt the model read.
    pub source_tokens: usize,
    /// Tokens cut from the end of a chat longer than the model reads (0: none).
    pub cut_tokens: usize,
    /// The summary's names, numbers, dates, … with byte spans, each found in the chat or
    /// invented (`mixtune::eval::facts`).
    pub facts: Vec<Fact>,
}

/// Summarizes a pasted chat; `on_token` gets the decoded summary after every new token.
#[tauri::command]
pub async fn summarize(
    app: AppHandle,
    request: SummarizeRequest,
    on_token: Channel<TokenText>,
) -> CmdResult<SummarizeResult> {
    blocking(move || {
        let prompt = summary_prompt(&request.chat, request.options.speakers()?)?;
        let config = request.options.config();
        let model = app.state::<AppState>().model_in(
            &request.model,
            request.options.precision.unwrap_or_default(),
        )?;
        let pretrained = lock(&model);
        let generated = stream_text(&pretrained, &prompt, &config, &mut |text| {
            let _ = on_token.send(TokenText {
                text: text.to_string(),
            });
        })
        .context("generating the summary")?;
        let facts = check_facts(&request.chat, &generated.text).facts;
        Ok(SummarizeResult {
            facts,
            summary: generated.text,
            prompt,
            source_tokens: generated.source_tokens,
            cut_tokens: generated.cut_tokens,
        })
    })
    .await
}

/// `summarize_file`'s request.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct SummarizeFileRequest {
    pub model: String,
    pub path: PathBuf,
    #[serde(flatten)]
    pub options: GenerationOptions,
}

/// Done / total.
#[derive(Debug, Clone, Copy, Serialize, TS)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// One summarized dialogue.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct SummaryRow {
    pub id: String,
    pub dialogue: String,
    pub summary: String,
}

/// The rows of `summarize_file`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SummaryRows {
    pub rows: Vec<SummaryRow>,
}

/// Dialogues generated per batch.
const FILE_BATCH: usize = 8;

/// Summarizes every record of a dataset file (any split), with progress; cancellable through
/// `cancel_task(task_id)`.
#[tauri::command]
pub async fn summarize_file(
    app: AppHandle,
    request: SummarizeFileRequest,
    on_progress: Channel<Progress>,
    task_id: Option<String>,
) -> CmdResult<SummaryRows> {
    blocking(move || {
        let state = app.state::<AppState>();
        let task = state.task(task_id)?;
        let speakers = request.options.speakers()?;
        let path = absolute(&request.path);
        let options = LoadOptions {
            speakers,
            ..LoadOptions::default()
        };
        let records = RecordReader::open(&path, &options)
            .and_then(|reader| reader.collect::<Result<Vec<_>, _>>())
            .map_err(MixtuneError::from)?;
        let config = request.options.config();
        let model = state.model_in(
            &request.model,
            request.options.precision.unwrap_or_default(),
        )?;
        let pretrained = lock(&model);
        let total = records.len();
        let mut rows = Vec::with_capacity(total);
        let _ = on_progress.send(Progress { done: 0, total });
        for chunk in records.chunks(FILE_BATCH) {
            if task.flag.load(Ordering::SeqCst) {
                let message = format!("cancelled after {} of {total} dialogues", rows.len());
                bail!(CmdError::cancelled(message));
            }
            let prompts = chunk
                .iter()
                .map(|record| summary_prompt(record.input_text(), speakers))
                .collect::<Result<Vec<_>, _>>()?;
            let generated = generate_text(&pretrained, &prompts, &config)
                .with_context(|| format!("summarizing `{}`", chunk[0].id))?;
            for (record, output) in chunk.iter().zip(generated) {
                rows.push(SummaryRow {
                    id: record.id.clone(),
                    dialogue: record.input_text().to_string(),
                    summary: output.text,
                });
            }
            let _ = on_progress.send(Progress {
                done: rows.len(),
                total,
            });
        }
        Ok(SummaryRows { rows })
    })
    .await
}

/// Writes summaries as CSV (`id,dialogue,summary`).
#[tauri::command]
pub async fn export_summaries_csv(rows: Vec<SummaryRow>, path: PathBuf) -> CmdResult<()> {
    blocking(move || {
        let path = absolute(&path);
        let mut writer = csv::Writer::from_path(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        for row in &rows {
            writer.serialize(row)?;
        }
        writer
            .flush()
            .with_context(|| format!("writing {}", path.display()))
    })
    .await
}
