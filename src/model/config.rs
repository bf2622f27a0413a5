//! `T5Config`: a HF `config.json` as serde reads it, plus the facts derived from it once.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{MixtuneError, Result};

/// The activation inside a T5 feed-forward layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(x, 0)` (T5 v1.0).
    Relu,
    /// Exact erf GELU.
    Gelu,
    /// HF's `gelu_new`: the tanh approximation (T5 v1.1 / Flan-T5).
    GeluNew,
    /// `x * sigmoid(x)`.
    Silu,
}

impl Activation {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "relu" => Some(Self::Relu),
            "gelu" | "gelu_python" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluNew),
            "silu" | "swish" => Some(Self::Silu),
            _ => None,
        }
    }
}

fn default_num_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_epsilon() -> f64 {
    1e-6
}
fn default_ff_proj() -> String {
    "relu".into()
}
fn default_true() -> bool {
    true
}
fn default_eos() -> u32 {
    1
}

/// A T5 / Flan-T5 configuration, field names as in HF's `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct T5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    pub num_heads: usize,
    #[serde(default = "default_num_buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "default_epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_ff_proj")]
    pub feed_forward_proj: String,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// transformers 5 writes this separately from `tie_word_embeddings`; older files lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_decoder_outputs: Option<bool>,
    #[serde(default)]
    pub pad_token_id: u32,
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
    #[serde(default)]
    pub decoder_start_token_id: u32,
    #[serde(default)]
    pub dropout_rate: f64,
}

impl T5Config {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MixtuneError::io(path, e))?;
        let config: Self = serde_json::from_str(&text).map_err(|e| MixtuneError::Config {
            path: path.to_path_buf(),
            message: format!("line {}, column {}: {e}", e.line(), e.column()),
        })?;
        config.validate().map_err(|message| MixtuneError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks the values a T5 needs; the message names the offending key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.feed_forward()?;
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
            (
                "relative_attention_max_distance",
                self.relative_attention_max_distance,
            ),
        ] {
            if value == 0 {
                return Err(format!("`{key}` must be positive"));
            }
        }
        if self.relative_attention_num_buckets < 4 {
            return Err("`relative_attention_num_buckets` must be at least 4".into());
        }
        if self.layer_norm_epsilon.is_nan() || self.layer_norm_epsilon <= 0.0 {
            return Err("`layer_norm_epsilon` must be positive".into());
        }
        Ok(())
    }

    /// `(activation, gated)` from `feed_forward_proj` (`relu`, `gated-gelu`, ...).
    pub fn feed_forward(&self) -> std::result::Result<(Activation, bool), String> {
        let proj = self.feed_forward_proj.as_str();
        let (name, gated) = match proj.strip_prefix("gated-") {
            Some(rest) => (rest, true),
            None => (proj, false),
        };
        // HF maps "gated-gelu" to gelu_new (the T5 v1.1 checkpoints were trained with it).
        let name = if gated && name == "gelu" {
            "gelu_new"
        } else {
            name
        };
        match Activation::parse(name) {
            Some(act) if !proj.is_empty() && proj.split('-').count() <= 2 => Ok((act, gated)),
            _ => Err(format!(
                "unknown `feed_forward_proj` \"{proj}\": expected `relu`, `gelu`, `gelu_new`, `silu` or `gated-` followed by one of them"
            )),
        }
    }

    /// Decoder depth (`num_decoder_layers`, else `num_layers`).
    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    /// Whether the decoder output is scaled by `d_model^-0.5` before the lm head.
    pub fn scales_decoder_output(&self) -> bool {
        self.scale_decoder_outputs
            .unwrap_or(self.tie_word_embeddings)
    }

    /// Width of the attention projections (`num_heads * d_kv`).
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// The flan-t5-small shapes (random weights are fine for speed work).
    pub fn flan_t5_small() -> Self {
        Self::flan(512, 64, 1024, 8, 6)
    }

    /// The flan-t5-base shapes.
    pub fn flan_t5_base() -> Self {
        Self::flan(768, 64, 2048, 12, 12)
    }

    fn flan(d_model: usize, d_kv: usize, d_ff: usize, layers: usize, heads: usize) -> Self {
        Self {
            vocab_size: 32128,
            d_model,
            d_kv,
            d_ff,
            num_layers: layers,
            num_decoder_layers: Some(layers),
            num_heads: heads,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "gated-gelu".into(),
            tie_word_embeddings: false,
            scale_decoder_outputs: None,
            pad_token_id: 0,
            eos_token_id: 1,
            decoder_start_token_id: 0,
            dropout_rate: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_proj(proj: &str) -> T5Config {
        let mut c = T5Config::flan_t5_small();
        c.feed_forward_proj = proj.into();
        c
    }

    #[test]
    fn feed_forward_proj_parses() {
        assert_eq!(
            with_proj("relu").feed_forward(),
            Ok((Activation::Relu, false))
        );
        assert_eq!(
            with_proj("gated-gelu").feed_forward(),
            Ok((Activation::GeluNew, true))
        );
        assert_eq!(
            with_proj("gated-silu").feed_forward(),
            Ok((Activation::Silu, true))
        );
        assert!(with_proj("tanh")
            .feed_forward()
            .unwrap_err()
            .contains("\"tanh\""));
        assert!(with_proj("gated-gelu-x").feed_forward().is_err());
    }

    #[test]
    fn decoder_scaling_follows_tie_unless_explicit() {
        let mut c = T5Config::flan_t5_small();
        c.tie_word_embeddings = true;
        assert!(c.scales_decoder_output());
        c.scale_decoder_outputs = Some(false);
        assert!(!c.scales_decoder_output());
    }
}
