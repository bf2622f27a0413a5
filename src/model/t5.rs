//! T5 blocks, stacks and the encoder-decoder with its language-model head.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::tensor::module::embedding;
use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};

use burn::nn::Initializer;

use super::attention::{KvCache, T5Attention, T5LayerCrossAttention, T5LayerSelfAttention};
use super::config::T5Config;
use super::cpu_gemm::{self, CpuWeights};
use super::dropout::{draw_for_stack, dropout_site, StackMasks};
use super::layers::{DenseReluDense, T5LayerFF, T5LayerNorm};
use super::packed_projections::{self, PackedProjections};
use super::precision::{cast, cast_weights, Precision};

/// Most logits the loss materialises at once (rows × vocab): 2^26 f32 values, 256 MiB.
const LOSS_CHUNK_ELEMENTS: usize = 1 << 26;

/// Label id that the loss ignores (HF's `-100`).
pub const IGNORE_INDEX: i64 = -100;

/// One encoder block (`encoder.block.{i}`): self-attention, then feed-forward.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    /// `layer.0`
    pub self_attention: T5LayerSelfAttention,
    /// `layer.1`
    pub ff: T5LayerFF,
}

impl EncoderBlock {
    /// The block from the config; the first of the stack owns the position bias table.
    pub fn new(config: &T5Config, is_first: bool, device: &Device) -> Self {
        Self {
            self_attention: T5LayerSelfAttention::new(config, is_first, device),
            ff: T5LayerFF::new(config, device),
        }
    }

    /// `[batch, src_len, d_model]` in and out; `bias` is the position bias plus padding mask.
    pub fn forward(&self, hidden: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
        let hidden = self.self_attention.forward(hidden, bias);
        self.ff.forward(hidden)
    }
}

/// One decoder block (`decoder.block.{i}`): causal self-attention, cross-attention,
/// feed-forward.
#[derive(Module, Debug)]
pub struct DecoderBlock {
    /// `layer.0`
    pub self_attention: T5LayerSelfAttention,
    /// `layer.1`
    pub cross_attention: T5LayerCrossAttention,
    /// `layer.2`
    pub ff: T5LayerFF,
}

impl DecoderBlock {
    /// The block from the config; the first of the stack owns the position bias table.
    pub fn new(config: &T5Config, is_first: bool, device: &Device) -> Self {
        Self {
            self_attention: T5LayerSelfAttention::new(config, is_first, device),
            cross_attention: T5LayerCrossAttention::new(config, device),
            ff: T5LayerFF::new(config, device),
        }
    }
}

/// The encoder stack.
#[derive(Module, Debug)]
pub struct T5Encoder {
    pub blocks: Vec<EncoderBlock>,
    pub final_layer_norm: T5LayerNorm,
}

/// The decoder stack.
#[derive(Module, Debug)]
pub struct T5Decoder {
    pub blocks: Vec<DecoderBlock>,
    pub final_layer_norm: T5LayerNorm,
}

/// T5 / Flan-T5 for conditional generation.
#[derive(Module, Debug)]
pub struct T5ForConditionalGeneration {
    /// Token embeddings `[vocab, d_model]`, shared by encoder and decoder.
    pub shared: Param<Tensor<2>>,
    pub encoder: T5Encoder,
    pub decoder: T5Decoder,
    /// Untied head `[d_model, vocab]`; `None` when tied to `shared`.
    pub lm_head: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub config: T5Config,
    /// The dtype activations are computed in (f32, or f16 for mixed precision: see
    /// `precision.rs`). Weights are cast to it at use; logits and the loss are f32 either way.
    #[module(skip)]
    pub compute_dtype: DType,
    /// The linear weights packed for CPU inference ([`Self::pack_for_cpu`]); `None` on a
    /// GPU, in training and in f16.
    #[module(skip)]
    pub cpu_weights: Option<Arc<CpuWeights>>,
    /// Projections that read the same input packed side by side for inference
    /// ([`Self::pack_projections`]); `None` in training and where `cpu_weights` multiply.
    #[module(skip)]
    pub packed_projections: Option<Arc<PackedProjections>>,
    /// T5's dropout while training ([`Self::set_dropout`]; 0 by default, whatever the
    /// checkpoint's `dropout_rate`): after the embeddings and the final layer norms here.
    #[module(skip)]
    pub dropout: f64,
}

/// The decoder's incremental state for one batch of inputs.
#[derive(Clone, Debug)]
pub struct DecoderState {
    /// Self-attention keys/values of the positions decoded so far, per block.
    pub self_kv: Vec<Option<KvCache>>,
    /// Cross-attention keys/values of the encoder output, per block (computed once).
    pub cross_kv: Vec<KvCache>,
    /// Additive encoder padding mask `[batch, 1, 1, src_len]`.
    pub cross_bias: Tensor<4>,
    /// Number of positions decoded so far.
    pub position: usize,
    /// With a capacity: the self-attention caches are preallocated `[batch, heads, capacity,
    /// d_kv]` and written in place, and this holds the position bias plus causal mask of every
    /// (query, key) pair `[1, heads, capacity, capacity]`, built once; every step then has the
    /// same shapes. Without one, caches grow by concatenation.
    pub self_bias: Option<Tensor<4>>,
}

impl DecoderState {
    /// Reorders the self-attention caches to `rows` (beam search: each row's parent beam).
    /// Cross-attention caches are left alone: a beam's parent always belongs to the same input.
    pub fn reorder_beams(mut self, rows: Tensor<1, Int>) -> Self {
        self.self_kv = self
            .self_kv
            .into_iter()
            .map(|kv| kv.map(|kv| kv.select_rows(rows.clone())))
            .collect();
        self
    }

    /// Keeps batch rows `rows` in that order (beam search expands each input with it).
    pub fn select_rows(self, rows: Tensor<1, Int>) -> Self {
        Self {
            self_kv: self
                .self_kv
                .into_iter()
                .map(|kv| kv.map(|kv| kv.select_rows(rows.clone())))
                .collect(),
            cross_kv: self
                .cross_kv
                .into_iter()
                .map(|kv| kv.select_rows(rows.clone()))
                .collect(),
            cross_bias: self.cross_bias.select(0, rows),
            position: self.position,
            self_bias: self.self_bias,
        }
    }

    /// Positions the preallocated caches hold (`None` when they grow).
    pub fn capacity(&self) -> Option<usize> {
        self.self_bias.as_ref().map(|bias| bias.dims()[3])
    }
}

/// Additive mask from a 0/1 mask `[batch, len]`: 0 where kept, the most negative f32 where
/// masked (as HF), shaped `[batch, 1, 1, len]`.
pub fn padding_bias(attention_mask: Tensor<2>) -> Tensor<4> {
    let [batch, len] = attention_mask.dims();
    ((attention_mask.neg() + 1.0) * f32::MIN as f64).reshape([batch, 1, 1, len])
}

/// Causal mask `[1, 1, q_len, k_len]` for queries at `offset..offset + q_len`: the most
/// negative f32 where the key comes after the query.
fn causal_bias(q_len: usize, k_len: usize, offset: usize, device: &Device) -> Tensor<4> {
    // True where key - query > offset: the keys after each query.
    let future: Tensor<2, Bool> =
        Tensor::<2, Bool>::tril_mask([q_len, k_len], offset as i64, device);
    Tensor::<2>::zeros([q_len, k_len], device)
        .mask_fill(future, f32::MIN)
        .reshape([1, 1, q_len, k_len])
}

/// Casts every weight of an inference model to `precision` once (the feed-forward `wo`
/// projections stay f32, see [`super::precision`]) and sets its compute dtype. `F32` restores
/// f32 weights; `Int8` quantizes the linear weights for the CPU (check the device first with
/// [`check_precision`]: elsewhere the model stays f32). Not for training: there the master
/// weights stay f32 (set [`T5ForConditionalGeneration::compute_dtype`] instead).
pub fn to_precision(
    model: T5ForConditionalGeneration,
    precision: Precision,
) -> T5ForConditionalGeneration {
    let mut model = cast_weights(model, precision);
    model.compute_dtype = precision.dtype();
    model.pack_for_cpu(precision == Precision::Int8);
    model.pack_projections();
    model
}

/// Whether `device` can compute in `precision`: int8 is the CPU's (its quantized products
/// are `rten-gemm`'s), and needs a device that tracks no gradients.
pub fn check_precision(device: &Device, precision: Precision) -> crate::error::Result<()> {
    if precision == Precision::Int8 && (!crate::device::is_cpu(device) || device.is_autodiff()) {
        return Err(crate::error::MixtuneError::UnsupportedPrecision);
    }
    Ok(())
}

impl T5ForConditionalGeneration {
    /// The model of `config` with HF's initialisation, drawn lazily: [`Self::load`] callers
    /// replace every value before it is drawn; `random` models draw on first use.
    pub fn new(config: &T5Config, device: &Device) -> Self {
        let encoder = T5Encoder {
            blocks: (0..config.num_layers)
                .map(|i| EncoderBlock::new(config, i == 0, device))
                .collect(),
            final_layer_norm: T5LayerNorm::new(config, device),
        };
        let decoder = T5Decoder {
            blocks: (0..config.decoder_layers())
                .map(|i| DecoderBlock::new(config, i == 0, device))
                .collect(),
            final_layer_norm: T5LayerNorm::new(config, device),
        };
        let shared = Initializer::Normal {
            mean: 0.0,
            std: 1.0,
        }
        .init([config.vocab_size, config.d_model], device);
        let lm_head = (!config.tie_word_embeddings).then(|| {
            Initializer::Normal {
                mean: 0.0,
                std: (config.d_model as f64).powf(-0.5),
            }
            .init([config.d_model, config.vocab_size], device)
        });
        Self {
            shared,
            encoder,
            decoder,
            lm_head,
            config: config.clone(),
            compute_dtype: DType::F32,
            cpu_weights: None,
            packed_projections: None,
            dropout: 0.0,
        }
    }

    /// Sets T5's dropout while training at `rate` everywhere HF's `T5ForConditionalGeneration`
    /// applies `dropout_rate`: the embeddings, each sub-layer's output, the feed-forward's
    /// activation, the attention probabilities and the stacks' final norms. Only on an
    /// autodiff device (training); inference and validation never drop.
    pub fn set_dropout(&mut self, rate: f64) {
        self.dropout = rate;
        self.for_each_sublayer(
            |attention| attention.dropout = rate,
            |ff| ff.set_dropout(rate),
        );
    }

    /// Visits every attention (self and cross) and every feed-forward of both stacks: for
    /// the settings they all share (T5's and LoRA's dropout rates).
    pub fn for_each_sublayer(
        &mut self,
        mut attention: impl FnMut(&mut T5Attention),
        mut ff: impl FnMut(&mut DenseReluDense),
    ) {
        for block in self.encoder.blocks.iter_mut() {
            attention(&mut block.self_attention.self_attention);
            ff(&mut block.ff.dense_relu_dense);
        }
        for block in self.decoder.blocks.iter_mut() {
            attention(&mut block.self_attention.self_attention);
            attention(&mut block.cross_attention.enc_dec_attention);
            ff(&mut block.ff.dense_relu_dense);
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.shared.val().device()
    }

    /// The embeddings of `ids` (`[batch, len]`) in the compute dtype: the rows are looked up
    /// in the table's dtype and cast after, so f16 training over the f32 master table casts
    /// `batch · len` rows rather than the whole table at each use, and sums the gradients of
    /// repeated tokens in f32 (the table's gradient is f32 from the start).
    fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        cast(embedding(self.shared.val(), ids), self.compute_dtype)
    }

    /// The dropout masks of the encoder's or the decoder's sites over `[batch, len]` tokens,
    /// drawn at once when training with dropout, in the order the sites run: the embeddings;
    /// in each block the self-attention's output, the cross-attention's (decoder), the
    /// feed-forward's activation and its output; the final norm's output.
    fn draw_dropout(&self, decoder: bool, batch: usize, len: usize, device: &Device) -> StackMasks {
        let mut shapes = Vec::new();
        if self.dropout > 0.0 && device.is_autodiff() {
            let (hidden, inner) = (
                [batch, len, self.config.d_model],
                [batch, len, self.config.d_ff],
            );
            let (blocks, block) = match decoder {
                false => (self.encoder.blocks.len(), &[hidden, inner, hidden][..]),
                true => (
                    self.decoder.blocks.len(),
                    &[hidden, hidden, inner, hidden][..],
                ),
            };
            shapes.push(hidden);
            for _ in 0..blocks {
                shapes.extend_from_slice(block);
            }
            shapes.push(hidden);
        }
        draw_for_stack(&shapes, self.dropout, self.compute_dtype, device)
    }

    /// Encoder: `input_ids` `[batch, src_len]` and 0/1 `attention_mask` -> `[batch, src_len, d_model]`.
    pub fn encode(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2>) -> Tensor<3> {
        let _packed = cpu_gemm::enter(self.cpu_weights.as_ref());
        let _projections = packed_projections::enter(self.packed_projections.as_ref());
        let device = input_ids.device();
        let [batch, src_len] = input_ids.dims();
        let _masks = self.draw_dropout(false, batch, src_len, &device);
        let mut hidden = dropout_site(self.embed(input_ids), self.dropout);
        let first = &self.encoder.blocks[0].self_attention.self_attention;
        let bias =
            first.position_bias(src_len, src_len, 0, true, &device) + padding_bias(attention_mask);
        for block in &self.encoder.blocks {
            hidden = block.forward(hidden, bias.clone());
        }
        dropout_site(self.encoder.final_layer_norm.forward(hidden), self.dropout)
    }

    /// Starts incremental decoding: projects the encoder output to cross-attention keys
    /// and values once, for every decoder block. With `capacity`, the self-attention caches
    /// are preallocated for that many positions and written in place (see [`DecoderState`]).
    pub fn start_decoding(
        &self,
        encoder_output: Tensor<3>,
        attention_mask: Tensor<2>,
        capacity: Option<usize>,
    ) -> DecoderState {
        let _packed = cpu_gemm::enter(self.cpu_weights.as_ref());
        let _projections = packed_projections::enter(self.packed_projections.as_ref());
        let device = encoder_output.device();
        let batch = encoder_output.dims()[0];
        let cross_kv = self
            .decoder
            .blocks
            .iter()
            .map(|block| {
                block
                    .cross_attention
                    .enc_dec_attention
                    .project_kv(encoder_output.clone())
            })
            .collect();
        let (heads, d_kv) = (self.config.num_heads, self.config.d_kv);
        let blocks = self.decoder.blocks.len();
        let (self_kv, self_bias) = match capacity {
            Some(capacity) => (
                (0..blocks)
                    .map(|_| {
                        Some(KvCache::with_capacity(
                            [batch, heads, capacity, d_kv],
                            encoder_output.dtype(),
                            &device,
                            // The packed projections' key and value columns: one write.
                            self.packed_projections.is_some(),
                        ))
                    })
                    .collect(),
                Some(self.decoder_self_bias(capacity, capacity, 0, &device)),
            ),
            None => (vec![None; blocks], None),
        };
        DecoderState {
            self_kv,
            cross_kv,
            cross_bias: padding_bias(attention_mask),
            position: 0,
            self_bias,
        }
    }

    /// The decoder's causal position bias `[1, heads, q_len, k_len]` for queries at
    /// `offset..offset + q_len`.
    fn decoder_self_bias(
        &self,
        q_len: usize,
        k_len: usize,
        offset: usize,
        device: &Device,
    ) -> Tensor<4> {
        let first = &self.decoder.blocks[0].self_attention.self_attention;
        first.position_bias(q_len, k_len, offset, false, device)
            + causal_bias(q_len, k_len, offset, device)
    }

    /// Decodes `decoder_input_ids` `[batch, new_len]` after the positions already in `state`,
    /// returning logits `[batch, new_len, vocab]` and updating the caches.
    ///
    /// # Panics
    /// With preallocated caches, when the new positions do not fit in their capacity.
    pub fn decode(&self, decoder_input_ids: Tensor<2, Int>, state: &mut DecoderState) -> Tensor<3> {
        let hidden = self.decode_hidden(decoder_input_ids, state);
        self.lm_logits(hidden)
    }

    /// The decoder's final hidden states `[batch, new_len, d_model]` (before the head).
    pub fn decode_hidden(
        &self,
        decoder_input_ids: Tensor<2, Int>,
        state: &mut DecoderState,
    ) -> Tensor<3> {
        let _packed = cpu_gemm::enter(self.cpu_weights.as_ref());
        let _projections = packed_projections::enter(self.packed_projections.as_ref());
        let device = decoder_input_ids.device();
        let [batch, new_len] = decoder_input_ids.dims();
        let _masks = self.draw_dropout(true, batch, new_len, &device);
        let position = state.position;
        let total = position + new_len;
        let self_bias = match (&state.self_bias, state.capacity()) {
            (Some(table), Some(capacity)) => {
                assert!(total <= capacity, "decoding past the cache's capacity");
                let heads = table.dims()[1];
                table
                    .clone()
                    .slice([0..1, 0..heads, position..total, 0..capacity])
            }
            _ => self.decoder_self_bias(new_len, total, position, &device),
        };
        let preallocated = state.self_bias.is_some();
        let mut hidden = dropout_site(self.embed(decoder_input_ids), self.dropout);
        for (i, block) in self.decoder.blocks.iter().enumerate() {
            hidden = block.self_attention.forward_cached(
                hidden,
                self_bias.clone(),
                &mut state.self_kv[i],
                position,
                preallocated,
            );
            hidden =
                block
                    .cross_attention
                    .forward(hidden, &state.cross_kv[i], state.cross_bias.clone());
            hidden = block.ff.forward(hidden);
        }
        state.position = total;
        dropout_site(self.decoder.final_layer_norm.forward(hidden), self.dropout)
    }

    /// Decoder output `[batch, len, d_model]` -> logits `[batch, len, vocab]`.
    pub fn lm_logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [batch, len, d_model] = hidden.dims();
        let logits = self.lm_logits_rows(hidden.reshape([batch * len, d_model]));
        let vocab = logits.dims()[1];
        logits.reshape([batch, len, vocab])
    }

    /// Head over rows: `[rows, d_model]` -> `[rows, vocab]`. One 2-D matmul, so the head's
    /// gradient is one `[d_model, vocab]` product (a matmul broadcast over the batch would
    /// build a `[batch, d_model, vocab]` gradient first: 3 GB for base at batch 32). The
    /// product is in the hidden states' dtype, the logits f32.
    fn lm_logits_rows(&self, hidden: Tensor<2>) -> Tensor<2> {
        let hidden = if self.config.scales_decoder_output() {
            hidden * (self.config.d_model as f64).powf(-0.5)
        } else {
            hidden
        };
        let head_id = self.lm_head.as_ref().map_or(self.shared.id, |head| head.id);
        let packed = cpu_gemm::enter(self.cpu_weights.as_ref());
        if let Some(logits) = cpu_gemm::product(head_id, hidden.clone()) {
            return logits;
        }
        drop(packed);
        let head = match &self.lm_head {
            Some(head) => head.val(),
            None => self.shared.val().transpose(),
        };
        let dtype = hidden.dtype();
        let head = cast(head, dtype);
        let rows = hidden.dims()[0];
        if rows == 1 && !hidden.device().is_autodiff() && crate::device::is_cpu(&hidden.device()) {
            // One row on the CPU: `gemm` takes a single-threaded matrix-vector path for it,
            // which on the `[d_model, vocab]` head is half as fast as its kernels on two rows
            // (base: 4.8 vs 2.0-3.0 ms per decode step, 2-core EPYC). So the row goes in twice.
            let twice = Tensor::cat(vec![hidden.clone(), hidden], 0).matmul(head);
            let vocab = twice.dims()[1];
            return cast(twice.slice([0..1, 0..vocab]), DType::F32);
        }
        cast(crate::kernels::matmul(hidden, head), DType::F32)
    }

    /// Full teacher-forced forward pass: logits `[batch, tgt_len, vocab]`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2>,
        decoder_input_ids: Tensor<2, Int>,
    ) -> Tensor<3> {
        let encoder_output = self.encode(input_ids, attention_mask.clone());
        let mut state = self.start_decoding(encoder_output, attention_mask, None);
        self.decode(decoder_input_ids, &mut state)
    }

    /// Mean token cross-entropy of `labels` (rows padded with [`IGNORE_INDEX`]), as HF's
    /// `labels=` loss: decoder inputs are the labels shifted right after the start token.
    pub fn loss(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2>,
        labels: &[Vec<i64>],
    ) -> Tensor<1> {
        let chunk_rows = (LOSS_CHUNK_ELEMENTS / self.config.vocab_size.max(1)).max(1);
        self.loss_in_chunks(input_ids, attention_mask, labels, chunk_rows)
    }

    /// [`Self::loss`] with the logits of at most `chunk_rows` target positions materialised
    /// at once (`loss` picks the most that stay under 256 MiB).
    pub fn loss_in_chunks(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2>,
        labels: &[Vec<i64>],
        chunk_rows: usize,
    ) -> Tensor<1> {
        let device = input_ids.device();
        let batch = labels.len();
        let tgt_len = labels.iter().map(Vec::len).max().unwrap_or(0);
        let start = self.config.decoder_start_token_id as i64;
        let pad = self.config.pad_token_id as i64;
        let mut decoder_inputs = Vec::with_capacity(batch * tgt_len);
        let mut targets = Vec::with_capacity(batch * tgt_len);
        let mut weights = Vec::with_capacity(batch * tgt_len);
        for row in labels {
            for t in 0..tgt_len {
                let previous = if t == 0 {
                    start
                } else {
                    row.get(t - 1).copied().unwrap_or(IGNORE_INDEX)
                };
                decoder_inputs.push(if previous == IGNORE_INDEX {
                    pad
                } else {
                    previous
                });
                let label = row.get(t).copied().unwrap_or(IGNORE_INDEX);
                targets.push(if label == IGNORE_INDEX { 0 } else { label });
                weights.push(if label == IGNORE_INDEX { 0.0f32 } else { 1.0 });
            }
        }
        let count: f32 = weights.iter().sum();
        let decoder_input_ids =
            Tensor::<2, Int>::from_data(TensorData::new(decoder_inputs, [batch, tgt_len]), &device);
        let targets =
            Tensor::<2, Int>::from_data(TensorData::new(targets, [batch * tgt_len, 1]), &device);
        let weights = Tensor::<1>::from_data(TensorData::new(weights, [batch * tgt_len]), &device);
        let encoder_output = self.encode(input_ids, attention_mask.clone());
        let mut state = self.start_decoding(encoder_output, attention_mask, None);
        let hidden = self.decode_hidden(decoder_input_ids, &mut state);
        let rows = batch * tgt_len;
        let hidden = hidden.reshape([rows, self.config.d_model]);
        // Cross-entropy in row chunks: `logsumexp - logit[target]`, never a full-size
        // log-softmax copy, and no logits tensor past LOSS_CHUNK_ELEMENTS (wgpu binds at most
        // 2 GiB per buffer).
        let chunk = chunk_rows.max(1);
        let mut total: Option<Tensor<1>> = None;
        for start in (0..rows).step_by(chunk) {
            let end = (start + chunk).min(rows);
            let logits =
                self.lm_logits_rows(hidden.clone().slice([start..end, 0..self.config.d_model]));
            let max = logits.clone().detach().max_dim(1);
            let logsumexp = (logits.clone() - max.clone()).exp().sum_dim(1).log() + max;
            let picked = logits.gather(1, targets.clone().slice([start..end, 0..1]));
            let nll =
                (logsumexp - picked).reshape([end - start]) * weights.clone().slice(start..end);
            let sum = nll.sum();
            total = Some(match total {
                Some(total) => total + sum,
                None => sum,
            });
        }
        let total = total.unwrap_or_else(|| Tensor::zeros([1], &device));
        total / count.max(1.0) as f64
    }
}
