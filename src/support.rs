//! The support view: a chat's summary next to its key actions (the customer's request and
//! the agent's next action, through the `support_request_action` task), streamed side by
//! side for one chat, or for every chat of a file and exported as CSV
//! (`mixtune summarize --actions`, the app's Summarize page).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::data::chat::SpeakerStyle;
use crate::data::{open_rows, ColumnMapping, LoadOptions, Record, RecordReader, Split};
use crate::device::kernel_shapes::{pad_rows, pads_last_batch};
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;
use crate::generate::GenerationConfig;
use crate::inference::{generate_text, stream_texts, summary_prompt};

/// The task template whose default phrasing gives the key actions (in `templates/`).
pub const ACTION_TEMPLATE: &str = "support_request_action.toml";

/// Columns a chats file may hold its chats in, first match wins.
pub const CHAT_COLUMNS: [&str; 5] = ["dialogue", "chat", "conversation", "text", "input"];

/// Which output a streamed text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum SupportPart {
    Summary,
    Actions,
}

/// A chat's summary and key actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct SupportView {
    pub summary: String,
    /// The model's answer to the `support_request_action` prompt (`Request: …\nAction: …`).
    pub actions: String,
    /// Tokens of the chat's summary prompt the model read.
    pub source_tokens: usize,
    /// Tokens cut from the end of a chat longer than the model reads (the larger of the two
    /// prompts' cuts; 0: none).
    pub cut_tokens: usize,
}

/// One chat of a file with its outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct SummaryRow {
    pub id: String,
    pub dialogue: String,
    pub summary: String,
    /// The key actions, when they were asked for.
    #[serde(default)]
    pub actions: Option<String>,
}

/// The key-actions prompt for a pasted chat: the chat normalised to one `Speaker: text` turn
/// per line, through the default phrasing of the `support_request_action` template.
pub fn action_prompt(chat: &str, speakers: SpeakerStyle) -> Result<String> {
    crate::inference::chat_prompt(ACTION_TEMPLATE, "target", chat, speakers)
}

/// Summary and key actions of `chat`, generated in one batch; `on_text(part, text)` gets each
/// output's text so far after every new token.
pub fn support_view(
    pretrained: &crate::model::Pretrained,
    chat: &str,
    speakers: SpeakerStyle,
    config: &GenerationConfig,
    on_text: &mut dyn FnMut(SupportPart, &str),
) -> Result<SupportView> {
    let prompts = [
        summary_prompt(chat, speakers)?,
        action_prompt(chat, speakers)?,
    ];
    let mut outputs = stream_texts(pretrained, &prompts, config, &mut |row, text| {
        on_text(part_of(row), text)
    })?
    .into_iter();
    let (Some(summary), Some(actions)) = (outputs.next(), outputs.next()) else {
        return Err(MixtuneError::Backend(
            "generation returned fewer sequences than prompts".into(),
        ));
    };
    Ok(SupportView {
        source_tokens: summary.source_tokens,
        cut_tokens: summary.cut_tokens.max(actions.cut_tokens),
        summary: summary.text,
        actions: actions.text,
    })
}

fn part_of(row: usize) -> SupportPart {
    if row == 0 {
        SupportPart::Summary
    } else {
        SupportPart::Actions
    }
}

/// Every chat of a file (JSONL, JSON, CSV/TSV or Parquet), all rows whatever their split.
/// The chat comes from the first of [`CHAT_COLUMNS`] the file has; a file with none of them,
/// a row that does not read, or an empty chat is named with its file, line and column.
pub fn read_chats(path: &Path, speakers: SpeakerStyle) -> Result<Vec<Record>> {
    let (_, columns, _) = open_rows(path, None)?;
    let Some(column) = CHAT_COLUMNS
        .iter()
        .find(|name| columns.iter().any(|c| c == *name))
    else {
        return Err(MixtuneError::Input(format!(
            "{}: no chat column: expected one of {} (the file has {})",
            path.display(),
            CHAT_COLUMNS.join(", "),
            columns.join(", ")
        )));
    };
    let options = LoadOptions {
        columns: ColumnMapping::from([("dialogue".to_string(), column.to_string())]),
        speakers,
        split: Some(Split::Test),
        ..LoadOptions::default()
    };
    let mut records = Vec::new();
    for record in RecordReader::open(path, &options)? {
        let record = record?;
        if record.input_text().trim().is_empty() {
            return Err(MixtuneError::Input(format!(
                "{}: {}: column `{column}` is empty",
                path.display(),
                record.location
            )));
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(MixtuneError::Input(format!("{}: no chats", path.display())));
    }
    Ok(records)
}

/// Summaries (and with `actions` the key actions) of `records`, `batch_size` chats per
/// generation; `progress(done, total)` after each batch; setting `cancel` stops with an
/// error saying how far it got.
pub fn summarize_chats(
    pretrained: &crate::model::Pretrained,
    records: &[Record],
    actions: bool,
    config: &GenerationConfig,
    batch_size: usize,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<SummaryRow>> {
    let total = records.len();
    let mut rows = Vec::with_capacity(total);
    progress(0, total);
    let pad = pads_last_batch(&pretrained.model.device(), total, batch_size);
    for chunk in records.chunks(batch_size.max(1)) {
        if cancel.load(Ordering::SeqCst) {
            return Err(MixtuneError::Cancelled(format!(
                "cancelled after {} of {total} chats",
                rows.len()
            )));
        }
        // The chats are normalised already: the prompts take them as they are.
        let mut prompts = Vec::with_capacity(chunk.len() * 2);
        for record in chunk {
            let chat = record.input_text();
            let context = |e: MixtuneError| {
                MixtuneError::Input(format!("chat `{}` ({}): {e}", record.id, record.location))
            };
            prompts.push(summary_prompt(chat, SpeakerStyle::Keep).map_err(context)?);
            if actions {
                prompts.push(action_prompt(chat, SpeakerStyle::Keep).map_err(context)?);
            }
        }
        // A smaller last batch is padded on a GPU; the padding's outputs are never read.
        let per_chat = if actions { 2 } else { 1 };
        let prompts = pad_rows(prompts, batch_size * per_chat, pad);
        let mut outputs = generate_text(pretrained, &prompts, config)?.into_iter();
        for record in chunk {
            let summary = outputs.next().map(|g| g.text).unwrap_or_default();
            let actions = if actions {
                Some(outputs.next().map(|g| g.text).unwrap_or_default())
            } else {
                None
            };
            rows.push(SummaryRow {
                id: record.id.clone(),
                dialogue: record.input_text().to_string(),
                summary,
                actions,
            });
        }
        progress(rows.len(), total);
    }
    Ok(rows)
}

/// Writes rows as CSV (`id,dialogue,summary`, plus `actions` when any row has them),
/// atomically.
pub fn write_csv(rows: &[SummaryRow], path: &Path) -> Result<()> {
    let with_actions = rows.iter().any(|row| row.actions.is_some());
    let csv_error = |e: csv::Error| MixtuneError::io(path, std::io::Error::other(e));
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id", "dialogue", "summary"];
    if with_actions {
        header.push("actions");
    }
    writer.write_record(&header).map_err(csv_error)?;
    for row in rows {
        let mut record = vec![row.id.as_str(), row.dialogue.as_str(), row.summary.as_str()];
        if with_actions {
            record.push(row.actions.as_deref().unwrap_or_default());
        }
        writer.write_record(&record).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| MixtuneError::io(path, std::io::Error::other(e.to_string())))?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_prompt_uses_the_default_phrasing() {
        let prompt = action_prompt(
            "Customer: my order is late\nAgent: I will check",
            SpeakerStyle::Keep,
        )
        .unwrap();
        assert!(
            prompt.starts_with("Read the support chat below."),
            "{prompt}"
        );
        assert!(
            prompt.ends_with("Customer: my order is late\nAgent: I will check"),
            "{prompt}"
        );
    }

    #[test]
    fn csv_has_an_actions_column_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut rows = vec![SummaryRow {
            id: "c1".into(),
            dialogue: "A: hi, \"quoted\"\nB: yes".into(),
            summary: "They greet.".into(),
            actions: None,
        }];
        write_csv(&rows, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("id,dialogue,summary\n"), "{text}");
        rows[0].actions = Some("Request: x\nAction: y".into());
        write_csv(&rows, &path).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(
            reader.headers().unwrap(),
            vec!["id", "dialogue", "summary", "actions"]
        );
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[1], "A: hi, \"quoted\"\nB: yes");
        assert_eq!(&record[3], "Request: x\nAction: y");
    }
}
