//! Safetensors checkpoints (single file or sharded) -> a [`T5ForConditionalGeneration`].
//! All checkpoint key names live in this file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use super::attention::T5Attention;
use super::config::T5Config;
use super::layers::{linear, DenseFeedForward, LayerFf, T5LayerNorm};
use super::t5::{
    AttentionLayer, DecoderBlock, EncoderBlock, T5Decoder, T5Encoder, T5ForConditionalGeneration,
};
use crate::error::{MixtuneError, Result};

/// Keys that HF may write but that carry nothing of their own (copies of `shared`).
const REDUNDANT_KEYS: [&str; 2] = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"];

/// Memory-mapped safetensors files with a key -> file index.
pub struct WeightReader {
    files: Vec<(PathBuf, Mmap)>,
    index: BTreeMap<String, usize>,
    used: BTreeSet<String>,
}

fn st_error(path: &Path, message: impl std::fmt::Display) -> MixtuneError {
    MixtuneError::Safetensors {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl WeightReader {
    /// Opens `model.safetensors`, or the shards listed in `model.safetensors.index.json`.
    pub fn open(path: &Path) -> Result<Self> {
        let paths = if path.extension().is_some_and(|e| e == "json") {
            shard_paths(path)?
        } else {
            vec![path.to_path_buf()]
        };
        let mut files = Vec::new();
        let mut index = BTreeMap::new();
        for path in paths {
            let file = std::fs::File::open(&path).map_err(|e| MixtuneError::io(&path, e))?;
            // SAFETY: the map is read-only and lives as long as the reader; a checkpoint
            // changed underneath a running process is outside what we guard against.
            let mmap = unsafe { Mmap::map(&file) }.map_err(|e| MixtuneError::io(&path, e))?;
            let tensors = SafeTensors::deserialize(&mmap).map_err(|e| st_error(&path, e))?;
            for name in tensors.names() {
                index.insert(name.to_string(), files.len());
            }
            files.push((path, mmap));
        }
        Ok(Self {
            files,
            index,
            used: BTreeSet::new(),
        })
    }

    /// The file that holds `key` (or the first file, for messages about missing keys).
    fn path_of(&self, key: &str) -> &Path {
        let file = self.index.get(key).copied().unwrap_or(0);
        &self.files[file].0
    }

    /// Whether the checkpoint has `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Reads `key` as f32 with shape `expected` (bf16 / f16 / f64 are cast).
    pub fn read(&mut self, key: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let Some(&file) = self.index.get(key) else {
            return Err(MixtuneError::MissingWeight {
                path: self.path_of(key).to_path_buf(),
                key: key.to_string(),
            });
        };
        let (path, mmap) = &self.files[file];
        let tensors = SafeTensors::deserialize(mmap).map_err(|e| st_error(path, e))?;
        let view = tensors.tensor(key).map_err(|e| st_error(path, e))?;
        if view.shape() != expected {
            return Err(MixtuneError::ShapeMismatch {
                path: path.clone(),
                key: key.to_string(),
                expected: expected.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
            other => {
                return Err(MixtuneError::UnsupportedDtype {
                    path: path.clone(),
                    key: key.to_string(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        self.used.insert(key.to_string());
        Ok(values)
    }

    /// Keys present in the files but never read (redundant embedding copies excluded).
    pub fn unused(&self, also_allowed: &[&str]) -> Vec<String> {
        self.index
            .keys()
            .filter(|k| !self.used.contains(*k))
            .filter(|k| {
                !REDUNDANT_KEYS.contains(&k.as_str()) && !also_allowed.contains(&k.as_str())
            })
            .cloned()
            .collect()
    }

    /// The first file (for error messages about the checkpoint as a whole).
    pub fn first_path(&self) -> &Path {
        &self.files[0].0
    }
}

/// Shard file names from a `model.safetensors.index.json`.
fn shard_paths(index_path: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index_path).map_err(|e| MixtuneError::io(index_path, e))?;
    let invalid = |message: String| MixtuneError::Config {
        path: index_path.to_path_buf(),
        message,
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("line {}, column {}: {e}", e.line(), e.column())))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| invalid("missing object `weight_map`".into()))?;
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let mut shards = BTreeSet::new();
    for (key, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| invalid(format!("`weight_map.{key}` is not a file name")))?;
        shards.insert(dir.join(file));
    }
    if shards.is_empty() {
        return Err(invalid("`weight_map` is empty".into()));
    }
    Ok(shards.into_iter().collect())
}

/// Reads checkpoint tensors into the model's layout, on one device.
struct Loader<'a> {
    reader: &'a mut WeightReader,
    config: &'a T5Config,
    device: &'a Device,
}

impl Loader<'_> {
    /// A tensor stored as is.
    fn tensor<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let values = self.reader.read(key, &shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// An HF linear weight `[out, in]`, transposed to Burn's `[in, out]`.
    fn transposed(&mut self, key: &str, d_out: usize, d_in: usize) -> Result<Tensor<2>> {
        let values = self.reader.read(key, &[d_out, d_in])?;
        let mut t = vec![0f32; values.len()];
        for o in 0..d_out {
            for i in 0..d_in {
                t[i * d_out + o] = values[o * d_in + i];
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(t, [d_in, d_out]),
            self.device,
        ))
    }

    fn norm(&mut self, key: &str) -> Result<T5LayerNorm> {
        let weight = self.tensor(key, [self.config.d_model])?;
        Ok(T5LayerNorm::new(weight, self.config.layer_norm_epsilon))
    }

    fn attention(&mut self, prefix: &str, has_bias: bool) -> Result<T5Attention> {
        let (d_model, inner) = (self.config.d_model, self.config.inner_dim());
        let c = self.config;
        let bias = if has_bias {
            let key = format!("{prefix}.relative_attention_bias.weight");
            Some(Param::from_tensor(self.tensor(
                &key,
                [c.relative_attention_num_buckets, c.num_heads],
            )?))
        } else {
            None
        };
        Ok(T5Attention {
            q: linear(self.transposed(&format!("{prefix}.q.weight"), inner, d_model)?),
            k: linear(self.transposed(&format!("{prefix}.k.weight"), inner, d_model)?),
            v: linear(self.transposed(&format!("{prefix}.v.weight"), inner, d_model)?),
            o: linear(self.transposed(&format!("{prefix}.o.weight"), d_model, inner)?),
            relative_attention_bias: bias,
            num_heads: c.num_heads,
            d_kv: c.d_kv,
            num_buckets: c.relative_attention_num_buckets,
            max_distance: c.relative_attention_max_distance,
            lora_dropout: 0.0,
        })
    }

    /// `{prefix}.layer_norm` + `{prefix}.{SelfAttention|EncDecAttention}`.
    fn attention_layer(
        &mut self,
        prefix: &str,
        name: &str,
        has_bias: bool,
    ) -> Result<AttentionLayer> {
        Ok(AttentionLayer {
            layer_norm: self.norm(&format!("{prefix}.layer_norm.weight"))?,
            attention: self.attention(&format!("{prefix}.{name}"), has_bias)?,
        })
    }

    fn feed_forward(&mut self, prefix: &str) -> Result<LayerFf> {
        let (d_model, d_ff) = (self.config.d_model, self.config.d_ff);
        // validate() already rejected unknown activations.
        let (activation, gated) = self.config.feed_forward().map_err(MixtuneError::Input)?;
        let dense = format!("{prefix}.DenseReluDense");
        let (wi_0, wi_1) = if gated {
            (
                linear(self.transposed(&format!("{dense}.wi_0.weight"), d_ff, d_model)?),
                Some(linear(self.transposed(
                    &format!("{dense}.wi_1.weight"),
                    d_ff,
                    d_model,
                )?)),
            )
        } else {
            (
                linear(self.transposed(&format!("{dense}.wi.weight"), d_ff, d_model)?),
                None,
            )
        };
        Ok(LayerFf {
            layer_norm: self.norm(&format!("{prefix}.layer_norm.weight"))?,
            dense: DenseFeedForward {
                wi_0,
                wi_1,
                wo: linear(self.transposed(&format!("{dense}.wo.weight"), d_model, d_ff)?),
                activation,
                lora_dropout: 0.0,
            },
        })
    }
}

/// Builds the model from the checkpoint tensors; missing, misshapen or unused keys fail by name.
pub fn load_model(
    reader: &mut WeightReader,
    config: &T5Config,
    device: &Device,
) -> Result<T5ForConditionalGeneration> {
    let mut l = Loader {
        reader,
        config,
        device,
    };
    let shared =
        Param::from_tensor(l.tensor("shared.weight", [config.vocab_size, config.d_model])?);
    let mut encoder_blocks = Vec::new();
    for i in 0..config.num_layers {
        let p = format!("encoder.block.{i}.layer");
        encoder_blocks.push(EncoderBlock {
            self_attention: l.attention_layer(&format!("{p}.0"), "SelfAttention", i == 0)?,
            ff: l.feed_forward(&format!("{p}.1"))?,
        });
    }
    let encoder = T5Encoder {
        blocks: encoder_blocks,
        final_layer_norm: l.norm("encoder.final_layer_norm.weight")?,
    };
    let mut decoder_blocks = Vec::new();
    for i in 0..config.decoder_layers() {
        let p = format!("decoder.block.{i}.layer");
        decoder_blocks.push(DecoderBlock {
            self_attention: l.attention_layer(&format!("{p}.0"), "SelfAttention", i == 0)?,
            cross_attention: l.attention_layer(&format!("{p}.1"), "EncDecAttention", false)?,
            ff: l.feed_forward(&format!("{p}.2"))?,
        });
    }
    let decoder = T5Decoder {
        blocks: decoder_blocks,
        final_layer_norm: l.norm("decoder.final_layer_norm.weight")?,
    };
    let lm_head = if config.tie_word_embeddings {
        None
    } else {
        Some(Param::from_tensor(l.transposed(
            "lm_head.weight",
            config.vocab_size,
            config.d_model,
        )?))
    };
    // A tied checkpoint may still carry a copy of the head.
    let allowed: &[&str] = if config.tie_word_embeddings {
        &["lm_head.weight"]
    } else {
        &[]
    };
    let unused = reader.unused(allowed);
    if !unused.is_empty() {
        let shown: Vec<_> = unused.iter().take(8).cloned().collect();
        let more = unused.len().saturating_sub(shown.len());
        let mut keys = shown.join(", ");
        if more > 0 {
            keys.push_str(&format!(" and {more} more"));
        }
        return Err(MixtuneError::UnusedWeights {
            path: reader.first_path().to_path_buf(),
            keys,
        });
    }
    Ok(T5ForConditionalGeneration {
        shared,
        encoder,
        decoder,
        lm_head,
        config: config.clone(),
    })
}

/// Every tensor of `model` under its HF checkpoint key, in HF's layout (`[out, in]` for
/// linear weights): what [`save_safetensors`] writes and HF transformers loads.
pub fn hf_tensors(model: &T5ForConditionalGeneration) -> Vec<(String, Tensor<2>)> {
    let mut out: Vec<(String, Tensor<2>)> = Vec::new();
    let vector = |t: Tensor<1>| t.unsqueeze::<2>();
    out.push(("shared.weight".into(), model.shared.val()));
    let attention = |out: &mut Vec<(String, Tensor<2>)>,
                     prefix: &str,
                     layer: &super::t5::AttentionLayer,
                     name: &str| {
        out.push((
            format!("{prefix}.layer_norm.weight"),
            vector(layer.layer_norm.weight.val()),
        ));
        let a = &layer.attention;
        for (proj, linear) in [("q", &a.q), ("k", &a.k), ("v", &a.v), ("o", &a.o)] {
            out.push((
                format!("{prefix}.{name}.{proj}.weight"),
                linear.weight.val().transpose(),
            ));
        }
        if let Some(bias) = &a.relative_attention_bias {
            out.push((
                format!("{prefix}.{name}.relative_attention_bias.weight"),
                bias.val(),
            ));
        }
    };
    let ff = |out: &mut Vec<(String, Tensor<2>)>, prefix: &str, layer: &LayerFf| {
        out.push((
            format!("{prefix}.layer_norm.weight"),
            vector(layer.layer_norm.weight.val()),
        ));
        let dense = &layer.dense;
        let first = if dense.wi_1.is_some() { "wi_0" } else { "wi" };
        out.push((
            format!("{prefix}.DenseReluDense.{first}.weight"),
            dense.wi_0.weight.val().transpose(),
        ));
        if let Some(wi_1) = &dense.wi_1 {
            out.push((
                format!("{prefix}.DenseReluDense.wi_1.weight"),
                wi_1.weight.val().transpose(),
            ));
        }
        out.push((
            format!("{prefix}.DenseReluDense.wo.weight"),
            dense.wo.weight.val().transpose(),
        ));
    };
    for (i, block) in model.encoder.blocks.iter().enumerate() {
        attention(
            &mut out,
            &format!("encoder.block.{i}.layer.0"),
            &block.self_attention,
            "SelfAttention",
        );
        ff(&mut out, &format!("encoder.block.{i}.layer.1"), &block.ff);
    }
    out.push((
        "encoder.final_layer_norm.weight".into(),
        vector(model.encoder.final_layer_norm.weight.val()),
    ));
    for (i, block) in model.decoder.blocks.iter().enumerate() {
        attention(
            &mut out,
            &format!("decoder.block.{i}.layer.0"),
            &block.self_attention,
            "SelfAttention",
        );
        attention(
            &mut out,
            &format!("decoder.block.{i}.layer.1"),
            &block.cross_attention,
            "EncDecAttention",
        );
        ff(&mut out, &format!("decoder.block.{i}.layer.2"), &block.ff);
    }
    out.push((
        "decoder.final_layer_norm.weight".into(),
        vector(model.decoder.final_layer_norm.weight.val()),
    ));
    if let Some(head) = &model.lm_head {
        out.push(("lm_head.weight".into(), head.val().transpose()));
    }
    out
}

/// Writes `model` as an HF `model.safetensors` (f32) at `path`, atomically: a temporary file
/// in the same folder is renamed over the target only once complete.
pub fn save_safetensors(model: &T5ForConditionalGeneration, path: &Path) -> Result<()> {
    let tensors = hf_tensors(model).into_iter().map(|(key, tensor)| {
        let shape = if key.ends_with("layer_norm.weight") {
            vec![tensor.dims()[1]]
        } else {
            tensor.dims().to_vec()
        };
        (key, shape, tensor)
    });
    write_f32_safetensors(path, tensors)
}

/// Writes `(key, stored shape, tensor)` triples as an f32 safetensors file (`format: pt`
/// metadata, as PyTorch writes), atomically.
pub fn write_f32_safetensors(
    path: &Path,
    tensors: impl IntoIterator<Item = (String, Vec<usize>, Tensor<2>)>,
) -> Result<()> {
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (key, shape, tensor) in tensors {
        let values = crate::generate::to_host_f32(tensor)?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        buffers.push((key, shape, bytes));
    }
    let views = buffers
        .iter()
        .map(|(key, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (key.clone(), view))
                .map_err(|e| st_error(path, e))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| st_error(path, e))?;
    crate::fsutil::write_atomic(path, &bytes)
}
