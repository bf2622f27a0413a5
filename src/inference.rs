//! Text in, text out: prompts through the tokenizer and generation, and the summary of a chat.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::Serialize;

use crate::data::chat::{normalize_text, SpeakerStyle};
use crate::error::{MixtuneError, Result};
use crate::generate::{generate, pad_batch, GenerationConfig};
use crate::mixture::template;
use crate::model::Pretrained;

/// The task template whose default phrasing `summarize` uses (in `templates/`).
pub const SUMMARY_TEMPLATE: &str = "dialogue_summary.toml";

/// One generated output.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub text: String,
    /// Generated ids, the decoder start token first (as HF's `generate`).
    pub token_ids: Vec<u32>,
}

/// Generates for each prompt text, batched.
pub fn generate_text(
    pretrained: &Pretrained,
    prompts: &[String],
    config: &GenerationConfig,
) -> Result<Vec<Generated>> {
    if prompts.iter().any(|p| p.trim().is_empty()) {
        return Err(MixtuneError::Input("a prompt is empty".into()));
    }
    let ids = pretrained.tokenizer.encode_batch(prompts)?;
    let outputs = generate(
        &pretrained.model,
        &ids,
        config,
        &pretrained.defaults,
        pretrained.tokenizer.vocab_size(),
    )?;
    outputs
        .into_iter()
        .map(|token_ids| {
            Ok(Generated {
                text: pretrained.tokenizer.decode(&token_ids)?,
                token_ids,
            })
        })
        .collect()
}

/// The summary prompt for a pasted chat: the chat normalised to one `Speaker: text` turn per
/// line, rendered through the default phrasing of the dialogue-summary template
/// (`Summarize the following conversation.\n\n{{ dialogue }}\n\nSummary: `).
pub fn summary_prompt(chat: &str, speakers: SpeakerStyle) -> Result<String> {
    let dialogue = normalize_text(chat, speakers).map_err(MixtuneError::Input)?;
    let templates =
        template::load_builtin(SUMMARY_TEMPLATE)?;
    let fields = BTreeMap::from([
        ("dialogue".to_string(), dialogue),
        ("summary".to_string(), String::new()),
    ]);
    let (source, _) = templates
        .render(&fields, templates.default_phrasing(), "chat")?;
    Ok(source)
}

/// Mean token cross-entropy of `target` given `source` (HF's `labels=` loss).
pub fn loss(pretrained: &Pretrained, source: &str, target: &str) -> Result<f32> {
    let tokenizer = &pretrained.tokenizer;
    let source_ids = tokenizer.encode(source)?;
    let labels: Vec<i64> = tokenizer
        .encode(target)?
        .into_iter()
        .map(i64::from)
        .collect();
    let device = pretrained.model.device();
    let (input_ids, mask) = pad_batch(&[source_ids], pretrained.defaults.pad_token_id, &device)?;
    let loss: Tensor<1> = pretrained.model.loss(input_ids, mask, &[labels]);
    let values = crate::generate::to_host_f32(loss)?;
    values
        .first()
        .copied()
        .ok_or_else(|| MixtuneError::Backend("loss tensor was empty".into()))
}
