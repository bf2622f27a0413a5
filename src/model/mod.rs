//! The T5 / Flan-T5 model in Burn: config, layers, attention, stacks, checkpoint loading.

pub mod attention;
pub mod config;
pub mod cpu_gemm;
pub mod defaults;
pub mod dropout;
pub mod export;
pub mod flops;
pub mod keys;
pub mod layers;
pub mod loader;
pub mod packed_projections;
pub mod precision;
pub mod t5;
pub mod thread_current;
pub mod weights;

pub use config::T5Config;
pub use defaults::GenerationDefaults;
pub use loader::{load_pretrained, resolve_model_dir, Pretrained};
pub use precision::Precision;
pub use t5::{check_precision, to_precision, T5ForConditionalGeneration};

use burn::tensor::{Int, Tensor};

use crate::device::profile::count_host_read;
use crate::error::{MixtuneError, Result};

/// Reads a tensor's values to the host (one device sync), turning backend failures into
/// errors.
pub fn to_host_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    count_host_read();
    t.try_into_data()
        .map_err(|e| MixtuneError::Backend(e.to_string()))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| MixtuneError::Backend(format!("{e:?}")))
}

/// Reads token ids to the host (one device sync).
pub fn to_host_ids<const D: usize>(ids: Tensor<D, Int>) -> Result<Vec<u32>> {
    count_host_read();
    let values = ids
        .try_into_data()
        .map_err(|e| MixtuneError::Backend(e.to_string()))?
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| MixtuneError::Backend(format!("{e:?}")))?;
    Ok(values.into_iter().map(|id| id as u32).collect())
}
