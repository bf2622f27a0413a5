//! Safetensors checkpoints (single file or sharded) -> a [`T5ForConditionalGeneration`], and
//! back (HF export). The key names come from [`super::keys::walk`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use super::config::T5Config;
use super::keys::{walk, Weight};
use super::t5::T5ForConditionalGeneration;
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

/// `[rows, cols]` values, row-major, transposed to `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = values[r * cols + c];
        }
    }
    t
}

/// Builds the model from the checkpoint tensors; missing, misshapen or unused keys fail by name.
pub fn load_model(
    reader: &mut WeightReader,
    config: &T5Config,
    device: &Device,
) -> Result<T5ForConditionalGeneration> {
    // Validated on load already; checked again so a bad config never builds a ReLU model.
    config.feed_forward().map_err(MixtuneError::Input)?;
    let mut model = T5ForConditionalGeneration::new(config, device);
    walk(&mut model, &mut |path, weight| {
        let key = format!("{path}.weight");
        match weight {
            Weight::Vector(param) => {
                let shape = param.lazy_shape().dims::<1>();
                let values = reader.read(&key, &shape)?;
                *param =
                    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device));
            }
            Weight::Matrix(param) => {
                let shape = param.lazy_shape().dims::<2>();
                let values = reader.read(&key, &shape)?;
                *param =
                    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device));
            }
            Weight::TransposedMatrix(param) => {
                *param = read_transposed(reader, &key, param, device)?
            }
            Weight::Linear(linear) => {
                linear.weight = read_transposed(reader, &key, &linear.weight, device)?
            }
        }
        Ok(())
    })?;
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
    Ok(model)
}

/// Reads `key`, stored `[out, in]`, into a parameter shaped `[in, out]` like `like`.
fn read_transposed(
    reader: &mut WeightReader,
    key: &str,
    like: &Param<Tensor<2>>,
    device: &Device,
) -> Result<Param<Tensor<2>>> {
    let [d_in, d_out] = like.lazy_shape().dims::<2>();
    let values = reader.read(key, &[d_out, d_in])?;
    let values = transpose(&values, d_out, d_in);
    Ok(Param::from_tensor(Tensor::from_data(
        TensorData::new(values, [d_in, d_out]),
        device,
    )))
}

/// Every tensor of `model` under its HF checkpoint key, in HF's layout (`[out, in]` for
/// linear weights) with its stored shape: what [`save_safetensors`] writes and HF
/// transformers loads.
pub fn hf_tensors(model: &T5ForConditionalGeneration) -> Vec<(String, Vec<usize>, Tensor<2>)> {
    let mut out = Vec::new();
    // Cloning a module clones tensor handles, not their data.
    let mut model = model.clone();
    let walked = walk(&mut model, &mut |path, weight| {
        let key = format!("{path}.weight");
        let tensor: Tensor<2> = match weight {
            Weight::Vector(param) => {
                let value = param.val();
                let shape = value.dims().to_vec();
                out.push((key, shape, value.unsqueeze::<2>()));
                return Ok(());
            }
            Weight::Matrix(param) => param.val(),
            Weight::TransposedMatrix(param) => param.val().transpose(),
            Weight::Linear(linear) => linear.weight.val().transpose(),
        };
        out.push((key, tensor.dims().to_vec(), tensor));
        Ok(())
    });
    debug_assert!(walked.is_ok(), "this visitor does not fail");
    out
}

/// Writes `model` as an HF `model.safetensors` (f32) at `path`, atomically: a temporary file
/// in the same folder is renamed over the target only once complete.
pub fn save_safetensors(model: &T5ForConditionalGeneration, path: &Path) -> Result<()> {
    write_f32_safetensors(path, hf_tensors(model))
}

/// Writes `(key, stored shape, tensor)` triples as an f32 safetensors file (`format: pt`
/// metadata, as PyTorch writes), atomically.
pub fn write_f32_safetensors(
    path: &Path,
    tensors: impl IntoIterator<Item = (String, Vec<usize>, Tensor<2>)>,
) -> Result<()> {
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (key, shape, tensor) in tensors {
        let values = super::to_host_f32(tensor)?;
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
