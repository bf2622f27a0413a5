//! T5's layer norm and feed-forward layers, field names as in the checkpoint.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{gelu, gelu_approximate, relu, silu};
use burn::tensor::{Device, Tensor};

use super::config::{Activation, T5Config};

/// A bias-free linear map; `weight` is `[d_input, d_output]` (the checkpoint's transpose).
pub fn linear(weight: Tensor<2>) -> Linear {
    Linear {
        weight: Param::from_tensor(weight),
        bias: None,
    }
}

/// A randomly initialised bias-free linear map, `N(0, std)` as HF's `_init_weights`.
pub fn random_linear(d_input: usize, d_output: usize, std: f64, device: &Device) -> Linear {
    linear(Tensor::random(
        [d_input, d_output],
        burn::tensor::Distribution::Normal(0.0, std),
        device,
    ))
}

/// `x · W` through `linear`. With a LoRA adapter on `W` and `lora_dropout > 0` on an autodiff
/// (training) device, computes PEFT's `x·W_base + dropout(x)·A·B·scale` instead, which a
/// weight-level adapter (`W_base + A·B·scale`, Burn's LoRA) cannot express.
pub fn project(linear: &Linear, x: Tensor<3>, lora_dropout: f64) -> Tensor<3> {
    if lora_dropout > 0.0 && x.device().is_autodiff() {
        if let Some(adapter) = linear.weight.adapter() {
            let device = x.device();
            let keep = Tensor::<3>::random(
                x.shape(),
                burn::tensor::Distribution::Bernoulli(1.0 - lora_dropout),
                &device,
            );
            let dropped = (x.clone() * keep).div_scalar(1.0 - lora_dropout);
            let base = x.matmul(linear.weight.base().unsqueeze::<3>());
            let delta = dropped
                .matmul(adapter.a.val().unsqueeze::<3>())
                .matmul(adapter.b.val().unsqueeze::<3>())
                .mul_scalar(adapter.scale);
            return base + delta;
        }
    }
    linear.forward(x)
}

/// RMS norm without mean subtraction or bias: `x * rsqrt(mean(x^2) + eps) * weight`.
#[derive(Module, Debug)]
pub struct T5LayerNorm {
    pub weight: Param<Tensor<1>>,
    #[module(skip)]
    pub eps: f64,
}

impl T5LayerNorm {
    /// A norm with the given scale vector `[d_model]`.
    pub fn new(weight: Tensor<1>, eps: f64) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            eps,
        }
    }

    /// `[batch, seq_len, d_model] -> [batch, seq_len, d_model]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let variance = hidden.clone().square().mean_dim(2);
        let normed = hidden * (variance + self.eps).sqrt().recip();
        normed * self.weight.val().unsqueeze::<3>()
    }
}

/// The feed-forward block: plain (`wi`) or gated (`wi_0`, `wi_1`), then `wo`.
#[derive(Module, Debug)]
pub struct DenseFeedForward {
    /// `wi` (plain) or `wi_0` (gated).
    pub wi_0: Linear,
    /// Present only in the gated variant.
    pub wi_1: Option<Linear>,
    pub wo: Linear,
    #[module(skip)]
    pub activation: Activation,
    /// Dropout on LoRA adapters' inputs while training (0 without LoRA).
    #[module(skip)]
    pub lora_dropout: f64,
}

impl DenseFeedForward {
    /// Random weights with HF's init scales (for benchmarks and tests).
    pub fn random(config: &T5Config, device: &Device) -> Self {
        let (activation, gated) = config.feed_forward().unwrap_or((Activation::Relu, false));
        let (d_model, d_ff) = (config.d_model, config.d_ff);
        let std_in = (d_model as f64).powf(-0.5);
        Self {
            wi_0: random_linear(d_model, d_ff, std_in, device),
            wi_1: gated.then(|| random_linear(d_model, d_ff, std_in, device)),
            wo: random_linear(d_ff, d_model, (d_ff as f64).powf(-0.5), device),
            activation,
            lora_dropout: 0.0,
        }
    }

    fn act(&self, x: Tensor<3>) -> Tensor<3> {
        match self.activation {
            Activation::Relu => relu(x),
            Activation::Gelu => gelu(x),
            Activation::GeluNew => gelu_approximate(x),
            Activation::Silu => silu(x),
        }
    }

    /// `[batch, seq_len, d_model] -> [batch, seq_len, d_model]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let p = self.lora_dropout;
        let inner = self.act(project(&self.wi_0, hidden.clone(), p));
        let inner = match &self.wi_1 {
            Some(wi_1) => inner * project(wi_1, hidden, p),
            None => inner,
        };
        project(&self.wo, inner, p)
    }
}

/// `x + FF(norm(x))`: the feed-forward sub-layer with its pre-norm and residual.
#[derive(Module, Debug)]
pub struct LayerFf {
    pub layer_norm: T5LayerNorm,
    pub dense: DenseFeedForward,
}

impl LayerFf {
    /// `[batch, seq_len, d_model] -> [batch, seq_len, d_model]`.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<3> {
        let update = self.dense.forward(self.layer_norm.forward(hidden.clone()));
        hidden + update
    }
}
