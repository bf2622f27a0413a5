//! The attention kernels as a Burn backend extension: one trait, routed by Burn's dispatch to
//! the CubeCL backend (`wgsl.rs`), its fusion wrapper (generated: each op is one opaque,
//! deferred fusion op) and autodiff (below: a `Backward` step running the backward kernels).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{binary, broadcast_shape, unary, Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, AutodiffBackend, Backend, Dispatch, TensorMetadata,
};
use burn::tensor::{DType, FloatDType, Shape, Slice, Tensor};

use super::attention_dropout::AttentionDropout;
use super::{AttentionLaunch, Product, ProductPlan};

/// One [`live_memory`](crate::device::live_memory) sample of the device `tensor` is on, taken
/// by the backward steps below (about one a layer), so a sampled step sees its memory as the
/// backward pass frees activations and adds gradients. Nothing is read unless armed.
fn sample_live_memory<B: Backend>(tensor: &FloatTensor<B>) {
    crate::device::live_memory::sample(|| B::memory_pool_usage(&tensor.device()));
}

/// T5 attention ops (shapes and semantics in `kernels::attention`). Implemented by
/// `burn_cubecl::CubeBackend` with the WGSL kernels; only tensors on a wgpu device may reach
/// it (any other backend panics in the generated dispatch, which `kernel_runs` rules out).
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait T5AttentionOps: Backend {
    /// `decode_attention`: `[b, h, m, d]` out, one dispatch.
    #[fusion(meta = output_meta)]
    fn t5_decode_attention(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Forward of `attention`: the output `[b, h, m, d]` and the row log-sum-exp of the
    /// scores `[b, h, m, 1]`, kept for the backward pass. Not differentiable itself.
    #[fusion(meta = forward_meta)]
    fn t5_attention_forward(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        launch: AttentionLaunch,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Backward of `attention` from `grad_output` `[b, h, m, d]` and the forward's `output`
    /// and row log-sum-exp `lse` `[b, h, m, 1]`: `(d_query, d_key, d_value, d_scores)`, where
    /// `d_scores` `[b, h, m, n]` is the bias gradient before reducing over the bias's
    /// broadcast dims. Not differentiable itself.
    #[fusion(meta = backward_meta)]
    #[allow(clippy::too_many_arguments)]
    fn t5_attention_backward(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        output: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        launch: AttentionLaunch,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );

    /// `pack_columns`: the first `blocks` (2 or 3) of the `[rows, cols]` matrices `b0..b2`
    /// side by side, `[rows, blocks · cols]`, in f16 when `half` (else f32), in one launch
    /// (the rest of `b0..b2` repeat `b0`). Under autodiff each block's gradient is a view of
    /// the packed one's.
    #[fusion(meta = pack_meta)]
    fn t5_pack_columns(
        b0: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        blocks: usize,
        half: bool,
    ) -> FloatTensor<Self>;

    /// `sum_of_squares`: per-workgroup partial sums `[7 · G]` of the squares of the first
    /// `count` of `t0..t6` (the rest repeat `t0` and count nothing). Not differentiable.
    #[fusion(meta = squares_meta)]
    #[allow(clippy::too_many_arguments)]
    fn t5_sum_of_squares(
        t0: FloatTensor<Self>,
        t1: FloatTensor<Self>,
        t2: FloatTensor<Self>,
        t3: FloatTensor<Self>,
        t4: FloatTensor<Self>,
        t5: FloatTensor<Self>,
        t6: FloatTensor<Self>,
        count: usize,
    ) -> FloatTensor<Self>;

    /// Forward of `rms_norm` over the last dim of `x`: the output (x's dtype and shape) and
    /// the rows' `1 / rms` (`[rows, 1]`, f32), kept for the backward pass.
    #[fusion(meta = norm_forward_meta)]
    fn t5_rms_norm_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        eps: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Backward of `rms_norm` from `grad` (x's dtype and shape): `(d_x, d_weight_rows)`, the
    /// latter `[rows, d]` f32, summed over rows into the weight's gradient by the caller.
    #[fusion(meta = norm_backward_meta)]
    fn t5_rms_norm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        inv: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// `rms_norm`: the forward's output (autodiff records the backward step).
    #[fusion(default)]
    fn t5_rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f32) -> FloatTensor<Self> {
        Self::t5_rms_norm_forward(x, weight, eps).0
    }

    /// `gated_gelu`: `gelu_new(gate) · up`, element-wise, in the same tensor ops as
    /// `model::layers` (Burn's fusion joins them into one kernel); under autodiff the backward
    /// step is [`GatedGeluBackward`].
    #[fusion(default)]
    fn t5_gated_gelu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(gelu_new::<Self>(gate), up)
    }

    /// `gated_gelu_packed`: `gelu_new(gate) · up` where `both` (`[.., 2F]`) holds the gate in
    /// its first F columns and the up projection in its last F (one packed product), in the
    /// tensor ops of `t5_gated_gelu` on its two halves (views; fusion joins the ops into one
    /// kernel); under autodiff the backward step is [`GatedGeluPackedBackward`].
    #[fusion(default)]
    fn t5_gated_gelu_packed(both: FloatTensor<Self>) -> FloatTensor<Self> {
        let (gate, up) = halves::<Self>(both);
        Self::float_mul(gelu_new::<Self>(gate), up)
    }

    /// Backward of `gated_gelu_packed`: the gradient of `both` (its shape and dtype) from the
    /// output's `grad`, in one launch of `shaders/gated_gelu_backward.wgsl`.
    #[fusion(meta = first_meta)]
    fn t5_gated_gelu_packed_backward(
        both: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `dropout`: `x` with T5's dropout of `draw` (`x · factor`, each element's factor a hash
    /// of the draw's seed and its index: `shaders/element_dropout.wgsl`), one launch, no mask
    /// stored; under autodiff the backward step is the same kernel on the gradient.
    #[fusion(meta = dropout_meta)]
    fn t5_dropout(x: FloatTensor<Self>, draw: AttentionDropout) -> FloatTensor<Self>;

    /// `dropout_add`: `residual + x · factor`, `t5_dropout` with the residual added in the
    /// same launch (`x`'s shape and dtype).
    #[fusion(meta = dropout_add_meta)]
    fn t5_dropout_add(
        residual: FloatTensor<Self>,
        x: FloatTensor<Self>,
        draw: AttentionDropout,
    ) -> FloatTensor<Self>;

    /// `clamp_f16`: T5's per-element f16 clamp (`model::precision::clamp_f16`: `|x| ≥ f16
    /// max` becomes ±(max − 1000)); under autodiff its backward step is [`ClampBackward`].
    /// Float ops only, exact in f16: `x` clamped to ±max (an inf becomes ±max), `keep =
    /// clamp(max − |x|, 0, 1)` (1 for every f16 below max, which is at least 32 below it; 0 at
    /// max), then `x · keep + clamp(x, ±(max − 1000)) · (1 − keep)`. The comparison and
    /// selection the tensor version uses write a bool tensor, which CubeCL cannot store in
    /// WGSL when fusion leaves the comparison on its own (it did after a cooperative-matrix
    /// product).
    #[fusion(default)]
    fn t5_clamp_f16(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let bounded = Self::float_clamp(x, (-F16_MAX).into(), F16_MAX.into());
        let headroom = Self::float_add_scalar(
            Self::float_neg(Self::float_abs(bounded.clone())),
            F16_MAX.into(),
        );
        let keep = Self::float_clamp(headroom, 0.0.into(), 1.0.into());
        let limit = F16_MAX - 1000.0;
        let clamped = Self::float_clamp(bounded.clone(), (-limit).into(), limit.into());
        let replaced = Self::float_mul(
            clamped,
            Self::float_add_scalar(Self::float_neg(keep.clone()), 1.0.into()),
        );
        Self::float_add(Self::float_mul(bounded, keep), replaced)
    }

    /// `self_attention`: attention of the query, key and value packed side by side in `qkv`
    /// `[b, m, 3 · heads · d]`, read in place (autodiff records the backward step, which
    /// writes one packed gradient).
    #[fusion(default)]
    fn t5_self_attention(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> FloatTensor<Self> {
        let [query, key, value] = packed_heads::<Self, 3>(qkv, heads);
        Self::t5_attention_forward(query, key, value, bias, launch).0
    }

    /// `cross_attention`: attention of `query` `[b, m, heads · d]` over the key and value
    /// packed side by side in `kv` `[b, n, 2 · heads · d]`, read in place.
    #[fusion(default)]
    fn t5_cross_attention(
        query: FloatTensor<Self>,
        kv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> FloatTensor<Self> {
        let [query] = packed_heads::<Self, 1>(query, heads);
        let [key, value] = packed_heads::<Self, 2>(kv, heads);
        Self::t5_attention_forward(query, key, value, bias, launch).0
    }

    /// Backward of `self_attention`: `(d_qkv, d_scores)`, the first packed as `qkv` (the
    /// kernels write each block in place), the second as `t5_attention_backward`'s. Not
    /// differentiable itself.
    #[fusion(meta = self_backward_meta)]
    fn t5_self_attention_backward(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        output: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Backward of `cross_attention`: `(d_query, d_kv, d_scores)`, `d_kv` packed as `kv`. Not
    /// differentiable itself.
    #[fusion(meta = cross_backward_meta)]
    #[allow(clippy::too_many_arguments)]
    fn t5_cross_attention_backward(
        query: FloatTensor<Self>,
        kv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        output: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `matmul`: `a · b` for `a` `[M, K]` and `b` `[K, N]` by `product`'s kernel: f16 on the
    /// adapter's cooperative matrices (`[M, N]` f16 summed in f32), or f32 register-tiled.
    /// Under autodiff the backward step is [`MatmulBackward`] (two more of these).
    #[fusion(meta = matmul_meta)]
    fn t5_matmul(a: FloatTensor<Self>, b: FloatTensor<Self>, product: Product)
        -> FloatTensor<Self>;

    /// `matmul` as `plan` says: the forward by its kernel (Burn's `float_matmul` for
    /// `None`), and under autodiff each gradient's product by its own ([`MatmulBackward`]).
    #[fusion(default)]
    fn t5_planned_matmul(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        plan: ProductPlan,
    ) -> FloatTensor<Self> {
        planned_product::<Self>(a, b, plan.forward)
    }

    /// `attention`: the forward's output (autodiff records the backward step).
    #[fusion(default)]
    fn t5_attention(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        launch: AttentionLaunch,
    ) -> FloatTensor<Self> {
        Self::t5_attention_forward(query, key, value, bias, launch).0
    }
}

/// `kernels::attention` through the extension.
pub fn attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    bias: Tensor<4>,
    launch: AttentionLaunch,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_attention(
        query.into_dispatch(),
        key.into_dispatch(),
        value.into_dispatch(),
        bias.into_dispatch(),
        launch,
    ))
}

/// `kernels::self_attention` through the extension.
pub fn self_attention(
    qkv: Tensor<3>,
    bias: Tensor<4>,
    heads: usize,
    launch: AttentionLaunch,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_self_attention(
        qkv.into_dispatch(),
        bias.into_dispatch(),
        heads,
        launch,
    ))
}

/// `kernels::cross_attention` through the extension.
pub fn cross_attention(
    query: Tensor<3>,
    kv: Tensor<3>,
    bias: Tensor<4>,
    heads: usize,
    launch: AttentionLaunch,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_cross_attention(
        query.into_dispatch(),
        kv.into_dispatch(),
        bias.into_dispatch(),
        heads,
        launch,
    ))
}

/// The `N` blocks of a packed `[b, m, N · heads · d]` projection as `[b, heads, m, d]` views
/// (slices of the last dim, split into heads, heads before rows): no copy where the blocks
/// start at aligned offsets, which `kernels::packed_attention_runs` checks.
fn packed_heads<B: Backend, const N: usize>(
    packed: FloatTensor<B>,
    heads: usize,
) -> [FloatTensor<B>; N] {
    let shape = packed.shape();
    let (b, m, inner) = (shape[0], shape[1], shape[2] / N);
    std::array::from_fn(|block| {
        let columns = block * inner..(block + 1) * inner;
        let slices = [Slice::from(0..b), Slice::from(0..m), Slice::from(columns)];
        let block = B::float_slice(packed.clone(), &slices);
        let split = B::float_reshape(block, Shape::from([b, m, heads, inner / heads]));
        B::float_swap_dims(split, 1, 2)
    })
}

/// The packed gradient (as `qkv`) and the scores' `[b, h, m, m]` (f32, the bias's dtype).
fn self_backward_meta(
    qkv: &TensorSpec,
    bias: &TensorSpec,
    _grad_output: &TensorSpec,
    _output: &TensorSpec,
    _lse: &TensorSpec,
    heads: &usize,
    _launch: &AttentionLaunch,
) -> (TensorSpec, TensorSpec) {
    let (b, m) = (qkv.shape[0], qkv.shape[1]);
    (
        qkv.clone(),
        TensorSpec::new(Shape::from([b, *heads, m, m]), bias.dtype),
    )
}

/// The query's and the packed key/value's gradients (as they) and the scores' `[b, h, m, n]`.
#[allow(clippy::too_many_arguments)]
fn cross_backward_meta(
    query: &TensorSpec,
    kv: &TensorSpec,
    bias: &TensorSpec,
    _grad_output: &TensorSpec,
    _output: &TensorSpec,
    _lse: &TensorSpec,
    heads: &usize,
    _launch: &AttentionLaunch,
) -> (TensorSpec, TensorSpec, TensorSpec) {
    let (b, m, n) = (query.shape[0], query.shape[1], kv.shape[1]);
    (
        query.clone(),
        kv.clone(),
        TensorSpec::new(Shape::from([b, *heads, m, n]), bias.dtype),
    )
}

/// `kernels::decode_attention` through the extension.
pub fn decode_attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    bias: Tensor<4>,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_decode_attention(
        query.into_dispatch(),
        key.into_dispatch(),
        value.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// `kernels::sum_of_squares` through the extension: the partial sums of one dispatch over
/// up to [`super::SQUARES_SLOTS`] tensors (`tensors` is not empty).
pub fn sum_of_squares_partials(tensors: &[Tensor<2>]) -> Tensor<1> {
    let count = tensors.len();
    let slot = |i: usize| {
        tensors[if i < count { i } else { 0 }]
            .clone()
            .into_dispatch()
    };
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_sum_of_squares(
        slot(0),
        slot(1),
        slot(2),
        slot(3),
        slot(4),
        slot(5),
        slot(6),
        count,
    ))
}

/// `kernels::pack_columns` through the extension: `blocks` (2 or 3 alike `[rows, cols]`)
/// side by side, in `dtype` (f32 or f16).
pub fn pack_columns(blocks: Vec<Tensor<2>>, dtype: DType) -> Tensor<2> {
    let count = blocks.len();
    let block = |i: usize| {
        blocks[if i < count { i } else { 0 }]
            .clone()
            .into_dispatch()
    };
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_pack_columns(
        block(0),
        block(1),
        block(2),
        count,
        dtype == DType::F16,
    ))
}

/// `[rows, blocks · cols]` in f16 or f32, for fusion's deferred registration.
fn pack_meta(
    b0: &TensorSpec,
    _b1: &TensorSpec,
    _b2: &TensorSpec,
    blocks: &usize,
    half: &bool,
) -> TensorSpec {
    let dtype = if *half { DType::F16 } else { DType::F32 };
    TensorSpec::new(Shape::from([b0.shape[0], blocks * b0.shape[1]]), dtype)
}

/// The backward step of `t5_pack_columns`: the packed gradient in the blocks' dtype (one
/// cast at most), each block's gradient a view of its columns.
#[derive(Debug)]
struct PackBackward {
    blocks: usize,
}

impl<B: T5AttentionOps> Backward<B, 3> for PackBackward {
    /// The blocks' dtype and width.
    type State = (DType, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (dtype, cols) = ops.state;
        let grad = cast_to::<B>(grad, dtype);
        let rows = grad.shape()[0];
        for (block, node) in ops.parents.into_iter().take(self.blocks).enumerate() {
            if let Some(node) = node {
                let columns = block * cols..(block + 1) * cols;
                let slices = [Slice::from(0..rows), Slice::from(columns)];
                grads.register::<B>(node.id, B::float_slice(grad.clone(), &slices));
            }
        }
    }
}

/// `[7 · G]` f32 partial sums, `G` from the longest of the first `count` tensors (as the
/// backend chooses it), for fusion's deferred registration.
#[allow(clippy::too_many_arguments)]
fn squares_meta(
    t0: &TensorSpec,
    t1: &TensorSpec,
    t2: &TensorSpec,
    t3: &TensorSpec,
    t4: &TensorSpec,
    t5: &TensorSpec,
    t6: &TensorSpec,
    count: &usize,
) -> TensorSpec {
    let longest = [t0, t1, t2, t3, t4, t5, t6]
        .iter()
        .take(*count)
        .map(|t| t.shape.num_elements())
        .max()
        .unwrap_or(0);
    let groups = super::wgsl::squares_groups(longest);
    // The partial sums are f32 whatever the tensors' dtype (f32 or f16).
    TensorSpec::new(Shape::from([super::SQUARES_SLOTS * groups]), DType::F32)
}

/// `kernels::matmul` with its products taken as `plan` says, through the extension.
pub fn planned_matmul(a: Tensor<2>, b: Tensor<2>, plan: ProductPlan) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_planned_matmul(
        a.into_dispatch(),
        b.into_dispatch(),
        plan,
    ))
}

/// `a · b` on `B` by `product`'s kernel, or Burn's matmul for `None`.
fn planned_product<B: T5AttentionOps>(
    a: FloatTensor<B>,
    b: FloatTensor<B>,
    product: Option<Product>,
) -> FloatTensor<B> {
    match product {
        Some(product) => B::t5_matmul(a, b, product),
        None => B::float_matmul(a, b),
    }
}

/// `kernels::matmul` by one of our kernels (`product`) through the extension.
pub fn matmul(a: Tensor<2>, b: Tensor<2>, product: Product) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_matmul(
        a.into_dispatch(),
        b.into_dispatch(),
        product,
    ))
}

/// `[M, N]` in the product's dtype for `a` `[M, K]` and `b` `[K, N]`, for fusion's deferred
/// registration.
fn matmul_meta(a: &TensorSpec, b: &TensorSpec, product: &Product) -> TensorSpec {
    TensorSpec::new(Shape::from([a.shape[0], b.shape[1]]), product.dtype())
}

/// The backward step of `t5_matmul` and `t5_planned_matmul`: `da = dc · bᵀ` and
/// `db = aᵀ · dc`, each one more product by the kernel the plan gives it (`t5_matmul`'s: its
/// own for both), the transposes read in place (column-major views).
#[derive(Debug)]
struct MatmulBackward {
    plan: ProductPlan,
}

impl<B: T5AttentionOps> Backward<B, 2> for MatmulBackward {
    /// Checkpointed `a` and `b`.
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_a, node_b] = ops.parents;
        let plan = self.plan;
        let grad = cast_to::<B>(grads.consume::<B>(&ops.node), plan.dtype);
        let (a, b) = ops.state;
        let a = checkpointer.retrieve_node_output::<FloatTensor<B>>(a);
        let b = checkpointer.retrieve_node_output::<FloatTensor<B>>(b);
        if let Some(node) = node_a {
            let b_t = B::float_swap_dims(b, 0, 1);
            grads.register::<B>(
                node.id,
                planned_product::<B>(grad.clone(), b_t, plan.grad_a),
            );
        }
        if let Some(node) = node_b {
            let a_t = B::float_swap_dims(a, 0, 1);
            grads.register::<B>(node.id, planned_product::<B>(a_t, grad, plan.grad_b));
        }
    }
}

/// `kernels::gated_gelu` through the extension.
pub fn gated_gelu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_gated_gelu(
        gate.into_dispatch(),
        up.into_dispatch(),
    ))
}

/// √(2/π), of HF's `NewGELUActivation`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic term's coefficient of `gelu_new`.
const GELU_CUBIC: f64 = 0.044715;

/// HF's `NewGELUActivation`, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, op for op as
/// `model::layers::gelu_new`, so the forward is the same with or without the extension.
fn gelu_new<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let cube = B::float_mul(B::float_mul(x.clone(), x.clone()), x.clone());
    let inner = B::float_mul_scalar(
        B::float_add(x.clone(), B::float_mul_scalar(cube, GELU_CUBIC.into())),
        SQRT_2_OVER_PI.into(),
    );
    let gate = B::float_mul(x, B::float_add_scalar(B::float_tanh(inner), 1.0.into()));
    B::float_mul_scalar(gate, 0.5.into())
}

/// `t` in float `dtype` (no op when it is already): the backward steps' f32 math and their
/// gradients back in their inputs' dtype.
fn cast_to<B: Backend>(t: FloatTensor<B>, dtype: DType) -> FloatTensor<B> {
    if t.dtype() == dtype {
        t
    } else {
        B::float_cast(t, FloatDType::from(dtype))
    }
}

/// The backward step of `t5_gated_gelu`: `d_gate = dy · up · gelu_new'(gate)` and
/// `d_up = dy · gelu_new(gate)`, in f32 whatever the inputs' dtype, all element-wise after
/// one another, so the fusion backend makes them one kernel. Autodiff through the forward's
/// own ops interleaves them with the surrounding matmuls' backward: ~18 launches per
/// feed-forward layer, and every intermediate (`x²`, `x³`, the tanh…) kept for the pass.
#[derive(Debug)]
struct GatedGeluBackward;

impl<B: T5AttentionOps> Backward<B, 2> for GatedGeluBackward {
    /// Checkpointed gate and up.
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_gate, node_up] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (gate, up) = ops.state;
        let gate = checkpointer.retrieve_node_output::<FloatTensor<B>>(gate);
        let up = checkpointer.retrieve_node_output::<FloatTensor<B>>(up);
        let (gate_dtype, up_dtype) = (gate.dtype(), up.dtype());
        let wide = |t| cast_to::<B>(t, DType::F32);
        let (x, up, grad) = (wide(gate), wide(up), wide(grad));
        // t = tanh(c·(x + a·x³)); gelu = ½x(1 + t);
        // gelu' = ½(1 + t) + ½x·(1 − t²)·c·(1 + 3a·x²).
        let square = B::float_mul(x.clone(), x.clone());
        let cube = B::float_mul(square.clone(), x.clone());
        let inner = B::float_mul_scalar(
            B::float_add(x.clone(), B::float_mul_scalar(cube, GELU_CUBIC.into())),
            SQRT_2_OVER_PI.into(),
        );
        let t = B::float_tanh(inner);
        let half_one_plus_t =
            B::float_mul_scalar(B::float_add_scalar(t.clone(), 1.0.into()), 0.5.into());
        let one_minus_t2 =
            B::float_add_scalar(B::float_neg(B::float_mul(t.clone(), t)), 1.0.into());
        let slope = B::float_mul_scalar(
            B::float_add_scalar(
                B::float_mul_scalar(square, (3.0 * GELU_CUBIC).into()),
                1.0.into(),
            ),
            (0.5 * SQRT_2_OVER_PI).into(),
        );
        let derivative = B::float_add(
            half_one_plus_t.clone(),
            B::float_mul(B::float_mul(x.clone(), one_minus_t2), slope),
        );
        if let Some(node) = node_up {
            let gelu = B::float_mul(x, half_one_plus_t);
            grads.register::<B>(
                node.id,
                cast_to::<B>(B::float_mul(grad.clone(), gelu), up_dtype),
            );
        }
        if let Some(node) = node_gate {
            let d_gate = B::float_mul(B::float_mul(grad, up), derivative);
            grads.register::<B>(node.id, cast_to::<B>(d_gate, gate_dtype));
        }
    }
}

/// The first and the last half of `both`'s last dim, as views.
fn halves<B: Backend>(both: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
    let shape = both.shape();
    let last = shape.num_dims() - 1;
    let f = shape[last] / 2;
    let half = |range: std::ops::Range<usize>| {
        let slices: Vec<Slice> = (0..=last)
            .map(|i| {
                if i == last {
                    Slice::from(range.clone())
                } else {
                    Slice::from(0..shape[i])
                }
            })
            .collect();
        B::float_slice(both.clone(), &slices)
    };
    (half(0..f), half(f..2 * f))
}

/// The shape and dtype of the first input (a gradient of it).
fn first_meta(first: &TensorSpec, _other: &TensorSpec) -> TensorSpec {
    first.clone()
}

/// `kernels::gated_gelu_packed` through the extension.
pub fn gated_gelu_packed<const D: usize>(both: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_gated_gelu_packed(
        both.into_dispatch(),
    ))
}

/// The backward step of `t5_gated_gelu_packed`: the packed gradient in one launch
/// (`shaders/gated_gelu_backward.wgsl`, f32 arithmetic), which the packed product's backward
/// takes whole.
#[derive(Debug)]
struct GatedGeluPackedBackward;

impl<B: T5AttentionOps> Backward<B, 1> for GatedGeluPackedBackward {
    /// Checkpointed `both`.
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        unary_backward::<B>(ops, grads, checkpointer, |both, grad| {
            let grad = cast_to::<B>(grad, both.dtype());
            B::t5_gated_gelu_packed_backward(both, grad)
        });
    }
}

/// The backward step of a one-input op that checkpointed its input: `input_grad(input,
/// grad)` is the input's gradient from the output's, registered when the input is tracked.
fn unary_backward<B: Backend>(
    ops: Ops<NodeId, 1>,
    grads: &mut Gradients,
    checkpointer: &mut Checkpointer,
    input_grad: impl FnOnce(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) {
    let [parent] = ops.parents;
    let grad = grads.consume::<B>(&ops.node);
    let Some(node) = parent else {
        return;
    };
    let input = checkpointer.retrieve_node_output::<FloatTensor<B>>(ops.state);
    grads.register::<B>(node.id, input_grad(input, grad));
}

/// The autodiff forward of a one-input op whose backward `step` reads its checkpointed input
/// ([`unary_backward`]): `forward` on the inner backend, recorded when `x` is tracked.
fn unary_tracked<B: T5AttentionOps, C: CheckpointStrategy, S: Backward<B, 1, State = NodeId>>(
    step: S,
    x: FloatTensor<Autodiff<B, C>>,
    forward: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match step.prepare::<C>([x.node()]).compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let x_id = prep.checkpoint(&x);
            prep.finish(x_id, forward(x.into_primitive()))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive())),
    }
}

/// The autodiff forward of a two-input op whose backward `step` reads both checkpointed
/// inputs: `forward` on the inner backend, recorded when either input is tracked.
fn binary_tracked<
    B: T5AttentionOps,
    C: CheckpointStrategy,
    S: Backward<B, 2, State = (NodeId, NodeId)>,
>(
    step: S,
    x: FloatTensor<Autodiff<B, C>>,
    y: FloatTensor<Autodiff<B, C>>,
    forward: impl FnOnce(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match step
        .prepare::<C>([x.node(), y.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let ids = (prep.checkpoint(&x), prep.checkpoint(&y));
            prep.finish(ids, forward(x.into_primitive(), y.into_primitive()))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive(), y.into_primitive())),
    }
}

/// `kernels::dropout` through the extension.
pub fn dropout<const D: usize>(x: Tensor<D>, draw: AttentionDropout) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_dropout(
        x.into_dispatch(),
        draw,
    ))
}

/// `kernels::dropout_add` through the extension.
pub fn dropout_add<const D: usize>(
    residual: Tensor<D>,
    x: Tensor<D>,
    draw: AttentionDropout,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_dropout_add(
        residual.into_dispatch(),
        x.into_dispatch(),
        draw,
    ))
}

/// The dropped tensor: as `x`.
fn dropout_meta(x: &TensorSpec, _draw: &AttentionDropout) -> TensorSpec {
    x.clone()
}

/// The sum: as `x`.
fn dropout_add_meta(
    _residual: &TensorSpec,
    x: &TensorSpec,
    _draw: &AttentionDropout,
) -> TensorSpec {
    x.clone()
}

/// The backward step of `t5_dropout` and `t5_dropout_add`: the gradient of `x` is the
/// output's through the same draws (`t5_dropout` again, recomputing them), the residual's the
/// output's itself. Nothing is kept from the forward pass.
#[derive(Debug)]
struct DropoutBackward {
    draw: AttentionDropout,
}

impl<B: T5AttentionOps> Backward<B, 1> for DropoutBackward {
    type State = ();

    fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let draw = self.draw;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::t5_dropout(grad, draw)
        });
    }
}

impl<B: T5AttentionOps> Backward<B, 2> for DropoutBackward {
    type State = ();

    fn backward(self, ops: Ops<(), 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let draw = self.draw;
        binary::<B, _, _>(
            ops.parents,
            ops.node,
            grads,
            |grad| grad,
            |grad| B::t5_dropout(grad, draw),
        );
    }
}

/// `kernels::clamp_f16` through the extension.
pub fn clamp_f16<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_clamp_f16(
        x.into_dispatch(),
    ))
}

/// Largest finite f16 (`model::precision::F16_MAX`).
const F16_MAX: f64 = 65504.0;

/// The backward step of `t5_clamp_f16`: the gradient where `|x| < f16 max`, 0 where the
/// forward replaced an overflowed element, as autodiff through the forward's `mask_where`
/// and `clamp` gives (there: two zero tensors, two selections and the clamp's mask; here one
/// fused kernel, `grad · clamp(max − |x|, 0, 1)`, exact in f16: every f16 below max is at
/// least 32 below it, so the factor is exactly 1 or 0; in f16 itself, as casts to f32 and
/// back did not fuse and cost more launches than they saved). An infinite gradient on an
/// overflowed element gives NaN here, 0 there; either way the step's gradient norm is not
/// finite and the loss scaler skips it.
#[derive(Debug)]
struct ClampBackward;

impl<B: T5AttentionOps> Backward<B, 1> for ClampBackward {
    /// Checkpointed input.
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        unary_backward::<B>(ops, grads, checkpointer, |x, grad| {
            let headroom = B::float_add_scalar(B::float_neg(B::float_abs(x)), F16_MAX.into());
            let keep = B::float_clamp(headroom, 0.0.into(), 1.0.into());
            B::float_mul(grad, keep)
        });
    }
}

/// `kernels::rms_norm` through the extension.
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f32) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as T5AttentionOps>::t5_rms_norm(
        x.into_dispatch(),
        weight.into_dispatch(),
        eps,
    ))
}

/// The norm's output (as `x`) and its rows' `1 / rms` (`[rows, 1]`, f32).
fn norm_forward_meta(x: &TensorSpec, _weight: &TensorSpec, _eps: &f32) -> (TensorSpec, TensorSpec) {
    let (rows, _) = super::wgsl::rows_and_width(&x.shape);
    (
        x.clone(),
        TensorSpec::new(Shape::from([rows, 1]), DType::F32),
    )
}

/// `d_x` (as `x`) and the rows' weight-gradient terms (`[rows, d]`, f32).
fn norm_backward_meta(
    x: &TensorSpec,
    _weight: &TensorSpec,
    _inv: &TensorSpec,
    _grad: &TensorSpec,
) -> (TensorSpec, TensorSpec) {
    let (rows, d) = super::wgsl::rows_and_width(&x.shape);
    (
        x.clone(),
        TensorSpec::new(Shape::from([rows, d]), DType::F32),
    )
}

/// The backward step of `t5_rms_norm`.
#[derive(Debug)]
struct NormBackward;

/// Checkpointed input and weight, and the rows' `1 / rms`.
type NormState<B> = (NodeId, NodeId, FloatTensor<B>);

impl<B: T5AttentionOps> Backward<B, 2> for NormBackward {
    type State = NormState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, inv) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight);
        let weight_shape = weight.shape();
        let weight_dtype = weight.dtype();
        let (d_x, d_weight_rows) = B::t5_rms_norm_backward(x, weight, inv, grad);
        sample_live_memory::<B>(&d_x);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, d_x);
        }
        if let Some(node) = node_weight {
            let d_weight = B::float_reshape(B::float_sum_dim(d_weight_rows, 0), weight_shape);
            grads.register::<B>(node.id, cast_to::<B>(d_weight, weight_dtype));
        }
    }
}

/// `[b, h, m, d_value]`: the attention output, for fusion's deferred registration.
fn output_meta(
    query: &TensorSpec,
    _key: &TensorSpec,
    value: &TensorSpec,
    _bias: &TensorSpec,
) -> TensorSpec {
    let (q, v) = (&query.shape, &value.shape);
    TensorSpec::new(Shape::from([q[0], q[1], q[2], v[3]]), query.dtype)
}

/// The output (in the query's dtype) and the row log-sum-exp (f32, the bias's dtype).
fn forward_meta(
    query: &TensorSpec,
    key: &TensorSpec,
    value: &TensorSpec,
    bias: &TensorSpec,
    _launch: &AttentionLaunch,
) -> (TensorSpec, TensorSpec) {
    let q = &query.shape;
    (
        output_meta(query, key, value, bias),
        TensorSpec::new(Shape::from([q[0], q[1], q[2], 1]), bias.dtype),
    )
}

/// The gradients of query, key and value (in their dtype) and of the scores (f32, the bias's).
#[allow(clippy::too_many_arguments)]
fn backward_meta(
    query: &TensorSpec,
    key: &TensorSpec,
    value: &TensorSpec,
    bias: &TensorSpec,
    _grad_output: &TensorSpec,
    _output: &TensorSpec,
    _lse: &TensorSpec,
    _launch: &AttentionLaunch,
) -> (TensorSpec, TensorSpec, TensorSpec, TensorSpec) {
    let (q, k) = (&query.shape, &key.shape);
    (
        query.clone(),
        key.clone(),
        value.clone(),
        TensorSpec::new(Shape::from([q[0], q[1], q[2], k[2]]), bias.dtype),
    )
}

/// The backward step of `t5_attention`, on the kernels the forward ran on and with its
/// dropout draws (`launch`).
#[derive(Debug)]
struct AttentionBackward {
    launch: AttentionLaunch,
}

/// Checkpointed query, key, value and bias; the forward's output and log-sum-exp; the bias's
/// own shape (its gradient is summed back to it).
type AttentionState<B> = (
    NodeId,
    NodeId,
    NodeId,
    NodeId,
    FloatTensor<B>,
    FloatTensor<B>,
    Shape,
);

impl<B: T5AttentionOps> Backward<B, 4> for AttentionBackward {
    type State = AttentionState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 4>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_query, node_key, node_value, node_bias] = ops.parents;
        let grad_output = grads.consume::<B>(&ops.node);
        let (query, key, value, bias, output, lse, bias_shape) = ops.state;
        let query = checkpointer.retrieve_node_output::<FloatTensor<B>>(query);
        let key = checkpointer.retrieve_node_output::<FloatTensor<B>>(key);
        let value = checkpointer.retrieve_node_output::<FloatTensor<B>>(value);
        let bias = checkpointer.retrieve_node_output::<FloatTensor<B>>(bias);
        // The dq kernel computes each row's sum(dO · O) itself from the output.
        let (d_query, d_key, d_value, d_scores) = B::t5_attention_backward(
            query,
            key,
            value,
            bias,
            grad_output,
            output,
            lse,
            self.launch,
        );
        sample_live_memory::<B>(&d_scores);

        if let Some(node) = node_query {
            grads.register::<B>(node.id, d_query);
        }
        if let Some(node) = node_key {
            grads.register::<B>(node.id, d_key);
        }
        if let Some(node) = node_value {
            grads.register::<B>(node.id, d_value);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, broadcast_shape::<B>(d_scores, &bias_shape));
        }
    }
}

/// The backward step of `t5_self_attention`: one packed gradient for `qkv`, where three
/// separate ones would each flow back through their own projection (three products for the
/// input's gradient and two additions).
#[derive(Debug)]
struct SelfAttentionBackward {
    heads: usize,
    launch: AttentionLaunch,
}

/// Checkpointed packed projection and bias; the forward's output and log-sum-exp; the bias's
/// own shape.
type PackedState<B, const N: usize> = ([NodeId; N], FloatTensor<B>, FloatTensor<B>, Shape);

impl<B: T5AttentionOps> Backward<B, 2> for SelfAttentionBackward {
    type State = PackedState<B, 2>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_qkv, node_bias] = ops.parents;
        let grad_output = grads.consume::<B>(&ops.node);
        let ([qkv, bias], output, lse, bias_shape) = ops.state;
        let qkv = checkpointer.retrieve_node_output::<FloatTensor<B>>(qkv);
        let bias = checkpointer.retrieve_node_output::<FloatTensor<B>>(bias);
        let (d_qkv, d_scores) = B::t5_self_attention_backward(
            qkv,
            bias,
            grad_output,
            output,
            lse,
            self.heads,
            self.launch,
        );
        sample_live_memory::<B>(&d_scores);
        if let Some(node) = node_qkv {
            grads.register::<B>(node.id, d_qkv);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, broadcast_shape::<B>(d_scores, &bias_shape));
        }
    }
}

/// The backward step of `t5_cross_attention`: the query's gradient and one packed gradient
/// for the keys and values.
#[derive(Debug)]
struct CrossAttentionBackward {
    heads: usize,
    launch: AttentionLaunch,
}

impl<B: T5AttentionOps> Backward<B, 3> for CrossAttentionBackward {
    type State = PackedState<B, 3>;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_query, node_kv, node_bias] = ops.parents;
        let grad_output = grads.consume::<B>(&ops.node);
        let ([query, kv, bias], output, lse, bias_shape) = ops.state;
        let query = checkpointer.retrieve_node_output::<FloatTensor<B>>(query);
        let kv = checkpointer.retrieve_node_output::<FloatTensor<B>>(kv);
        let bias = checkpointer.retrieve_node_output::<FloatTensor<B>>(bias);
        let (d_query, d_kv, d_scores) = B::t5_cross_attention_backward(
            query,
            kv,
            bias,
            grad_output,
            output,
            lse,
            self.heads,
            self.launch,
        );
        sample_live_memory::<B>(&d_scores);
        if let Some(node) = node_query {
            grads.register::<B>(node.id, d_query);
        }
        if let Some(node) = node_kv {
            grads.register::<B>(node.id, d_kv);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, broadcast_shape::<B>(d_scores, &bias_shape));
        }
    }
}

/// Records `t5_attention` (forward kernel and dropout: `launch`) when any input
/// needs a gradient, else runs `untracked` on the inner tensors.
fn record<B: T5AttentionOps, C: CheckpointStrategy>(
    query: FloatTensor<Autodiff<B, C>>,
    key: FloatTensor<Autodiff<B, C>>,
    value: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    launch: AttentionLaunch,
    untracked: impl FnOnce(
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
    ) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let bias_shape = bias.primitive().shape();
    match (AttentionBackward { launch })
        .prepare::<C>([query.node(), key.node(), value.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let query_id = prep.checkpoint(&query);
            let key_id = prep.checkpoint(&key);
            let value_id = prep.checkpoint(&value);
            let bias_id = prep.checkpoint(&bias);
            let (output, lse) = B::t5_attention_forward(
                query.into_primitive(),
                key.into_primitive(),
                value.into_primitive(),
                bias.into_primitive(),
                launch,
            );
            prep.finish(
                (
                    query_id,
                    key_id,
                    value_id,
                    bias_id,
                    output.clone(),
                    lse,
                    bias_shape,
                ),
                output,
            )
        }
        OpsKind::UnTracked(prep) => prep.finish(untracked(
            query.into_primitive(),
            key.into_primitive(),
            value.into_primitive(),
            bias.into_primitive(),
        )),
    }
}

impl<B: T5AttentionOps, C: CheckpointStrategy> T5AttentionOps for Autodiff<B, C> {
    fn t5_decode_attention(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        record::<B, C>(
            query,
            key,
            value,
            bias,
            AttentionLaunch::SCALAR,
            B::t5_decode_attention,
        )
    }

    fn t5_attention(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        launch: AttentionLaunch,
    ) -> FloatTensor<Self> {
        record::<B, C>(query, key, value, bias, launch, |q, k, v, bias| {
            B::t5_attention(q, k, v, bias, launch)
        })
    }

    fn t5_self_attention(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> FloatTensor<Self> {
        let bias_shape = bias.primitive().shape();
        let backward = SelfAttentionBackward { heads, launch };
        match backward
            .prepare::<C>([qkv.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let ids = [prep.checkpoint(&qkv), prep.checkpoint(&bias)];
                let [query, key, value] = packed_heads::<B, 3>(qkv.into_primitive(), heads);
                let (output, lse) =
                    B::t5_attention_forward(query, key, value, bias.into_primitive(), launch);
                prep.finish((ids, output.clone(), lse, bias_shape), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::t5_self_attention(
                qkv.into_primitive(),
                bias.into_primitive(),
                heads,
                launch,
            )),
        }
    }

    fn t5_cross_attention(
        query: FloatTensor<Self>,
        kv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> FloatTensor<Self> {
        let bias_shape = bias.primitive().shape();
        let backward = CrossAttentionBackward { heads, launch };
        match backward
            .prepare::<C>([query.node(), kv.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let ids = [
                    prep.checkpoint(&query),
                    prep.checkpoint(&kv),
                    prep.checkpoint(&bias),
                ];
                let [query] = packed_heads::<B, 1>(query.into_primitive(), heads);
                let [key, value] = packed_heads::<B, 2>(kv.into_primitive(), heads);
                let (output, lse) =
                    B::t5_attention_forward(query, key, value, bias.into_primitive(), launch);
                prep.finish((ids, output.clone(), lse, bias_shape), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::t5_cross_attention(
                query.into_primitive(),
                kv.into_primitive(),
                bias.into_primitive(),
                heads,
                launch,
            )),
        }
    }

    /// Detached: no second-order gradients.
    fn t5_self_attention_backward(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        output: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (d_qkv, d_scores) = B::t5_self_attention_backward(
            qkv.into_primitive(),
            bias.into_primitive(),
            grad_output.into_primitive(),
            output.into_primitive(),
            lse.into_primitive(),
            heads,
            launch,
        );
        (Self::from_inner(d_qkv), Self::from_inner(d_scores))
    }

    /// Detached: no second-order gradients.
    #[allow(clippy::too_many_arguments)]
    fn t5_cross_attention_backward(
        query: FloatTensor<Self>,
        kv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        output: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        heads: usize,
        launch: AttentionLaunch,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (d_query, d_kv, d_scores) = B::t5_cross_attention_backward(
            query.into_primitive(),
            kv.into_primitive(),
            bias.into_primitive(),
            grad_output.into_primitive(),
            output.into_primitive(),
            lse.into_primitive(),
            heads,
            launch,
        );
        (
            Self::from_inner(d_query),
            Self::from_inner(d_kv),
            Self::from_inner(d_scores),
        )
    }

    fn t5_matmul(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        product: Product,
    ) -> FloatTensor<Self> {
        let plan = ProductPlan {
            forward: Some(product),
            grad_a: Some(product),
            grad_b: Some(product),
            dtype: product.dtype(),
        };
        binary_tracked::<B, C, _>(MatmulBackward { plan }, a, b, |a, b| {
            B::t5_matmul(a, b, product)
        })
    }

    fn t5_planned_matmul(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        plan: ProductPlan,
    ) -> FloatTensor<Self> {
        binary_tracked::<B, C, _>(MatmulBackward { plan }, a, b, |a, b| {
            planned_product::<B>(a, b, plan.forward)
        })
    }

    fn t5_dropout(x: FloatTensor<Self>, draw: AttentionDropout) -> FloatTensor<Self> {
        let step = Backward::<B, 1>::prepare::<C>(DropoutBackward { draw }, [x.node()]);
        step.compute_bound()
            .stateless(B::t5_dropout(x.into_primitive(), draw))
    }

    fn t5_dropout_add(
        residual: FloatTensor<Self>,
        x: FloatTensor<Self>,
        draw: AttentionDropout,
    ) -> FloatTensor<Self> {
        let step =
            Backward::<B, 2>::prepare::<C>(DropoutBackward { draw }, [residual.node(), x.node()]);
        step.compute_bound().stateless(B::t5_dropout_add(
            residual.into_primitive(),
            x.into_primitive(),
            draw,
        ))
    }

    fn t5_clamp_f16(x: FloatTensor<Self>) -> FloatTensor<Self> {
        unary_tracked::<B, C, _>(ClampBackward, x, B::t5_clamp_f16)
    }

    fn t5_gated_gelu_packed(both: FloatTensor<Self>) -> FloatTensor<Self> {
        unary_tracked::<B, C, _>(GatedGeluPackedBackward, both, B::t5_gated_gelu_packed)
    }

    /// Detached: the gradient step itself.
    fn t5_gated_gelu_packed_backward(
        both: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::t5_gated_gelu_packed_backward(
            both.into_primitive(),
            grad.into_primitive(),
        ))
    }

    fn t5_gated_gelu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        binary_tracked::<B, C, _>(GatedGeluBackward, gate, up, B::t5_gated_gelu)
    }

    fn t5_rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f32) -> FloatTensor<Self> {
        match NormBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_id = prep.checkpoint(&x);
                let weight_id = prep.checkpoint(&weight);
                let (output, inv) =
                    B::t5_rms_norm_forward(x.into_primitive(), weight.into_primitive(), eps);
                prep.finish((x_id, weight_id, inv), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::t5_rms_norm(
                x.into_primitive(),
                weight.into_primitive(),
                eps,
            )),
        }
    }

    /// Detached: the outputs carry no gradient.
    fn t5_rms_norm_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        eps: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (output, inv) =
            B::t5_rms_norm_forward(x.into_primitive(), weight.into_primitive(), eps);
        (Self::from_inner(output), Self::from_inner(inv))
    }

    /// Detached: no second-order gradients.
    fn t5_rms_norm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        inv: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (d_x, d_weight_rows) = B::t5_rms_norm_backward(
            x.into_primitive(),
            weight.into_primitive(),
            inv.into_primitive(),
            grad.into_primitive(),
        );
        (Self::from_inner(d_x), Self::from_inner(d_weight_rows))
    }

    fn t5_pack_columns(
        b0: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        blocks: usize,
        half: bool,
    ) -> FloatTensor<Self> {
        let state = (b0.primitive().dtype(), b0.primitive().shape()[1]);
        let backward = PackBackward { blocks };
        match backward
            .prepare::<C>([b0.node(), b1.node(), b2.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                state,
                B::t5_pack_columns(
                    b0.into_primitive(),
                    b1.into_primitive(),
                    b2.into_primitive(),
                    blocks,
                    half,
                ),
            ),
            OpsKind::UnTracked(prep) => prep.finish(B::t5_pack_columns(
                b0.into_primitive(),
                b1.into_primitive(),
                b2.into_primitive(),
                blocks,
                half,
            )),
        }
    }

    /// Detached: a sum of squares carries no gradient (it reads gradients).
    fn t5_sum_of_squares(
        t0: FloatTensor<Self>,
        t1: FloatTensor<Self>,
        t2: FloatTensor<Self>,
        t3: FloatTensor<Self>,
        t4: FloatTensor<Self>,
        t5: FloatTensor<Self>,
        t6: FloatTensor<Self>,
        count: usize,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::t5_sum_of_squares(
            t0.into_primitive(),
            t1.into_primitive(),
            t2.into_primitive(),
            t3.into_primitive(),
            t4.into_primitive(),
            t5.into_primitive(),
            t6.into_primitive(),
            count,
        ))
    }

    /// Detached: the outputs carry no gradient.
    fn t5_attention_forward(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        launch: AttentionLaunch,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (output, lse) = B::t5_attention_forward(
            query.into_primitive(),
            key.into_primitive(),
            value.into_primitive(),
            bias.into_primitive(),
            launch,
        );
        (Self::from_inner(output), Self::from_inner(lse))
    }

    /// Detached: no second-order gradients.
    #[allow(clippy::too_many_arguments)]
    fn t5_attention_backward(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        output: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        launch: AttentionLaunch,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let (d_query, d_key, d_value, d_scores) = B::t5_attention_backward(
            query.into_primitive(),
            key.into_primitive(),
            value.into_primitive(),
            bias.into_primitive(),
            grad_output.into_primitive(),
            output.into_primitive(),
            lse.into_primitive(),
            launch,
        );
        (
            Self::from_inner(d_query),
            Self::from_inner(d_key),
            Self::from_inner(d_value),
            Self::from_inner(d_scores),
        )
    }
}
