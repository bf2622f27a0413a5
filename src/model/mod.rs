//! The T5 / Flan-T5 model in Burn: config, layers, attention, stacks, checkpoint loading.

pub mod attention;
pub mod config;
pub mod defaults;
pub mod export;
pub mod layers;
pub mod loader;
pub mod t5;
pub mod weights;

pub use config::T5Config;
pub use defaults::GenerationDefaults;
pub use loader::{load_pretrained, resolve_model_dir, Pretrained};
pub use t5::T5ForConditionalGeneration;

use burn::tensor::Tensor;

use crate::error::{MixtuneError, Result};

/// Reads a tensor's values to the host (one device sync), turning backend failures into
/// errors.
pub fn to_host_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| MixtuneError::Backend(format!("{e:?}")))
}
