//! Text in, text out: prompts through the tokenizer and generation, and the summary of a chat.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::Serialize;

use crate::data::chat::{normalize_text, SpeakerStyle};
use crate::data::tokenizer::truncate;
use crate::error::{MixtuneError, Result};
use crate::generate::{generate, generate_streaming, pad_batch, Decoding, GenerationConfig};
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
    /// Tokens of the prompt the model read (at most `max_source_tokens`).
    pub source_tokens: usize,
    /// Tokens cut from the end of a prompt longer than `max_source_tokens` (0: none).
    pub cut_tokens: usize,
}

/// A prompt's ids cut to `max` tokens (keeping `</s>`), and how many were cut.
pub fn cut_prompt(ids: Vec<u32>, max: usize) -> (Vec<u32>, usize) {
    let cut = ids.len().saturating_sub(max);
    (truncate(ids, max), cut)
}

/// How `pretrained` decodes with `config`.
fn decoding<'a>(pretrained: &'a Pretrained, config: &'a GenerationConfig) -> Decoding<'a> {
    Decoding {
        config,
        defaults: &pretrained.defaults,
        vocab_limit: pretrained.tokenizer.vocab_size(),
    }
}

/// The prompts' token ids, each cut to `config.max_source_tokens`, and how much was cut;
/// an empty prompt or a bad config is refused first.
fn encode_prompts(
    pretrained: &Pretrained,
    prompts: &[String],
    config: &GenerationConfig,
) -> Result<(Vec<Vec<u32>>, Vec<usize>)> {
    if prompts.iter().any(|p| p.trim().is_empty()) {
        return Err(MixtuneError::EmptyPrompt);
    }
    config.validate()?;
    Ok(pretrained
        .tokenizer
        .encode_batch(prompts)?
        .into_iter()
        .map(|ids| cut_prompt(ids, config.max_source_tokens))
        .unzip())
}

/// Each generated sequence decoded, with its source's length and cut.
fn decoded(
    pretrained: &Pretrained,
    outputs: Vec<Vec<u32>>,
    ids: &[Vec<u32>],
    cut: Vec<usize>,
) -> Result<Vec<Generated>> {
    outputs
        .into_iter()
        .zip(ids.iter().zip(cut))
        .map(|(token_ids, (source, cut_tokens))| {
            Ok(Generated {
                text: pretrained.tokenizer.decode(&token_ids)?,
                token_ids,
                source_tokens: source.len(),
                cut_tokens,
            })
        })
        .collect()
}

/// Generates for each prompt text, batched.
pub fn generate_text(
    pretrained: &Pretrained,
    prompts: &[String],
    config: &GenerationConfig,
) -> Result<Vec<Generated>> {
    let (ids, cut) = encode_prompts(pretrained, prompts, config)?;
    let outputs = generate(&pretrained.model, &ids, decoding(pretrained, config))?;
    decoded(pretrained, outputs, &ids, cut)
}

/// Generates for `prompt`, calling `on_text` with the decoded text so far after every new
/// token (when the text changed). Returns what [`generate_text`] returns for
/// the same prompt and config.
pub fn stream_text(
    pretrained: &Pretrained,
    prompt: &str,
    config: &GenerationConfig,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generated> {
    stream_texts(pretrained, &[prompt.to_string()], config, &mut |_, text| {
        on_text(text)
    })?
    .into_iter()
    .next()
    .ok_or_else(|| MixtuneError::Backend("generation returned no sequence".into()))
}

/// Generates for every prompt in one batch, calling `on_text(row, text)` with a row's decoded
/// text so far after each of its new tokens (when the text changed): several outputs stream
/// side by side. Returns what [`generate_text`] returns for the same prompts and config.
pub fn stream_texts(
    pretrained: &Pretrained,
    prompts: &[String],
    config: &GenerationConfig,
    on_text: &mut dyn FnMut(usize, &str),
) -> Result<Vec<Generated>> {
    if prompts.is_empty() {
        return Err(MixtuneError::EmptyPrompt);
    }
    let (ids, cut) = encode_prompts(pretrained, prompts, config)?;
    let tokenizer = &pretrained.tokenizer;
    let start = pretrained.defaults.decoder_start_token_id;
    let mut so_far = vec![vec![start]; prompts.len()];
    let mut shown = vec![String::new(); prompts.len()];
    let mut failure = None;
    let outputs = generate_streaming(
        &pretrained.model,
        &ids,
        decoding(pretrained, config),
        &mut |row, token| {
            if failure.is_some() || row >= so_far.len() {
                return;
            }
            so_far[row].push(token);
            match tokenizer.decode(&so_far[row]) {
                Ok(text) if text != shown[row] => {
                    on_text(row, &text);
                    shown[row] = text;
                }
                Ok(_) => {}
                Err(error) => failure = Some(error),
            }
        },
    )?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    decoded(pretrained, outputs, &ids, cut)
}

/// The summary prompt for a pasted chat: the chat normalised to one `Speaker: text` turn per
/// line, rendered through the default phrasing of the dialogue-summary template
/// (`Summarize the following conversation.\n\n{{ dialogue }}\n\nSummary: `).
pub fn summary_prompt(chat: &str, speakers: SpeakerStyle) -> Result<String> {
    chat_prompt(SUMMARY_TEMPLATE, "summary", chat, speakers)
}

/// `chat` (normalised with `speakers`) rendered into the default phrasing of the built-in
/// template `template`, whose target field `target` is left empty: a task's prompt for one
/// chat.
pub fn chat_prompt(
    template: &str,
    target: &str,
    chat: &str,
    speakers: SpeakerStyle,
) -> Result<String> {
    let dialogue = normalize_text(chat, speakers).map_err(MixtuneError::Input)?;
    let templates = template::load_builtin(template)?;
    let fields = BTreeMap::from([
        ("dialogue".to_string(), dialogue),
        (target.to_string(), String::new()),
    ]);
    let (source, _) = templates.render(&fields, templates.default_phrasing(), "chat")?;
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
    let values = crate::model::to_host_f32(loss)?;
    values
        .first()
        .copied()
        .ok_or_else(|| MixtuneError::Backend("loss tensor was empty".into()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::device;
    use crate::model::load_pretrained;

    fn fixture() -> Option<Pretrained> {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/tiny-flan"
        ));
        if !dir.is_dir() {
            eprintln!("skipped: {} is missing", dir.display());
            return None;
        }
        Some(load_pretrained(dir.to_str()?, &device::cpu().device, false).unwrap())
    }

    fn check_same(pretrained: &Pretrained, config: &GenerationConfig) {
        let prompt = "summarize: Alice: are we meeting at noon?\nBob: yes, at the cafe.";
        let batch = generate_text(pretrained, &[prompt.to_string()], config).unwrap();
        let mut texts = Vec::new();
        let streamed = stream_text(pretrained, prompt, config, &mut |t| {
            texts.push(t.to_string())
        })
        .unwrap();
        assert_eq!(streamed.token_ids, batch[0].token_ids);
        assert_eq!(streamed.text, batch[0].text);
        if !streamed.text.is_empty() {
            assert_eq!(texts.last().unwrap(), &streamed.text);
        }
    }

    #[test]
    fn streaming_changes_no_result() {
        let Some(pretrained) = fixture() else { return };
        let greedy = GenerationConfig {
            max_new_tokens: 12,
            ..GenerationConfig::default()
        };
        check_same(&pretrained, &greedy);
        let sampled = GenerationConfig {
            do_sample: true,
            top_k: 20,
            top_p: 0.9,
            temperature: 0.8,
            seed: 7,
            ..greedy.clone()
        };
        check_same(&pretrained, &sampled);
        let beams = GenerationConfig {
            num_beams: 3,
            ..greedy
        };
        check_same(&pretrained, &beams);
    }

    #[test]
    fn every_token_is_reported_in_order() {
        let Some(pretrained) = fixture() else { return };
        let ids = pretrained.tokenizer.encode("translate: hello").unwrap();
        let config = GenerationConfig {
            max_new_tokens: 8,
            ..GenerationConfig::default()
        };
        let mut seen = Vec::new();
        let out = generate_streaming(
            &pretrained.model,
            &[ids.clone(), ids],
            decoding(&pretrained, &config),
            &mut |row, token| seen.push((row, token)),
        )
        .unwrap();
        for (row, sequence) in out.iter().enumerate() {
            let reported: Vec<u32> = seen
                .iter()
                .filter(|(r, _)| *r == row)
                .map(|&(_, t)| t)
                .collect();
            assert_eq!(reported, sequence[1..]);
        }
    }

    #[test]
    fn greedy_reads_ids_every_eight_steps_unless_streaming() {
        let Some(pretrained) = fixture() else { return };
        let ids = pretrained.tokenizer.encode("translate: hello").unwrap();
        let config = GenerationConfig {
            max_new_tokens: 16,
            min_new_tokens: 16,
            ..GenerationConfig::default()
        };
        let device = pretrained.model.device();
        let prompts = [ids.clone(), ids];
        let (batched, counts) = crate::device::profile::measure(&device, || {
            crate::generate::generate(&pretrained.model, &prompts, decoding(&pretrained, &config))
        });
        assert_eq!(counts.host_reads, 2, "16 steps, one read per 8");
        let (streamed, counts) = crate::device::profile::measure(&device, || {
            generate_streaming(
                &pretrained.model,
                &prompts,
                decoding(&pretrained, &config),
                &mut |_, _| {},
            )
        });
        assert_eq!(counts.host_reads, 16, "one read per streamed step");
        assert_eq!(batched.unwrap(), streamed.unwrap());
    }
}
