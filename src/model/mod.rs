//! The T5 / Flan-T5 model in Burn: config, layers, attention, stacks, checkpoint loading.

pub mod attention;
pub mod config;
pub mod defaults;
pub mod export;
pub mod flops;
pub mod layers;
pub mod loader;
pub mod precision;
pub mod t5;
pub mod weights;

pub use config::T5Config;
pub use defaults::GenerationDefaults;
pub use loader::{load_pretrained, resolve_model_dir, Pretrained};
pub use precision::{to_precision, Precision};
pub use t5::T5ForConditionalGeneration;

use std::cell::Cell;

use burn::tensor::{Int, Tensor};

use crate::error::{MixtuneError, Result};

thread_local! {
    /// Host reads of device data made by this thread (each is a sync): what
    /// `mixtune bench --profile` reports per step. Per thread, so concurrent work elsewhere
    /// in the process does not count.
    static HOST_READS: Cell<usize> = const { Cell::new(0) };
}

/// Host reads of device data made by this thread so far.
pub fn host_reads() -> usize {
    HOST_READS.with(Cell::get)
}

/// Counts one host read (for reads made outside [`to_host_f32`] / [`to_host_ids`]).
pub fn count_host_read() {
    HOST_READS.with(|reads| reads.set(reads.get() + 1));
}

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
