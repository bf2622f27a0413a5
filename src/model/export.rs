//! Writing a model as an HF-format folder (config.json, model.safetensors, tokenizer.json,
//! generation_config.json) that HF transformers and Mixtune load.

use std::path::Path;

use serde_json::json;

use super::t5::T5ForConditionalGeneration;
use super::weights::save_safetensors;
use super::GenerationDefaults;
use crate::data::tokenizer::T5Tokenizer;
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;

/// HF's `config.json` for `model` (transformers 5 keys, readable by older versions too).
pub fn hf_config_json(model: &T5ForConditionalGeneration) -> Result<serde_json::Value> {
    let config = &model.config;
    let mut value = serde_json::to_value(config)?;
    let (_, gated) = config.feed_forward().map_err(MixtuneError::Input)?;
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "architectures".into(),
            json!(["T5ForConditionalGeneration"]),
        );
        object.insert("model_type".into(), json!("t5"));
        object.insert("is_encoder_decoder".into(), json!(true));
        object.insert("is_gated_act".into(), json!(gated));
        object.insert("num_decoder_layers".into(), json!(config.decoder_layers()));
        object.insert(
            "scale_decoder_outputs".into(),
            json!(config.scales_decoder_output()),
        );
        object.insert("dtype".into(), json!("float32"));
    }
    Ok(value)
}

/// Writes the folder `dir` (created if missing); each file is written atomically.
pub fn export_hf_dir(
    model: &T5ForConditionalGeneration,
    tokenizer: &T5Tokenizer,
    defaults: &GenerationDefaults,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| MixtuneError::io(dir, e))?;
    let pretty =
        |value: &serde_json::Value| serde_json::to_vec_pretty(value).map_err(MixtuneError::from);
    save_safetensors(model, &dir.join("model.safetensors"))?;
    write_atomic(&dir.join("config.json"), &pretty(&hf_config_json(model)?)?)?;
    let generation = json!({
        "decoder_start_token_id": defaults.decoder_start_token_id,
        "eos_token_id": defaults.eos_token_ids.first(),
        "pad_token_id": defaults.pad_token_id,
    });
    write_atomic(&dir.join("generation_config.json"), &pretty(&generation)?)?;
    let tokenizer_bytes =
        std::fs::read(tokenizer.path()).map_err(|e| MixtuneError::io(tokenizer.path(), e))?;
    write_atomic(&dir.join("tokenizer.json"), &tokenizer_bytes)
}
