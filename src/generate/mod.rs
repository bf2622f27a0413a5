//! Text generation with a KV cache: greedy, sampling and beam search, batched with padding.

pub mod beam;
pub mod greedy;
pub mod logits;
pub mod stream;

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{MixtuneError, Result};
use crate::model::{T5Config, T5ForConditionalGeneration};

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

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
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

impl GenerationConfig {
    /// Rejects values HF would reject, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: &str| {
            Err(MixtuneError::Input(format!("generation `{field}` {why}")))
        };
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens", "must be at least 1");
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

/// Token ids the model generates with (from `generation_config.json`, else `config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationDefaults {
    pub decoder_start_token_id: u32,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: u32,
}

impl GenerationDefaults {
    /// Ids from a model's config.
    pub fn from_config(config: &T5Config) -> Self {
        Self {
            decoder_start_token_id: config.decoder_start_token_id,
            eos_token_ids: vec![config.eos_token_id],
            pad_token_id: config.pad_token_id,
        }
    }

    /// Reads the optional `generation_config.json` in `dir`, falling back to the config's ids.
    pub fn from_dir(dir: &Path, config: &T5Config) -> Result<Self> {
        let mut defaults = Self::from_config(config);
        let path = dir.join("generation_config.json");
        if !path.is_file() {
            return Ok(defaults);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| MixtuneError::io(&path, e))?;
        let invalid = |message: String| MixtuneError::Config {
            path: path.clone(),
            message,
        };
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| invalid(format!("line {}, column {}: {e}", e.line(), e.column())))?;
        let id = |key: &str| -> Result<Option<u32>> {
            match json.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(|v| Some(v as u32))
                    .ok_or_else(|| invalid(format!("`{key}` must be a token id"))),
            }
        };
        if let Some(start) = id("decoder_start_token_id")? {
            defaults.decoder_start_token_id = start;
        }
        if let Some(pad) = id("pad_token_id")? {
            defaults.pad_token_id = pad;
        }
        match json.get("eos_token_id") {
            Some(serde_json::Value::Array(ids)) => {
                defaults.eos_token_ids = ids
                    .iter()
                    .map(|v| v.as_u64().map(|v| v as u32))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid("`eos_token_id` must be token ids".into()))?;
            }
            _ => {
                if let Some(eos) = id("eos_token_id")? {
                    defaults.eos_token_ids = vec![eos];
                }
            }
        }
        Ok(defaults)
    }
}

/// Right-padded `input_ids` `[batch, max_len]` and 0/1 `attention_mask` for a batch of prompts.
pub fn pad_batch(
    prompts: &[Vec<u32>],
    pad: u32,
    device: &Device,
) -> Result<(Tensor<2, Int>, Tensor<2>)> {
    let batch = prompts.len();
    let len = prompts.iter().map(Vec::len).max().unwrap_or(0);
    if batch == 0 || len == 0 {
        return Err(MixtuneError::Input("empty prompt batch".into()));
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

/// Generates for each prompt (token ids, `</s>` included); returns each output's ids,
/// starting with the decoder start token and ending with `</s>` unless cut by the length limit.
/// `vocab_limit` masks logits of ids at or past it (the embedding has padding rows).
pub fn generate(
    model: &T5ForConditionalGeneration,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    defaults: &GenerationDefaults,
    vocab_limit: usize,
) -> Result<Vec<Vec<u32>>> {
    generate_streaming(
        model,
        prompts,
        config,
        defaults,
        vocab_limit,
        &mut |_, _| {},
    )
}

/// [`generate`], calling `on_token(row, token)` for every generated token of every row, in
/// order, the decoder start token excluded. Greedy and sampling report each token as soon as
/// it is chosen; beam search reports the winning sequence once the search ends (its beams
/// change until then). The results are exactly those of [`generate`].
pub fn generate_streaming(
    model: &T5ForConditionalGeneration,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    defaults: &GenerationDefaults,
    vocab_limit: usize,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    config.validate()?;
    let device = model.device();
    let (input_ids, mask) = pad_batch(prompts, defaults.pad_token_id, &device)?;
    let encoded = model.encode(input_ids, mask.clone());
    let state = model.start_decoding(encoded, mask);
    if config.num_beams > 1 {
        let sequences =
            beam::beam_search(model, state, prompts.len(), config, defaults, vocab_limit)?;
        for (row, sequence) in sequences.iter().enumerate() {
            for &token in sequence.iter().skip(1) {
                on_token(row, token);
            }
        }
        Ok(sequences)
    } else {
        greedy::greedy_or_sample_streaming(
            model,
            state,
            prompts.len(),
            config,
            defaults,
            vocab_limit,
            on_token,
        )
    }
}

/// Reads a tensor's values to the host, turning backend failures into errors.
pub(crate) fn to_host_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| MixtuneError::Backend(format!("{e:?}")))
}
