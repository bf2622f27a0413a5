//! The CubeCL backend's side of `T5AttentionOps`: the `shaders/*.wgsl` kernels, launched as
//! raw WGSL through burn-cubecl's `template` route (`KernelSource` → `SourceKernel`).
//!
//! Inputs are read in place through their strides (the kernels take them in a uniform of
//! `u32` parameters); only a storage-tiled tensor is copied to rows first. Outputs are fresh,
//! contiguous tensors in the query's dtype: `f32`, or `f16` when query, keys and values are f16
//! (an f16 model's decoding, f16 training), with f32 math inside; bias, log-sum-exp,
//! statistics and score gradients are always f32.

use std::sync::Mutex;

use burn::tensor::{DType, Shape};
use burn_cubecl::cubecl::prelude::{BufferIOAttr, CubeCount, CubeDim, ExecutionMode, KernelId};
use burn_cubecl::cubecl::server::{KernelArguments, MetadataBindingInfo};
use burn_cubecl::kernel::{into_contiguous, slice};
use burn_cubecl::ops::reshape;
use burn_cubecl::template::{KernelSource, SourceKernel, SourceTemplate};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeBackend;

use super::attention_dropout::AttentionDropout;
use super::coop_attention::{self, CoopAttention, Pass};
use super::coop_matmul::CoopShape;
use super::extension::T5AttentionOps;
use super::{tiled_matmul, AttentionLaunch, Product};

/// Threads of the decode kernel's workgroup, and so its largest head size.
const DECODE_WORKGROUP: u32 = super::MAX_DECODE_HEAD_DIM as u32;
/// Threads of a training kernel's workgroup (16 × 8).
const TRAINING_THREADS: u32 = 128;
/// Query (forward, dq) or key (dkv) rows a training workgroup owns: 4 per thread row.
const TRAINING_ROWS: usize = 32;
/// Floats of one shared-memory tile of keys, values, queries or output gradients.
const TILE_FLOATS: usize = 2048;

/// Keys (forward, dq) or queries (dkv) per shared-memory tile of the training kernels.
fn training_tile(d: usize) -> usize {
    TILE_FLOATS / d
}

/// Workgroup memory the training kernels need for head size `d` (a multiple of 64), in bytes:
/// the largest of forward (query block, key and value tiles, probabilities, row partials),
/// dq (query and output-gradient blocks, key and value tiles) and dkv (key block, query and
/// output-gradient tiles, P and dS tiles). 32 KiB at `d` = 64, 48 KiB at 128.
pub fn training_shared_bytes(d: usize) -> usize {
    let (rows, tile) = (TRAINING_ROWS, training_tile(d));
    let forward = (rows * d + 2 * tile * d + rows * tile + rows * 16) * 4;
    let dq = (2 * rows * d + 2 * tile * d) * 4;
    let dkv = (rows * d + 2 * tile * d + 2 * tile * rows) * 4;
    forward.max(dq).max(dkv)
}

/// Storage buffers the widest training kernel binds (the dq backward: seven inputs, two
/// outputs): one past WebGPU's default limit of 8, within every native adapter's.
pub const TRAINING_STORAGE_BUFFERS: u32 = 9;

/// Storage buffers per dispatch that `device` allows: the adapter's limit, which CubeCL
/// requests (it reports one less, keeping a slot Metal's runtime uses for buffer sizes).
pub fn max_storage_buffers(device: &burn_cubecl::CubeDevice) -> u32 {
    device.client().properties().hardware.max_bindings + 1
}

/// Workgroup memory per workgroup that `device` allows, in bytes.
pub fn max_shared_bytes(device: &burn_cubecl::CubeDevice) -> usize {
    device.client().properties().hardware.max_shared_memory_size
}

/// Threads of a sum-of-squares workgroup.
const SQUARES_WORKGROUP: u32 = 256;
/// Most workgroups per tensor of a sum-of-squares dispatch (`G` in `sum_of_squares.wgsl`).
const SQUARES_MAX_GROUPS: usize = 128;
/// Elements each sum-of-squares thread reads at least, before the workgroup's reduction.
const SQUARES_PER_THREAD: usize = 16;

/// Workgroups per tensor of a sum-of-squares dispatch whose longest tensor has `longest`
/// elements: enough that no thread reads fewer than [`SQUARES_PER_THREAD`] of them, at most
/// [`SQUARES_MAX_GROUPS`]. The output holds 7 · this many partials.
pub(super) fn squares_groups(longest: usize) -> usize {
    let per_group = SQUARES_WORKGROUP as usize * SQUARES_PER_THREAD;
    longest.div_ceil(per_group).clamp(1, SQUARES_MAX_GROUPS)
}

/// One of the `shaders/` kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shader {
    Decode,
    Forward,
    BackwardDq,
    BackwardDkv,
    SumOfSquares,
    NormForward,
    NormBackward,
    Pack,
    GatedGeluBackward,
    ElementDropout,
}

impl Shader {
    /// The shader's WGSL: `shaders/prelude.wgsl` (and for the training kernels
    /// `shaders/training_tiles.wgsl`, for the row reductions `shaders/workgroup_sum.wgsl`)
    /// followed by the kernel's own file.
    const fn text(self) -> &'static str {
        macro_rules! shader {
            ($($file:literal),+ $(,)?) => {
                concat!(include_str!("../../shaders/prelude.wgsl"), $(include_str!(concat!("../../shaders/", $file))),+)
            };
        }
        match self {
            Shader::Decode => shader!("t5_decode_attention.wgsl"),
            Shader::Forward => shader!(
                "attention_dropout.wgsl",
                "training_tiles.wgsl",
                "t5_attention_forward.wgsl"
            ),
            Shader::BackwardDq => shader!(
                "attention_dropout.wgsl",
                "training_tiles.wgsl",
                "t5_attention_backward_dq.wgsl"
            ),
            Shader::BackwardDkv => shader!(
                "attention_dropout.wgsl",
                "training_tiles.wgsl",
                "t5_attention_backward_dkv.wgsl"
            ),
            Shader::SumOfSquares => shader!("workgroup_sum.wgsl", "sum_of_squares.wgsl"),
            Shader::NormForward => shader!("workgroup_sum.wgsl", "t5_rms_norm_forward.wgsl"),
            Shader::NormBackward => shader!("workgroup_sum.wgsl", "t5_rms_norm_backward.wgsl"),
            Shader::Pack => shader!("pack_columns.wgsl"),
            Shader::GatedGeluBackward => shader!("gated_gelu_backward.wgsl"),
            Shader::ElementDropout => shader!("attention_dropout.wgsl", "element_dropout.wgsl"),
        }
    }

    /// Length of the `info` uniform, in `vec4<u32>`.
    const fn info_vec4s(self) -> usize {
        match self {
            Shader::Forward => 6,
            Shader::BackwardDq => 8,
            Shader::BackwardDkv => 6,
            Shader::SumOfSquares => 6,
            Shader::ElementDropout => 2,
            Shader::NormForward
            | Shader::NormBackward
            | Shader::Pack
            | Shader::GatedGeluBackward => 1,
            _ => 5,
        }
    }
}

/// A shader with its template values filled in: the element type of query, keys, values,
/// output and their gradients (`half`: f16); `workgroup_size` for decode; `d` and the tile
/// length (`cols` keys, or `rows` queries for dkv) for the training kernels. The sum of
/// squares launches as [`SquaresKernel`].
#[derive(Debug, Clone, Copy)]
struct AttentionKernel {
    shader: Shader,
    workgroup_size: u32,
    d: u32,
    cols: u32,
    half: bool,
    /// The layer norm's weight is f16 (`wt`; an f16 model's inference).
    weight_half: bool,
}

impl AttentionKernel {
    fn decode(half: bool) -> Self {
        Self {
            shader: Shader::Decode,
            workgroup_size: DECODE_WORKGROUP,
            d: 0,
            cols: 0,
            half,
            weight_half: false,
        }
    }

    /// The sum-of-squares shader over f32 tensors, or f16 ones (`half`).
    fn squares(half: bool) -> SquaresKernel {
        SquaresKernel(Self {
            shader: Shader::SumOfSquares,
            workgroup_size: SQUARES_WORKGROUP,
            d: 0,
            cols: 0,
            half,
            weight_half: false,
        })
    }

    /// A layer-norm shader for input `x` and `weight` (each f32 or f16).
    fn norm(shader: Shader, x: &CubeTensor, weight: &CubeTensor) -> RmsNormKernel {
        RmsNormKernel(Self {
            shader,
            workgroup_size: NORM_WORKGROUP,
            d: 0,
            cols: 0,
            half: x.dtype == DType::F16,
            weight_half: weight.dtype == DType::F16,
        })
    }

    /// The packing shader from `input` blocks (f32 or f16) to a `half` (f16) or f32 output.
    fn pack(input: DType, half: bool) -> PackCopyKernel {
        PackCopyKernel(Self {
            shader: Shader::Pack,
            workgroup_size: PACK_WORKGROUP,
            d: 0,
            cols: 0,
            half,
            weight_half: input == DType::F16,
        })
    }

    /// The packed gated activation's backward shader, f32 or f16 (`half`).
    fn gated_gelu_backward(half: bool) -> GatedGeluKernel {
        GatedGeluKernel(Self {
            shader: Shader::GatedGeluBackward,
            workgroup_size: PACK_WORKGROUP,
            d: 0,
            cols: 0,
            half,
            weight_half: false,
        })
    }

    /// The element-wise dropout shader, f32 or f16 (`half`).
    fn element_dropout(half: bool) -> DropoutKernel {
        DropoutKernel(Self {
            shader: Shader::ElementDropout,
            workgroup_size: PACK_WORKGROUP,
            d: 0,
            cols: 0,
            half,
            weight_half: false,
        })
    }

    fn training(shader: Shader, d: usize, half: bool) -> Self {
        Self {
            shader,
            workgroup_size: TRAINING_THREADS,
            d: d as u32,
            cols: training_tile(d) as u32,
            half,
            weight_half: false,
        }
    }
}

/// Threads of a layer-norm workgroup (one row each).
const NORM_WORKGROUP: u32 = 256;
/// Threads of a packing workgroup.
const PACK_WORKGROUP: u32 = 256;
/// Most workgroups per block of a packing dispatch (each takes whole rows).
const PACK_MAX_GROUPS: usize = 1024;

/// A kernel [`launch`] dispatches: its shader and template values, under the type name a
/// profile sees.
trait ShaderLaunch: KernelSource + 'static {
    fn settings(&self) -> &AttentionKernel;
}

impl ShaderLaunch for AttentionKernel {
    fn settings(&self) -> &AttentionKernel {
        self
    }
}

/// A shader launched under its own type name: profiles name a launch by its kernel's type
/// (`KernelKind::of`), so the non-attention shaders need types of their own.
macro_rules! renamed_kernel {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        struct $name(AttentionKernel);

        impl ShaderLaunch for $name {
            fn settings(&self) -> &AttentionKernel {
                &self.0
            }
        }

        impl KernelSource for $name {
            fn source(&self) -> SourceTemplate {
                self.0.source()
            }

            fn id(&self) -> KernelId {
                self.0.id()
            }

            fn lang(&self) -> &'static str {
                self.0.lang()
            }
        }
    };
}

renamed_kernel!(
    /// The layer-norm shaders.
    RmsNormKernel
);
renamed_kernel!(
    /// The sum-of-squares shader.
    SquaresKernel
);
renamed_kernel!(
    /// The packing shader (a copy, as profiles count it).
    PackCopyKernel
);
renamed_kernel!(
    /// The packed gated activation's backward shader (element-wise, as profiles count it).
    GatedGeluKernel
);
renamed_kernel!(
    /// The element-wise dropout shader (element-wise, as profiles count it).
    DropoutKernel
);

impl KernelSource for AttentionKernel {
    fn source(&self) -> SourceTemplate {
        // WGSL wants `enable f16;` before any declaration, so ahead of the prelude.
        let text = if self.half || self.weight_half {
            format!("enable f16;\n{}", self.shader.text())
        } else {
            self.shader.text().to_string()
        };
        SourceTemplate::new(text)
            .register("io", if self.half { "f16" } else { "f32" })
            .register("wt", if self.weight_half { "f16" } else { "f32" })
            .register("workgroup_size", self.workgroup_size.to_string())
            .register("d", self.d.to_string())
            .register("cols", self.cols.to_string())
            .register("rows", self.cols.to_string())
    }

    fn id(&self) -> KernelId {
        // The compiled-pipeline cache is keyed by this id alone: it names the text (a hash of
        // the template, which `include_str!` fixes per build) and every template value.
        // Unchecked: cubecl-wgpu then skips naga's loop bounding (a counter and a break in
        // every loop, which kept the driver from unrolling the kernels' small loops and put
        // their register arrays in local memory). WGSL bounds checks are off in either mode;
        // the kernels guard every global index themselves.
        KernelId::new::<Self>()
            .cube_dim(CubeDim::new_1d(self.workgroup_size).0)
            .mode(ExecutionMode::Unchecked)
            .info((
                self.shader,
                text_hash(self.shader.text()),
                self.workgroup_size,
                self.d,
                self.cols,
                self.half,
                self.weight_half,
            ))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// [`fnv1a`] of a shader's `text`, hashed once per text and then looked up. CubeCL asks a
/// kernel for its id at every launch (twice, in the wgpu server), and hashing a shader's
/// 3–12 KB there took 4–17 µs of the host's time per id, a few hundred launches a step.
pub(super) fn text_hash(text: &'static str) -> u64 {
    // Keyed by where the text is and its length: a static text never changes, so equal keys
    // are equal texts.
    static HASHED: Mutex<Vec<((usize, usize), u64)>> = Mutex::new(Vec::new());
    let key = (text.as_ptr() as usize, text.len());
    let mut hashed = HASHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&(_, hash)) = hashed.iter().find(|(seen, _)| *seen == key) {
        return hash;
    }
    let hash = fnv1a(text);
    hashed.push((key, hash));
    hash
}

/// FNV-1a of `text`, a stable hash for the kernel id.
pub(super) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn dims(tensor: &CubeTensor) -> [usize; 4] {
    let shape = tensor.meta.shape();
    [shape[0], shape[1], shape[2], shape[3]]
}

/// `tensor` (of `dtype`) in a layout the kernels can index by strides.
fn readable_as(tensor: CubeTensor, dtype: DType) -> CubeTensor {
    assert_eq!(
        tensor.dtype, dtype,
        "the T5 attention kernels take f32 tensors (query, keys, values and gradients: f16 too)"
    );
    if tensor.meta.is_tiled() {
        into_contiguous(tensor)
    } else {
        tensor
    }
}

/// The element strides of `tensor` as `u32`, 0 along a broadcast (size-1) dim.
fn strides(tensor: &CubeTensor) -> [u32; 4] {
    let (shape, strides) = (tensor.meta.shape(), tensor.meta.strides());
    std::array::from_fn(|i| if shape[i] == 1 { 0 } else { strides[i] as u32 })
}

/// An f32 `tensor` in a layout the kernels can index by strides.
fn readable(tensor: CubeTensor) -> CubeTensor {
    readable_as(tensor, DType::F32)
}

/// A new contiguous tensor of `shape` and `like`'s dtype on `like`'s device.
fn empty(like: &CubeTensor, shape: [usize; 4]) -> CubeTensor {
    empty_as(like, shape, like.dtype)
}

/// A new contiguous tensor of `shape` and `dtype` on `like`'s device.
pub(super) fn empty_as(like: &CubeTensor, shape: impl Into<Shape>, dtype: DType) -> CubeTensor {
    let shape = shape.into();
    let bytes = shape.num_elements() * dtype.size();
    let handle = like.client.empty(bytes);
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        shape,
        handle,
        dtype,
    )
}

/// A new `[b, h, m, d]` tensor like `like`, stored `[b, m, h, d]`: the layout of the
/// `[batch, len, heads · d]` projection it comes from or goes to, so the head split and merge
/// around the training kernels are views rather than copies.
fn empty_heads_inner(like: &CubeTensor, [b, h, m, d]: [usize; 4]) -> CubeTensor {
    let mut tensor = empty(like, [b, m, h, d]);
    tensor.meta.swap(1, 2);
    tensor
}

/// `[heads, q_len, k_len, d]` then the strides of each of `strided`.
fn params(query: &CubeTensor, key: &CubeTensor, strided: &[&CubeTensor]) -> Vec<u32> {
    let [_, heads, q_len, d] = dims(query);
    let k_len = dims(key)[2];
    let mut params = vec![heads as u32, q_len as u32, k_len as u32, d as u32];
    for tensor in strided {
        params.extend(strides(tensor));
    }
    params
}

/// Launches `kernel` on `groups` workgroups with `inputs` (read) then `outputs` (written) as
/// storage bindings 0.., and `params` as the `info` uniform after them.
fn launch(
    kernel: impl ShaderLaunch,
    groups: (usize, usize),
    inputs: &[&CubeTensor],
    outputs: &[&CubeTensor],
    params: Vec<u32>,
) {
    let (shader, workgroup_size) = (kernel.settings().shader, kernel.settings().workgroup_size);
    assert_eq!(params.len(), 4 * shader.info_vec4s());
    dispatch(kernel, workgroup_size, groups, inputs, outputs, params);
}

/// Dispatches the WGSL `kernel` (workgroups of `workgroup_size` threads) on `groups`
/// workgroups with `inputs` (read) then `outputs` (written) as storage bindings 0.., and
/// `params` (a whole number of `vec4<u32>`) as the `info` uniform after them.
pub(super) fn dispatch(
    kernel: impl KernelSource,
    workgroup_size: u32,
    groups: (usize, usize),
    inputs: &[&CubeTensor],
    outputs: &[&CubeTensor],
    params: Vec<u32>,
) {
    let info = params
        .chunks(2)
        .map(|pair| u64::from(pair[0]) | (u64::from(pair[1]) << 32))
        .collect();
    let mut arguments = KernelArguments::new();
    for tensor in inputs {
        arguments =
            arguments.with_buffer_io(tensor.handle.clone().binding(), BufferIOAttr::ReadOnly);
    }
    for tensor in outputs {
        arguments =
            arguments.with_buffer_io(tensor.handle.clone().binding(), BufferIOAttr::WriteOnly);
    }
    let arguments = arguments.with_info(MetadataBindingInfo::custom(info));
    let cube_dim = CubeDim::new_1d(workgroup_size);
    outputs[0].client.launch(
        Box::new(SourceKernel::new(kernel, cube_dim)),
        CubeCount::Static(groups.0 as u32, groups.1 as u32, 1),
        arguments,
    );
}

/// `residual + x · factor` (or `x · factor` alone), each factor `draw`'s for the element's
/// index, in one launch of `shaders/element_dropout.wgsl` over the contiguous `x` (at most
/// 2^31 elements; `kernels::dropout_runs`).
fn element_dropout(
    residual: Option<CubeTensor>,
    x: CubeTensor,
    draw: AttentionDropout,
) -> CubeTensor {
    let x = into_contiguous(x);
    let add = residual.is_some();
    // Without one, the residual binding is `x` again (the kernel does not read it).
    let residual = match residual {
        Some(residual) => into_contiguous(readable_as(residual, x.dtype)),
        None => x.clone(),
    };
    let shape = x.meta.shape().clone();
    let n = shape.num_elements();
    let out = empty_as(&x, shape, x.dtype);
    // At least 4 elements a thread, at most 65535 workgroups (one dimension's limit).
    let groups = n.div_ceil(PACK_WORKGROUP as usize * 4).clamp(1, 65_535);
    let [seed, threshold, scale] = draw.words();
    launch(
        AttentionKernel::element_dropout(x.dtype == DType::F16),
        (groups, 1),
        &[&x, &residual],
        &[&out],
        vec![n as u32, u32::from(add), 0, 0, seed, threshold, scale, 0],
    );
    out
}

/// Rows (every dim but the last) and width (the last dim) of a tensor of `shape`: what the
/// layer-norm kernels and their fusion metadata walk.
pub(super) fn rows_and_width(shape: &Shape) -> (usize, usize) {
    let d = shape[shape.len() - 1];
    (shape.num_elements() / d.max(1), d)
}

/// Workgroups for one per row: a row count past the 65535 a dimension allows goes on in y.
fn row_groups(rows: usize) -> (usize, usize) {
    let x = rows.clamp(1, 65_535);
    (x, rows.div_ceil(x).max(1))
}

/// Workgroups of [`PACK_WORKGROUP`] threads for a kernel that gives each workgroup whole rows
/// of `cols` elements (packing, the gated activation's backward): at least 4 elements per
/// thread, at most [`PACK_MAX_GROUPS`] and one per row.
fn whole_row_groups(rows: usize, cols: usize) -> usize {
    let per_group = PACK_WORKGROUP as usize * 4;
    (rows * cols)
        .div_ceil(per_group)
        .clamp(1, PACK_MAX_GROUPS)
        .min(rows.max(1))
}

fn blocks(len: usize) -> usize {
    len.div_ceil(TRAINING_ROWS)
}

/// `tensor` as the sum of squares reads it: rows of `cols` elements `row_stride` apart. A
/// matrix whose rows are dense but spaced (a column block of a wider one: the weight
/// gradients of packed projections, views of one) is read in place; any other layout that
/// is not dense is copied first.
fn rows_of(tensor: CubeTensor) -> (CubeTensor, u32, u32) {
    let (shape, strides) = (tensor.meta.shape(), tensor.meta.strides());
    if !tensor.is_contiguous() && shape.num_dims() == 2 && strides[1] == 1 && shape[1] > 0 {
        let (cols, stride) = (shape[1] as u32, strides[0] as u32);
        return (tensor, cols, stride);
    }
    let tensor = into_contiguous(tensor);
    let cols = (tensor.meta.num_elements() as u32).max(1);
    (tensor, cols, 0)
}

/// Column block `block` of `blocks` equal ones of a contiguous `[b, m, blocks · heads · d]`
/// projection as a `[b, heads, m, d]` view: where a packed query/key/value projection's
/// query, key or value lies (read by the kernels, or written: their gradients). The view's
/// buffer binding starts at the block, so the block's width in bytes must be a multiple of
/// the device's binding alignment ([`packed_blocks_aligned`], checked by the caller).
fn heads_view(packed: &CubeTensor, block: usize, blocks: usize, heads: usize) -> CubeTensor {
    let shape = packed.meta.shape();
    let (b, m, width) = (shape[0], shape[1], shape[2]);
    let inner = width / blocks;
    let d = inner / heads;
    assert!(
        packed.is_contiguous()
            && width == blocks * heads * d
            && block < blocks
            && ((inner * packed.dtype.size()) as u64)
                .is_multiple_of(packed.client.properties().memory.alignment),
        "a packed projection's blocks must be contiguous and aligned (packed_attention_runs)"
    );
    let columns = block * inner..(block + 1) * inner;
    let block = slice(packed.clone(), &[0..b, 0..m, columns]);
    let mut view = reshape(block, Shape::from([b, m, heads, d]));
    view.meta.swap(1, 2);
    view
}

/// Whether `inner` elements of `dtype` (one block of a packed projection: `heads · d`) span a
/// whole number of the device's buffer-binding alignment, so [`heads_view`] can start a
/// binding at every block.
pub(super) fn packed_blocks_aligned(
    device: &burn_cubecl::CubeDevice,
    inner: usize,
    dtype: DType,
) -> bool {
    let alignment = device.client().properties().memory.alignment;
    ((inner * dtype.size()) as u64).is_multiple_of(alignment)
}

/// The backward kernels for query, key and value `sources` (`[b, h, m, d]`, any strides),
/// writing their gradients into `targets` (`[b, h, m, d]` views of `[b, m, ·]` storage: the
/// kernels take one row stride for each, and d_key's and d_value's must agree): returns the
/// score gradient `[b, h, m, n]` (f32). `launch`: the kernels the forward ran on, and its
/// dropout draws.
fn backward_into(
    sources: [CubeTensor; 3],
    bias: CubeTensor,
    grad_output: CubeTensor,
    output: CubeTensor,
    lse: CubeTensor,
    targets: [CubeTensor; 3],
    launch: AttentionLaunch,
) -> CubeTensor {
    let AttentionLaunch { coop, dropout } = launch;
    let [query, key, value] = sources;
    let io = query.dtype;
    let half = io == DType::F16;
    let (query, key, value, bias, grad_output) = (
        readable_as(query, io),
        readable_as(key, io),
        readable_as(value, io),
        readable(bias),
        readable_as(grad_output, io),
    );
    let output = readable_as(output, io);
    let lse = into_contiguous(readable(lse));
    let [batch, heads, q_len, d] = dims(&query);
    let k_len = dims(&key)[2];
    let [d_query, d_key, d_value] = targets;
    // A `[b, h, m, d]` view of `[b, m, ·]` storage: its row stride is that of `m`.
    let row_stride = |t: &CubeTensor| t.meta.strides()[2] as u32;
    assert_eq!(row_stride(&d_key), row_stride(&d_value));

    let d_scores = empty_as(&query, [batch, heads, q_len, k_len], DType::F32);
    let mut dq_params = params(
        &query,
        &key,
        &[&query, &key, &value, &bias, &grad_output, &output],
    );
    dq_params.push(row_stride(&d_query));
    dq_params.extend(dropout.words());
    dq_params.resize(4 * Shader::BackwardDq.info_vec4s(), 0);
    training_launch(
        Shader::BackwardDq,
        coop,
        (d, half),
        (q_len, batch * heads),
        &[&query, &key, &value, &bias, &grad_output, &output, &lse],
        &[&d_query, &d_scores],
        dq_params,
    );

    let mut dkv_params = params(&query, &key, &[&query, &key, &bias, &grad_output]);
    dkv_params.push(row_stride(&d_key));
    dkv_params.extend(dropout.words());
    dkv_params.resize(4 * Shader::BackwardDkv.info_vec4s(), 0);
    training_launch(
        Shader::BackwardDkv,
        coop,
        (d, half),
        (k_len, batch * heads),
        &[&query, &key, &bias, &grad_output, &lse, &d_scores],
        &[&d_key, &d_value],
        dkv_params,
    );
    d_scores
}

/// Launches training kernel `shader` (forward, dq or dkv) over `rows` queries (keys for dkv)
/// of each of `heads` (batch · heads) slices: the cooperative-matrix variant where `coop`
/// (f16, head size 64: `kernels::attention_coop_shape`), else the scalar one for head size and
/// dtype `(d, half)`. Both take the same bindings and parameters.
fn training_launch(
    shader: Shader,
    coop: Option<CoopShape>,
    (d, half): (usize, bool),
    (rows, heads): (usize, usize),
    inputs: &[&CubeTensor],
    outputs: &[&CubeTensor],
    params: Vec<u32>,
) {
    let Some(shape) = coop else {
        let kernel = AttentionKernel::training(shader, d, half);
        return launch(kernel, (blocks(rows), heads), inputs, outputs, params);
    };
    assert!(
        half && d == coop_attention::HEAD_DIM,
        "coop attention takes f16, d_kv 64"
    );
    let pass = match shader {
        Shader::Forward => Pass::Forward,
        Shader::BackwardDq => Pass::BackwardDq,
        Shader::BackwardDkv => Pass::BackwardDkv,
        other => unreachable!("{other:?} is not a training kernel"),
    };
    let kernel = CoopAttention { pass, shape };
    let groups = (rows.div_ceil(kernel.rows()), heads);
    dispatch(
        kernel,
        kernel.workgroup_size(),
        groups,
        inputs,
        outputs,
        params,
    );
}

impl T5AttentionOps for CubeBackend {
    fn t5_decode_attention(
        query: CubeTensor,
        key: CubeTensor,
        value: CubeTensor,
        bias: CubeTensor,
    ) -> CubeTensor {
        let io = query.dtype;
        let (query, key, value, bias) = (
            readable_as(query, io),
            readable_as(key, io),
            readable_as(value, io),
            readable(bias),
        );
        let [batch, heads, q_len, d] = dims(&query);
        let output = empty(&query, [batch, heads, q_len, d]);
        launch(
            AttentionKernel::decode(io == DType::F16),
            (q_len, batch * heads),
            &[&query, &key, &value, &bias],
            &[&output],
            params(&query, &key, &[&query, &key, &value, &bias]),
        );
        output
    }

    fn t5_attention_forward(
        query: CubeTensor,
        key: CubeTensor,
        value: CubeTensor,
        bias: CubeTensor,
        launch: AttentionLaunch,
    ) -> (CubeTensor, CubeTensor) {
        let io = query.dtype;
        let (query, key, value, bias) = (
            readable_as(query, io),
            readable_as(key, io),
            readable_as(value, io),
            readable(bias),
        );
        let [batch, heads, q_len, d] = dims(&query);
        let output = empty_heads_inner(&query, [batch, heads, q_len, d]);
        let lse = empty_as(&query, [batch, heads, q_len, 1], DType::F32);
        let mut forward_params = params(&query, &key, &[&query, &key, &value, &bias]);
        forward_params.extend(launch.dropout.words());
        forward_params.resize(4 * Shader::Forward.info_vec4s(), 0);
        training_launch(
            Shader::Forward,
            launch.coop,
            (d, io == DType::F16),
            (q_len, batch * heads),
            &[&query, &key, &value, &bias],
            &[&output, &lse],
            forward_params,
        );
        (output, lse)
    }

    fn t5_attention_backward(
        query: CubeTensor,
        key: CubeTensor,
        value: CubeTensor,
        bias: CubeTensor,
        grad_output: CubeTensor,
        output: CubeTensor,
        lse: CubeTensor,
        launch: AttentionLaunch,
    ) -> (CubeTensor, CubeTensor, CubeTensor, CubeTensor) {
        let [batch, heads, q_len, d] = dims(&query);
        let k_len = dims(&key)[2];
        let d_query = empty_heads_inner(&query, [batch, heads, q_len, d]);
        let d_key = empty_heads_inner(&key, [batch, heads, k_len, d]);
        let d_value = empty_heads_inner(&value, [batch, heads, k_len, d]);
        let targets = [d_query.clone(), d_key.clone(), d_value.clone()];
        let sources = [query, key, value];
        let d_scores = backward_into(sources, bias, grad_output, output, lse, targets, launch);
        (d_query, d_key, d_value, d_scores)
    }

    fn t5_self_attention_backward(
        qkv: CubeTensor,
        bias: CubeTensor,
        grad_output: CubeTensor,
        output: CubeTensor,
        lse: CubeTensor,
        heads: usize,
        launch: AttentionLaunch,
    ) -> (CubeTensor, CubeTensor) {
        let qkv = into_contiguous(qkv);
        let d_qkv = empty_as(&qkv, qkv.meta.shape().clone(), qkv.dtype);
        let sources = [0, 1, 2].map(|block| heads_view(&qkv, block, 3, heads));
        let targets = [0, 1, 2].map(|block| heads_view(&d_qkv, block, 3, heads));
        let d_scores = backward_into(sources, bias, grad_output, output, lse, targets, launch);
        (d_qkv, d_scores)
    }

    fn t5_cross_attention_backward(
        query: CubeTensor,
        kv: CubeTensor,
        bias: CubeTensor,
        grad_output: CubeTensor,
        output: CubeTensor,
        lse: CubeTensor,
        heads: usize,
        launch: AttentionLaunch,
    ) -> (CubeTensor, CubeTensor, CubeTensor) {
        let (query, kv) = (into_contiguous(query), into_contiguous(kv));
        let d_query = empty_as(&query, query.meta.shape().clone(), query.dtype);
        let d_kv = empty_as(&kv, kv.meta.shape().clone(), kv.dtype);
        let sources = [
            heads_view(&query, 0, 1, heads),
            heads_view(&kv, 0, 2, heads),
            heads_view(&kv, 1, 2, heads),
        ];
        let targets = [
            heads_view(&d_query, 0, 1, heads),
            heads_view(&d_kv, 0, 2, heads),
            heads_view(&d_kv, 1, 2, heads),
        ];
        let d_scores = backward_into(sources, bias, grad_output, output, lse, targets, launch);
        (d_query, d_kv, d_scores)
    }

    fn t5_pack_columns(
        b0: CubeTensor,
        b1: CubeTensor,
        b2: CubeTensor,
        blocks: usize,
        half: bool,
    ) -> CubeTensor {
        let inputs = [b0, b1, b2].map(into_contiguous);
        let shape = inputs[0].meta.shape().clone();
        let (rows, cols) = (shape[0], shape[1]);
        let dtype = if half { DType::F16 } else { DType::F32 };
        let packed = empty_as(&inputs[0], [rows, blocks * cols], dtype);
        let groups = whole_row_groups(rows, cols);
        let [b0, b1, b2] = &inputs;
        launch(
            AttentionKernel::pack(inputs[0].dtype, half),
            (groups, blocks),
            &[b0, b1, b2],
            &[&packed],
            vec![rows as u32, cols as u32, blocks as u32, 0],
        );
        packed
    }

    fn t5_matmul(a: CubeTensor, b: CubeTensor, product: Product) -> CubeTensor {
        match product {
            Product::Coop(shape) => super::coop_matmul::matmul(a, b, shape, false, 1),
            Product::CoopStaged(shape) => super::coop_matmul::matmul(a, b, shape, true, 1),
            Product::CoopSplitK(shape, parts) => {
                super::coop_matmul::matmul(a, b, shape, false, parts)
            }
            Product::TiledF32 => super::tiled_matmul::matmul(a, b, tiled_matmul::BLOCK, 1),
            Product::TiledF32Narrow => {
                super::tiled_matmul::matmul(a, b, tiled_matmul::NARROW_BLOCK, 1)
            }
            Product::TiledF32SplitK(parts) => {
                super::tiled_matmul::matmul(a, b, tiled_matmul::BLOCK, parts)
            }
        }
    }

    fn t5_gated_gelu_packed_backward(both: CubeTensor, grad: CubeTensor) -> CubeTensor {
        let both = into_contiguous(both);
        let grad = into_contiguous(readable_as(grad, both.dtype));
        let shape = both.meta.shape().clone();
        let (rows, width) = rows_and_width(&shape);
        let f = width / 2;
        let d_both = empty_as(&both, shape, both.dtype);
        let groups = whole_row_groups(rows, f);
        launch(
            AttentionKernel::gated_gelu_backward(both.dtype == DType::F16),
            (groups, 1),
            &[&both, &grad],
            &[&d_both],
            vec![rows as u32, f as u32, 0, 0],
        );
        d_both
    }

    fn t5_dropout(x: CubeTensor, draw: AttentionDropout) -> CubeTensor {
        element_dropout(None, x, draw)
    }

    fn t5_dropout_add(residual: CubeTensor, x: CubeTensor, draw: AttentionDropout) -> CubeTensor {
        element_dropout(Some(residual), x, draw)
    }

    fn t5_sum_of_squares(
        t0: CubeTensor,
        t1: CubeTensor,
        t2: CubeTensor,
        t3: CubeTensor,
        t4: CubeTensor,
        t5: CubeTensor,
        t6: CubeTensor,
        count: usize,
    ) -> CubeTensor {
        // One dtype per dispatch, f32 or f16 (`kernels::sum_of_squares` groups them).
        let dtype = t0.dtype;
        let tensors = [t0, t1, t2, t3, t4, t5, t6].map(|t| rows_of(readable_as(t, dtype)));
        let lengths = tensors.iter().enumerate().map(|(i, (t, _, _))| {
            if i < count {
                t.meta.num_elements() as u32
            } else {
                0
            }
        });
        let mut params: Vec<u32> = lengths.chain([0]).collect();
        params.extend(tensors.iter().map(|(_, cols, _)| *cols).chain([0]));
        params.extend(tensors.iter().map(|(_, _, stride)| *stride).chain([0]));
        let tensors = tensors.map(|(t, _, _)| t);
        let slots = tensors.len();
        let groups = squares_groups(params[..slots].iter().copied().max().unwrap_or(0) as usize);
        let partials = empty_as(&tensors[0], [slots * groups], DType::F32);
        let half = dtype == DType::F16;
        let inputs: Vec<&CubeTensor> = tensors.iter().collect();
        launch(
            AttentionKernel::squares(half),
            (groups, slots),
            &inputs,
            &[&partials],
            params,
        );
        partials
    }

    fn t5_rms_norm_forward(
        x: CubeTensor,
        weight: CubeTensor,
        eps: f32,
    ) -> (CubeTensor, CubeTensor) {
        let (x, weight) = (into_contiguous(x), into_contiguous(weight));
        let (rows, d) = rows_and_width(x.meta.shape());
        let y = empty_as(&x, x.meta.shape().clone(), x.dtype);
        let inv = empty_as(&x, [rows, 1], DType::F32);
        launch(
            AttentionKernel::norm(Shader::NormForward, &x, &weight),
            row_groups(rows),
            &[&x, &weight],
            &[&y, &inv],
            vec![d as u32, eps.to_bits(), rows as u32, 0],
        );
        (y, inv)
    }

    fn t5_rms_norm_backward(
        x: CubeTensor,
        weight: CubeTensor,
        inv: CubeTensor,
        grad: CubeTensor,
    ) -> (CubeTensor, CubeTensor) {
        let (x, weight) = (into_contiguous(x), into_contiguous(weight));
        let inv = into_contiguous(readable(inv));
        let grad = into_contiguous(readable_as(grad, x.dtype));
        let (rows, d) = rows_and_width(x.meta.shape());
        let d_x = empty_as(&x, x.meta.shape().clone(), x.dtype);
        let d_weight_rows = empty_as(&x, [rows, d], DType::F32);
        launch(
            AttentionKernel::norm(Shader::NormBackward, &x, &weight),
            row_groups(rows),
            &[&x, &weight, &inv, &grad],
            &[&d_x, &d_weight_rows],
            vec![d as u32, 0, rows as u32, 0],
        );
        (d_x, d_weight_rows)
    }
}
