//! Hand-written WGSL kernels for T5 attention, its layer norm and the gradient norm
//! (`shaders/*.wgsl`),
//! behind plain tensor functions that fall back to the same math in tensor ops wherever the
//! kernels do not apply.
//!
//! T5 attention is `softmax(query · keyᵀ + bias) · value`, with **no** `1/sqrt(d_kv)` scale and
//! an additive `bias` broadcastable to `[batch, heads, q_len, k_len]`: the relative position
//! bias (`[1, heads, q_len, k_len]`) plus masks, which put a large negative value (`f32::MIN`)
//! where a key is hidden (padding `[batch, 1, 1, k_len]`, causal `[1, 1, q_len, k_len]`).
//!
//! | function | kernels | for |
//! |---|---|---|
//! | [`decode_attention`] | `t5_decode_attention.wgsl` | one new query per row over a key/value cache (generation) |
//! | [`attention`] | `t5_attention_forward.wgsl`, `t5_attention_backward_dq.wgsl`, `t5_attention_backward_dkv.wgsl`; in f16 on cooperative matrices their `coop_attention_*.wgsl` variants ([`attention_coop_shape`]) | whole sequences, differentiable (training) |
//! | [`self_attention`], [`cross_attention`] | the training kernels, reading the blocks of packed projections in place | training with one GEMM for query, key and value (`[W_q \| W_k \| W_v]`), one packed gradient back |
//! | [`pack_columns`] | `pack_columns.wgsl` | those projections' weights side by side, cast once, in one launch |
//! | [`reference_attention`] | none | the plain-Burn math both are tested against |
//! | `rms_norm` | `t5_rms_norm_forward.wgsl`, `t5_rms_norm_backward.wgsl` | T5's layer norm, differentiable (`model::layers::reference_rms_norm` elsewhere) |
//! | [`sum_of_squares`] | `sum_of_squares.wgsl` | the global gradient norm: seven gradients a dispatch ([`reference_sum_of_squares`] elsewhere) |
//! | `gated_gelu` | none: element-wise ops Burn fuses | Flan-T5's `gelu_new(gate) · up` with a one-kernel backward, in training ([`gated_gelu_runs`]) |
//! | `gated_gelu_packed` | `gated_gelu_backward.wgsl` (backward; forward: fused element-wise ops) | the same over one packed product `x · [W_0 \| W_1]`, its gradient packed in one launch ([`gated_gelu_packed_runs`]) |
//! | [`matmul`] | `coop_matmul.wgsl` (with `sum_parts.wgsl` where K is split among subgroups), `coop_matmul_staged.wgsl` | f16 products (linear layers) on the GPU's cooperative matrices (tensor cores), differentiable, where the adapter has them ([`coop_matmul_shape`]) and one measured faster than Burn's matmul ([`product_plan`]) |
//! | [`matmul`] | `tiled_matmul.wgsl` (128- or 64-wide blocks), with `sum_parts.wgsl` where K is split among workgroups | f32 products register-tiled, differentiable, where a variant fits ([`tiled_f32_products`]) and measured faster than Burn's matmul ([`product_plan`]) |
//! | `clamp_f16` | none: element-wise ops Burn fuses | the f16 clamp after each sub-layer with a one-kernel backward, in f16 training ([`clamp_f16_runs`]) |
//!
//! The kernels run when the build has the `wgpu` feature, the tensors live on a wgpu device
//! (with or without autodiff, fusion on or off), all four are `f32` or query, key and value
//! are f16 with an f32 bias (mixed precision: the kernels read and write f16 themselves and
//! compute in f32), and the shapes fit ([`kernel_runs`] says whether they will). Everything
//! else (flex / CPU, CI, SPIR-V devices) gets [`reference_attention`]. [`set_kernels_enabled`] or
//! `MIXTUNE_WGSL_KERNELS=0` turns the kernels off, for A/B comparisons.

use std::sync::atomic::{AtomicU8, Ordering};

use burn::tensor::activation::softmax;
use burn::tensor::{DType, Tensor};

use crate::model::precision::cast;

pub mod attention_dropout;
pub mod choice_store;
#[cfg(feature = "wgpu")]
mod coop_attention;
#[cfg(feature = "wgpu")]
mod coop_matmul;
#[cfg(feature = "wgpu")]
mod extension;
#[cfg(feature = "wgpu")]
pub mod product_choice;
#[cfg(feature = "wgpu")]
mod split_k;
#[cfg(feature = "wgpu")]
mod tiled_matmul;
#[cfg(feature = "wgpu")]
mod wgsl;

pub use attention_dropout::AttentionDropout;
#[cfg(feature = "wgpu")]
pub use coop_attention::{CoopAttention, Pass as CoopAttentionPass};
#[cfg(feature = "wgpu")]
pub use coop_matmul::{adapter_shape, filled_shader, CoopShape};
#[cfg(feature = "wgpu")]
pub use split_k::filled_sum_parts_shader;
#[cfg(feature = "wgpu")]
pub use tiled_matmul::{filled_tiled_shader, split_k_parts};

/// Which kernel a call would use, for [`kernel_runs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// [`decode_attention`].
    Decode,
    /// [`attention`] (forward, and backward under autodiff).
    Attention,
}

/// Head sizes (`d_kv`) the training kernels take: multiples of 64 up to 128 (Flan-T5: 64).
/// 64 needs 32 KiB of workgroup memory, 128 needs 48 KiB; a device offering less gets the
/// reference.
pub const ATTENTION_HEAD_DIMS: [usize; 2] = [64, 128];
/// Largest head size of the decode kernel: one workgroup of this many threads per row.
pub const MAX_DECODE_HEAD_DIM: usize = 256;

/// T5 attention over whole sequences: `softmax(query · keyᵀ + bias) · value`, unscaled.
///
/// - `query` `[batch, heads, q_len, d_kv]`
/// - `key`, `value` `[batch, heads, k_len, d_kv]`
/// - `bias` broadcastable to `[batch, heads, q_len, k_len]` (each dim 1 or full): position bias
///   plus masks as large negative values (`f32::MIN`), e.g. `[1, heads, q, k]`,
///   `[batch, 1, 1, k]`, or their sum `[batch, heads, q, k]`.
///
/// Returns `[batch, heads, q_len, d_kv]` (from the kernels a view of `[batch, q_len, heads,
/// d_kv]` storage, as are the query, key and value gradients: merging the heads back into
/// `[batch, q_len, heads · d_kv]` is then a view). Differentiable in all four inputs: on an autodiff
/// wgpu device `loss.backward()` runs the backward kernels, and `bias` gets `dS` summed over
/// the dims it was broadcast along (so the relative position table is trained). A row whose
/// keys are all masked with `f32::MIN` averages the values uniformly, as softmax does.
///
/// Mixed precision (f16 `query`/`key`/`value`, f32 `bias`, as the model sends them under
/// `precision = "f16"`): the kernels read and write the three (and their gradients) in f16
/// and compute in f32, so f16 training needs no casts around them and keeps no
/// `[batch, heads, q, k]` scores either (the reference would keep them, in f32 for the
/// softmax).
///
/// # Panics
/// On shapes that do not match the above (from the tensor ops, as `matmul` would).
///
/// In training, `dropout` is the rate of HF's dropout on the probabilities (0: none): the
/// kernels draw it themselves ([`AttentionDropout`]), the tensor ops from the device's
/// generator ([`reference_attention_dropout`]).
pub fn attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    bias: Tensor<4>,
    dropout: f64,
) -> Tensor<4> {
    #[cfg(feature = "wgpu")]
    if kernel_runs(Kernel::Attention, &query, &key, &value, &bias) {
        let launch = attention_launch(&query.device(), query.dtype(), query.dims()[3], dropout);
        return extension::attention(query, key, value, bias, launch);
    }
    reference_attention_dropout(query, key, value, bias, dropout)
}

/// How a training attention launches (WGSL kernels): on the cooperative-matrix kernels
/// (`coop`) or the scalar ones, and with which dropout draws.
#[cfg(feature = "wgpu")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionLaunch {
    pub coop: Option<CoopShape>,
    pub dropout: AttentionDropout,
}

#[cfg(feature = "wgpu")]
impl AttentionLaunch {
    /// The scalar kernels without dropout.
    pub const SCALAR: Self = Self {
        coop: None,
        dropout: AttentionDropout::NONE,
    };
}

/// The launch of an attention on `device` of `dtype` and head size `d` with dropout at
/// `rate`: the cooperative-matrix kernels where [`attention_coop_shape`] says so, and dropout
/// draws only in training (autodiff), each call with the next seed of the thread's sequence.
#[cfg(feature = "wgpu")]
fn attention_launch(
    device: &burn::tensor::Device,
    dtype: DType,
    d: usize,
    rate: f64,
) -> AttentionLaunch {
    let dropout = match device.is_autodiff() {
        true => AttentionDropout::next(rate),
        false => AttentionDropout::NONE,
    };
    let coop = attention_coop_shape(device, dtype, d);
    AttentionLaunch { coop, dropout }
}

/// T5 self-attention from one packed projection: `qkv` `[batch, len, 3 · heads · d_kv]` holds
/// the query, key and value side by side (the product `x · [W_q | W_k | W_v]`, one GEMM three
/// times as wide as each of the three). `bias` as [`attention`]'s; returns its
/// `[batch, heads, len, d_kv]`.
///
/// Where [`packed_attention_runs`], the kernels read the three blocks in place and, under
/// autodiff, write their gradients into one packed `[batch, len, 3 · heads · d_kv]` tensor:
/// the projection's backward is then one product for the input's gradient and one for the
/// packed weight's, where separate projections take three of each and two additions.
/// Elsewhere the blocks are split off and go through [`attention`].
pub fn self_attention(qkv: Tensor<3>, bias: Tensor<4>, heads: usize, dropout: f64) -> Tensor<4> {
    #[cfg(feature = "wgpu")]
    if packed_fits(&qkv, &qkv, 3, &bias, heads) {
        let d = qkv.dims()[2] / (3 * heads);
        let launch = attention_launch(&qkv.device(), qkv.dtype(), d, dropout);
        return extension::self_attention(qkv, bias, heads, launch);
    }
    let [query, key, value] = split_heads::<3>(qkv, heads);
    attention(query, key, value, bias, dropout)
}

/// T5 attention of `query` `[batch, q_len, heads · d_kv]` over keys and values packed side by
/// side in `kv` `[batch, k_len, 2 · heads · d_kv]` (cross-attention: the encoder output's
/// product with `[W_k | W_v]`), as [`self_attention`]: in place through the kernels where
/// [`packed_attention_runs`], with one packed gradient for `kv`; else through [`attention`].
pub fn cross_attention(
    query: Tensor<3>,
    kv: Tensor<3>,
    bias: Tensor<4>,
    heads: usize,
    dropout: f64,
) -> Tensor<4> {
    #[cfg(feature = "wgpu")]
    if query.dtype() == kv.dtype() && packed_fits(&query, &kv, 2, &bias, heads) {
        let d = query.dims()[2] / heads;
        let launch = attention_launch(&query.device(), query.dtype(), d, dropout);
        return extension::cross_attention(query, kv, bias, heads, launch);
    }
    let [query] = split_heads::<1>(query, heads);
    let [key, value] = split_heads::<2>(kv, heads);
    attention(query, key, value, bias, dropout)
}

/// The `N` blocks of a packed `[batch, len, N · heads · d]` projection as
/// `[batch, heads, len, d]` tensors: views of it, with no copy. The product is split into
/// heads before the blocks are sliced off: reshaping a slice (a strided view) copies it in
/// Burn 0.22 wherever `len` is 1 and `batch` is not (its reshape analysis counts the unit dim
/// against the new dims), which is every decode step of a batch.
pub fn split_heads<const N: usize>(packed: Tensor<3>, heads: usize) -> [Tensor<4>; N] {
    let [batch, len, width] = packed.dims();
    let d = width / (N * heads);
    let grouped = packed.reshape([batch, len, N * heads, d]);
    std::array::from_fn(|block| {
        grouped
            .clone()
            .slice([0..batch, 0..len, block * heads..(block + 1) * heads, 0..d])
            .swap_dims(1, 2)
    })
}

/// The matrices `blocks` (2 or 3 alike `[rows, cols]`) side by side, `[rows, n · cols]`, in
/// `dtype`: the weights of packed projections (`[W_q | W_k | W_v]`), cast once. On a wgpu
/// device compiling WGSL (f32 or f16 in and out, the kernels on) one launch of
/// `shaders/pack_columns.wgsl`, whose gradient hands each block a view of the packed
/// gradient's columns; elsewhere a concatenation (a launch per block) and a cast.
pub fn pack_columns(blocks: Vec<Tensor<2>>, dtype: DType) -> Tensor<2> {
    #[cfg(feature = "wgpu")]
    if pack_kernel_runs(&blocks, dtype) {
        return extension::pack_columns(blocks, dtype);
    }
    let packed = Tensor::cat(blocks, 1);
    if packed.dtype() == dtype {
        packed
    } else {
        packed.cast(dtype)
    }
}

/// Whether [`pack_columns`] takes the kernel: 2 or 3 blocks alike in shape and dtype (f32
/// or f16) on one wgpu device compiling WGSL, the packed matrix f32 or f16 and under 2^31
/// elements, the kernels on.
pub fn pack_kernel_runs(blocks: &[Tensor<2>], dtype: DType) -> bool {
    let Some(first) = blocks.first() else {
        return false;
    };
    let float = |dtype: DType| matches!(dtype, DType::F32 | DType::F16);
    let device = first.device();
    (2..=3).contains(&blocks.len())
        && float(dtype)
        && float(first.dtype())
        && blocks
            .iter()
            .all(|b| b.dims() == first.dims() && b.dtype() == first.dtype() && b.device() == device)
        && first.shape().num_elements() * blocks.len() < (1 << 31)
        && wgsl_kernels_on(&device)
}

/// Whether projections packed for [`self_attention`] / [`cross_attention`] take the kernels in
/// place, for heads of `d_kv` in `dtype` on `device`: training (autodiff) on a wgpu device
/// compiling WGSL, the kernels on and fitting `d_kv`, and each block (`heads · d_kv` elements)
/// a whole number of the device's buffer-binding alignment (256 bytes at most: f32 with
/// `d_kv` 64, or f16 with an even number of heads), so every block's view starts a binding.
/// `model::attention` packs its projections only then: elsewhere three products cost no more.
pub fn packed_attention_runs(
    device: &burn::tensor::Device,
    heads: usize,
    d_kv: usize,
    dtype: DType,
) -> bool {
    #[cfg(feature = "wgpu")]
    {
        let inner = device.clone().inner();
        let burn::backend::DispatchDevice::Cube(cube) = inner.as_dispatch() else {
            return false;
        };
        matches!(dtype, DType::F32 | DType::F16)
            && device.is_autodiff()
            && training_kernels_run(device, d_kv)
            && wgsl::packed_blocks_aligned(cube, heads * d_kv, dtype)
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = (device, heads, d_kv, dtype);
        false
    }
}

/// Whether [`self_attention`] (`blocks` 3, `query` the packed `kv` itself) or
/// [`cross_attention`] (`blocks` 2) takes the kernels: [`packed_attention_runs`] and the
/// shapes [`attention`]'s kernels take.
#[cfg(feature = "wgpu")]
fn packed_fits(
    query: &Tensor<3>,
    kv: &Tensor<3>,
    blocks: usize,
    bias: &Tensor<4>,
    heads: usize,
) -> bool {
    let [batch, q_len, q_width] = query.dims();
    let [kv_batch, k_len, width] = kv.dims();
    let q_inner = if blocks == 3 { q_width / 3 } else { q_width };
    let inner = width / blocks;
    if heads == 0 || !inner.is_multiple_of(heads) || width != inner * blocks || q_inner != inner {
        return false;
    }
    let d = inner / heads;
    let device = query.device();
    let io = query.dtype();
    kv.device() == device
        && kv_batch == batch
        && (bias.dtype() == DType::F32)
        && packed_attention_runs(&device, heads, d, io)
        && shapes_fit(
            [batch, heads, q_len, d],
            [batch, heads, k_len, d],
            [batch, heads, k_len, d],
            bias.dims(),
            ATTENTION_HEAD_DIMS[1],
        )
        && bias.device() == device
}

/// T5 attention for incremental decoding: a few query rows (usually one new token per
/// sequence) over a preallocated key/value cache, in one dispatch.
///
/// - `query` `[batch, heads, q_len, d_kv]`, usually `q_len = 1`
/// - `key`, `value` `[batch, heads, capacity, d_kv]`: the cache; views (a slice of a larger
///   cache, swapped dims) are read in place through their strides
/// - `bias` broadcastable to `[batch, heads, q_len, capacity]`: position bias with the causal
///   mask folded in (`f32::MIN` on slots not yet written), plus the padding bias
///   `[batch, 1, 1, capacity]` for cross-attention, either separately summed beforehand or
///   already `[batch, heads, q_len, capacity]`.
///
/// Returns `[batch, heads, q_len, d_kv]`, the same as [`attention`]. Masked slots get weight
/// exactly 0, but they must hold finite values (zeros from `Tensor::zeros` are fine): `0 · NaN`
/// is still NaN. Differentiable too (through [`attention`]'s kernels when a gradient is needed).
///
/// # Panics
/// On shapes that do not match the above.
pub fn decode_attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    bias: Tensor<4>,
) -> Tensor<4> {
    #[cfg(feature = "wgpu")]
    if kernel_runs(Kernel::Decode, &query, &key, &value, &bias) {
        return extension::decode_attention(query, key, value, bias);
    }
    reference_attention(query, key, value, bias)
}

/// Whether the call is mixed precision's (f16 query, keys and values, the f32 bias): the
/// kernels read and write those in f16 themselves (all their math in f32, the bias, the
/// statistics and the score gradients in f32), so f16 needs no cast around them.
fn half_io(query: &Tensor<4>, key: &Tensor<4>, value: &Tensor<4>, bias: &Tensor<4>) -> bool {
    [query, key, value].iter().all(|t| t.dtype() == DType::F16) && bias.dtype() == DType::F32
}

/// T5's layer norm over the last dim of `x` (an RMS norm: no mean subtracted, no bias),
/// `x · rsqrt(mean(x²) + eps) · weight`, in the WGSL kernels: `t5_rms_norm_forward.wgsl`
/// in one dispatch (statistics and normalisation in f32, the scale in `x`'s dtype, as HF's
/// `T5LayerNorm`), and under autodiff `t5_rms_norm_backward.wgsl` plus one sum over rows for
/// the gradients, where the tensor ops take about 15 launches for the two. Only where
/// [`norm_kernel_runs`]; `model::layers::rms_norm` chooses between this and the tensor ops.
#[cfg(feature = "wgpu")]
pub fn rms_norm(x: Tensor<3>, weight: Tensor<1>, eps: f64) -> Tensor<3> {
    extension::rms_norm(x, weight, eps as f32)
}

/// Whether [`rms_norm`] takes the kernels: `x` and the weight f32 or f16 on one wgpu device
/// compiling WGSL, under 2^31 elements, the kernels on.
pub fn norm_kernel_runs(x: &Tensor<3>, weight: &Tensor<1>) -> bool {
    let float = |dtype: DType| matches!(dtype, DType::F32 | DType::F16);
    let device = x.device();
    float(x.dtype())
        && float(weight.dtype())
        && weight.device() == device
        && wgsl_kernels_on(&device)
        && x.shape().num_elements() < (1 << 31)
        && x.dims()[2] == weight.dims()[0]
}

/// Flan-T5's gated activation `gelu_new(gate) · up` as one differentiable op (no WGSL of its
/// own): its forward is the same element-wise tensor ops as `model::layers`, and under
/// autodiff its backward is written out in element-wise ops that follow one another, which
/// Burn's fusion makes a single kernel (`d_gate`, `d_up` in f32, rounded once for f16),
/// where autodiff through the forward's ops took about 18 launches per feed-forward layer
/// and kept every intermediate for the backward pass. Only where [`gated_gelu_runs`].
#[cfg(feature = "wgpu")]
pub fn gated_gelu(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    extension::gated_gelu(gate, up)
}

/// [`gated_gelu`] over one packed product `both = x · [W_0 | W_1]` (`[batch, len, 2F]`: the
/// gate in the first F columns, the up projection in the last F): `gelu_new(gate) · up`,
/// `[batch, len, F]`. The forward reads the two halves in place (fused element-wise ops);
/// the backward writes the packed gradient in one launch of `shaders/gated_gelu_backward.wgsl`
/// (f32 arithmetic), which the product's backward takes whole: one GEMM for `x`'s gradient
/// and one for the packed weight's, where two separate products took two of each and an
/// addition. Only where [`gated_gelu_packed_runs`].
#[cfg(feature = "wgpu")]
pub fn gated_gelu_packed(both: Tensor<3>) -> Tensor<3> {
    extension::gated_gelu_packed(both)
}

/// Whether [`gated_gelu_packed`] applies to a product of `dims` (`[batch, len, 2F]`) and
/// `dtype` on `device`: training (an autodiff device) on a wgpu device compiling WGSL with
/// the kernels on, f32 or f16, an even last dim, under 2^31 elements.
pub fn gated_gelu_packed_runs(
    device: &burn::tensor::Device,
    dtype: DType,
    dims: [usize; 3],
) -> bool {
    matches!(dtype, DType::F32 | DType::F16)
        && dims[2].is_multiple_of(2)
        && dims.iter().product::<usize>() < (1 << 31)
        && device.is_autodiff()
        && wgsl_kernels_on(device)
}

/// T5's dropout at `draw` outside attention, as one differentiable op without a stored mask:
/// `x · factor`, each element's factor (0, or `1 / (1 - rate)` where kept) a hash of the
/// draw's seed and the element's index (`shaders/element_dropout.wgsl`, the hash of
/// [`AttentionDropout`]); the backward pass is the same kernel on the gradient. Burn's
/// `Bernoulli` masks are kept for the backward pass (4 bytes an element in f32, ~0.95 GB for
/// base at batch 8, 512/128), where PyTorch keeps 1 byte (0.24 GB). Only where
/// [`dropout_runs`].
#[cfg(feature = "wgpu")]
pub fn dropout(x: Tensor<3>, draw: AttentionDropout) -> Tensor<3> {
    extension::dropout(x, draw)
}

/// `residual + `[`dropout`]`(x, draw)` in one launch (a sub-layer's output into the residual
/// stream). Only where [`dropout_runs`].
#[cfg(feature = "wgpu")]
pub fn dropout_add(residual: Tensor<3>, x: Tensor<3>, draw: AttentionDropout) -> Tensor<3> {
    extension::dropout_add(residual, x, draw)
}

/// Whether [`dropout`] and [`dropout_add`] apply to a tensor of `dtype` with `elements` on
/// `device`: training (an autodiff device) on a wgpu device compiling WGSL with the kernels
/// on, f32 or f16, under 2^31 elements, unless [`set_dropout_kernel_enabled`] turned them off.
pub fn dropout_runs(device: &burn::tensor::Device, dtype: DType, elements: usize) -> bool {
    matches!(dtype, DType::F32 | DType::F16)
        && elements < (1 << 31)
        && device.is_autodiff()
        && wgsl_kernels_on(device)
        && dropout_kernel_enabled()
}

/// 0: not read yet, 1: on, 2: off.
static DROPOUT_KERNEL: AtomicU8 = AtomicU8::new(0);

/// Turns [`dropout`]'s kernel on or off for the whole process (on by default, off with
/// `MIXTUNE_DROPOUT_KERNEL=0`: Burn's Bernoulli masks, one draw per stack), for A/B runs.
pub fn set_dropout_kernel_enabled(enabled: bool) {
    DROPOUT_KERNEL.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether [`dropout`]'s kernel may run (see [`set_dropout_kernel_enabled`]).
pub fn dropout_kernel_enabled() -> bool {
    switch(&DROPOUT_KERNEL, "MIXTUNE_DROPOUT_KERNEL", true)
}

/// T5's per-element f16 clamp (`model::precision::clamp_f16`) as one differentiable op: the
/// same tensor ops forward, and under autodiff a backward in one fused kernel, where autodiff
/// through `mask_where` and `clamp` took about two zero tensors, two selections and a mask
/// per sub-layer. Only where [`clamp_f16_runs`].
#[cfg(feature = "wgpu")]
pub fn clamp_f16<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    extension::clamp_f16(x)
}

/// Whether [`clamp_f16`] applies: an f16 tensor in training (an autodiff device) on a wgpu
/// device, either compiler, the kernels on.
pub fn clamp_f16_runs<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F16 && fused_training_ops_on(&x.device())
}

/// Whether [`gated_gelu`] applies: training (an autodiff device) on a wgpu device, either
/// compiler (it needs no WGSL), with `gate` and `up` alike in shape and f32 or f16 dtype, the
/// kernels on (`MIXTUNE_WGSL_KERNELS=0` turns it off with them, for A/B comparisons).
pub fn gated_gelu_runs(gate: &Tensor<3>, up: &Tensor<3>) -> bool {
    let device = gate.device();
    matches!(gate.dtype(), DType::F32 | DType::F16)
        && up.dtype() == gate.dtype()
        && up.dims() == gate.dims()
        && up.device() == device
        && fused_training_ops_on(&device)
}

/// The checks the extension ops without WGSL of their own ([`gated_gelu`], [`clamp_f16`])
/// share: training (an autodiff device) on a wgpu device of either compiler, the kernels on.
fn fused_training_ops_on(device: &burn::tensor::Device) -> bool {
    device.is_autodiff() && kernels_enabled() && crate::device::cube_runtime(device).is_some()
}

/// Tensors one [`sum_of_squares`] dispatch reads: its bindings, with the output, stay within
/// wgpu's default of 8 storage buffers per shader stage.
pub const SQUARES_SLOTS: usize = 7;

/// The sum of the squares of every element of `tensors`, as an f32 `[1]` (`None` for no
/// tensors): the squared global norm of a model's gradients (each as a matrix: [`as_rows`];
/// f32, or f16 for the f16 working copies of mixed precision, squared and summed in f32
/// either way). On a wgpu device compiling WGSL with the kernels on,
/// `shaders/sum_of_squares.wgsl` reads [`SQUARES_SLOTS`] tensors of one dtype per dispatch
/// into partial sums that one reduction adds up: about `tensors.len() / 7 + 2` launches,
/// where each tensor's own `square().sum()` (the reference, and what every other device
/// runs) takes four or five. A matrix whose rows are spaced apart (a column block of a
/// wider one, as packed projections' weight gradients are) is read in place; other layouts
/// that are not dense are copied first.
pub fn sum_of_squares(tensors: Vec<Tensor<2>>) -> Option<Tensor<1>> {
    #[cfg(feature = "wgpu")]
    if squares_kernel_runs(&tensors) {
        // Each dispatch reads one dtype: the f32 tensors, then the f16 ones, in order.
        let (wide, half): (Vec<_>, Vec<_>) =
            tensors.into_iter().partition(|t| t.dtype() == DType::F32);
        let partials: Vec<Tensor<1>> = wide
            .chunks(SQUARES_SLOTS)
            .chain(half.chunks(SQUARES_SLOTS))
            .map(extension::sum_of_squares_partials)
            .collect();
        return Some(Tensor::cat(partials, 0).sum());
    }
    reference_sum_of_squares(tensors)
}

/// [`sum_of_squares`] in tensor ops: each tensor's `square().sum()` in f32 (an f16 tensor is
/// cast first: its squares overflow f16 from 256 up), added in order.
pub fn reference_sum_of_squares(tensors: Vec<Tensor<2>>) -> Option<Tensor<1>> {
    tensors
        .into_iter()
        .map(|t| cast(t, DType::F32).square().sum())
        .reduce(|total, sum| total + sum)
}

/// Whether [`sum_of_squares`] takes the kernel: some tensors, each f32 or f16, on one wgpu
/// device compiling WGSL, each under 2^31 elements, kernels on.
pub fn squares_kernel_runs(tensors: &[Tensor<2>]) -> bool {
    let Some(first) = tensors.first() else {
        return false;
    };
    let device = first.device();
    wgsl_kernels_on(&device)
        && tensors.iter().all(|t| {
            matches!(t.dtype(), DType::F32 | DType::F16)
                && t.device() == device
                && t.shape().num_elements() < (1 << 31)
        })
}

/// `tensor` as a matrix for [`sum_of_squares`]: a vector as one row, a matrix as itself (a
/// view stays a view), higher ranks with their leading dims as rows.
pub fn as_rows<const D: usize>(tensor: Tensor<D>) -> Tensor<2> {
    let dims = tensor.dims();
    let cols = dims.last().copied().unwrap_or(1).max(1);
    let rows = dims.iter().product::<usize>() / cols;
    tensor.reshape([rows, cols])
}

/// The plain-Burn math of [`attention`] and [`decode_attention`]:
/// `softmax(query · keyᵀ + bias, dim 3) · value` (what `T5Attention::attend` computes).
///
/// Mixed precision (f16 `query`/`key`/`value`, f32 `bias`): the scores are cast to the bias's
/// dtype before the bias is added, the softmax runs there (as HF's `softmax(scores.float())`),
/// and the weights are cast back to the values' dtype. With one dtype throughout, no casts.
pub fn reference_attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    bias: Tensor<4>,
) -> Tensor<4> {
    reference_attention_dropout(query, key, value, bias, 0.0)
}

/// [`reference_attention`] with dropout at `rate` on the probabilities in training, as HF's
/// eager `T5Attention` (`model::dropout`, from the device's generator; none outside
/// training): on the CPU and for shapes the fused kernels do not take, which draw their own
/// ([`AttentionDropout`]).
pub fn reference_attention_dropout(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    bias: Tensor<4>,
    rate: f64,
) -> Tensor<4> {
    let scores = query.matmul(key.swap_dims(2, 3));
    let dtype = scores.dtype();
    if dtype == bias.dtype() {
        return crate::model::dropout::dropout(softmax(scores + bias, 3), rate).matmul(value);
    }
    let scores = scores.cast(bias.dtype()) + bias;
    let probabilities = crate::model::dropout::dropout(softmax(scores, 3), rate);
    probabilities.cast(value.dtype()).matmul(value)
}

/// Whether [`attention`] / [`decode_attention`] would run the WGSL kernel for these inputs
/// (rather than [`reference_attention`]): built with `wgpu`, kernels enabled, all four tensors
/// `f32` (or query, key and value f16 with an f32 bias: mixed precision) on one wgpu device,
/// shapes as documented, every tensor under 2^31 elements, and
/// `d_kv` in [`ATTENTION_HEAD_DIMS`] with the workgroup memory that needs (decode without
/// autodiff: any `d_kv` up to [`MAX_DECODE_HEAD_DIM`]).
pub fn kernel_runs(
    kernel: Kernel,
    query: &Tensor<4>,
    key: &Tensor<4>,
    value: &Tensor<4>,
    bias: &Tensor<4>,
) -> bool {
    let dtypes = [query, key, value, bias]
        .iter()
        .all(|t| t.dtype() == DType::F32)
        || half_io(query, key, value, bias);
    dtypes && kernel_fits(kernel, query, key, value, bias)
}

/// [`kernel_runs`] but for the dtypes: whether the kernel would run on these tensors' devices
/// and shapes, whatever their dtypes.
pub fn kernel_fits(
    kernel: Kernel,
    query: &Tensor<4>,
    key: &Tensor<4>,
    value: &Tensor<4>,
    bias: &Tensor<4>,
) -> bool {
    let tensors = [query, key, value, bias];
    let device = query.device();
    if tensors.iter().any(|t| t.device() != device) || !wgsl_kernels_on(&device) {
        return false;
    }
    let training = kernel == Kernel::Attention || device.is_autodiff();
    let d = query.dims()[3];
    if training && !training_kernels_fit(&device, d) {
        return false;
    }
    let max_d = if training {
        ATTENTION_HEAD_DIMS[1]
    } else {
        MAX_DECODE_HEAD_DIM
    };
    shapes_fit(query.dims(), key.dims(), value.dims(), bias.dims(), max_d)
}

/// Whether f32 training attention with head size `d_kv` on `device` takes the fused WGSL
/// kernels (for the shapes `T5Attention::attend` sends them): a wgpu build and device with
/// the kernels on and the workgroup memory they need. What FLOP counts and profiles ask.
pub fn training_kernels_run(device: &burn::tensor::Device, d_kv: usize) -> bool {
    wgsl_kernels_on(device) && training_kernels_fit(device, d_kv)
}

/// Whether the training kernels take head size `d` on `device` (see [`ATTENTION_HEAD_DIMS`]),
/// which must also allow the storage buffers and workgroup memory they bind.
fn training_kernels_fit(device: &burn::tensor::Device, d: usize) -> bool {
    #[cfg(feature = "wgpu")]
    {
        let inner = device.clone().inner();
        let burn::backend::DispatchDevice::Cube(cube) = inner.as_dispatch() else {
            return false;
        };
        ATTENTION_HEAD_DIMS.contains(&d)
            && wgsl::training_shared_bytes(d) <= wgsl::max_shared_bytes(cube)
            && wgsl::TRAINING_STORAGE_BUFFERS <= wgsl::max_storage_buffers(cube)
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = (device, d);
        false
    }
}

/// Shapes the kernels take: see [`kernel_runs`].
fn shapes_fit(
    query: [usize; 4],
    key: [usize; 4],
    value: [usize; 4],
    bias: [usize; 4],
    max_d: usize,
) -> bool {
    let [batch, heads, q_len, d] = query;
    let k_len = key[2];
    let full_bias = [batch, heads, q_len, k_len];
    let limit = 1usize << 31;
    // Workgroup counts per dispatch axis (WebGPU's minimum limit is 65535).
    let groups = 65_535;
    key == [batch, heads, k_len, d]
        && value == key
        && bias.iter().zip(full_bias).all(|(&b, f)| b == 1 || b == f)
        && batch * heads * q_len * k_len > 0
        && (1..=max_d).contains(&d)
        && batch * heads <= groups
        && q_len <= groups
        && k_len <= groups
        && [query, key, full_bias]
            .iter()
            .all(|dims| dims.iter().product::<usize>() < limit)
}

/// `a · b` for `a` `[M, K]` and `b` `[K, N]`: each of its products (the forward and, in
/// training, the two gradients') by the kernel [`product_plan`] picks for it: on the GPU's
/// cooperative matrices (tensor cores; `shaders/coop_matmul*.wgsl`, f16 products summed in
/// f32, f16 out), by `shaders/tiled_matmul.wgsl` in f32, or Burn's matmul; differentiable,
/// the transposes read in place. Burn's matmul alone where none of ours may take any.
pub fn matmul(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    #[cfg(feature = "wgpu")]
    if let Some(plan) = product_plan(&a, &b) {
        return extension::planned_matmul(a, b, plan);
    }
    a.matmul(b)
}

/// Which of the `shaders/` matrix products runs a [`matmul`].
#[cfg(feature = "wgpu")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// f16 on the adapter's cooperative matrices of this shape, each subgroup loading its
    /// tiles from global memory (`coop_matmul.wgsl`).
    Coop(CoopShape),
    /// The same, with the operands staged in workgroup memory (`coop_matmul_staged.wgsl`).
    CoopStaged(CoopShape),
    /// The direct one with K split among this many subgroups a block, their f32 partial
    /// sums added and rounded after (`sum_parts.wgsl`): for a weight's gradient
    /// ([`coop_matmul::split_k_parts`]).
    CoopSplitK(CoopShape, usize),
    /// f32, register-tiled (`tiled_matmul.wgsl`): 128 × 128 outputs a workgroup.
    TiledF32,
    /// The same with 64 × 64 outputs a workgroup: four times the workgroups, for products
    /// with too few outputs to fill the GPU with the 128-wide ones.
    TiledF32Narrow,
    /// 128-wide blocks with K split among this many workgroups a block, their partial sums
    /// added after (`sum_parts.wgsl`): for a weight's gradient, few outputs over a long K
    /// (every token of the batch; [`tiled_matmul::split_k_parts`]).
    TiledF32SplitK(usize),
}

#[cfg(feature = "wgpu")]
impl Product {
    /// The dtype of its operands and result.
    pub fn dtype(self) -> DType {
        match self {
            Product::Coop(_) | Product::CoopStaged(_) | Product::CoopSplitK(..) => DType::F16,
            Product::TiledF32 | Product::TiledF32Narrow | Product::TiledF32SplitK(_) => DType::F32,
        }
    }

    /// Its name in measured choices and on the bench's lines.
    pub fn name(self) -> &'static str {
        match self {
            Product::Coop(_) => "coop",
            Product::CoopStaged(_) => "coop-staged",
            Product::CoopSplitK(..) => "coop-split-k",
            Product::TiledF32 => "tiled-f32",
            Product::TiledF32Narrow => "tiled-f32-64",
            Product::TiledF32SplitK(_) => "tiled-f32-split-k",
        }
    }

    /// A hash of its shader's text, so that a changed kernel is measured again (hashed once
    /// per process: plans ask for it at every product).
    pub fn shader_hash(self) -> u64 {
        use std::sync::OnceLock;
        static HASHES: [OnceLock<u64>; 5] = [const { OnceLock::new() }; 5];
        let (slot, texts): (usize, &[&str]) = match self {
            Product::Coop(_) => (0, &[coop_matmul::shader_text(false)]),
            Product::CoopStaged(_) => (1, &[coop_matmul::shader_text(true)]),
            Product::TiledF32 | Product::TiledF32Narrow => (2, &[tiled_matmul::shader_text()]),
            Product::TiledF32SplitK(_) => {
                (3, &[tiled_matmul::shader_text(), split_k::sum_parts_text()])
            }
            Product::CoopSplitK(..) => (
                4,
                &[coop_matmul::shader_text(false), split_k::sum_parts_text()],
            ),
        };
        *HASHES[slot].get_or_init(|| wgsl::fnv1a(&texts.concat()))
    }
}

/// Who takes each product of one [`matmul`]: the forward `a · b` and, in training, the
/// gradients' `dc · bᵀ` (for `a`) and `aᵀ · dc` (for `b`): one of our kernels, or Burn's
/// matmul (`None`). `dtype` is the operands'.
#[cfg(feature = "wgpu")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductPlan {
    pub forward: Option<Product>,
    pub grad_a: Option<Product>,
    pub grad_b: Option<Product>,
    pub dtype: DType,
}

/// How a kernel of ours that fits a product is picked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Never: Burn's matmul (or, for the staged cooperative-matrix kernel, the direct one).
    Never,
    /// Always, where it fits.
    Always,
    /// Where it measured faster than Burn's matmul on this adapter, for products of the size
    /// class and layout (`product_choice`; the default).
    Measured,
}

/// The plan for `a · b`: per product, the kernel of ours that takes it ([`product_kernels`]
/// and their [`Pick`]: measured against Burn's matmul the first time a product of its size
/// class and layout comes), `None` when Burn's matmul takes all three. The forward operands
/// count as row-major (a transposed view is measured as rows: tensors do not show their
/// layout here); the gradients' products are measured as they are read (`b` and `a`
/// transposed).
#[cfg(feature = "wgpu")]
pub fn product_plan(a: &Tensor<2>, b: &Tensor<2>) -> Option<ProductPlan> {
    plan_with(&a.device(), a.dtype(), a.dims(), b)
}

/// [`product_plan`] for an `a` `[m, k]` of `dtype` on `device` given by its sizes alone (no
/// tensor: `linear` asks before it reshapes its input to rows), times `b`.
#[cfg(feature = "wgpu")]
fn plan_with(
    device: &burn::tensor::Device,
    dtype: DType,
    [m, k]: [usize; 2],
    b: &Tensor<2>,
) -> Option<ProductPlan> {
    let [k_b, n] = b.dims();
    if k != k_b || b.dtype() != dtype || b.device() != *device {
        return None;
    }
    let take = |dims: [usize; 3], row_major: [bool; 2]| {
        let (kernels, pick) = product_kernels(device, dtype, dims);
        match pick {
            Pick::Never => None,
            Pick::Always => kernels.first().copied(),
            Pick::Measured => product_choice::choose(device, &kernels, dims, row_major),
        }
    };
    let forward = take([m, k, n], [true, true]);
    let (grad_a, grad_b) = if device.is_autodiff() {
        (
            take([m, n, k], [true, false]),
            take([k, m, n], [false, true]),
        )
    } else {
        (None, None)
    };
    let plan = ProductPlan {
        forward,
        grad_a,
        grad_b,
        dtype,
    };
    (forward.is_some() || grad_a.is_some() || grad_b.is_some()).then_some(plan)
}

/// Our kernels that may take a `dims` `[m, k, n]` product of `dtype` operands on `device`,
/// and how one of them is picked: f16, the cooperative-matrix kernels where
/// [`coop_product_shape`] fits it, as [`set_coop_staged`] says (the staged one only where it
/// runs: [`coop_kernel_runs`]); f32, the tiled kernel's variants that fit it
/// ([`tiled_f32_products`]), as [`set_f32_gemm`] says. None ([`Pick::Never`]) elsewhere.
/// Where they would be measured but nothing is measured (a software adapter:
/// [`product_choice::measures_on`]), the candidates are listed by their sizes alone, with no
/// self-checks: there Burn's matmul takes every product that no record (a pinned choice)
/// gives to one of ours, so checking them would only compile kernels on the CPU.
#[cfg(feature = "wgpu")]
pub fn product_kernels(
    device: &burn::tensor::Device,
    dtype: DType,
    dims: [usize; 3],
) -> (Vec<Product>, Pick) {
    match dtype {
        DType::F16 => {
            // A shape means the direct kernel passed its self-check here.
            let Some(shape) = coop_product_shape(device, dims) else {
                return (Vec::new(), Pick::Never);
            };
            let direct = Product::Coop(shape);
            let staged = || shape.stages_evenly() && coop_kernel_checked(device, shape, true);
            match coop_staged() {
                Pick::Never => (vec![direct], Pick::Always),
                Pick::Always if staged() => (vec![Product::CoopStaged(shape)], Pick::Always),
                Pick::Always => (vec![direct], Pick::Always),
                Pick::Measured => {
                    let checks = product_choice::measures_on(device);
                    let mut kernels = vec![direct];
                    let staged_fits = if checks {
                        staged()
                    } else {
                        shape.stages_evenly()
                    };
                    if staged_fits {
                        kernels.push(Product::CoopStaged(shape));
                    }
                    let split = coop_matmul::split_k_parts(shape, dims)
                        .filter(|_| !checks || coop_split_checked(device, shape));
                    kernels.extend(split.map(|parts| Product::CoopSplitK(shape, parts)));
                    (kernels, Pick::Measured)
                }
            }
        }
        DType::F32 => {
            let pick = f32_gemm();
            let checks = pick != Pick::Measured || product_choice::measures_on(device);
            match tiled_f32_listed(device, dims, checks) {
                products if products.is_empty() => (products, Pick::Never),
                products => (products, pick),
            }
        }
        _ => (Vec::new(), Pick::Never),
    }
}

/// `a · b` by our kernel `product`, which must fit it ([`product_kernels`] lists those that
/// do): for benches that time one kernel.
#[cfg(feature = "wgpu")]
pub fn multiply_by(a: Tensor<2>, b: Tensor<2>, product: Product) -> Tensor<2> {
    extension::matmul(a, b, product)
}

/// Whether `shaders/tiled_matmul.wgsl` may take f32 `a · b` (see [`tiled_f32_product_fits`]).
#[cfg(feature = "wgpu")]
pub fn tiled_f32_fits(a: &Tensor<2>, b: &Tensor<2>) -> bool {
    let ([m, k], [k_b, n]) = (a.dims(), b.dims());
    a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && k == k_b
        && b.device() == a.device()
        && tiled_f32_product_fits(&a.device(), [m, k, n])
}

/// Whether one of `shaders/tiled_matmul.wgsl`'s variants may take f32 operands `[m, k]` and
/// `[k, n]` on `device` ([`tiled_f32_products`]).
#[cfg(feature = "wgpu")]
pub fn tiled_f32_product_fits(device: &burn::tensor::Device, dims: [usize; 3]) -> bool {
    !tiled_f32_products(device, dims).is_empty()
}

/// The variants of `shaders/tiled_matmul.wgsl` that may take f32 operands `[m, k]` and
/// `[k, n]` on `device`, the 128-wide one first, by their sizes alone: none where it is turned
/// off ([`set_f32_gemm`]), on a device other than wgpu compiling WGSL with the kernels on, or
/// where M, N or K is not a multiple of 4 (the kernel reads four at a time); then each where
/// M and N are at least one of its blocks (128, or 64 for the narrow one: a decode step's few
/// rows keep Burn's), the split one where K is long enough to split
/// ([`tiled_matmul::split_k_parts`]), each once it passed its self-check on the adapter (run
/// there the first time).
#[cfg(feature = "wgpu")]
pub fn tiled_f32_products(device: &burn::tensor::Device, dims: [usize; 3]) -> Vec<Product> {
    tiled_f32_listed(device, dims, true)
}

/// [`tiled_f32_products`], with each variant's self-check only where `checks`.
#[cfg(feature = "wgpu")]
fn tiled_f32_listed(device: &burn::tensor::Device, dims: [usize; 3], checks: bool) -> Vec<Product> {
    let [m, k, n] = dims;
    let whole = |size: usize| size > 0 && size.is_multiple_of(4);
    let small = |size: usize| size < (1 << 31);
    let fits = f32_gemm() != Pick::Never
        && whole(m)
        && whole(n)
        && whole(k)
        && small(m * k)
        && small(k * n)
        && small(m * n)
        && wgsl_kernels_on(device);
    if !fits {
        return Vec::new();
    }
    let at_least = |block: usize| m >= block && n >= block;
    let split = tiled_matmul::split_k_parts(dims)
        .filter(|_| at_least(tiled_matmul::NARROW_BLOCK))
        .map(Product::TiledF32SplitK);
    [
        at_least(tiled_matmul::BLOCK).then_some(Product::TiledF32),
        split,
        at_least(tiled_matmul::NARROW_BLOCK).then_some(Product::TiledF32Narrow),
    ]
    .into_iter()
    .flatten()
    .filter(|&product| !checks || tiled_f32_checked(device, product))
    .collect()
}

/// Whether `product`, a variant of `shaders/tiled_matmul.wgsl`, passed its self-check on
/// `device`'s adapter (two exact products against Burn's, once per adapter and variant: a
/// driver that cannot build it, or computes it wrong, costs Burn's matmul and a line on
/// stderr, never a wrong run).
#[cfg(feature = "wgpu")]
fn tiled_f32_checked(device: &burn::tensor::Device, product: Product) -> bool {
    let Some(identity) = device.identity() else {
        return false;
    };
    // Two 128-wide blocks tall and wide, and K past one stage with a tail (16 + 8); split,
    // into two parts there (a stage, then the tail).
    let dims = [2 * tiled_matmul::BLOCK, 24];
    let (checked, what) = match product {
        Product::TiledF32SplitK(_) => (Product::TiledF32SplitK(2), "f32 split-K products"),
        Product::TiledF32Narrow => (product, "f32 narrow tiled products"),
        _ => (product, "f32 tiled products"),
    };
    let check = || product_self_check(device, checked, dims, what);
    coop_matmul::passes(&format!("{}, {}", identity.name, product.name()), check)
}

/// `x · w` over the rows of `x` `[batch, len, d_in]` with `w` `[d_in, d_out]`: [`matmul`] on
/// `[batch · len, d_in]` in training or where one of our kernels takes it ([`product_plan`]),
/// Burn's `linear` (the same product) elsewhere.
pub fn linear(x: Tensor<3>, w: Tensor<2>) -> Tensor<3> {
    // In training, rows too. Where each batch's rows fill the matmul's tiles, Burn's `linear`
    // multiplies batch by batch with the weight broadcast, and autodiff then makes the
    // weight's gradient a batched product `[batch, d_in, d_out]` summed over the batch: a
    // weight-sized f32 partial per example and one more reduction per layer (32 of a small
    // f32 step's), where rows give one GEMM over all of them. In inference a product no
    // kernel of ours takes goes straight to Burn, with no reshape recorded: Burn's fusion
    // then folds the element-wise ops around it (a residual add) into its matmul, which a
    // reshape between them prevents (an f32 decode step on lavapipe, small shapes: 134.8
    // launches, 166.8 with the reshape recorded).
    let training = x.device().is_autodiff();
    let [batch, len, d_in] = x.dims();
    let d_out = w.dims()[1];
    #[cfg(feature = "wgpu")]
    let plan = plan_with(&x.device(), x.dtype(), [batch * len, d_in], &w);
    #[cfg(not(feature = "wgpu"))]
    let plan: Option<()> = None;
    if plan.is_none() && !training {
        return burn::tensor::module::linear(x, w, None);
    }
    let rows = x.reshape([batch * len, d_in]);
    #[cfg(feature = "wgpu")]
    if let Some(plan) = plan {
        return extension::planned_matmul(rows, w, plan).reshape([batch, len, d_out]);
    }
    rows.matmul(w).reshape([batch, len, d_out])
}

/// The cooperative-matrix shape a cooperative-matrix kernel of ours may run `a · b` on (both
/// f16; [`coop_product_shape`]); `None` elsewhere. Which kernel takes it, if any, is
/// [`product_plan`]'s to say.
#[cfg(feature = "wgpu")]
pub fn coop_matmul_shape(a: &Tensor<2>, b: &Tensor<2>) -> Option<CoopShape> {
    let ([m, k], [k_b, n]) = (a.dims(), b.dims());
    if a.dtype() != DType::F16 || b.dtype() != DType::F16 || k != k_b || b.device() != a.device() {
        return None;
    }
    coop_product_shape(&a.device(), [m, k, n])
}

/// [`coop_matmul_shape`] for f16 operands `[m, k]` and `[k, n]` on `device`, by their sizes
/// alone (no tensors): a wgpu device compiling WGSL whose adapter multiplies f16 cooperative
/// matrices and passed the direct kernel's self-check ([`device_coop_shape`]), M, N and K
/// whole numbers of its tile, M and N at least two of its blocks (a workgroup's 4 × 4 tiles:
/// a skinnier product, such as a decode step's few rows, would leave most of the GPU idle,
/// and Burn's matmul takes it), the kernels on (`MIXTUNE_COOP_MATMUL=0` turns them off
/// alone, for A/B runs).
#[cfg(feature = "wgpu")]
pub fn coop_product_shape(
    device: &burn::tensor::Device,
    [m, k, n]: [usize; 3],
) -> Option<CoopShape> {
    if !coop_matmul_enabled() {
        return None;
    }
    let shape = device_coop_shape(device)?;
    let tile = shape.tile as usize;
    let fits = |size: usize| size >= tile && size.is_multiple_of(tile);
    let wide = |size: usize| size >= 2 * shape.block();
    let small = |size: usize| size < (1 << 31);
    (fits(m)
        && fits(n)
        && fits(k)
        && wide(m)
        && wide(n)
        && small(m * k)
        && small(k * n)
        && small(m * n))
    .then_some(shape)
}

/// The cooperative-matrix shape of `device`'s adapter, when it is a wgpu device compiling
/// WGSL with the kernels on, the adapter has one ([`adapter_shape`]) and the direct kernel
/// passed its self-check there (`coop_kernel_checked`, once per adapter: a driver that
/// cannot build the shader, or computes it wrong, costs Burn's matmul, never a failed run).
#[cfg(feature = "wgpu")]
pub fn device_coop_shape(device: &burn::tensor::Device) -> Option<CoopShape> {
    checked_adapter(device).map(|(_, shape)| shape)
}

/// [`device_coop_shape`] with the adapter's name.
#[cfg(feature = "wgpu")]
fn checked_adapter(device: &burn::tensor::Device) -> Option<(String, CoopShape)> {
    let (name, shape) = coop_adapter(device)?;
    coop_kernel_checked(device, shape, false).then_some((name, shape))
}

/// Whether the cooperative-matrix product kernel (`staged` or direct) runs on `device`: the
/// adapter has cooperative matrices, the kernel fits its shape (the staged one:
/// [`CoopShape::stages_evenly`]) and passed its self-check there (once per adapter).
#[cfg(feature = "wgpu")]
pub fn coop_kernel_runs(device: &burn::tensor::Device, staged: bool) -> bool {
    coop_adapter(device).is_some_and(|(_, shape)| {
        (!staged || shape.stages_evenly()) && coop_kernel_checked(device, shape, staged)
    })
}

/// Whether the cooperative-matrix product kernel (`staged` or direct) of `shape` passed its
/// self-check on `device`'s adapter (`coop_self_check`, asked once per adapter and kernel).
#[cfg(feature = "wgpu")]
fn coop_kernel_checked(device: &burn::tensor::Device, shape: CoopShape, staged: bool) -> bool {
    let Some((name, _)) = coop_adapter(device) else {
        return false;
    };
    let checked = format!("{name}, staged: {staged}");
    coop_matmul::passes(&checked, || coop_self_check(device, shape, staged))
}

/// Whether the direct cooperative-matrix kernel split in K (`Product::CoopSplitK`) passed
/// its self-check on `device`'s adapter (once per adapter).
#[cfg(feature = "wgpu")]
fn coop_split_checked(device: &burn::tensor::Device, shape: CoopShape) -> bool {
    let Some((name, _)) = coop_adapter(device) else {
        return false;
    };
    // K two tiles, split in two parts of one.
    let dims = [2 * shape.block(), 2 * shape.tile as usize];
    let product = Product::CoopSplitK(shape, 2);
    let check = || product_self_check(device, product, dims, "split-K cooperative-matrix products");
    coop_matmul::passes(&format!("{name}, split-k"), check)
}

/// The cooperative-matrix shape the training attention kernels run on (the
/// `coop_attention_*.wgsl` variants, with the scalar kernels' inputs and outputs) for f16
/// query, keys and values of head size `d_kv` on `device`: f16, `d_kv` 64, the adapter's
/// cooperative matrices passed their self-check ([`device_coop_shape`]), the adapter has the
/// workgroup memory and subgroup size they need ([`CoopAttention::fits`]) and they passed
/// their own self-check there (`coop_attention_self_check`; both asked once per adapter), and
/// they are on
/// (`MIXTUNE_COOP_ATTENTION=0` turns them off alone, for A/B runs); `None` (the scalar
/// kernels) elsewhere.
#[cfg(feature = "wgpu")]
pub fn attention_coop_shape(
    device: &burn::tensor::Device,
    dtype: DType,
    d_kv: usize,
) -> Option<CoopShape> {
    if dtype != DType::F16 || d_kv != coop_attention::HEAD_DIM || !coop_attention_enabled() {
        return None;
    }
    let (name, shape) = checked_adapter(device)?;
    let checked = format!("{name}, attention");
    let runs = || attention_fits(device, &name, shape) && coop_attention_self_check(device, shape);
    coop_matmul::passes(&checked, runs).then_some(shape)
}

/// Whether `device` (the adapter `name`) has the workgroup memory, bindings and subgroup the
/// cooperative-matrix attention kernels need ([`CoopAttention::fits`]); when not, says so on
/// stderr: the adapter has cooperative matrices, so the GEMMs use them, and a reader of a GPU
/// run's figures should know why attention does not.
#[cfg(feature = "wgpu")]
fn attention_fits(device: &burn::tensor::Device, name: &str, shape: CoopShape) -> bool {
    let inner = device.clone().inner();
    let burn::backend::DispatchDevice::Cube(cube) = inner.as_dispatch() else {
        return false;
    };
    let (shared, buffers) = (
        wgsl::max_shared_bytes(cube),
        wgsl::max_storage_buffers(cube),
    );
    let fits = CoopAttention::fits(shape, shared, buffers);
    if !fits {
        eprintln!(
            "cooperative-matrix attention needs {} bytes of workgroup memory, 9 storage \
             bindings and a subgroup of whole {}-row tiles; {name} allows {shared} bytes, \
             {buffers} bindings, subgroup {}: using the scalar attention kernels",
            CoopAttention::needed_bytes(shape),
            shape.tile,
            shape.subgroup
        );
    }
    fits
}

/// A small f16 attention, forward and backward, through the cooperative-matrix kernels and
/// through the scalar ones on `device`: blocks that overhang the queries and keys, a position
/// bias, an uneven upstream gradient. They round differently (the former multiply P and dS in
/// f16), so the output and each gradient must agree within f16 rounding (1% of its peak),
/// which a wrong tile, layout or mask misses by far.
/// False (with the reason on stderr) when they differ, or the kernels fail to build or run.
#[cfg(feature = "wgpu")]
fn coop_attention_self_check(device: &burn::tensor::Device, shape: CoopShape) -> bool {
    use burn::tensor::Int;
    let device = if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    };
    let (heads, d) = (2, coop_attention::HEAD_DIM);
    let (m, n) = (CoopAttention::rows_of(shape) + 3, 70);
    // Smooth values in [-1, 1] (a sine of the index): no two rows alike.
    let values = |dims: [usize; 4], rate: f64| {
        let count = dims.iter().product::<usize>() as i64;
        Tensor::<1, Int>::arange(0..count, &device)
            .float()
            .mul_scalar(rate)
            .sin()
            .reshape(dims)
    };
    let run = |coop: Option<CoopShape>| -> Result<Vec<Vec<f32>>, String> {
        let q = values([1, heads, m, d], 0.37).require_grad();
        let k = values([1, heads, n, d], 0.53).require_grad();
        let v = values([1, heads, n, d], 0.71).require_grad();
        let bias = values([1, heads, m, n], 0.11);
        let half = |t: &Tensor<4>| t.clone().cast(DType::F16);
        let launch = AttentionLaunch {
            coop,
            dropout: AttentionDropout::NONE,
        };
        let out = extension::attention(half(&q), half(&k), half(&v), bias, launch).cast(DType::F32);
        let grads = (out.clone() * values([1, heads, m, d], 0.29))
            .sum()
            .backward();
        let grad = |t: &Tensor<4>| t.grad(&grads).ok_or("a gradient is missing");
        [out, grad(&q)?, grad(&k)?, grad(&v)?]
            .into_iter()
            .map(|t| {
                let data = t.into_data().convert::<f32>();
                data.try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
            })
            .collect()
    };
    let check = || -> Result<bool, String> {
        let (coop, scalar) = (run(Some(shape))?, run(None)?);
        Ok(coop.iter().zip(&scalar).all(|(coop, scalar)| {
            let peak = scalar.iter().fold(0.0f32, |p, x| p.max(x.abs()));
            let diff = coop
                .iter()
                .zip(scalar)
                .fold(0.0f32, |worst, (a, b)| worst.max((a - b).abs()));
            coop.len() == scalar.len() && peak > 0.0 && diff <= 1e-2 * peak
        }))
    };
    self_check(
        "cooperative-matrix attention",
        "differs from the scalar kernels",
        "the scalar kernels",
        check,
    )
}

/// [`device_coop_shape`] before the self-check, which launches kernels: what the device
/// label reports when a GPU is chosen, without adding those launches to every start.
#[cfg(feature = "wgpu")]
pub fn coop_capable(device: &burn::tensor::Device) -> Option<CoopShape> {
    coop_adapter(device).map(|(_, shape)| shape)
}

/// The adapter's name and cooperative-matrix shape, for a wgpu device compiling WGSL with the
/// kernels on.
#[cfg(feature = "wgpu")]
fn coop_adapter(device: &burn::tensor::Device) -> Option<(String, CoopShape)> {
    if !wgsl_kernels_on(device) {
        return None;
    }
    let name = device.identity()?.name;
    let shape = adapter_shape(&name)?;
    Some((name, shape))
}

/// Two small products on `device`'s cooperative matrices, one with a transposed operand,
/// against Burn's f32 matmul: small integers, so f16 holds every input and every sum exactly
/// and the two must agree to the bit. False (with the reason on stderr) when they differ or
/// the kernel fails to build or run.
#[cfg(feature = "wgpu")]
fn coop_self_check(device: &burn::tensor::Device, shape: CoopShape, staged: bool) -> bool {
    let dims = [2 * shape.block(), 2 * shape.tile as usize];
    let (product, what) = if staged {
        (
            Product::CoopStaged(shape),
            "staged cooperative-matrix products",
        )
    } else {
        (Product::Coop(shape), "cooperative-matrix products")
    };
    product_self_check(device, product, dims, what)
}

/// Two small products of `dims` `[m, k] · [k, m]` by `product`'s kernel on `device`, one with a
/// transposed operand, against Burn's f32 matmul: small integers, so the operand dtype holds
/// every input and every sum exactly (at most 32 products of integers in -3..=3 stay below
/// 2^11) and the two must agree to the bit. False (with the reason on stderr, naming `what`)
/// when they differ or the kernel fails to build or run.
#[cfg(feature = "wgpu")]
fn product_self_check(
    device: &burn::tensor::Device,
    product: Product,
    [m, k]: [usize; 2],
    what: &str,
) -> bool {
    let small = |rows: usize, cols: usize, step: i64| small_integers([rows, cols], step, device);
    let a = small(m, k, 3);
    let b = small(k, m, 5);
    // `b`'s values stored transposed: `[m, k]` rows, read as `[k, m]` column-major.
    let b_stored_t = small(m, k, 5);
    let check = || -> Result<bool, String> {
        let read = |t: Tensor<2>| t.try_into_data().map_err(|e| format!("{e:?}"));
        let operand = |t: &Tensor<2>| cast(t.clone(), product.dtype());
        let direct = extension::matmul(operand(&a), operand(&b), product);
        let column_major =
            extension::matmul(operand(&a), operand(&b_stored_t).transpose(), product);
        Ok(
            read(cast(direct, DType::F32))? == read(a.clone().matmul(b.clone()))?
                && read(cast(column_major, DType::F32))?
                    == read(a.clone().matmul(b_stored_t.clone().transpose()))?,
        )
    };
    self_check(what, "differ from Burn's", "Burn's matmul", check)
}

/// A `dims` f32 tensor of small integers in -3..=3 (`i · step` mod 7, less 3, in row-major
/// order) on `device`: exact in f16, and drawn from a counter rather than the device's random
/// generator.
#[cfg(feature = "wgpu")]
fn small_integers(dims: [usize; 2], step: i64, device: &burn::tensor::Device) -> Tensor<2> {
    let count = (dims[0] * dims[1]) as i64;
    Tensor::<1, burn::tensor::Int>::arange_step(0..count * step, step as usize, device)
        .remainder_scalar(7)
        .float()
        .sub_scalar(3.0)
        .reshape(dims)
}

/// Runs a kernel's self-check `check` (agrees: `Ok(true)`), panics caught: true when it
/// agrees; else false, with a line on stderr saying that `what` `differs` here, or failed
/// (the reason), and that the run uses `fallback` instead.
#[cfg(feature = "wgpu")]
fn self_check(
    what: &str,
    differs: &str,
    fallback: &str,
    check: impl FnOnce() -> Result<bool, String>,
) -> bool {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
        .unwrap_or_else(|_| Err("a kernel panicked".into()));
    match outcome {
        Ok(true) => true,
        Ok(false) => {
            eprintln!("{what} {differs} here: using {fallback}");
            false
        }
        Err(reason) => {
            eprintln!("{what} failed here ({reason}): using {fallback}");
            false
        }
    }
}

/// 0: not read yet, 1: on, 2: off.
static COOP_ENABLED: AtomicU8 = AtomicU8::new(0);

/// Turns the cooperative-matrix products of [`matmul`] on or off for the whole process (on by
/// default, off with `MIXTUNE_COOP_MATMUL=0`); the other kernels are unaffected.
pub fn set_coop_matmul_enabled(enabled: bool) {
    COOP_ENABLED.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether [`matmul`] may use cooperative matrices (see [`set_coop_matmul_enabled`]).
pub fn coop_matmul_enabled() -> bool {
    switch(&COOP_ENABLED, "MIXTUNE_COOP_MATMUL", true)
}

/// 0: not read yet, 1: on, 2: off.
static COOP_ATTENTION: AtomicU8 = AtomicU8::new(0);

/// Turns the cooperative-matrix attention kernels ([`attention_coop_shape`]) on or off for the
/// whole process (on by default, off with `MIXTUNE_COOP_ATTENTION=0`): off, f16 training
/// attention takes the scalar kernels.
pub fn set_coop_attention_enabled(enabled: bool) {
    COOP_ATTENTION.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether f16 training attention may use the cooperative-matrix kernels.
pub fn coop_attention_enabled() -> bool {
    switch(&COOP_ATTENTION, "MIXTUNE_COOP_ATTENTION", true)
}

/// 0: not read yet, 1: on, 2: off.
static COOP_WO: AtomicU8 = AtomicU8::new(0);

/// Turns f16 training's `wo` products on the cooperative matrices on or off for the whole
/// process (on by default, off with `MIXTUNE_COOP_WO=0`: `wo` in f32 through Burn's matmul,
/// as before; `model::layers::project_out`), for A/B runs of its speed and numerics.
pub fn set_coop_wo_enabled(enabled: bool) {
    COOP_WO.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether f16 training's `wo` may run on the cooperative matrices (see
/// [`set_coop_wo_enabled`]).
pub fn coop_wo_enabled() -> bool {
    switch(&COOP_WO, "MIXTUNE_COOP_WO", true)
}

/// 0: not read yet, else a [`Pick`] ([`pick_state`]).
static F32_GEMM: AtomicU8 = AtomicU8::new(0);

/// How `shaders/tiled_matmul.wgsl` is picked for [`matmul`]'s and [`linear`]'s f32 products,
/// for the whole process: by default [`Pick::Measured`], against Burn's f32 matmul (which
/// reached ~15 TFLOP/s of an H200's ~67; cuBLAS ~51); `MIXTUNE_F32_GEMM=1` always, `=0`
/// never (for A/B runs; `mixtune bench gemm` times both).
pub fn set_f32_gemm(pick: Pick) {
    F32_GEMM.store(pick_state(pick), Ordering::Relaxed);
}

/// How f32 products pick `shaders/tiled_matmul.wgsl` (see [`set_f32_gemm`]).
pub fn f32_gemm() -> Pick {
    read_pick(&F32_GEMM, "MIXTUNE_F32_GEMM")
}

/// 0: not read yet, else a [`Pick`] ([`pick_state`]).
static COOP_STAGED: AtomicU8 = AtomicU8::new(0);

/// Picks the cooperative-matrix product kernel for the whole process: by default
/// [`Pick::Measured`], the faster on this adapter of `coop_matmul_staged.wgsl` (operands
/// staged in workgroup memory by four subgroups), `coop_matmul.wgsl` (each subgroup loads its
/// tiles from global memory) and Burn's f16 matmul, per size class; [`Pick::Always`]
/// (`MIXTUNE_COOP_STAGED=1`) the staged one, [`Pick::Never`] (`=0`) the direct one, wherever
/// they fit (for A/B runs; `mixtune bench gemm` times all three).
pub fn set_coop_staged(pick: Pick) {
    COOP_STAGED.store(pick_state(pick), Ordering::Relaxed);
}

/// How [`matmul`]'s f16 products pick a cooperative-matrix kernel (see [`set_coop_staged`]).
pub fn coop_staged() -> Pick {
    read_pick(&COOP_STAGED, "MIXTUNE_COOP_STAGED")
}

/// A [`Pick`] as kept in its process-wide state (0 is "not read yet").
fn pick_state(pick: Pick) -> u8 {
    match pick {
        Pick::Always => 1,
        Pick::Never => 2,
        Pick::Measured => 3,
    }
}

/// A process-wide [`Pick`] `state`, read from the environment variable `var` the first time:
/// a word for off ([`env_switch`]) is [`Pick::Never`], one for on [`Pick::Always`], anything
/// else [`Pick::Measured`].
fn read_pick(state: &AtomicU8, var: &str) -> Pick {
    let read = read_once(state, var, |value| {
        pick_state(match env_switch(value) {
            Some(false) => Pick::Never,
            Some(true) => Pick::Always,
            None => Pick::Measured,
        })
    });
    match read {
        1 => Pick::Always,
        2 => Pick::Never,
        _ => Pick::Measured,
    }
}

/// A process-wide on/off `state` (0: not read yet, 1: on, 2: off), read from the environment
/// variable `var` the first time: `default`, unless `var` says the other ([`env_switch`]).
fn switch(state: &AtomicU8, var: &str, default: bool) -> bool {
    let read = read_once(state, var, |value| {
        if env_switch(value).unwrap_or(default) {
            1
        } else {
            2
        }
    });
    read == 1
}

/// What an environment variable's `value` says of a switch: `0`, `off`, `false` or `never`
/// off; `1`, `on`, `true` or `always` on; anything else (unset included) nothing.
fn env_switch(value: &str) -> Option<bool> {
    match value.trim() {
        "0" | "off" | "false" | "never" => Some(false),
        "1" | "on" | "true" | "always" => Some(true),
        _ => None,
    }
}

/// A process-wide setting `state` (0: not read yet, else its code), set the first time from
/// the environment variable `var` by `code` (which must not give 0), unless another thread
/// set it meanwhile (a setter's value, or the same reading, is kept).
fn read_once(state: &AtomicU8, var: &str, code: impl FnOnce(&str) -> u8) -> u8 {
    if state.load(Ordering::Relaxed) == 0 {
        let value = std::env::var(var).unwrap_or_default();
        let _ = state.compare_exchange(0, code(&value), Ordering::Relaxed, Ordering::Relaxed);
    }
    state.load(Ordering::Relaxed)
}

/// Whether tensors on `device` are computed by Burn's CubeCL backend through wgpu compiling
/// WGSL, the language of `shaders/`. A build with the `vulkan` feature compiles CubeCL's own
/// kernels to SPIR-V on Vulkan adapters, and that path cannot load WGSL text (CubeCL refuses
/// a precompiled kernel there): those devices take the reference.
fn on_wgpu(device: &burn::tensor::Device) -> bool {
    crate::device::cube_runtime(device).is_some_and(|name| name.ends_with("<wgsl>"))
}

/// The checks every kernel shares: the kernels on, and `device` a wgpu device compiling WGSL
/// (false in builds without `wgpu`, which have no such device).
fn wgsl_kernels_on(device: &burn::tensor::Device) -> bool {
    kernels_enabled() && on_wgpu(device)
}

/// 0: not read yet, 1: on, 2: off.
static ENABLED: AtomicU8 = AtomicU8::new(0);

/// Turns the WGSL kernels on or off for the whole process (on by default, off when the
/// environment has `MIXTUNE_WGSL_KERNELS=0`). Off, every call takes [`reference_attention`].
pub fn set_kernels_enabled(enabled: bool) {
    ENABLED.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether the WGSL kernels are on (see [`set_kernels_enabled`]).
pub fn kernels_enabled() -> bool {
    switch(&ENABLED, "MIXTUNE_WGSL_KERNELS", true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_fit_takes_broadcast_bias_and_rejects_mismatches() {
        let q = [2, 3, 5, 8];
        let kv = [2, 3, 7, 8];
        assert!(shapes_fit(q, kv, kv, [1, 3, 5, 7], 128));
        assert!(shapes_fit(q, kv, kv, [2, 1, 1, 7], 128));
        assert!(shapes_fit(q, kv, kv, [2, 3, 5, 7], 128));
        assert!(!shapes_fit(q, kv, kv, [2, 3, 5, 6], 128));
        assert!(!shapes_fit(q, [2, 3, 7, 4], kv, [1, 1, 1, 1], 128));
        assert!(!shapes_fit(q, kv, [2, 3, 6, 8], [1, 1, 1, 1], 128));
        assert!(!shapes_fit(q, kv, kv, [1, 1, 1, 1], 4));
        assert!(!shapes_fit(
            [2, 3, 5, 8],
            [2, 3, 0, 8],
            [2, 3, 0, 8],
            [1, 1, 1, 1],
            128
        ));
    }

    #[test]
    fn settings_read_their_variable_once_and_keep_a_value_set_since() {
        for (value, said) in [
            (" off ", Some(false)),
            ("never", Some(false)),
            ("0", Some(false)),
            ("true", Some(true)),
            ("always", Some(true)),
            ("", None),
            ("2", None),
        ] {
            assert_eq!(env_switch(value), said, "{value:?}");
        }
        // Variables no environment sets: the default, until a value is set.
        static ON: AtomicU8 = AtomicU8::new(0);
        assert!(switch(&ON, "MIXTUNE_TEST_NEVER_SET_SWITCH", true));
        ON.store(2, Ordering::Relaxed);
        assert!(!switch(&ON, "MIXTUNE_TEST_NEVER_SET_SWITCH", true));
        static PICK: AtomicU8 = AtomicU8::new(0);
        assert_eq!(
            read_pick(&PICK, "MIXTUNE_TEST_NEVER_SET_PICK"),
            Pick::Measured
        );
        PICK.store(pick_state(Pick::Never), Ordering::Relaxed);
        assert_eq!(read_pick(&PICK, "MIXTUNE_TEST_NEVER_SET_PICK"), Pick::Never);
    }

    #[test]
    fn flex_tensors_take_the_reference() {
        let device = burn::tensor::Device::flex();
        let q = Tensor::<4>::ones([1, 2, 3, 4], &device);
        let k = Tensor::<4>::ones([1, 2, 5, 4], &device);
        let bias = Tensor::<4>::zeros([1, 2, 3, 5], &device);
        assert!(!kernel_runs(Kernel::Attention, &q, &k, &k, &bias));
        assert!(!kernel_runs(Kernel::Decode, &q, &k, &k, &bias));
    }
}
