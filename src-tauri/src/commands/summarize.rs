//! Summarize: a pasted chat with the summary streamed token by token (or, in the support
//! view, the summary and the key actions side by side), or every dialogue of a file with
//! progress and cancel, exported as CSV.

use std::path::PathBuf;

use anyhow::Context;
use mixtune::data::SpeakerStyle;
use mixtune::eval::facts::{check_facts, Fact};
use mixtune::generate::GenerationConfig;
use mixtune::inference::{stream_text, summary_prompt};
pub use mixtune::support::SummaryRow;
use mixtune::support::{self, SupportPart, SupportView};
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
    /// `f32` (default), `f16`, or `int8` (CPU only): the precision the model computes in.
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

/// The support view's text so far of one of its outputs.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SupportToken {
    pub part: SupportPart,
    pub text: String,
}

/// The support view of a pasted chat: its summary and key actions, generated together;
/// `on_token` gets each one's decoded text so far after every new token.
#[tauri::command]
pub async fn summarize_actions(
    app: AppHandle,
    request: SummarizeRequest,
    on_token: Channel<SupportToken>,
) -> CmdResult<SupportView> {
    blocking(move || {
        let speakers = request.options.speakers()?;
        // A bad chat is named before the model loads.
        support::action_prompt(&request.chat, speakers)?;
        let config = request.options.config();
        let model = app.state::<AppState>().model(&request.model)?;
        let pretrained = lock(&model);
        let view = support::support_view(
            &pretrained,
            &request.chat,
            speakers,
            &config,
            &mut |part, text| {
                let _ = on_token.send(SupportToken {
                    part,
                    text: text.to_string(),
                });
            },
        )
        .context("generating the summary and key actions")?;
        Ok(view)
    })
    .await
}

/// `summarize_file`'s request.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct SummarizeFileRequest {
    pub model: String,
    pub path: PathBuf,
    /// Also give each chat's key actions.
    #[serde(default)]
    #[ts(optional)]
    pub actions: Option<bool>,
    #[serde(flatten)]
    pub options: GenerationOptions,
}

/// Done / total.
#[derive(Debug, Clone, Copy, Serialize, TS)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// The rows of `summarize_file`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SummaryRows {
    pub rows: Vec<SummaryRow>,
}

/// Dialogues generated per batch.
const FILE_BATCH: usize = 8;

/// Summarizes every chat of a dataset file (any split; the chat from a `dialogue`, `chat`,
/// `conversation`, `text` or `input` column), with the key actions when asked, and progress;
/// cancellable through `cancel_task(task_id)`.
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
        let records = support::read_chats(&absolute(&request.path), speakers)?;
        let config = request.options.config();
        let model = state.model_in(
            &request.model,
            request.options.precision.unwrap_or_default(),
        )?;
        let pretrained = lock(&model);
        let rows = task.outcome(support::summarize_chats(
            &pretrained,
            &records,
            request.actions.unwrap_or(false),
            &config,
            FILE_BATCH,
            &mut |done, total| {
                let _ = on_progress.send(Progress { done, total });
            },
            &task.flag,
        ))?;
        Ok(SummaryRows { rows })
    })
    .await
}

/// Writes summaries as CSV (`id,dialogue,summary`, and `actions` when the rows have them),
/// atomically.
#[tauri::command]
pub async fn export_summaries_csv(rows: Vec<SummaryRow>, path: PathBuf) -> CmdResult<()> {
    blocking(move || Ok(support::write_csv(&rows, &absolute(&path))?)).await
}
