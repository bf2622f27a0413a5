//! Dropout on the attention probabilities inside the fused training kernels
//! (`shaders/attention_dropout.wgsl`): each draw is a hash of the call's seed, the
//! (batch · heads) slice, the query row and the key, so the forward kernel and both backward
//! kernels draw the same masks without one being stored (a `[batch, heads, q, k]` mask is
//! what the tensor ops keep for the backward pass, as HF's eager attention does).
//!
//! Written by hand: the draws must be one function the WGSL kernels and the host compute
//! alike (a counter-based hash, as flash-attention's Philox draws are), which no crate's
//! generator is. The host's copy builds the masks of the references and tests.
//!
//! Each call's seed comes from a per-thread sequence that the trainer restarts at every step
//! from the run's seed and the step ([`start_step`]), so a resumed run draws what an
//! uninterrupted one would, as the device generator's draws do.

use std::cell::Cell;

use burn::tensor::{Device, Tensor, TensorData};

/// The drop decision of one attention call: its seed and the threshold below which a draw
/// drops (rate · 2^32; 0: no dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttentionDropout {
    seed: u32,
    threshold: u32,
}

thread_local! {
    /// The base of this thread's seeds and how many calls drew one since.
    static SEEDS: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// Restarts this thread's sequence of attention-dropout seeds for step `step` of a run
/// seeded with `seed`.
pub fn start_step(seed: u64, step: u64) {
    let base = pcg_hash(seed as u32 ^ pcg_hash((seed >> 32) as u32 ^ pcg_hash(step as u32)));
    SEEDS.with(|seeds| seeds.set((base, 0)));
}

impl AttentionDropout {
    /// No dropout: every probability kept.
    pub const NONE: Self = Self {
        seed: 0,
        threshold: 0,
    };

    /// Dropout at `rate` (in `[0, 1)`) with the next seed of this thread's sequence; `NONE`
    /// at rate 0.
    pub fn next(rate: f64) -> Self {
        if rate <= 0.0 {
            return Self::NONE;
        }
        let seed = SEEDS.with(|seeds| {
            let (base, count) = seeds.get();
            seeds.set((base, count.wrapping_add(1)));
            pcg_hash(base ^ pcg_hash(count))
        });
        Self::with_seed(rate, seed)
    }

    /// Dropout at `rate` with this `seed` (tests and references).
    pub fn with_seed(rate: f64, seed: u32) -> Self {
        let threshold = (rate.clamp(0.0, 1.0) * 4_294_967_296.0).round();
        Self {
            seed,
            threshold: threshold.min(u32::MAX as f64) as u32,
        }
    }

    /// Whether any probability is dropped.
    pub fn is_on(&self) -> bool {
        self.threshold > 0
    }

    /// The kept probabilities' scale, `1 / (1 - rate)`, in f32 as the kernels apply it.
    pub fn scale(&self) -> f32 {
        let rate = self.threshold as f64 / 4_294_967_296.0;
        (1.0 / (1.0 - rate)) as f32
    }

    /// The three `info` words the kernels read at their `DROPOUT_AT`: seed, threshold and
    /// scale (f32 bits).
    pub fn words(&self) -> [u32; 3] {
        [self.seed, self.threshold, self.scale().to_bits()]
    }

    /// What probability (`row`, `key`) of slice `bh` (batch · heads + head) is multiplied by,
    /// for queries of length `q_len`: 0 if dropped, [`Self::scale`] if kept, 1 without
    /// dropout. The kernels' `dropout_row` and `dropout_scale`.
    pub fn factor(&self, bh: u32, q_len: u32, row: u32, key: u32) -> f32 {
        if self.threshold == 0 {
            return 1.0;
        }
        let row_hash = pcg_hash(self.seed ^ pcg_hash(bh.wrapping_mul(q_len).wrapping_add(row)));
        if pcg_hash(row_hash ^ key) < self.threshold {
            0.0
        } else {
            self.scale()
        }
    }

    /// What element `index` of a tensor is multiplied by in `kernels::dropout`
    /// (`shaders/element_dropout.wgsl`): the draw of slice 0, row `index`, key 0.
    pub fn element_factor(&self, index: u32) -> f32 {
        self.factor(0, 0, index, 0)
    }

    /// The factors of every probability of a `[batch, heads, q_len, k_len]` attention, f32
    /// on `device`: the mask the tensor-op reference multiplies its probabilities by.
    pub fn factors(&self, [batch, heads, q_len, k_len]: [usize; 4], device: &Device) -> Tensor<4> {
        let mut values = Vec::with_capacity(batch * heads * q_len * k_len);
        for bh in 0..batch * heads {
            for row in 0..q_len {
                for key in 0..k_len {
                    values.push(self.factor(bh as u32, q_len as u32, row as u32, key as u32));
                }
            }
        }
        let data = TensorData::new(values, [batch, heads, q_len, k_len]);
        Tensor::from_data(data, device)
    }
}

/// PCG's output permutation (O'Neill) as a 32-bit hash, as `attention_dropout.wgsl` has it.
fn pcg_hash(x: u32) -> u32 {
    let state = x.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_drop_at_the_rate_and_differ_by_seed_row_and_key() {
        let dropout = AttentionDropout::with_seed(0.1, 42);
        let mut dropped = 0usize;
        let (q_len, k_len) = (64u32, 64u32);
        for bh in 0..8 {
            for row in 0..q_len {
                for key in 0..k_len {
                    let factor = dropout.factor(bh, q_len, row, key);
                    assert!(factor == 0.0 || factor == dropout.scale());
                    dropped += usize::from(factor == 0.0);
                }
            }
        }
        let share = dropped as f64 / (8 * 64 * 64) as f64;
        assert!((share - 0.1).abs() < 0.01, "{share} dropped");
        assert!((dropout.scale() - 1.0 / 0.9).abs() < 1e-6);
        // Another seed draws other masks; no dropout keeps everything at 1.
        let other = AttentionDropout::with_seed(0.1, 43);
        let differ = (0..k_len)
            .filter(|&key| dropout.factor(0, q_len, 0, key) != other.factor(0, q_len, 0, key))
            .count();
        assert!(differ > 0);
        assert_eq!(AttentionDropout::NONE.factor(3, q_len, 5, 7), 1.0);
        assert!(!AttentionDropout::next(0.0).is_on());
    }

    #[test]
    fn a_step_restarts_the_same_seeds() {
        start_step(42, 7);
        let first = [AttentionDropout::next(0.1), AttentionDropout::next(0.1)];
        assert_ne!(first[0], first[1], "each call its own seed");
        start_step(42, 7);
        assert_eq!(
            first,
            [AttentionDropout::next(0.1), AttentionDropout::next(0.1)]
        );
        start_step(42, 8);
        assert_ne!(first[0], AttentionDropout::next(0.1));
    }
}
