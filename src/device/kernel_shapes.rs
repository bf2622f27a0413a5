//! The training batch shapes this machine has compiled GPU kernels for, so a run can say
//! what its first step on a new shape is doing ("preparing GPU kernels … first use on this
//! GPU") and whether the work is cached from an earlier run.
//!
//! A new shape costs seconds on a GPU: CubeCL compiles the fused kernels it needs, tunes
//! the matmuls, and the driver builds pipelines. With the `gpu-cache` build the tuning (and
//! on NVIDIA the driver's pipelines) persist, so the second run on the same shape starts
//! fast. The record is a small text file in [`super::kernel_cache_dir`], one key a line;
//! failing to read or write it changes nothing but the wording of the message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::tensor::Device;

/// The record file's name in the kernel cache folder.
const FILE: &str = "training-shapes.txt";

/// One training batch shape as the record keys it: adapter, model dims, dtype and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeKey(String);

impl ShapeKey {
    /// The key of a `[batch, source_len, target_len]` step of a model whose dims are
    /// summarised by `model` ([`model_dims`]) in `dtype`, on `device`.
    pub fn new(device: &Device, model: &str, dtype: &str, shape: [usize; 3]) -> Self {
        let adapter = adapter_name(device);
        let [batch, source, target] = shape;
        Self(format!(
            "{} | {model} | {dtype} | {batch}x{source}x{target}",
            adapter.replace(['\n', '|'], " ")
        ))
    }

    /// The key of a training step on `shape` of a model with `config`'s dims, trained in
    /// `precision`, with LoRA adapters of `lora_rank` when it has them: the one key a run
    /// looks up and `prepare-gpu` records.
    pub fn training(
        device: &Device,
        config: &crate::model::T5Config,
        precision: crate::model::Precision,
        lora_rank: Option<usize>,
        dropout: bool,
        shape: [usize; 3],
    ) -> Self {
        let variant = training_variant(precision, lora_rank, dropout);
        Self::new(device, &model_dims(config), &variant, shape)
    }

    /// The key as the record writes it: `adapter | dims | dtype | BxSxT`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a run trains, as [`ShapeKey::training`] keys it: its precision, with the LoRA rank when
/// adapters train (`f32`, `f16+lora-r8`): the adapters' products are kernels of their own;
/// and `+dropout` with T5's dropout, whose masks are kernels of their own too.
fn training_variant(
    precision: crate::model::Precision,
    lora_rank: Option<usize>,
    dropout: bool,
) -> String {
    let mut variant = precision.name().to_string();
    if let Some(rank) = lora_rank {
        variant.push_str(&format!("+lora-r{rank}"));
    }
    if dropout {
        variant.push_str("+dropout");
    }
    variant
}

/// A model's dims as [`ShapeKey::new`] takes them: `d512-l8/8-h6-ff1024-v32128`.
pub fn model_dims(c: &crate::model::T5Config) -> String {
    format!(
        "d{}-l{}/{}-h{}-ff{}-v{}",
        c.d_model,
        c.num_layers,
        c.decoder_layers(),
        c.num_heads,
        c.d_ff,
        c.vocab_size
    )
}

/// The adapter's name (`NVIDIA H200`), else the backend's short description.
fn adapter_name(device: &Device) -> String {
    #[cfg(feature = "wgpu")]
    if let Some(identity) = device.identity() {
        return identity.name;
    }
    super::describe(device)
}

/// The shapes recorded on this machine (see the module docs).
#[derive(Debug, Default)]
pub struct ShapeRecord {
    path: Option<PathBuf>,
    known: BTreeSet<String>,
}

impl ShapeRecord {
    /// The record in [`super::kernel_cache_dir`]; empty when it does not exist yet or cannot
    /// be read.
    pub fn open() -> Self {
        Self::in_folder(&super::kernel_cache_dir())
    }

    /// The record in the kernel cache folder `folder`.
    pub fn in_folder(folder: &Path) -> Self {
        Self::at(folder.join(FILE))
    }

    /// The record kept in `path`.
    pub fn at(path: PathBuf) -> Self {
        let known = std::fs::read_to_string(&path)
            .map(|text| text.lines().map(str::to_string).collect())
            .unwrap_or_default();
        Self {
            path: Some(path),
            known,
        }
    }

    /// Whether `key`'s kernels were prepared by an earlier step on this machine.
    pub fn knows(&self, key: &ShapeKey) -> bool {
        self.known.contains(&key.0)
    }

    /// Records `key` (after its first step succeeded). Best effort: a read-only cache
    /// folder only means the next run says "first use" again.
    pub fn remember(&mut self, key: &ShapeKey) {
        if !self.known.insert(key.0.clone()) {
            return;
        }
        let Some(path) = &self.path else {
            return;
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text: String = self.known.iter().map(|k| format!("{k}\n")).collect();
        let _ = crate::fsutil::write_atomic(path, text.as_bytes());
    }
}

/// Whether work on `device` pads a smaller last batch to the full batch size ([`pad_rows`]):
/// on a GPU, where a new batch size is a new shape whose kernels are compiled and tuned on
/// first use (CubeCL's tuning keys round sizes to powers of two, so 3 or 5 rows are keys of
/// their own beside 8), for the few rows a data set's last batch holds. The CPU compiles and
/// tunes nothing, so there the copies would only cost time.
pub fn pads_batches(device: &Device) -> bool {
    !super::is_cpu(device)
}

/// Whether a job of `jobs` items run `batch` at a time on `device` pads its last, smaller
/// batch ([`pads_batches`]), only where a full batch runs too: a job smaller than one batch
/// has one shape anyway.
pub fn pads_last_batch(device: &Device, jobs: usize, batch: usize) -> bool {
    pads_batches(device) && jobs > batch
}

/// `rows`, with copies of its last item appended up to `batch` when `pad` is set (and it has
/// fewer): the caller uses the results of its own rows only (a `zip` with them stops there).
pub fn pad_rows<T: Clone>(mut rows: Vec<T>, batch: usize, pad: bool) -> Vec<T> {
    if let Some(last) = rows.last().filter(|_| pad && rows.len() < batch).cloned() {
        rows.resize(batch, last);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_batch_is_padded_with_its_last_row_only_when_asked() {
        assert_eq!(pad_rows(vec![1, 2, 3], 5, true), vec![1, 2, 3, 3, 3]);
        assert_eq!(pad_rows(vec![1, 2, 3], 5, false), vec![1, 2, 3]);
        assert_eq!(pad_rows(vec![1, 2, 3], 2, true), vec![1, 2, 3]);
        assert_eq!(pad_rows::<u8>(vec![], 4, true), Vec::<u8>::new());
        assert!(!pads_batches(&Device::flex()));
        assert!(!pads_last_batch(&Device::flex(), 9, 4));
    }

    #[test]
    fn a_remembered_shape_is_known_to_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache").join(FILE);
        let device = Device::flex();
        let key = ShapeKey::new(&device, "d512", "f32", [8, 512, 128]);
        let other = ShapeKey::new(&device, "d512", "f32", [8, 256, 128]);
        let mut record = ShapeRecord::at(path.clone());
        assert!(!record.knows(&key));
        record.remember(&key);
        assert!(record.knows(&key));
        let reopened = ShapeRecord::at(path);
        assert!(reopened.knows(&key));
        assert!(!reopened.knows(&other));
    }

    #[test]
    fn an_unwritable_folder_loses_only_the_record() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be: nothing can be written below it.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "x").unwrap();
        let mut record = ShapeRecord::at(blocker.join(FILE));
        let key = ShapeKey::new(&Device::flex(), "d512", "f32", [1, 2, 3]);
        record.remember(&key);
        assert!(record.knows(&key));
        assert!(!ShapeRecord::at(blocker.join(FILE)).knows(&key));
    }
}
