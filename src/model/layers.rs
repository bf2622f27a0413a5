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
        let inner = self.act(self.wi_0.forward(hidden.clone()));
        let inner = match &self.wi_1 {
            Some(wi_1) => inner * wi_1.forward(hidden),
            None => inner,
        };
        self.wo.forward(inner)
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
