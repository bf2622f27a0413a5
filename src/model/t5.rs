//! T5 blocks, stacks and the encoder-decoder with its language-model head.

use burn::module::{Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::module::embedding;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::attention::{KvCache, T5Attention};
use super::config::T5Config;
use super::layers::{DenseFeedForward, LayerFf, T5LayerNorm};

/// Label id that the loss ignores (HF's `-100`).
pub const IGNORE_INDEX: i64 = -100;

/// Attention with its pre-norm: `layer.0.SelfAttention` or `layer.1.EncDecAttention`.
#[derive(Module, Debug)]
pub struct AttentionLayer {
    pub layer_norm: T5LayerNorm,
    pub attention: T5Attention,
}

/// One encoder block: self-attention, then feed-forward.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    pub self_attention: AttentionLayer,
    pub ff: LayerFf,
}

/// One decoder block: causal self-attention, cross-attention, feed-forward.
#[derive(Module, Debug)]
pub struct DecoderBlock {
    pub self_attention: AttentionLayer,
    pub cross_attention: AttentionLayer,
    pub ff: LayerFf,
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
        }
    }
}

/// Additive mask from a 0/1 mask `[batch, len]`: 0 where kept, the most negative f32 where
/// masked (as HF), shaped `[batch, 1, 1, len]`.
pub fn padding_bias(attention_mask: Tensor<2>) -> Tensor<4> {
    let [batch, len] = attention_mask.dims();
    ((attention_mask.neg() + 1.0) * f32::MIN as f64).reshape([batch, 1, 1, len])
}

/// Causal mask `[1, 1, len, len]`: the most negative f32 above the diagonal.
fn causal_bias(len: usize, device: &Device) -> Tensor<4> {
    let future: Tensor<2, Bool> = Tensor::<2, Bool>::tril_mask([len, len], 0, device);
    Tensor::<2>::zeros([len, len], device)
        .mask_fill(future, f32::MIN)
        .reshape([1, 1, len, len])
}

impl T5ForConditionalGeneration {
    /// A model with random weights (HF's init scales), for benchmarks and tests.
    pub fn random(config: &T5Config, device: &Device) -> Self {
        let eps = config.layer_norm_epsilon;
        let norm = || T5LayerNorm::new(Tensor::ones([config.d_model], device), eps);
        let attention_layer = |has_bias| AttentionLayer {
            layer_norm: norm(),
            attention: T5Attention::random(config, has_bias, device),
        };
        let ff = || LayerFf {
            layer_norm: norm(),
            dense: DenseFeedForward::random(config, device),
        };
        let encoder = T5Encoder {
            blocks: (0..config.num_layers)
                .map(|i| EncoderBlock {
                    self_attention: attention_layer(i == 0),
                    ff: ff(),
                })
                .collect(),
            final_layer_norm: norm(),
        };
        let decoder = T5Decoder {
            blocks: (0..config.decoder_layers())
                .map(|i| DecoderBlock {
                    self_attention: attention_layer(i == 0),
                    cross_attention: attention_layer(false),
                    ff: ff(),
                })
                .collect(),
            final_layer_norm: norm(),
        };
        let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
        let shared = Param::from_tensor(Tensor::random(
            [config.vocab_size, config.d_model],
            normal,
            device,
        ));
        let lm_head = (!config.tie_word_embeddings).then(|| {
            let std = (config.d_model as f64).powf(-0.5);
            Param::from_tensor(Tensor::random(
                [config.d_model, config.vocab_size],
                burn::tensor::Distribution::Normal(0.0, std),
                device,
            ))
        });
        Self {
            shared,
            encoder,
            decoder,
            lm_head,
            config: config.clone(),
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.shared.val().device()
    }

    /// Encoder: `input_ids` `[batch, src_len]` and 0/1 `attention_mask` -> `[batch, src_len, d_model]`.
    pub fn encode(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2>) -> Tensor<3> {
        let device = input_ids.device();
        let [_, src_len] = input_ids.dims();
        let mut hidden = embedding(self.shared.val(), input_ids);
        let first = &self.encoder.blocks[0].self_attention.attention;
        let bias =
            first.position_bias(src_len, src_len, 0, true, &device) + padding_bias(attention_mask);
        for block in &self.encoder.blocks {
            let layer = &block.self_attention;
            let normed = layer.layer_norm.forward(hidden.clone());
            let kv = layer.attention.project_kv(normed.clone());
            hidden = hidden + layer.attention.attend(normed, &kv, bias.clone());
            hidden = block.ff.forward(hidden);
        }
        self.encoder.final_layer_norm.forward(hidden)
    }

    /// Starts incremental decoding: projects the encoder output to cross-attention keys
    /// and values once, for every decoder block.
    pub fn start_decoding(
        &self,
        encoder_output: Tensor<3>,
        attention_mask: Tensor<2>,
    ) -> DecoderState {
        let cross_kv = self
            .decoder
            .blocks
            .iter()
            .map(|block| {
                block
                    .cross_attention
                    .attention
                    .project_kv(encoder_output.clone())
            })
            .collect();
        DecoderState {
            self_kv: vec![None; self.decoder.blocks.len()],
            cross_kv,
            cross_bias: padding_bias(attention_mask),
            position: 0,
        }
    }

    /// Decodes `decoder_input_ids` `[batch, new_len]` after the positions already in `state`,
    /// returning logits `[batch, new_len, vocab]` and updating the caches.
    pub fn decode(&self, decoder_input_ids: Tensor<2, Int>, state: &mut DecoderState) -> Tensor<3> {
        let device = decoder_input_ids.device();
        let [_, new_len] = decoder_input_ids.dims();
        let total = state.position + new_len;
        let first = &self.decoder.blocks[0].self_attention.attention;
        let mut self_bias = first.position_bias(new_len, total, state.position, false, &device);
        if new_len > 1 {
            let causal =
                causal_bias(total, &device).slice([0..1, 0..1, state.position..total, 0..total]);
            self_bias = self_bias + causal;
        }
        let mut hidden = embedding(self.shared.val(), decoder_input_ids);
        for (i, block) in self.decoder.blocks.iter().enumerate() {
            let layer = &block.self_attention;
            let normed = layer.layer_norm.forward(hidden.clone());
            let new_kv = layer.attention.project_kv(normed.clone());
            let kv = match state.self_kv[i].take() {
                Some(past) => past.append(new_kv),
                None => new_kv,
            };
            hidden = hidden + layer.attention.attend(normed, &kv, self_bias.clone());
            state.self_kv[i] = Some(kv);

            let layer = &block.cross_attention;
            let normed = layer.layer_norm.forward(hidden.clone());
            hidden = hidden
                + layer
                    .attention
                    .attend(normed, &state.cross_kv[i], state.cross_bias.clone());
            hidden = block.ff.forward(hidden);
        }
        state.position = total;
        let hidden = self.decoder.final_layer_norm.forward(hidden);
        self.lm_logits(hidden)
    }

    /// Decoder output `[batch, len, d_model]` -> logits `[batch, len, vocab]`.
    fn lm_logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let hidden = if self.config.scales_decoder_output() {
            hidden * (self.config.d_model as f64).powf(-0.5)
        } else {
            hidden
        };
        let head = match &self.lm_head {
            Some(head) => head.val(),
            None => self.shared.val().transpose(),
        };
        hidden.matmul(head.unsqueeze::<3>())
    }

    /// Full teacher-forced forward pass: logits `[batch, tgt_len, vocab]`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2>,
        decoder_input_ids: Tensor<2, Int>,
    ) -> Tensor<3> {
        let encoder_output = self.encode(input_ids, attention_mask.clone());
        let mut state = self.start_decoding(encoder_output, attention_mask);
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
        let logits = self.forward(input_ids, attention_mask, decoder_input_ids);
        let vocab = logits.dims()[2];
        let log_probs = log_softmax(logits.reshape([batch * tgt_len, vocab]), 1);
        let picked = log_probs.gather(1, targets).reshape([batch * tgt_len]);
        (picked * weights).sum().neg() / count.max(1.0) as f64
    }
}
