//! Text generation with a KV cache: greedy, sampling and beam search, batched with padding.

pub mod beam;
pub mod greedy;
pub mod logits;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{MixtuneError, Result};
use crate::model::GenerationDefaults;
use crate::model::T5ForConditionalGeneration;

/// When beam search may stop (HF's `early_stopping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EarlyStopping {
    /// Stop as soon as `num_beams` hypotheses are finished.
    True,
    /// Stop when no running beam can beat the finished ones (a heuristic on current length).
    #[default]
    False,
    /// Run until no beam can improve even at the maximum length.
    Never,
}

/// How to generate (HF `generate()` arguments of the same names).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationConfig {
    /// Prompts longer than this many tokens are cut (keeping their final `</s>`), as the
    /// model was trained (Flan-T5: 512): a pasted 100k-character chat costs no more memory
    /// than a long one.
    #[serde(default = "default_max_source_tokens")]
    pub max_source_tokens: usize,
    pub max_new_tokens: usize,
    pub min_new_tokens: usize,
    pub num_beams: usize,
    pub length_penalty: f32,
    pub early_stopping: EarlyStopping,
    /// Ban repeating any n-gram of this size (0: off).
    pub no_repeat_ngram_size: usize,
    pub do_sample: bool,
    pub temperature: f32,
    /// Keep only the k most likely tokens when sampling (0: off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p when sampling (1.0: off).
    pub top_p: f32,
    pub seed: u64,
}

/// Flan-T5's input length.
pub const DEFAULT_MAX_SOURCE_TOKENS: usize = 512;

fn default_max_source_tokens() -> usize {
    DEFAULT_MAX_SOURCE_TOKENS
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_source_tokens: DEFAULT_MAX_SOURCE_TOKENS,
            max_new_tokens: 64,
            min_new_tokens: 0,
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            no_repeat_ngram_size: 0,
            do_sample: false,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

pub use crate::data::lengths::MAX_TOKENS;
/// The most beams of a beam search: each one is a full decoder pass per token.
pub const MAX_BEAMS: usize = 64;

impl GenerationConfig {
    /// Rejects values HF would reject, and absurd sizes, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, why: &str| {
            Err(MixtuneError::Generation {
                field,
                why: why.to_string(),
            })
        };
        for (field, value, most) in [
            ("max_new_tokens", self.max_new_tokens, MAX_TOKENS),
            ("max_source_tokens", self.max_source_tokens, MAX_TOKENS),
            ("num_beams", self.num_beams, MAX_BEAMS),
        ] {
            if value > most {
                return bad(field, &format!("= {value} is above the most, {most}"));
            }
        }
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens", "must be at least 1");
        }
        if self.max_source_tokens == 0 {
            return bad("max_source_tokens", "must be at least 1");
        }
        if self.min_new_tokens > self.max_new_tokens {
            return bad(
                "min_new_tokens",
                &format!(
                    "({}) is above `max_new_tokens` ({})",
                    self.min_new_tokens, self.max_new_tokens
                ),
            );
        }
        if self.num_beams == 0 {
            return bad("num_beams", "must be at least 1");
        }
        if self.do_sample && self.num_beams > 1 {
            return bad(
                "num_beams",
                "must be 1 when sampling (beam sampling is not supported)",
            );
        }
        if !self.temperature.is_finite() || self.temperature <= 0.0 {
            return bad("temperature", "must be a positive number");
        }
        if self.top_p.is_nan() || self.top_p <= 0.0 || self.top_p > 1.0 {
            return bad("top_p", "must be in (0, 1]");
        }
        if !self.length_penalty.is_finite() {
            return bad("length_penalty", "must be finite");
        }
        Ok(())
    }
}

/// Right-padded `input_ids` `[batch, max_len]` and 0/1 `attention_mask` for a batch of prompts.
pub fn pad_batch(
    prompts: &[Vec<u32>],
    pad: u32,
    device: &Device,
) -> Result<(Tensor<2, Int>, Tensor<2>)> {
    let len = prompts.iter().map(Vec::len).max().unwrap_or(0);
    pad_batch_to(prompts, pad, len, device)
}

/// [`pad_batch`] to `len` positions (at least the longest prompt).
pub fn pad_batch_to(
    prompts: &[Vec<u32>],
    pad: u32,
    len: usize,
    device: &Device,
) -> Result<(Tensor<2, Int>, Tensor<2>)> {
    let batch = prompts.len();
    let len = len.max(prompts.iter().map(Vec::len).max().unwrap_or(0));
    if batch == 0 || len == 0 {
        return Err(MixtuneError::EmptyPrompt);
    }
    let mut ids = Vec::with_capacity(batch * len);
    let mut mask = Vec::with_capacity(batch * len);
    for prompt in prompts {
        for t in 0..len {
            ids.push(prompt.get(t).map_or(pad as i64, |&id| id as i64));
            mask.push(if t < prompt.len() { 1.0f32 } else { 0.0 });
        }
    }
    Ok((
        Tensor::from_data(TensorData::new(ids, [batch, len]), device),
        Tensor::from_data(TensorData::new(mask, [batch, len]), device),
    ))
}

/// What every decoding loop and logits processor needs besides the model and its state:
/// the settings, the model's special token ids and the vocabulary limit.
#[derive(Debug, Clone, Copy)]
pub struct Decoding<'a> {
    pub config: &'a GenerationConfig,
    pub defaults: &'a GenerationDefaults,
    /// Logits of ids at or past this are masked (the embedding has padding rows: T5 has
    /// 32100 tokens but 32128 rows).
    pub vocab_limit: usize,
}

/// Generates for each prompt (token ids, `</s>` included); returns each output's ids,
/// starting with the decoder start token and ending with `</s>` unless cut by the length limit.
pub fn generate(
    model: &T5ForConditionalGeneration,
    prompts: &[Vec<u32>],
    decoding: Decoding,
) -> Result<Vec<Vec<u32>>> {
    run(model, prompts, decoding, BATCH_SYNC_EVERY, &mut |_, _| {})
}

/// Greedy steps between reads of the chosen ids when nothing streams them: the device runs
/// ahead of the host by this many steps.
const BATCH_SYNC_EVERY: usize = 8;

/// [`generate`], calling `on_token(row, token)` for every generated token of every row, in
/// order, the decoder start token excluded. Greedy and sampling report each token as soon as
/// it is chosen; beam search reports the winning sequence once the search ends (its beams
/// change until then). The results are exactly those of [`generate`].
pub fn generate_streaming(
    model: &T5ForConditionalGeneration,
    prompts: &[Vec<u32>],
    decoding: Decoding,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    run(model, prompts, decoding, 1, on_token)
}

fn run(
    model: &T5ForConditionalGeneration,
    prompts: &[Vec<u32>],
    decoding: Decoding,
    sync_every: usize,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    decoding.config.validate()?;
    let device = model.device();
    let (input_ids, mask) = pad_batch(prompts, decoding.defaults.pad_token_id, &device)?;
    let encoded = model.encode(input_ids, mask.clone());
    // The start token plus every new token: the caches never grow, every step has one shape.
    let capacity = decoding.config.max_new_tokens + 1;
    let state = model.start_decoding(encoded, mask, Some(capacity));
    if decoding.config.num_beams > 1 {
        let sequences = beam::beam_search(model, state, prompts.len(), decoding)?;
        for (row, sequence) in sequences.iter().enumerate() {
            for &token in sequence.iter().skip(1) {
                on_token(row, token);
            }
        }
        Ok(sequences)
    } else {
        greedy::greedy_or_sample(model, state, prompts.len(), decoding, sync_every, on_token)
    }
}
