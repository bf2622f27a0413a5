//! The token ids a model generates with: `generation_config.json`, else `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::T5Config;
use crate::error::{MixtuneError, Result};

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
