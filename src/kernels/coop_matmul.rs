//! `shaders/coop_matmul.wgsl` and `coop_matmul_staged.wgsl`: f16 matrix products on the GPU's
//! cooperative matrices (tensor cores), through the standard WGSL build.
//!
//! wgpu exposes cooperative matrices to WGSL (`enable wgpu_cooperative_matrix;`, naga
//! lowers them to `VK_KHR_cooperative_matrix` or Metal's simdgroup matrices) where the adapter
//! multiplies some square shape. Burn's WGSL matmul does not use them, which is why its f16
//! GEMMs top at ~27 TFLOP/s on an H200 against cuBLAS's ~600. [`adapter_shape`] asks wgpu, once
//! per adapter, for a 16 × 16 or 8 × 8 f16 × f16 → f32 shape (NVIDIA: 16; Mesa 26's lavapipe:
//! 8) and the adapter's subgroup size; the kernels then run on those, once [`passes`] has
//! recorded their self-check (`kernels::device_coop_shape`).

use std::sync::Mutex;

use burn::cubecl::wgpu::wgpu;
use burn::tensor::DType;
use burn_cubecl::cubecl::prelude::{CubeDim, ExecutionMode, KernelId};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::template::{KernelSource, SourceTemplate};
use burn_cubecl::tensor::CubeTensor;

use super::split_k;
use super::wgsl::{dispatch, empty_as, text_hash};

/// A cooperative-matrix shape an adapter multiplies (`tile` × `tile` f16 tiles summed in
/// f32) and its subgroup size, the kernel's workgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoopShape {
    /// 16 or 8.
    pub tile: u32,
    /// Threads of a subgroup (NVIDIA: 32; lavapipe: 8).
    pub subgroup: u32,
}

/// Tiles per side of the block one subgroup computes (4 × 4 tiles: 64 × 64 outputs at tile
/// 16), the shaders' `TILES`.
const BLOCK_TILES: u32 = 4;

/// Workgroups (one subgroup each) a split product of `coop_matmul.wgsl` aims for: about
/// eight subgroups per compute unit of a large GPU (an H100 or H200 has 132), so that
/// its four tensor-core units have work while loads wait.
const SPLIT_TARGET: usize = 1024;

/// How many parts to split the K of a `dims` `[m, k, n]` f16 product on `shape`'s direct
/// kernel among: enough for [`SPLIT_TARGET`] subgroups where its blocks alone are fewer,
/// each part at least 256 of K (`split_k::parts_for`); `None`: no split.
pub fn split_k_parts(shape: CoopShape, dims: [usize; 3]) -> Option<usize> {
    split_k::parts_for(dims, shape.block(), SPLIT_TARGET)
}

impl CoopShape {
    /// Rows (and columns) of the block one subgroup computes: `coop_matmul.wgsl`'s workgroup
    /// (the staged kernel's has 2 × 2 of them).
    pub fn block(self) -> usize {
        (BLOCK_TILES * self.tile) as usize
    }

    /// Whether `coop_matmul_staged.wgsl` runs on this shape: each of its stages is
    /// `16 · tile` pieces of four elements per operand, which its `4 · subgroup` threads must
    /// share evenly (NVIDIA's 16 and 32: 8 each; lavapipe's 8 and 8: 16).
    pub fn stages_evenly(self) -> bool {
        (16 * self.tile).is_multiple_of(self.subgroup)
    }
}

/// The shader's text: the extensions it needs, `shaders/prelude.wgsl`, `coop_tiles.wgsl` (what
/// the two kernels share), then the kernel (`coop_matmul.wgsl`, or with `staged`
/// `staged_pieces.wgsl` and `coop_matmul_staged.wgsl`).
pub fn shader_text(staged: bool) -> &'static str {
    macro_rules! shader {
        ($($file:literal),+) => {
            concat!(
                "enable f16;\nenable wgpu_cooperative_matrix;\n",
                include_str!("../../shaders/prelude.wgsl"),
                include_str!("../../shaders/coop_tiles.wgsl"),
                $(include_str!(concat!("../../shaders/", $file))),+
            )
        };
    }
    if staged {
        shader!("staged_pieces.wgsl", "coop_matmul_staged.wgsl")
    } else {
        shader!("coop_matmul.wgsl")
    }
}

/// The kernel for one shape, variant and operand layout (row- or column-major A and B);
/// `split`: the direct kernel writing a split product's f32 partial sums.
#[derive(Debug, Clone, Copy)]
struct CoopMatmulKernel {
    shape: CoopShape,
    staged: bool,
    a_row_major: bool,
    b_row_major: bool,
    split: bool,
}

impl CoopMatmulKernel {
    /// Threads of a workgroup: one subgroup, or four staged.
    fn workgroup_size(&self) -> u32 {
        if self.staged {
            4 * self.shape.subgroup
        } else {
            self.shape.subgroup
        }
    }

    /// Rows (and columns) of C a workgroup computes.
    fn block(&self) -> usize {
        if self.staged {
            2 * self.shape.block()
        } else {
            self.shape.block()
        }
    }
}

impl KernelSource for CoopMatmulKernel {
    fn source(&self) -> SourceTemplate {
        template(*self, SourceTemplate::new(shader_text(self.staged)))
    }

    fn id(&self) -> KernelId {
        // Unchecked, as the other kernels (`wgsl.rs`): no loop bounding by naga; every load
        // stays in bounds by construction (the host checks the shapes).
        KernelId::new::<Self>()
            .cube_dim(CubeDim::new_1d(self.workgroup_size()).0)
            .mode(ExecutionMode::Unchecked)
            .info((
                text_hash(shader_text(self.staged)),
                self.shape.tile,
                self.shape.subgroup,
                self.staged,
                self.a_row_major,
                self.b_row_major,
                self.split,
            ))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The shader's template values filled into `source`.
fn template(kernel: CoopMatmulKernel, source: SourceTemplate) -> SourceTemplate {
    source
        .register("t", kernel.shape.tile.to_string())
        .register("tiles", BLOCK_TILES.to_string())
        .register("workgroup_size", kernel.workgroup_size().to_string())
        .register("subgroup_size", kernel.shape.subgroup.to_string())
        .register("a_row_major", kernel.a_row_major.to_string())
        .register("b_row_major", kernel.b_row_major.to_string())
        .register("piece", "vec4<f16>")
        .register("out", if kernel.split { "f32" } else { "f16" })
}

/// The shader as the device compiles it for `shape`, the variant (`split`: the direct one's
/// partial sums) and the given layouts (for checks of the text itself, e.g. by naga in the
/// parity tests).
pub fn filled_shader(
    shape: CoopShape,
    staged: bool,
    split: bool,
    a_row_major: bool,
    b_row_major: bool,
) -> String {
    let kernel = CoopMatmulKernel {
        shape,
        staged,
        a_row_major,
        b_row_major,
        split: split && !staged,
    };
    template(kernel, SourceTemplate::new(shader_text(staged))).complete()
}

/// `a · b` for f16 `a` `[M, K]` and `b` `[K, N]` (M, N and K whole numbers of `shape.tile`,
/// which `kernels::coop_matmul_shape` checks): a new `[M, N]` f16 tensor, summed in f32, by
/// `coop_matmul.wgsl` or (`staged`, where [`CoopShape::stages_evenly`]) the staged kernel;
/// the direct one with K split among `parts` subgroups a block where `parts` > 1 (their f32
/// partial sums added, then rounded, by `sum_parts.wgsl`). Operands are read in place when
/// row- or column-major (a transposed view is the latter).
pub(super) fn matmul(
    a: CubeTensor,
    b: CubeTensor,
    shape: CoopShape,
    staged: bool,
    parts: usize,
) -> CubeTensor {
    let staged = staged && shape.stages_evenly();
    let (m, k) = (a.meta.shape()[0], a.meta.shape()[1]);
    let n = b.meta.shape()[1];
    let (a, a_row_major, lda) = operand(a);
    let (b, b_row_major, ldb) = operand(b);
    let (share, parts) = if parts > 1 && !staged {
        split_k::split(k, parts, shape.tile as usize)
    } else {
        (k, 1)
    };
    let split = parts > 1;
    let dtype = if split { DType::F32 } else { DType::F16 };
    let out = empty_as(&a, [parts * m, n], dtype);
    let kernel = CoopMatmulKernel {
        shape,
        staged,
        a_row_major,
        b_row_major,
        split,
    };
    let block = kernel.block();
    dispatch(
        kernel,
        kernel.workgroup_size(),
        (n.div_ceil(block), m.div_ceil(block) * parts),
        &[&a, &b],
        &[&out],
        vec![
            m as u32,
            n as u32,
            k as u32,
            if split { share as u32 } else { 0 },
            lda,
            ldb,
            n as u32,
            0,
        ],
    );
    if !split {
        return out;
    }
    split_k::sum_parts(&out, [m, n], parts, DType::F16)
}

/// A 2-D f16 operand as the kernel reads it: itself when row-major or column-major with the
/// other stride a multiple of 8 elements (cooperative loads want rows aligned to 16 bytes;
/// the staged kernel reads four elements at a time), else a contiguous copy; whether it is
/// row-major, and its leading stride.
pub(super) fn operand(tensor: CubeTensor) -> (CubeTensor, bool, u32) {
    let strides = tensor.meta.strides().to_vec();
    let shape = tensor.meta.shape().clone();
    let aligned = |stride: usize| stride.is_multiple_of(8);
    if !tensor.meta.is_tiled() {
        if (strides[1] == 1 || shape[1] == 1) && aligned(strides[0]) {
            return (tensor, true, strides[0] as u32);
        }
        if (strides[0] == 1 || shape[0] == 1) && aligned(strides[1]) {
            return (tensor, false, strides[1] as u32);
        }
    }
    let tensor = into_contiguous(tensor);
    let lda = shape[1] as u32;
    (tensor, true, lda)
}

/// What wgpu reports for the adapter named `name` (as `Device::identity` names it): the
/// largest square f16 × f16 → f32 cooperative-matrix shape (16, else 8) and a fixed subgroup
/// size, or `None` without the features (cooperative matrices, f16, subgroups), with neither
/// shape, or with a subgroup size that varies (the kernel's workgroup must be exactly one
/// subgroup). Asked once per adapter.
pub fn adapter_shape(name: &str) -> Option<CoopShape> {
    static SEEN: Mutex<Vec<(String, Option<CoopShape>)>> = Mutex::new(Vec::new());
    remembered(&SEEN, name, || probe(name))
}

/// The driver wgpu reports for the adapter named `name` (its name and version, e.g. `NVIDIA
/// 560.35.03`, `llvmpipe Mesa 22.3.6 (LLVM 15.0.6)`), `None` where wgpu does not find the
/// adapter or it names no driver. Asked once per adapter.
pub fn adapter_driver(name: &str) -> Option<String> {
    static SEEN: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());
    remembered(&SEEN, name, || {
        let info = find_adapter(name)?.get_info();
        let driver = format!("{} {}", info.driver.trim(), info.driver_info.trim());
        Some(driver.trim().to_string()).filter(|driver| !driver.is_empty())
    })
}

/// Whether the adapter named `name` passed `check` (run the first time only).
pub(super) fn passes(name: &str, check: impl FnOnce() -> bool) -> bool {
    static CHECKED: Mutex<Vec<(String, bool)>> = Mutex::new(Vec::new());
    remembered(&CHECKED, name, check)
}

/// `answer()`, computed the first time `key` is asked of `cache` and remembered there. The
/// cache is unlocked while it runs (the self-check launches kernels, which may ask again), so
/// a second caller racing the first may compute it again, with the same answer.
fn remembered<T: Clone>(
    cache: &Mutex<Vec<(String, T)>>,
    key: &str,
    answer: impl FnOnce() -> T,
) -> T {
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if let Some((_, known)) = lock().iter().find(|(seen, _)| seen == key) {
        return known.clone();
    }
    let known = answer();
    lock().push((key.to_string(), known.clone()));
    known
}

/// The wgpu adapter named `name`, through a fresh instance (Burn does not expose its
/// adapter).
fn find_adapter(name: &str) -> Option<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters =
        burn::cubecl::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .into_iter()
        .find(|adapter| adapter.get_info().name == name)
}

/// [`adapter_shape`]'s question to wgpu.
fn probe(name: &str) -> Option<CoopShape> {
    let adapter = find_adapter(name)?;
    let info = adapter.get_info();
    if !adapter.features().contains(
        wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
            | wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP,
    ) || info.subgroup_min_size != info.subgroup_max_size
        || info.subgroup_max_size == 0
    {
        return None;
    }
    let properties = adapter.cooperative_matrix_properties();
    let tile = [16, 8].into_iter().find(|&size| {
        properties.iter().any(|p| {
            p.m_size == size
                && p.n_size == size
                && p.k_size == size
                && p.ab_type == wgpu::CooperativeScalarType::F16
                && p.cr_type == wgpu::CooperativeScalarType::F32
        })
    })?;
    Some(CoopShape {
        tile,
        subgroup: info.subgroup_max_size,
    })
}
