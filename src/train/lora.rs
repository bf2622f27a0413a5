//! LoRA on T5: Burn's `apply_lora` restricted to the chosen projections (PEFT's
//! `target_modules`), and the adapter written as a PEFT folder (`adapter_config.json` +
//! `adapter_model.safetensors`) that `peft.PeftModel.from_pretrained` loads.

use std::path::Path;

use burn::module::{Lora, LoraAdapter, Module, ParamGroup};
use burn::nn::Linear;
use serde_json::json;

use super::config::LoraSettings;
use crate::error::{MixtuneError, Result};
use crate::fsutil::write_atomic;
use crate::model::keys::{walk, Weight};
use crate::model::weights::write_f32_safetensors;
use crate::model::T5ForConditionalGeneration;

/// Every linear map of the model with its HF module name
/// (`encoder.block.0.layer.0.SelfAttention.q`) and PEFT's short name (`q`, `wi_0`, ...),
/// from the checkpoint walker. The maps are handles to the model's tensors, not copies.
pub fn named_linears(model: &T5ForConditionalGeneration) -> Vec<(String, String, Linear)> {
    let mut result = Vec::new();
    let mut model = model.clone();
    let walked = walk(&mut model, &mut |path, weight| {
        if let Weight::Linear(linear) = weight {
            let short = path.rsplit('.').next().unwrap_or(path).to_string();
            result.push((path.to_string(), short, linear.clone()));
        }
        Ok(())
    });
    debug_assert!(walked.is_ok(), "this visitor does not fail");
    result
}

/// Whether PEFT's `target_modules` name `short` (`wi` also matches a gated model's `wi_0`
/// and `wi_1`, as PEFT's suffix match would not; we accept it as the user's intent).
fn targeted(targets: &[String], short: &str) -> bool {
    targets
        .iter()
        .any(|t| t == short || (t == "wi" && short.starts_with("wi_")))
}

/// Attaches LoRA adapters (A ~ N(0, 1/rank), B = 0, so the model is unchanged at first) to
/// the targeted projections and freezes every other weight. Draws A from the device's
/// generator: seed it first for reproducible runs.
pub fn apply(
    model: T5ForConditionalGeneration,
    settings: &LoraSettings,
) -> Result<T5ForConditionalGeneration> {
    let named: Vec<(String, Linear)> = named_linears(&model)
        .into_iter()
        .filter(|(_, short, _)| targeted(&settings.target_modules, short))
        .map(|(name, _, linear)| (name, linear))
        .collect();
    if named.is_empty() {
        return Err(MixtuneError::Input(format!(
            "lora.target_modules {:?} match no weight of this model",
            settings.target_modules
        )));
    }
    // A rank above a weight's smaller side adds nothing a full update lacks, and an absurd
    // one (10^8) would try to allocate its factors before failing.
    if let Some((name, dims)) = named
        .iter()
        .map(|(name, linear)| (name, linear.weight.dims()))
        .min_by_key(|(_, dims)| dims[0].min(dims[1]))
    {
        let side = dims[0].min(dims[1]);
        if settings.rank > side {
            return Err(MixtuneError::Input(format!(
                "`lora.rank` = {} is above {side}, the smaller side of `{name}` ({} × {}): use a rank of at most {side} (8 to 64 is usual)",
                settings.rank, dims[0], dims[1]
            )));
        }
    }
    let targets: Vec<Linear> = named.into_iter().map(|(_, linear)| linear).collect();
    let group = ParamGroup::ids_from_module(targets);
    let mut model =
        model.apply_lora(Lora::new(settings.rank, settings.alpha).set_param_group(group));
    let p = settings.dropout;
    model.for_each_sublayer(
        |attention| attention.lora_dropout = p,
        |ff| ff.set_lora_dropout(p),
    );
    Ok(model)
}

/// The adapters of the model, with their HF module names.
pub fn adapters(model: &T5ForConditionalGeneration) -> Vec<(String, LoraAdapter)> {
    named_linears(model)
        .into_iter()
        .filter_map(|(name, _, linear)| linear.weight.adapter().map(|a| (name, a.clone())))
        .collect()
}

/// The trainable adapter parameters, for records of only what LoRA trains.
pub fn adapter_group(model: &T5ForConditionalGeneration) -> ParamGroup {
    let adapters: Vec<LoraAdapter> = adapters(model).into_iter().map(|(_, a)| a).collect();
    ParamGroup::ids_from_module(adapters)
}

/// Writes a PEFT adapter folder: `adapter_config.json` and `adapter_model.safetensors` with
/// `base_model.model.<module>.lora_A.weight` `[r, in]` and `lora_B.weight` `[out, r]`
/// (Burn's factors are `a: [in, r]`, `b: [r, out]`, so both are transposed).
pub fn export_peft_adapter(
    model: &T5ForConditionalGeneration,
    settings: &LoraSettings,
    base_model: &str,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| MixtuneError::io(dir, e))?;
    let tensors = adapters(model).into_iter().flat_map(|(name, adapter)| {
        [
            ("lora_A", adapter.a.val().transpose()),
            ("lora_B", adapter.b.val().transpose()),
        ]
        .map(|(suffix, tensor)| {
            let shape = tensor.dims().to_vec();
            (
                format!("base_model.model.{name}.{suffix}.weight"),
                shape,
                tensor,
            )
        })
    });
    write_f32_safetensors(&dir.join("adapter_model.safetensors"), tensors)?;
    let config = json!({
        "peft_type": "LORA",
        "task_type": "SEQ_2_SEQ_LM",
        "base_model_name_or_path": base_model,
        "r": settings.rank,
        "lora_alpha": settings.alpha,
        "lora_dropout": settings.dropout,
        "target_modules": settings.target_modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "use_rslora": false,
        "use_dora": false,
    });
    let text = serde_json::to_vec_pretty(&config)?;
    write_atomic(&dir.join("adapter_config.json"), &text)
}
