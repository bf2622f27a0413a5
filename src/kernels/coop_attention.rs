//! `shaders/coop_attention_*.wgsl`: the training attention kernels (forward, dq, dkv) with
//! their products on the GPU's cooperative matrices (tensor cores), for f16 query, keys and
//! values with head size 64. They take the scalar kernels' bindings, `info` and outputs, so
//! `wgsl.rs` launches one or the other with the same arguments; [`CoopAttention::fits`] says
//! whether an adapter takes them (`kernels::attention_coop_shape` decides per call).

use burn_cubecl::cubecl::prelude::{CubeDim, ExecutionMode, KernelId};
use burn_cubecl::template::{KernelSource, SourceTemplate};

use super::coop_matmul::CoopShape;
use super::wgsl::text_hash;

/// Head size the kernels take (`D` in the shaders): every T5 and Flan-T5 size.
pub const HEAD_DIM: usize = 64;
/// Subgroups per workgroup, each owning `tile` rows of the block.
const SUBGROUPS: u32 = 4;
/// Keys per step of the forward (a tile of D keys).
const FORWARD_COLS: u32 = 64;
/// Keys (dq) or queries (dkv) per step of the backward kernels, which stage more per step.
const BACKWARD_COLS: u32 = 32;

/// One of the three kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pass {
    /// `coop_attention_forward.wgsl`: output and row log-sum-exp.
    Forward,
    /// `coop_attention_backward_dq.wgsl`: score and query gradients.
    BackwardDq,
    /// `coop_attention_backward_dkv.wgsl`: key and value gradients.
    BackwardDkv,
}

impl Pass {
    /// All three, in launch order.
    pub const ALL: [Pass; 3] = [Pass::Forward, Pass::BackwardDq, Pass::BackwardDkv];

    /// The shader's text: the extensions it needs, `shaders/prelude.wgsl`,
    /// `attention_dropout.wgsl` (the dropout draws, as the scalar kernels'),
    /// `coop_attention_tiles.wgsl` (the tiling the three share), then the kernel.
    fn text(self) -> &'static str {
        macro_rules! shader {
            ($file:literal) => {
                concat!(
                    "enable f16;\nenable wgpu_cooperative_matrix;\n",
                    include_str!("../../shaders/prelude.wgsl"),
                    include_str!("../../shaders/attention_dropout.wgsl"),
                    include_str!("../../shaders/coop_attention_tiles.wgsl"),
                    include_str!(concat!("../../shaders/", $file))
                )
            };
        }
        match self {
            Pass::Forward => shader!("coop_attention_forward.wgsl"),
            Pass::BackwardDq => shader!("coop_attention_backward_dq.wgsl"),
            Pass::BackwardDkv => shader!("coop_attention_backward_dkv.wgsl"),
        }
    }

    fn cols(self) -> u32 {
        match self {
            Pass::Forward => FORWARD_COLS,
            _ => BACKWARD_COLS,
        }
    }
}

/// One of the kernels for an adapter's cooperative-matrix shape.
#[derive(Debug, Clone, Copy)]
pub struct CoopAttention {
    pub pass: Pass,
    pub shape: CoopShape,
}

impl CoopAttention {
    /// Threads of a workgroup: four subgroups (`SUBGROUPS`).
    pub fn workgroup_size(&self) -> u32 {
        SUBGROUPS * self.shape.subgroup
    }

    /// Rows (queries, or keys for dkv) a workgroup owns.
    pub fn rows(&self) -> usize {
        Self::rows_of(self.shape)
    }

    /// Rows a workgroup owns on an adapter of cooperative-matrix `shape` (all three kernels).
    pub fn rows_of(shape: CoopShape) -> usize {
        (SUBGROUPS * shape.tile) as usize
    }

    /// Workgroup memory the kernel declares, in bytes (as the shader's `var<workgroup>`s).
    pub fn shared_bytes(&self) -> usize {
        let (br, cols, d) = (self.rows(), self.pass.cols() as usize, HEAD_DIM);
        let lanes = self.workgroup_size() as usize;
        // Row pitches: `HP`, `CP`, `SP`, `FP` in `coop_attention_tiles.wgsl` (16 bytes of
        // padding per row).
        let (hp, cp, sp, fp) = (d + 8, cols + 8, cols + 4, d + 4);
        let halves = |n: usize| 2 * n;
        let floats = |n: usize| 4 * n;
        match self.pass {
            Pass::Forward => halves(br * hp + 2 * cols * hp) + floats(br * fp) + floats(2 * lanes),
            Pass::BackwardDq => halves(2 * br * hp + 2 * cols * hp) + floats(2 * br * sp),
            Pass::BackwardDkv => halves(br * hp + br * cp + 2 * cols * hp) + floats(br * sp),
        }
    }

    /// The workgroup memory the largest of the three kernels needs on an adapter of
    /// cooperative-matrix `shape`, in bytes.
    pub fn needed_bytes(shape: CoopShape) -> usize {
        Pass::ALL
            .iter()
            .map(|&pass| CoopAttention { pass, shape }.shared_bytes())
            .max()
            .unwrap_or(0)
    }

    /// Whether an adapter with cooperative-matrix `shape`, `max_shared_bytes` of workgroup
    /// memory and `max_storage_buffers` bindings takes all three kernels: a subgroup a whole
    /// number of tile rows (its lanes share the rows in the softmax), and the memory and
    /// bindings (the dq kernel binds nine buffers) they need.
    pub fn fits(shape: CoopShape, max_shared_bytes: usize, max_storage_buffers: u32) -> bool {
        shape.subgroup >= shape.tile
            && shape.subgroup.is_multiple_of(shape.tile)
            && max_storage_buffers >= 9
            && Self::needed_bytes(shape) <= max_shared_bytes
    }

    /// The shader as the device compiles it (for checks of the text itself, e.g. by naga).
    pub fn filled(&self) -> String {
        self.source().complete()
    }
}

impl KernelSource for CoopAttention {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(self.pass.text())
            .register("t", self.shape.tile.to_string())
            .register("subgroup_size", self.shape.subgroup.to_string())
            .register("subgroups", SUBGROUPS.to_string())
            .register("cols", self.pass.cols().to_string())
    }

    fn id(&self) -> KernelId {
        // Unchecked, as the other kernels: every global index is guarded in the shader.
        KernelId::new::<Self>()
            .cube_dim(CubeDim::new_1d(self.workgroup_size()).0)
            .mode(ExecutionMode::Unchecked)
            .info((
                self.pass,
                text_hash(self.pass.text()),
                self.shape.tile,
                self.shape.subgroup,
            ))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workgroup_memory_matches_the_shaders_and_fits_nvidia_and_lavapipe() {
        let nvidia = CoopShape {
            tile: 16,
            subgroup: 32,
        };
        let lavapipe = CoopShape {
            tile: 8,
            subgroup: 8,
        };
        // At tile 16: 64-row blocks, rows padded by 16 bytes. Forward: queries/P 64 × 72
        // halves, keys and values 2 × 64 × 72, scores 64 × 68 floats, row partials 2 × 128.
        let forward = CoopAttention {
            pass: Pass::Forward,
            shape: nvidia,
        };
        assert_eq!(forward.shared_bytes(), 9216 + 18432 + 17408 + 1024);
        let dq = CoopAttention {
            pass: Pass::BackwardDq,
            shape: nvidia,
        };
        assert_eq!(dq.shared_bytes(), 18432 + 9216 + 18432);
        assert_eq!(CoopAttention::needed_bytes(nvidia), forward.shared_bytes());
        assert!(CoopAttention::fits(nvidia, 48 * 1024, 9));
        assert!(CoopAttention::fits(lavapipe, 32 * 1024, 9));
        assert!(!CoopAttention::fits(nvidia, 32 * 1024, 9));
        assert!(!CoopAttention::fits(nvidia, 48 * 1024, 8));
        // A subgroup smaller than a tile row cannot share its rows.
        let narrow = CoopShape {
            tile: 16,
            subgroup: 8,
        };
        assert!(!CoopAttention::fits(narrow, 1 << 20, 9));
    }
}
