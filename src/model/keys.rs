//! The checkpoint's key names over the model: [`walk`] visits every parameter with its HF
//! module path, in checkpoint order. The one place that knows them: loading, HF export,
//! LoRA's module names, the random init and the CPU packing all walk the model through it.

use std::sync::Arc;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{DType, Device, Tensor};

use super::attention::{T5Attention, T5LayerSelfAttention};
use super::config::T5Config;
use super::cpu_gemm::CpuWeights;
use super::layers::{DenseReluDense, T5LayerFF};
use super::t5::T5ForConditionalGeneration;
use crate::error::Result;

/// One parameter of the model as the checkpoint stores it.
pub enum Weight<'a> {
    /// A vector stored as is (layer norm scales, `[d_model]`).
    Vector(&'a mut Param<Tensor<1>>),
    /// A matrix stored as is (`shared` `[vocab, d_model]`, position bias tables
    /// `[buckets, heads]`).
    Matrix(&'a mut Param<Tensor<2>>),
    /// A matrix stored transposed: the untied `lm_head` (HF `[vocab, d_model]`).
    TransposedMatrix(&'a mut Param<Tensor<2>>),
    /// A linear map: HF stores `[out, in]`, Burn `[in, out]`; LoRA adapts these.
    Linear(&'a mut Linear),
}

/// A visitor of [`walk`]: the HF module path (the checkpoint key without `.weight`) and
/// the parameter there.
pub type Visit<'v> = dyn FnMut(&str, Weight<'_>) -> Result<()> + 'v;

/// Calls `visit` for every parameter of `model` with its HF module path, in checkpoint
/// order. The one place that knows the checkpoint's key names: loading, HF export and
/// LoRA's module names all walk the model through it, as candle's `vb.pp(..)` builder paths.
pub fn walk(model: &mut T5ForConditionalGeneration, visit: &mut Visit) -> Result<()> {
    visit("shared", Weight::Matrix(&mut model.shared))?;
    for (i, block) in model.encoder.blocks.iter_mut().enumerate() {
        let p = format!("encoder.block.{i}.layer");
        self_attention_layer(&format!("{p}.0"), &mut block.self_attention, visit)?;
        feed_forward(&format!("{p}.1"), &mut block.ff, visit)?;
    }
    let norm = &mut model.encoder.final_layer_norm.weight;
    visit("encoder.final_layer_norm", Weight::Vector(norm))?;
    for (i, block) in model.decoder.blocks.iter_mut().enumerate() {
        let p = format!("decoder.block.{i}.layer");
        self_attention_layer(&format!("{p}.0"), &mut block.self_attention, visit)?;
        let layer = &mut block.cross_attention;
        let norm = &mut layer.layer_norm.weight;
        visit(&format!("{p}.1.layer_norm"), Weight::Vector(norm))?;
        let attention_prefix = format!("{p}.1.EncDecAttention");
        attention(&attention_prefix, &mut layer.enc_dec_attention, visit)?;
        feed_forward(&format!("{p}.2"), &mut block.ff, visit)?;
    }
    let norm = &mut model.decoder.final_layer_norm.weight;
    visit("decoder.final_layer_norm", Weight::Vector(norm))?;
    if let Some(head) = &mut model.lm_head {
        visit("lm_head", Weight::TransposedMatrix(head))?;
    }
    Ok(())
}

/// `{prefix}.layer_norm` and `{prefix}.SelfAttention` (`layer.0` of either stack).
fn self_attention_layer(
    prefix: &str,
    layer: &mut T5LayerSelfAttention,
    visit: &mut Visit,
) -> Result<()> {
    let norm = &mut layer.layer_norm.weight;
    visit(&format!("{prefix}.layer_norm"), Weight::Vector(norm))?;
    attention(
        &format!("{prefix}.SelfAttention"),
        &mut layer.self_attention,
        visit,
    )
}

fn attention(prefix: &str, a: &mut T5Attention, visit: &mut Visit) -> Result<()> {
    for (name, linear) in [
        ("q", &mut a.q),
        ("k", &mut a.k),
        ("v", &mut a.v),
        ("o", &mut a.o),
    ] {
        visit(&format!("{prefix}.{name}"), Weight::Linear(linear))?;
    }
    if let Some(table) = &mut a.relative_attention_bias {
        visit(
            &format!("{prefix}.relative_attention_bias"),
            Weight::Matrix(table),
        )?;
    }
    Ok(())
}

fn feed_forward(prefix: &str, ff: &mut T5LayerFF, visit: &mut Visit) -> Result<()> {
    visit(
        &format!("{prefix}.layer_norm"),
        Weight::Vector(&mut ff.layer_norm.weight),
    )?;
    let dense = format!("{prefix}.DenseReluDense");
    let linears = match &mut ff.dense_relu_dense {
        DenseReluDense::Act(d) => vec![("wi", &mut d.wi), ("wo", &mut d.wo)],
        DenseReluDense::GatedAct(d) => {
            vec![
                ("wi_0", &mut d.wi_0),
                ("wi_1", &mut d.wi_1),
                ("wo", &mut d.wo),
            ]
        }
    };
    for (name, linear) in linears {
        visit(&format!("{dense}.{name}"), Weight::Linear(linear))?;
    }
    Ok(())
}

impl T5ForConditionalGeneration {
    /// A model with random weights (HF's init scales), for benchmarks and tests, drawn now
    /// in checkpoint order, so the device's seed at this call decides them.
    pub fn random(config: &T5Config, device: &Device) -> Self {
        let mut model = Self::new(config, device);
        let drawn = walk(&mut model, &mut |_, weight| {
            match weight {
                Weight::Vector(param) => drop(param.val()),
                Weight::Matrix(param) | Weight::TransposedMatrix(param) => drop(param.val()),
                Weight::Linear(linear) => drop(linear.weight.val()),
            }
            Ok(())
        });
        debug_assert!(drawn.is_ok(), "this visitor does not fail");
        model
    }

    /// Packs the linear weights for inference on the CPU (see [`super::cpu_gemm`]), as f32
    /// or, with `int8`, quantized: on a CPU device that tracks no gradients, computing in
    /// f32. Elsewhere, or with `MIXTUNE_CPU_PACKED=0`, drops any packed weights (products go
    /// through Burn in f32). f32 packing costs a second copy of the linear weights in
    /// memory, int8 a quarter of one.
    pub fn pack_for_cpu(&mut self, int8: bool) {
        self.cpu_weights = None;
        let device = self.device();
        let wanted = crate::device::is_cpu(&device)
            && !device.is_autodiff()
            && self.compute_dtype == DType::F32
            && std::env::var("MIXTUNE_CPU_PACKED").map_or(true, |v| v != "0");
        if wanted {
            self.cpu_weights = pack(self, int8).map(Arc::new);
        }
    }
}

/// Every linear weight of `model` and its head packed for CPU inference (see
/// [`super::cpu_gemm`]); `None` when one cannot be read as f32 (then the model multiplies
/// through Burn as before).
fn pack(model: &T5ForConditionalGeneration, int8: bool) -> Option<CpuWeights> {
    let mut weights = CpuWeights::default();
    let mut readable = true;
    let mut walked = model.clone();
    let _ = walk(&mut walked, &mut |_, weight| {
        if let Weight::Linear(linear) = weight {
            if linear.weight.adapter().is_none() {
                let added = weights.add(linear.weight.id, linear.weight.val(), false, int8);
                readable &= added.is_some();
            }
        }
        Ok(())
    });
    let head = match &model.lm_head {
        Some(head) => weights.add(head.id, head.val(), false, int8),
        None => weights.add(model.shared.id, model.shared.val(), true, int8),
    };
    (readable && head.is_some()).then_some(weights)
}
