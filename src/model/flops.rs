//! Floating-point operations of one full fine-tuning step, counted from the shapes, so a
//! profile can say what rate the GEMMs achieved (`mixtune bench train --profile`).
//!
//! Counted as everyone counts them (2 per multiply-add), for the products only: the
//! element-wise work, norms and softmax are a few percent and are left out. A training step
//! is the forward pass plus a backward pass of twice its products (the gradient of the
//! input and of the weight), so every product counts three times.

use super::attention::kernel_max_training_scores;
use super::config::T5Config;

/// The products of one training step, in FLOP.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrainingFlops {
    /// The linear layers: attention projections, feed-forward, vocabulary head.
    pub linear: f64,
    /// Attention's `query · keyᵀ` and `weights · value` that go through the tensor ops'
    /// batched matmul (where the kernels do not run, or shapes past
    /// [`kernel_max_training_scores`]).
    pub attention_matmul: f64,
    /// The same products where the fused WGSL attention kernels take them (a GPU build).
    pub attention_kernel: f64,
}

impl TrainingFlops {
    /// Everything counted.
    pub fn total(&self) -> f64 {
        self.linear + self.attention_matmul + self.attention_kernel
    }

    /// What Burn's matmul kernels compute: the linear layers and the attention products the
    /// fused kernels do not take.
    pub fn matmul(&self) -> f64 {
        self.linear + self.attention_matmul
    }
}

/// FLOP of one training step of `config` (full fine-tuning) on `batch` rows of `source`
/// and `target` tokens. `fused_attention` says whether the WGSL attention kernels run at
/// all (a wgpu device compiling WGSL; f16 goes through them too, in f16); where they do, shapes up to [`kernel_max_training_scores`]
/// take them, as `T5Attention::attend` decides.
pub fn training_flops(
    config: &T5Config,
    batch: usize,
    source: usize,
    target: usize,
    fused_attention: bool,
) -> TrainingFlops {
    let (b, s, t) = (batch as f64, source as f64, target as f64);
    let d = config.d_model as f64;
    let inner = config.inner_dim() as f64;
    let d_ff = config.d_ff as f64;
    let gated = config.feed_forward().is_ok_and(|(_, gated)| gated);
    let ff_in = if gated { 2.0 } else { 1.0 };
    // Multiply-adds of a [rows, k] × [k, n] product, per row.
    let feed_forward = (ff_in * d * d_ff) + d_ff * d;
    let projections = 4.0 * d * inner;
    let mut linear = 0.0;
    // Encoder: q, k, v, o and the feed-forward on every source row.
    linear += config.num_layers as f64 * b * s * (projections + feed_forward);
    // Decoder: self-attention and feed-forward on target rows; cross-attention's q and o on
    // target rows, its k and v on source rows.
    let decoder_layers = config.decoder_layers() as f64;
    linear += decoder_layers
        * b
        * (t * (projections + 2.0 * d * inner + feed_forward) + s * 2.0 * d * inner);
    // Vocabulary head.
    linear += b * t * d * config.vocab_size as f64;

    let heads = config.num_heads as f64;
    let d_kv = config.d_kv as f64;
    // Two products (scores, weighted values) of q × k × d_kv per head.
    let attention = |q: usize, k: usize| b * heads * 2.0 * q as f64 * k as f64 * d_kv;
    let mut split = [0.0, 0.0]; // [matmul, kernel]
    for (q, k, layers) in [
        (source, source, config.num_layers),
        (target, target, config.decoder_layers()),
        (target, source, config.decoder_layers()),
    ] {
        let fused = fused_attention && q * k <= kernel_max_training_scores();
        split[usize::from(fused)] += layers as f64 * attention(q, k);
    }
    // 2 FLOP per multiply-add, and forward + backward = 3 times the forward's products.
    let step = 2.0 * 3.0;
    TrainingFlops {
        linear: step * linear,
        attention_matmul: step * split[0],
        attention_kernel: step * split[1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_step_is_about_three_teraflop() {
        // The figure the speed issue works from: T5-base, batch 8, 512/128, ~3.2 TFLOP in
        // the linear layers, ~0.3 more in attention's products.
        let flops = training_flops(&T5Config::flan_t5_base(), 8, 512, 128, false);
        assert!((3.1e12..3.3e12).contains(&flops.linear), "{flops:?}");
        assert!(
            (0.25e12..0.35e12).contains(&flops.attention_matmul),
            "{flops:?}"
        );
        assert_eq!(flops.attention_kernel, 0.0);
    }

    #[test]
    fn fused_attention_takes_every_shape_it_fits() {
        let config = T5Config::flan_t5_small();
        let plain = training_flops(&config, 8, 512, 128, false);
        let fused = training_flops(&config, 8, 512, 128, true);
        assert_eq!(plain.total(), fused.total());
        assert_eq!(plain.linear, fused.linear);
        // The encoder's 512², the decoder's 128² and the cross 128×512 all take the kernels
        // (unless MIXTUNE_ATTENTION_KERNEL_MAX_SCORES says otherwise).
        if kernel_max_training_scores() == usize::MAX {
            assert_eq!(fused.attention_matmul, 0.0);
            assert_eq!(fused.attention_kernel, plain.attention_matmul);
        }
        assert!(fused.attention_kernel > 0.0);
    }

    #[test]
    fn counts_grow_with_the_batch() {
        let config = T5Config::flan_t5_small();
        let one = training_flops(&config, 1, 64, 16, true);
        let four = training_flops(&config, 4, 64, 16, true);
        assert!((four.total() / one.total() - 4.0).abs() < 1e-12);
    }
}
