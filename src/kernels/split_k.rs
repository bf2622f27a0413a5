//! Splitting a matrix product's K among workgroups: how many parts a product takes, each
//! part's share of K, and `shaders/sum_parts.wgsl`, which adds the parts' f32 partial sums
//! (into f32, or f16 rounded once). Shared by the tiled f32 kernel and the direct
//! cooperative-matrix one (their `split_k_parts`), whose split variants write one `[M, N]` of
//! partial sums per part.

use burn::tensor::DType;
use burn_cubecl::cubecl::prelude::{CubeDim, ExecutionMode, KernelId};
use burn_cubecl::template::{KernelSource, SourceTemplate};
use burn_cubecl::tensor::CubeTensor;

use super::wgsl::{dispatch, empty_as, text_hash};

/// Threads of the sum's workgroup.
const THREADS: u32 = 256;
/// The least K one part of a split product walks (16 stages), so its start and end stay a
/// small part of its work.
const SPLIT_MIN_SHARE: usize = 256;
/// The most parts (their sums are written and read back: parts · M · N floats).
const SPLIT_MAX_PARTS: usize = 16;

/// How many parts to split the K of a `dims` `[m, k, n]` product among, over blocks of
/// `block` outputs a side: enough for `target` workgroups where its blocks alone are fewer,
/// each part at least [`SPLIT_MIN_SHARE`] of K, at most [`SPLIT_MAX_PARTS`]; `None` where
/// that is fewer than two (no split) or where the parts' sums (parts · M · N floats) would
/// not be indexable in 32 bits.
pub(super) fn parts_for([m, k, n]: [usize; 3], block: usize, target: usize) -> Option<usize> {
    let blocks = m.div_ceil(block) * n.div_ceil(block);
    let parts = target
        .div_ceil(blocks.max(1))
        .min(k / SPLIT_MIN_SHARE)
        .min(SPLIT_MAX_PARTS);
    (parts >= 2 && parts * m * n < (1 << 31)).then_some(parts)
}

/// Each part's share of `k` split among `parts`, a whole number of `step`s, and how many parts
/// then have K to walk (with the share rounded up, maybe fewer than asked).
pub(super) fn split(k: usize, parts: usize, step: usize) -> (usize, usize) {
    let share = k.div_ceil(parts.max(1)).div_ceil(step) * step;
    (share, k.div_ceil(share))
}

/// `shaders/sum_parts.wgsl`'s text, after the prelude.
pub fn sum_parts_text() -> &'static str {
    concat!(
        include_str!("../../shaders/prelude.wgsl"),
        include_str!("../../shaders/sum_parts.wgsl")
    )
}

/// `shaders/sum_parts.wgsl` as the device compiles it, with an f16 (`half`) or f32 output
/// (for checks of the text itself).
pub fn filled_sum_parts_shader(half: bool) -> String {
    SumPartsKernel { half }.source().complete()
}

/// The kernel adding a split product's partial sums, into f16 (`half`) or f32.
#[derive(Debug, Clone, Copy)]
struct SumPartsKernel {
    half: bool,
}

impl KernelSource for SumPartsKernel {
    fn source(&self) -> SourceTemplate {
        let enable = if self.half { "enable f16;\n" } else { "" };
        SourceTemplate::new(format!("{enable}{}", sum_parts_text()))
            .register("out", if self.half { "f16" } else { "f32" })
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
            .cube_dim(CubeDim::new_1d(THREADS).0)
            .mode(ExecutionMode::Unchecked)
            .info((text_hash(sum_parts_text()), self.half))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The `parts` f32 partial sums `[parts · m, n]` of a split product added up
/// (`shaders/sum_parts.wgsl`): a new `[m, n]` tensor in `dtype` (f32, or f16 rounded once).
pub(super) fn sum_parts(
    partial: &CubeTensor,
    [m, n]: [usize; 2],
    parts: usize,
    dtype: DType,
) -> CubeTensor {
    let sum = empty_as(partial, [m, n], dtype);
    let slots = (m * n / 4).div_ceil(THREADS as usize);
    let x = slots.clamp(1, 65_535);
    dispatch(
        SumPartsKernel {
            half: dtype == DType::F16,
        },
        THREADS,
        (x, slots.div_ceil(x)),
        &[partial],
        &[&sum],
        vec![(m * n) as u32, parts as u32, 0, 0],
    );
    sum
}
