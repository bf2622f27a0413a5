//! `shaders/tiled_matmul.wgsl`: f32 matrix products on the GPU's scalar cores, register-tiled
//! (128 × 128 outputs a workgroup, 8 × 8 a thread; or 64 × 64, 4 × 4; or K split among
//! workgroups, whose partial sums `split_k` adds), the alternatives to Burn's
//! f32 matmul for the products where one measures faster on the adapter
//! (`kernels::product_plan`; `MIXTUNE_F32_GEMM=1` the 128-wide one always, `=0` none).

use burn::tensor::DType;
use burn_cubecl::cubecl::prelude::{CubeDim, ExecutionMode, KernelId};
use burn_cubecl::template::{KernelSource, SourceTemplate};
use burn_cubecl::tensor::CubeTensor;

use super::coop_matmul::operand;
use super::split_k;
use super::wgsl::{dispatch, empty_as, text_hash};

/// Outputs per side of a workgroup's block.
pub const BLOCK: usize = 128;
/// The same, for the narrow variant.
pub const NARROW_BLOCK: usize = 64;
/// Threads of a workgroup (16 × 16).
const THREADS: u32 = 256;
/// K per stage: a split's share of K is a multiple of it.
const STAGE: usize = 16;
/// Workgroups a split product aims for: about two per compute unit of a large GPU (an H100 or
/// H200 has 132); a smaller GPU loses only the adding of the parts.
const SPLIT_TARGET: usize = 256;
/// How many parts to split the K of a `dims` `[m, k, n]` product among, over 128-wide blocks:
/// enough for [`SPLIT_TARGET`] workgroups where its blocks alone are fewer (see
/// [`split_k::parts_for`]); `None`: no split.
pub fn split_k_parts(dims: [usize; 3]) -> Option<usize> {
    split_k::parts_for(dims, BLOCK, SPLIT_TARGET)
}

/// The shader's text: `shaders/prelude.wgsl`, `staged_pieces.wgsl` (what it shares with the
/// staged cooperative-matrix kernel), then the kernel.
pub fn shader_text() -> &'static str {
    concat!(
        include_str!("../../shaders/prelude.wgsl"),
        include_str!("../../shaders/staged_pieces.wgsl"),
        include_str!("../../shaders/tiled_matmul.wgsl")
    )
}

/// The kernel for one operand layout (row- or column-major A and B) and block size.
#[derive(Debug, Clone, Copy)]
struct TiledMatmulKernel {
    a_row_major: bool,
    b_row_major: bool,
    block: usize,
}

impl KernelSource for TiledMatmulKernel {
    fn source(&self) -> SourceTemplate {
        template(*self, SourceTemplate::new(shader_text()))
    }

    fn id(&self) -> KernelId {
        // Unchecked, as the other kernels (`wgsl.rs`): every load stays in bounds by
        // construction (the host checks the shapes).
        KernelId::new::<Self>()
            .cube_dim(CubeDim::new_1d(THREADS).0)
            .mode(ExecutionMode::Unchecked)
            .info((
                text_hash(shader_text()),
                self.a_row_major,
                self.b_row_major,
                self.block,
            ))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

fn template(kernel: TiledMatmulKernel, source: SourceTemplate) -> SourceTemplate {
    source
        .register("a_row_major", kernel.a_row_major.to_string())
        .register("b_row_major", kernel.b_row_major.to_string())
        .register("block", kernel.block.to_string())
        .register("piece", "vec4<f32>")
}

/// The shader as the device compiles it for the given layouts and block size (128 or 64;
/// for checks of the text itself, e.g. by naga in the parity tests).
pub fn filled_tiled_shader(a_row_major: bool, b_row_major: bool, block: usize) -> String {
    let kernel = TiledMatmulKernel {
        a_row_major,
        b_row_major,
        block,
    };
    template(kernel, SourceTemplate::new(shader_text())).complete()
}

/// `a · b` for f32 `a` `[M, K]` and `b` `[K, N]` (M, N and K multiples of 4, which
/// `kernels::tiled_f32_products` checks) in blocks of `block` (128 or 64) outputs a side, K
/// split among `parts` workgroups a block (1: none; the split's partial sums are then added
/// by a second kernel): a new `[M, N]` f32 tensor. Operands are read in place when row- or
/// column-major with a leading stride that is a multiple of 8 (a transposed view is
/// column-major), else copied to rows first.
pub(super) fn matmul(a: CubeTensor, b: CubeTensor, block: usize, parts: usize) -> CubeTensor {
    let (m, k) = (a.meta.shape()[0], a.meta.shape()[1]);
    let n = b.meta.shape()[1];
    let (a, a_row_major, lda) = operand(a);
    let (b, b_row_major, ldb) = operand(b);
    let (share, parts) = if parts > 1 {
        split_k::split(k, parts, STAGE)
    } else {
        (k, 1)
    };
    let out = empty_as(&a, [parts * m, n], DType::F32);
    dispatch(
        TiledMatmulKernel {
            a_row_major,
            b_row_major,
            block,
        },
        THREADS,
        (n.div_ceil(block), m.div_ceil(block) * parts),
        &[&a, &b],
        &[&out],
        vec![
            m as u32,
            n as u32,
            k as u32,
            if parts > 1 { share as u32 } else { 0 },
            lda,
            ldb,
            n as u32,
            0,
        ],
    );
    if parts == 1 {
        return out;
    }
    split_k::sum_parts(&out, [m, n], parts, DType::F32)
}
