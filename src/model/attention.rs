//! T5 attention: unscaled dot-product attention with learned relative position buckets,
//! and the key/value cache used by incremental decoding.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use super::config::T5Config;
use super::dropout::dropout_add;
use super::layers::{linear, project, T5LayerNorm};
use super::packed_projections;
use super::precision::{cast, clamp_f16};
use crate::kernels;

/// Bucket of one relative position `memory_position - query_position`, as HF's
/// `_relative_position_bucket`.
///
/// Bidirectional (encoder): half the buckets for keys after the query, half for keys
/// before it. Unidirectional (decoder): only keys at or before the query get distinct
/// buckets; every later key falls in bucket 0. In each half, the first `num_buckets / 2`
/// distances are exact and the rest are log-spaced up to `max_distance`.
/// The logarithm is taken in f32, as PyTorch does, so the buckets agree at the edges.
pub fn relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> i64 {
    let mut num_buckets = num_buckets as i64;
    let mut bucket = 0;
    let distance = if bidirectional {
        num_buckets /= 2;
        if relative_position > 0 {
            bucket += num_buckets;
        }
        relative_position.abs()
    } else {
        (-relative_position).max(0)
    };
    let max_exact = num_buckets / 2;
    if distance < max_exact {
        return bucket + distance;
    }
    let log_ratio = (distance as f32 / max_exact as f32).ln();
    let log_range = (max_distance as f64 / max_exact as f64).ln() as f32;
    let large = max_exact + (log_ratio / log_range * (num_buckets - max_exact) as f32) as i64;
    bucket + large.min(num_buckets - 1)
}

/// Largest `q_len × k_len` that takes the WGSL attention kernels rather than the tensor ops:
/// every shape they fit. Measured on an H200 (h 12, d 64, forward + backward, 11-26): the
/// kernels beat the tensor ops on the decoder's shapes (128²: 0.3 vs 0.5–0.7 ms; cross
/// 128×512 at batch 8: 1.1 vs 1.1–3.1 ms) and lose on 512² encoder self-attention (batch 8
/// inconclusive, batch 32: 13.6 vs 7.1 ms, ~78 ms of a ~3 s base step over 12 layers), where
/// this stopped at `128 × 512` until 12-05. But the tensor ops keep every layer's
/// `[batch, heads, q, k]` scores for the backward pass: on lavapipe (small, batch 2, 512/64)
/// the kernels on the encoder too took the pool from 1.86 to 1.61 GiB and the cold first step
/// from 300 to 178 s (fewer matmul shapes to compile and tune). Scaled by batch × heads ×
/// layers, that is ~1, ~3 and ~12 GiB for small / base at batch 8 and base at batch 32: what
/// we exceed HF's peak memory by (4.8 vs 4.1, 13.4 vs 11.4, 40.4 vs 37.9 GiB). So memory and
/// the cold start win over ~2.6% of step time; `MIXTUNE_ATTENTION_KERNEL_MAX_SCORES=65536`
/// brings the old split back for measuring.
pub const KERNEL_MAX_TRAINING_SCORES: usize = usize::MAX;

/// [`KERNEL_MAX_TRAINING_SCORES`], or what `MIXTUNE_ATTENTION_KERNEL_MAX_SCORES` says (a
/// number, or `all`), read once: to measure one split against another.
pub fn kernel_max_training_scores() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        match std::env::var("MIXTUNE_ATTENTION_KERNEL_MAX_SCORES")
            .as_deref()
            .map(str::trim)
        {
            Ok("all") => usize::MAX,
            Ok(value) => value.parse().unwrap_or(KERNEL_MAX_TRAINING_SCORES),
            Err(_) => KERNEL_MAX_TRAINING_SCORES,
        }
    })
}

/// Keys and values of one attention layer, `[batch, heads, kv_len, d_kv]` each.
#[derive(Clone, Debug)]
pub struct KvCache {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
    /// The `[batch, kv_len, 2 · heads · d_kv]` tensor that `keys` and `values` are views of
    /// (each position's keys, then its values, as a packed product `x · [W_k | W_v]` lays
    /// them out), where they came from one: in training, [`T5Attention::attend`] hands it to
    /// the kernels whole (one gradient for it, not two); a preallocated inference cache in
    /// this layout takes a new position's keys and values, the key and value columns of one
    /// packed product, in one write where two caches took two.
    pub packed: Option<Tensor<3>>,
}

impl KvCache {
    /// An empty cache with room for `capacity` positions in `dtype` (the model's compute
    /// dtype; zeros: unwritten positions must be masked by the caller's bias), in the packed
    /// layout ([`Self::packed`]) when `packed`.
    pub fn with_capacity(
        [batch, heads, capacity, d_kv]: [usize; 4],
        dtype: DType,
        device: &Device,
        packed: bool,
    ) -> Self {
        if packed {
            let storage = Tensor::zeros([batch, capacity, 2 * heads * d_kv], (device, dtype));
            return Self::over_packed(storage, heads);
        }
        Self {
            keys: Tensor::zeros([batch, heads, capacity, d_kv], (device, dtype)),
            values: Tensor::zeros([batch, heads, capacity, d_kv], (device, dtype)),
            packed: None,
        }
    }

    /// The cache whose keys and values are views of `storage` ([`Self::packed`]).
    fn over_packed(storage: Tensor<3>, heads: usize) -> Self {
        let [keys, values] = kernels::split_heads::<2>(storage.clone(), heads);
        Self {
            keys,
            values,
            packed: Some(storage),
        }
    }

    /// The keys and values in the packed layout ([`Self::packed`]): the tensor this cache
    /// holds, else a concatenation.
    fn into_packed(self) -> Tensor<3> {
        if let Some(packed) = self.packed {
            return packed;
        }
        let [batch, heads, len, d_kv] = self.keys.dims();
        let rows = |t: Tensor<4>| t.swap_dims(1, 2).reshape([batch, len, heads * d_kv]);
        Tensor::cat(vec![rows(self.keys), rows(self.values)], 2)
    }

    /// Appends the keys/values of new positions along the sequence axis.
    pub fn append(self, new: KvCache) -> KvCache {
        KvCache {
            keys: Tensor::cat(vec![self.keys, new.keys], 2),
            values: Tensor::cat(vec![self.values, new.values], 2),
            packed: None,
        }
    }

    /// Writes `new` at positions `position..position + new_len` of a preallocated cache
    /// (in place when the cache's buffers are not shared): one write into a cache in the
    /// packed layout, one per tensor otherwise.
    pub fn write(self, position: usize, new: KvCache) -> KvCache {
        let [batch, heads, new_len, d_kv] = new.keys.dims();
        let KvCache {
            keys,
            values,
            packed,
        } = self;
        if let Some(storage) = packed {
            // The cache's own views go first, so the write finds its buffer unshared.
            drop((keys, values));
            let range = [0..batch, position..position + new_len, 0..2 * heads * d_kv];
            return Self::over_packed(storage.slice_assign(range, new.into_packed()), heads);
        }
        let range = [0..batch, 0..heads, position..position + new_len, 0..d_kv];
        KvCache {
            keys: keys.slice_assign(range.clone(), new.keys),
            values: values.slice_assign(range, new.values),
            packed: None,
        }
    }

    /// Keeps batch rows `rows` in that order (beam reordering).
    pub fn select_rows(self, rows: Tensor<1, Int>) -> KvCache {
        if let Some(storage) = self.packed {
            let heads = self.keys.dims()[1];
            return Self::over_packed(storage.select(0, rows), heads);
        }
        KvCache {
            keys: self.keys.select(0, rows.clone()),
            values: self.values.select(0, rows),
            packed: None,
        }
    }

    /// Number of positions the cache holds (written or not).
    pub fn len(&self) -> usize {
        self.keys.dims()[2]
    }

    /// Whether it holds no position.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Multi-head attention (`SelfAttention` / `EncDecAttention` in the checkpoint).
#[derive(Module, Debug)]
pub struct T5Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    /// `[num_buckets, num_heads]`; only in the first block of each stack.
    pub relative_attention_bias: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub num_heads: usize,
    #[module(skip)]
    pub d_kv: usize,
    #[module(skip)]
    pub num_buckets: usize,
    #[module(skip)]
    pub max_distance: usize,
    /// Dropout on LoRA adapters' inputs while training (0 without LoRA).
    #[module(skip)]
    pub lora_dropout: f64,
    /// T5's dropout while training (`dropout_rate`; 0 unless the run sets it): on the
    /// attention probabilities here, and on the sub-layer's output in its wrapper.
    #[module(skip)]
    pub dropout: f64,
}

impl T5Attention {
    /// Projections from the config with HF's init scales; `has_relative_attention_bias` for
    /// the first block of a stack.
    pub fn new(config: &T5Config, has_relative_attention_bias: bool, device: &Device) -> Self {
        let (d_model, inner) = (config.d_model, config.inner_dim());
        let std_q = ((d_model * config.d_kv) as f64).powf(-0.5);
        let std_kv = (d_model as f64).powf(-0.5);
        let std_o = (inner as f64).powf(-0.5);
        let bias = has_relative_attention_bias.then(|| {
            Initializer::Normal {
                mean: 0.0,
                std: std_kv,
            }
            .init(
                [config.relative_attention_num_buckets, config.num_heads],
                device,
            )
        });
        Self {
            q: linear(d_model, inner, std_q, device),
            k: linear(d_model, inner, std_kv, device),
            v: linear(d_model, inner, std_kv, device),
            o: linear(inner, d_model, std_o, device),
            relative_attention_bias: bias,
            num_heads: config.num_heads,
            d_kv: config.d_kv,
            num_buckets: config.relative_attention_num_buckets,
            max_distance: config.relative_attention_max_distance,
            lora_dropout: 0.0,
            dropout: 0.0,
        }
    }

    /// `[batch, seq, heads * d_kv] -> [batch, heads, seq, d_kv]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, _] = x.dims();
        x.reshape([batch, seq, self.num_heads, self.d_kv])
            .swap_dims(1, 2)
    }

    /// Projects `hidden` `[batch, kv_len, d_model]` to keys and values: as one product with
    /// `[W_k | W_v]` in training where the packed kernels run (see [`KvCache::packed`]) and
    /// in inference where the model's projections are packed (the keys and values views of
    /// the product, which the kernels read by strides).
    pub fn project_kv(&self, hidden: Tensor<3>) -> KvCache {
        if let Some(weight) = self.packed_weight(&[&self.k, &self.v], &hidden) {
            let kv = kernels::linear(hidden, weight);
            let [keys, values] = kernels::split_heads::<2>(kv.clone(), self.num_heads);
            return KvCache {
                keys,
                values,
                packed: Some(kv),
            };
        }
        KvCache {
            keys: self.split_heads(project(&self.k, hidden.clone(), self.lora_dropout)),
            values: self.split_heads(project(&self.v, hidden, self.lora_dropout)),
            packed: None,
        }
    }

    /// Attends from `hidden` `[batch, q_len, d_model]` to `kv`, adding `bias`
    /// (broadcastable to `[batch, heads, q_len, kv_len]`: position bias plus masks).
    /// T5 does not scale the scores by `d_kv^-0.5`.
    pub fn attend(&self, hidden: Tensor<3>, kv: &KvCache, bias: Tensor<4>) -> Tensor<3> {
        let [batch, q_len, _] = hidden.dims();
        let training = hidden.device().is_autodiff();
        let query = project(&self.q, hidden, self.lora_dropout);
        let k_len = kv.keys.dims()[2];
        let fits = q_len * k_len <= kernel_max_training_scores();
        if let (Some(packed), true) = (&kv.packed, training && fits) {
            // Training with packed keys and values: the kernels read the pair in place and
            // write one gradient for it. (Inference reads the views, through the decode
            // kernel when one position attends.)
            let context =
                kernels::cross_attention(query, packed.clone(), bias, self.num_heads, self.dropout);
            return self.project_context(context, batch, q_len);
        }
        self.attend_heads(self.split_heads(query), kv, bias)
    }

    /// [`Self::attend`] from queries already projected and split into heads,
    /// `[batch, heads, q_len, d_kv]`.
    pub fn attend_heads(&self, queries: Tensor<4>, kv: &KvCache, bias: Tensor<4>) -> Tensor<3> {
        let [batch, _, q_len, _] = queries.dims();
        let k_len = kv.keys.dims()[2];
        let kernels_take = q_len * k_len <= kernel_max_training_scores();
        let (keys, values) = (kv.keys.clone(), kv.values.clone());
        // On a wgpu device the WGSL kernels in `shaders/`: one dispatch per decode step's
        // attention, and the fused forward and backward for whole sequences (no S² scores
        // kept for the backward pass); elsewhere the same math in tensor ops.
        // In training, with dropout on the probabilities at `self.dropout` (the kernels draw
        // their own masks; the tensor ops the device generator's).
        let drops = self.dropout > 0.0 && queries.device().is_autodiff();
        let context = if q_len == 1 && !drops {
            kernels::decode_attention(queries, keys, values, bias)
        } else if kernels_take {
            kernels::attention(queries, keys, values, bias, self.dropout)
        } else {
            kernels::reference_attention_dropout(queries, keys, values, bias, self.dropout)
        };
        self.project_context(context, batch, q_len)
    }

    /// Self-attention of `hidden` `[batch, len, d_model]` with query, key and value from one
    /// packed product with `[W_q | W_k | W_v]` (`kernels::self_attention`), where
    /// [`Self::packed_weight`] says so and the `len²` scores are the kernels' share
    /// ([`kernel_max_training_scores`]): the sub-layer's output and the keys and values
    /// (views of the product) for a cache; `None` elsewhere.
    pub fn attend_self_packed(
        &self,
        hidden: Tensor<3>,
        bias: Tensor<4>,
    ) -> Option<(Tensor<3>, KvCache)> {
        let [batch, len, _] = hidden.dims();
        if len * len > kernel_max_training_scores() {
            return None;
        }
        let weight = self.packed_weight(&[&self.q, &self.k, &self.v], &hidden)?;
        let qkv = kernels::linear(hidden, weight);
        let [_, keys, values] = kernels::split_heads::<3>(qkv.clone(), self.num_heads);
        let context = kernels::self_attention(qkv, bias, self.num_heads, self.dropout);
        let kv = KvCache {
            keys,
            values,
            packed: None,
        };
        Some((self.project_context(context, batch, len), kv))
    }

    /// Query, keys and values of `hidden` `[batch, len, d_model]` from one product with the
    /// `[W_q | W_k | W_v]` that inference packed at load (`model::packed_projections`): the
    /// queries, keys and values `[batch, heads, len, d_kv]`, views of the product; `None`
    /// where nothing is packed (then [`Self::project_kv`] and [`Self::attend`] project apart).
    pub fn project_qkv(&self, hidden: Tensor<3>) -> Option<(Tensor<4>, KvCache)> {
        let weight = packed_projections::packed(&[&self.q, &self.k, &self.v], &hidden)?;
        let qkv = kernels::linear(hidden, weight);
        let [batch, len, width] = qkv.dims();
        let packed = qkv.clone().slice([0..batch, 0..len, width / 3..width]);
        let [queries, keys, values] = kernels::split_heads::<3>(qkv, self.num_heads);
        let kv = KvCache {
            keys,
            values,
            packed: Some(packed),
        };
        Some((queries, kv))
    }

    /// The weights of `linears` side by side, `[d_model, n · heads · d_kv]` in `hidden`'s
    /// dtype, when their product with `hidden` is to be one packed GEMM: in inference, the
    /// matrix packed at load (`model::packed_projections`); in training, packed now
    /// (`kernels::pack_columns`: one launch, casting too) where the kernels take packed
    /// projections (`kernels::packed_attention_runs`: training on a wgpu device) and no LoRA
    /// adapter with dropout is among them (whose form [`project`] computes apart). Elsewhere
    /// separate products cost no more.
    fn packed_weight(&self, linears: &[&Linear], hidden: &Tensor<3>) -> Option<Tensor<2>> {
        if let Some(packed) = packed_projections::packed(linears, hidden) {
            return Some(packed);
        }
        let dtype = hidden.dtype();
        let dropout_adapter =
            self.lora_dropout > 0.0 && linears.iter().any(|l| l.weight.adapter().is_some());
        let packs = !dropout_adapter
            && kernels::packed_attention_runs(&hidden.device(), self.num_heads, self.d_kv, dtype);
        packs.then(|| {
            let weights = linears.iter().map(|linear| linear.weight.val()).collect();
            kernels::pack_columns(weights, dtype)
        })
    }

    /// A `[batch, heads, q_len, d_kv]` attention output with its heads merged, through `o`.
    fn project_context(&self, context: Tensor<4>, batch: usize, q_len: usize) -> Tensor<3> {
        let context = context
            .swap_dims(1, 2)
            .reshape([batch, q_len, self.num_heads * self.d_kv]);
        project(&self.o, context, self.lora_dropout)
    }

    /// Position bias `[1, heads, q_len, k_len]` for queries at `query_offset..query_offset+q_len`
    /// and keys at `0..k_len`, built on the device: only the `q_len + k_len - 1` distinct
    /// relative positions are bucketed on the host (a few hundred numbers), and the
    /// `[q_len, k_len]` index into them is made on the device. Zeros when this layer has no
    /// relative attention bias. Always f32 (the scores are biased and masked in f32).
    pub fn position_bias(
        &self,
        q_len: usize,
        k_len: usize,
        query_offset: usize,
        bidirectional: bool,
        device: &Device,
    ) -> Tensor<4> {
        let Some(table) = &self.relative_attention_bias else {
            return Tensor::zeros([1, self.num_heads, q_len, k_len], device);
        };
        // relative = k - (q + offset) runs from -(q_len - 1 + offset) to k_len - 1.
        let lowest = -((q_len - 1 + query_offset) as i64);
        let buckets: Vec<i64> = (lowest..k_len as i64)
            .map(|relative| {
                relative_position_bucket(
                    relative,
                    bidirectional,
                    self.num_buckets,
                    self.max_distance,
                )
            })
            .collect();
        let count = buckets.len();
        let buckets = Tensor::<1, Int>::from_data(TensorData::new(buckets, [count]), device);
        // [relatives, heads]: the bias of each distinct relative position.
        let per_relative = cast(table.val(), DType::F32).select(0, buckets);
        // index[q][k] = k - q + (q_len - 1) = relative - lowest.
        let keys = Tensor::<1, Int>::arange(0..k_len as i64, device).reshape([1, k_len]);
        let queries = Tensor::<1, Int>::arange(0..q_len as i64, device).reshape([q_len, 1]);
        let index = (keys - queries + (q_len as i64 - 1)).reshape([q_len * k_len]);
        per_relative
            .select(0, index)
            .reshape([q_len, k_len, self.num_heads])
            .permute([2, 0, 1])
            .unsqueeze::<4>()
    }
}

/// Self-attention with its pre-norm and residual (`T5LayerSelfAttention`, `layer.0`).
#[derive(Module, Debug)]
pub struct T5LayerSelfAttention {
    pub layer_norm: T5LayerNorm,
    pub self_attention: T5Attention,
}

impl T5LayerSelfAttention {
    /// Norm and attention from the config.
    pub fn new(config: &T5Config, has_relative_attention_bias: bool, device: &Device) -> Self {
        Self {
            layer_norm: T5LayerNorm::new(config, device),
            self_attention: T5Attention::new(config, has_relative_attention_bias, device),
        }
    }

    /// `x + dropout(attention(norm(x)))` over `x` itself, with `bias` (position bias and
    /// masks).
    pub fn forward(&self, hidden: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
        let normed = self.layer_norm.forward(hidden.clone());
        let attention = &self.self_attention;
        let update = match attention.attend_self_packed(normed.clone(), bias.clone()) {
            Some((update, _)) => update,
            None => attention.attend(normed.clone(), &attention.project_kv(normed), bias),
        };
        clamp_f16(dropout_add(hidden, update, attention.dropout))
    }

    /// As [`forward`](Self::forward) for new decoder positions `position..`: their keys and
    /// values join `cache` (appended, or written in place when preallocated).
    pub fn forward_cached(
        &self,
        hidden: Tensor<3>,
        bias: Tensor<4>,
        cache: &mut Option<KvCache>,
        position: usize,
        preallocated: bool,
    ) -> Tensor<3> {
        let normed = self.layer_norm.forward(hidden.clone());
        let attention = &self.self_attention;
        if cache.is_none() && !preallocated {
            // A whole sequence at once (training's teacher forcing; inference's loss):
            // packed where it runs.
            if let Some((update, kv)) = attention.attend_self_packed(normed.clone(), bias.clone()) {
                *cache = Some(kv);
                return clamp_f16(dropout_add(hidden, update, attention.dropout));
            }
        }
        // New positions after a cache (decoding): one product where inference packed them.
        let (query, new_kv) = match attention.project_qkv(normed.clone()) {
            Some((queries, kv)) => (Some(queries), kv),
            None => (None, attention.project_kv(normed.clone())),
        };
        let kv = match cache.take() {
            Some(past) if preallocated => past.write(position, new_kv),
            Some(past) => past.append(new_kv),
            None => new_kv,
        };
        let update = match query {
            Some(queries) => attention.attend_heads(queries, &kv, bias),
            None => attention.attend(normed, &kv, bias),
        };
        *cache = Some(kv);
        clamp_f16(dropout_add(hidden, update, attention.dropout))
    }
}

/// Cross-attention to the encoder output with its pre-norm and residual
/// (`T5LayerCrossAttention`, `layer.1`).
#[derive(Module, Debug)]
pub struct T5LayerCrossAttention {
    pub layer_norm: T5LayerNorm,
    pub enc_dec_attention: T5Attention,
}

impl T5LayerCrossAttention {
    /// Norm and attention from the config (cross-attention has no position bias).
    pub fn new(config: &T5Config, device: &Device) -> Self {
        Self {
            layer_norm: T5LayerNorm::new(config, device),
            enc_dec_attention: T5Attention::new(config, false, device),
        }
    }

    /// `x + dropout(attention(norm(x), encoder keys/values))`, with the encoder's padding
    /// `bias`.
    pub fn forward(&self, hidden: Tensor<3>, encoder_kv: &KvCache, bias: Tensor<4>) -> Tensor<3> {
        let normed = self.layer_norm.forward(hidden.clone());
        let update = self.enc_dec_attention.attend(normed, encoder_kv, bias);
        clamp_f16(dropout_add(hidden, update, self.enc_dec_attention.dropout))
    }
}

#[cfg(test)]
mod tests {
    use super::relative_position_bucket as bucket;

    #[test]
    fn bidirectional_buckets_match_hf() {
        // Values from HF's _relative_position_bucket(num_buckets=32, max_distance=128).
        let cases = [
            (0, 0),
            (1, 17),
            (-1, 1),
            (7, 23),
            (-7, 7),
            (8, 24),
            (-8, 8),
            (12, 25),
            (-20, 10),
            (64, 30),
            (-127, 15),
            (500, 31),
            (-500, 15),
        ];
        for (relative, expected) in cases {
            assert_eq!(
                bucket(relative, true, 32, 128),
                expected,
                "relative {relative}"
            );
        }
    }

    #[test]
    fn unidirectional_buckets_ignore_future_keys() {
        let cases = [
            (0, 0),
            (5, 0),
            (-1, 1),
            (-15, 15),
            (-16, 16),
            (-20, 17),
            (-40, 23),
            (-127, 31),
            (-1000, 31),
        ];
        for (relative, expected) in cases {
            assert_eq!(
                bucket(relative, false, 32, 128),
                expected,
                "relative {relative}"
            );
        }
    }
}
