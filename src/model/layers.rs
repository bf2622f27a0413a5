//! T5's layer norm and feed-forward layers, named as HF's `T5LayerNorm`, `T5DenseActDense`,
//! `T5DenseGatedActDense` and `T5LayerFF`. Each layer is built by one constructor from the
//! config, with HF's initialisation drawn lazily: loading a checkpoint replaces the values
//! before they are ever drawn (see `weights.rs`).

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear};
use burn::tensor::activation::{gelu, relu, silu};
use burn::tensor::{DType, Device, Tensor};

use super::config::{Activation, T5Config};
use super::cpu_gemm;
use super::dropout::{dropout_add, dropout_input, dropout_site};
use super::precision::{cast, clamp_f16};
#[cfg(feature = "wgpu")]
use crate::kernels;

/// A bias-free linear map `[d_input, d_output]` (the checkpoint's transpose), drawn lazily
/// from `N(0, std)` as HF's `_init_weights`.
pub fn linear(d_input: usize, d_output: usize, std: f64, device: &Device) -> Linear {
    Linear {
        weight: Initializer::Normal { mean: 0.0, std }.init([d_input, d_output], device),
        bias: None,
    }
}

/// `x · W` through `linear`, with `W` cast to `x`'s dtype (a no-op when they agree; under
/// mixed precision the f32 master weight is cast at use). With a LoRA adapter on `W` and
/// `lora_dropout > 0` on an autodiff (training) device, computes PEFT's
/// `x·W_base + dropout(x)·A·B·scale` instead, which a weight-level adapter
/// (`W_base + A·B·scale`, Burn's LoRA) cannot express.
pub fn project(linear: &Linear, x: Tensor<3>, lora_dropout: f64) -> Tensor<3> {
    let dtype = x.dtype();
    if lora_dropout > 0.0 && x.device().is_autodiff() {
        if let Some(adapter) = linear.weight.adapter() {
            let dropped = dropout_input(x.clone(), lora_dropout);
            // Rows, not a matmul broadcast over the batch: one 2-D gradient per weight.
            let [batch, len, d_input] = x.dims();
            let rows = |t: Tensor<3>| t.reshape([batch * len, d_input]);
            let base = rows(x).matmul(cast(linear.weight.base(), dtype));
            let delta = rows(dropped)
                .matmul(cast(adapter.a.val(), dtype))
                .matmul(cast(adapter.b.val(), dtype))
                .mul_scalar(adapter.scale);
            let out = base + delta;
            let d_output = out.dims()[1];
            return out.reshape([batch, len, d_output]);
        }
    }
    if let Some(out) = cpu_gemm::project(linear, &x) {
        return out; // CPU inference: the weight packed once (see `cpu_gemm`)
    }
    // `x · W` through `kernels::linear`: as rows on the GPU's cooperative matrices where
    // they run (f16), Burn's `linear` (what `Linear::forward` calls) elsewhere.
    crate::kernels::linear(x, cast(linear.weight.val(), dtype))
}

/// `wo` of the feed-forward in f32 (HF's `_keep_in_fp32_modules = ["wo"]`), its result back in
/// `x`'s dtype, clamped in f16. For f32 inputs, plain [`project`].
///
/// In f16 training where the product runs on the GPU's cooperative matrices, `wo` is an f16
/// product like every other linear layer's there (its weight rounded to f16, sums in f32, the
/// output rounded to f16 once), as HF's fp16 AMP training runs it under autocast: the f32
/// product, at Burn's f32 GEMM speed, would be the step's slowest GEMMs. It has no clamp of
/// its own: an overflow (inf) goes into the residual sum, whose clamp after the sub-layer
/// (`T5LayerFF`) replaces it, where HF's `T5Block` clamps too (nothing clamps after HF's
/// `wo`); where the f32 path clamped the projection first, the sum there, and its gradient,
/// now take the clamp's value. (Fusion also left that clamp's ops unfused right after the
/// cooperative-matrix product: 254 more launches per small step on lavapipe.) Inference
/// keeps `wo` f32, as HF's f16 inference.
fn project_out(linear: &Linear, x: Tensor<3>, lora_dropout: f64) -> Tensor<3> {
    let dtype = x.dtype();
    if dtype == DType::F32 || wo_on_coop(linear, &x) {
        return project(linear, x, lora_dropout);
    }
    clamp_f16(cast(
        project(linear, cast(x, DType::F32), lora_dropout),
        dtype,
    ))
}

/// Whether `project_out` multiplies f16 `x` by `wo` in f16 on the cooperative matrices: f16
/// training (autodiff) on a device where a product of these sizes runs there, unless
/// `MIXTUNE_COOP_WO=0` (`kernels::coop_wo_enabled`).
fn wo_on_coop(linear: &Linear, x: &Tensor<3>) -> bool {
    #[cfg(feature = "wgpu")]
    {
        let [batch, len, d_in] = x.dims();
        let d_out = linear.weight.dims()[1];
        x.dtype() == DType::F16
            && x.device().is_autodiff()
            && kernels::coop_wo_enabled()
            && kernels::coop_product_shape(&x.device(), [batch * len, d_in, d_out]).is_some()
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = (linear, x);
        false
    }
}

/// RMS norm without mean subtraction or bias: `x * rsqrt(mean(x^2) + eps) * weight`.
#[derive(Module, Debug)]
pub struct T5LayerNorm {
    /// Scale `[d_model]`, ones at first.
    pub weight: Param<Tensor<1>>,
    #[module(skip)]
    pub eps: f64,
}

impl T5LayerNorm {
    /// A norm over `d_model` with the config's epsilon (T5: 1e-6, not Burn's 1e-5).
    pub fn new(config: &T5Config, device: &Device) -> Self {
        Self {
            weight: Initializer::Ones.init([config.d_model], device),
            eps: config.layer_norm_epsilon,
        }
    }

    /// `[batch, seq_len, d_model] -> [batch, seq_len, d_model]`. The statistics and the
    /// normalisation are f32 whatever the input's dtype (as HF's), the result is scaled in
    /// the input's dtype.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        rms_norm(hidden, self.weight.val(), self.eps)
    }
}

/// [`T5LayerNorm::forward`]'s math: the WGSL kernels where they run (`kernels::rms_norm`:
/// one dispatch forward, one and a sum over rows backward), [`reference_rms_norm`] elsewhere.
pub fn rms_norm(hidden: Tensor<3>, weight: Tensor<1>, eps: f64) -> Tensor<3> {
    #[cfg(feature = "wgpu")]
    if kernels::norm_kernel_runs(&hidden, &weight) {
        return kernels::rms_norm(hidden, weight, eps);
    }
    reference_rms_norm(hidden, weight, eps)
}

/// T5's layer norm in tensor ops: `x · rsqrt(mean(x²) + eps) · weight` over the last dim, the
/// statistics and the normalisation in f32, the scale in `hidden`'s dtype.
pub fn reference_rms_norm(hidden: Tensor<3>, weight: Tensor<1>, eps: f64) -> Tensor<3> {
    let dtype = hidden.dtype();
    let hidden = cast(hidden, DType::F32);
    let variance = hidden.clone().square().mean_dim(2);
    let normed = cast(hidden * (variance + eps).sqrt().recip(), dtype);
    normed * cast(weight, dtype).unsqueeze::<3>()
}

fn activate(activation: Activation, x: Tensor<3>) -> Tensor<3> {
    match activation {
        Activation::Relu => relu(x),
        Activation::Gelu => gelu(x),
        Activation::GeluNew => gelu_new(x),
        Activation::Silu => silu(x),
    }
}

/// HF's `NewGELUActivation`, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, with `x³` as two
/// products. Burn's `gelu_approximate` takes `powf(x, 3)`, which on the CPU backend is a libm
/// `powf` per element: 3% of a base batch-8 generation, in the encoder's feed-forward.
fn gelu_new(x: Tensor<3>) -> Tensor<3> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube * 0.044715) * SQRT_2_OVER_PI;
    (x * (inner.tanh() + 1.0)) * 0.5
}

/// Flan-T5's gated activation `gelu_new(gate) · up`: in training on a GPU one op whose
/// backward is one fused kernel (`kernels::gated_gelu`), elsewhere [`reference_gated_gelu_new`].
pub fn gated_gelu_new(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "wgpu")]
    if kernels::gated_gelu_runs(&gate, &up) {
        return kernels::gated_gelu(gate, up);
    }
    reference_gated_gelu_new(gate, up)
}

/// [`gated_gelu_new`] in tensor ops (autodiff differentiates them op by op).
pub fn reference_gated_gelu_new(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    gelu_new(gate) * up
}

/// HF's init scales: `d_model^-0.5` into the feed-forward, `d_ff^-0.5` out of it.
fn ff_scales(config: &T5Config) -> (f64, f64) {
    (
        (config.d_model as f64).powf(-0.5),
        (config.d_ff as f64).powf(-0.5),
    )
}

/// `wo(act(wi(x)))`: T5 v1.0's feed-forward (`T5DenseActDense`).
#[derive(Module, Debug)]
pub struct DenseActDense {
    pub wi: Linear,
    pub wo: Linear,
    #[module(skip)]
    pub activation: Activation,
    /// Dropout on LoRA adapters' inputs while training (0 without LoRA).
    #[module(skip)]
    pub lora_dropout: f64,
    /// T5's dropout while training (`dropout_rate`; 0 unless the run sets it).
    #[module(skip)]
    pub dropout: f64,
}

impl DenseActDense {
    /// `[batch, seq_len, d_model] -> [batch, seq_len, d_model]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let p = self.lora_dropout;
        let inner = activate(self.activation, project(&self.wi, hidden, p));
        project_out(&self.wo, dropout_site(inner, self.dropout), p)
    }
}

/// `wo(act(wi_0(x)) * wi_1(x))`: T5 v1.1 / Flan-T5's gated feed-forward
/// (`T5DenseGatedActDense`).
#[derive(Module, Debug)]
pub struct DenseGatedActDense {
    pub wi_0: Linear,
    pub wi_1: Linear,
    pub wo: Linear,
    #[module(skip)]
    pub activation: Activation,
    /// Dropout on LoRA adapters' inputs while training (0 without LoRA).
    #[module(skip)]
    pub lora_dropout: f64,
    /// T5's dropout while training (`dropout_rate`; 0 unless the run sets it).
    #[module(skip)]
    pub dropout: f64,
}

impl DenseGatedActDense {
    /// `[batch, seq_len, d_model] -> [batch, seq_len, d_model]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let p = self.lora_dropout;
        if self.activation == Activation::GeluNew {
            // CPU inference with packed weights: the whole layer on the host in one go.
            if let Some(out) = cpu_gemm::gated_gelu_new(&self.wi_0, &self.wi_1, &self.wo, &hidden) {
                return out;
            }
        }
        #[cfg(feature = "wgpu")]
        if let Some(inner) = self.packed_gated_gelu(&hidden) {
            return project_out(&self.wo, dropout_site(inner, self.dropout), p);
        }
        let gate = project(&self.wi_0, hidden.clone(), p);
        let up = project(&self.wi_1, hidden, p);
        let inner = match self.activation {
            Activation::GeluNew => gated_gelu_new(gate, up),
            activation => activate(activation, gate) * up,
        };
        project_out(&self.wo, dropout_site(inner, self.dropout), p)
    }
}

impl DenseGatedActDense {
    /// Training on a wgpu device: `gelu_new(x·W_0) · x·W_1` from one product
    /// `x · [W_0 | W_1]` (`kernels::pack_columns`, one launch, cast too), its gradient packed
    /// in one launch (`kernels::gated_gelu_packed`): the backward pass is one GEMM for `x`'s
    /// gradient and one for the packed weight's, where the two products took two of each and
    /// an addition. `None` where that does not run, for another activation, or with a LoRA
    /// adapter with dropout on `wi_0` or `wi_1` (PEFT's form needs them apart).
    #[cfg(feature = "wgpu")]
    fn packed_gated_gelu(&self, hidden: &Tensor<3>) -> Option<Tensor<3>> {
        let [batch, len, d_model] = hidden.dims();
        let d_ff = self.wi_0.weight.dims()[1];
        let dtype = hidden.dtype();
        let dropout_adapter = self.lora_dropout > 0.0
            && (self.wi_0.weight.adapter().is_some() || self.wi_1.weight.adapter().is_some());
        let dims = [batch, len, 2 * d_ff];
        if self.activation != Activation::GeluNew
            || dropout_adapter
            || !kernels::gated_gelu_packed_runs(&hidden.device(), dtype, dims)
        {
            return None;
        }
        let packed =
            kernels::pack_columns(vec![self.wi_0.weight.val(), self.wi_1.weight.val()], dtype);
        let rows = hidden.clone().reshape([batch * len, d_model]);
        let both = kernels::matmul(rows, packed).reshape(dims);
        Some(kernels::gated_gelu_packed(both))
    }
}

/// The checkpoint's `DenseReluDense`: plain or gated, as `feed_forward_proj` says.
#[derive(Module, Debug)]
pub enum DenseReluDense {
    Act(DenseActDense),
    GatedAct(DenseGatedActDense),
}

impl DenseReluDense {
    /// The variant and activation of `config.feed_forward_proj` (validated on load; an
    /// unknown one falls back to ReLU here), with HF's init scales.
    pub fn new(config: &T5Config, device: &Device) -> Self {
        let (activation, gated) = config.feed_forward().unwrap_or((Activation::Relu, false));
        let (std_in, std_out) = ff_scales(config);
        let (d_model, d_ff) = (config.d_model, config.d_ff);
        let wo = linear(d_ff, d_model, std_out, device);
        if gated {
            Self::GatedAct(DenseGatedActDense {
                wi_0: linear(d_model, d_ff, std_in, device),
                wi_1: linear(d_model, d_ff, std_in, device),
                wo,
                activation,
                lora_dropout: 0.0,
                dropout: 0.0,
            })
        } else {
            Self::Act(DenseActDense {
                wi: linear(d_model, d_ff, std_in, device),
                wo,
                activation,
                lora_dropout: 0.0,
                dropout: 0.0,
            })
        }
    }

    /// `[batch, seq_len, d_model] -> [batch, seq_len, d_model]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        match self {
            Self::Act(dense) => dense.forward(hidden),
            Self::GatedAct(dense) => dense.forward(hidden),
        }
    }

    /// The output projection `wo` of either variant.
    pub fn wo(&self) -> &Linear {
        match self {
            Self::Act(dense) => &dense.wo,
            Self::GatedAct(dense) => &dense.wo,
        }
    }

    /// Sets the dropout on LoRA adapters' inputs.
    pub fn set_lora_dropout(&mut self, p: f64) {
        match self {
            Self::Act(dense) => dense.lora_dropout = p,
            Self::GatedAct(dense) => dense.lora_dropout = p,
        }
    }

    /// T5's dropout while training, after the activation (HF's `self.dropout` there).
    pub fn dropout(&self) -> f64 {
        match self {
            Self::Act(dense) => dense.dropout,
            Self::GatedAct(dense) => dense.dropout,
        }
    }

    /// Sets T5's dropout while training.
    pub fn set_dropout(&mut self, rate: f64) {
        match self {
            Self::Act(dense) => dense.dropout = rate,
            Self::GatedAct(dense) => dense.dropout = rate,
        }
    }
}

/// The feed-forward sub-layer with its pre-norm and residual (`T5LayerFF`).
#[derive(Module, Debug)]
pub struct T5LayerFF {
    pub layer_norm: T5LayerNorm,
    pub dense_relu_dense: DenseReluDense,
}

impl T5LayerFF {
    /// Norm and feed-forward from the config.
    pub fn new(config: &T5Config, device: &Device) -> Self {
        Self {
            layer_norm: T5LayerNorm::new(config, device),
            dense_relu_dense: DenseReluDense::new(config, device),
        }
    }

    /// `x + dropout(FF(norm(x)))`, `[batch, seq_len, d_model]` in and out (clamped in f16).
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let normed = self.layer_norm.forward(hidden.clone());
        let update = self.dense_relu_dense.forward(normed);
        clamp_f16(dropout_add(hidden, update, self.dense_relu_dense.dropout()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_new_matches_hf_formula() {
        let values: Vec<f32> = (-80..=80).map(|i| i as f32 * 0.1).collect();
        let x = Tensor::<1>::from_floats(values.as_slice(), &Device::flex()).reshape([1, 1, 161]);
        let got: Vec<f32> = gelu_new(x).into_data().try_to_vec::<f32>().unwrap();
        for (&v, g) in values.iter().zip(got) {
            let v = v as f64;
            let want = 0.5
                * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh());
            assert!(
                (g as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "x={v}: {g} vs {want}"
            );
        }
    }
}
