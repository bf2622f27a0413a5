//! Attention projections that read the same input, packed side by side once at load for
//! inference: `[W_q | W_k | W_v]` of each self-attention and `[W_k | W_v]` of each
//! cross-attention, each then one product where it took three or two. A decode step is bound
//! by its launches at small batches (about 40 µs each on an H200), and this takes two of them
//! from every decoder layer, and a third where the self-attention's preallocated cache, laid
//! out as the product lays out its key and value columns (`KvCache::packed`), takes both in one
//! write.
//!
//! The gated feed-forward's `[W_0 | W_1]` is left apart: there Burn's fusion folds the gated
//! activation into the products around it, which it cannot do with the two halves of one
//! product (views). Measured on lavapipe (small shapes, an f32 decode step at batch 1):
//! 134.8 launches separate, 118.8 with the attention's projections packed, 126.8 with the
//! feed-forward's too.
//!
//! The model's own weights become views of the packed matrix's columns, so the packing costs
//! no second copy. The packed matrices live in the model
//! (`T5ForConditionalGeneration::packed_projections`), keyed by the first weight's parameter
//! id, and are found through [`enter`], as `cpu_gemm`'s packed weights are: the model's forward
//! entry points make them current for the calling thread. Nothing is packed under autodiff
//! (training packs at every step instead, `kernels::pack_columns`, so that the gradient is one
//! packed tensor and no packed copy can go stale under an optimizer), nor where `cpu_gemm`
//! multiplies (CPU inference in f32 or int8: its products are per weight).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use burn::module::ParamId;
use burn::nn::Linear;
use burn::tensor::{DType, Tensor};

use super::t5::T5ForConditionalGeneration;
use super::thread_current::{Current, Slot};

/// The packed weights of one model, by the parameter id of the first weight of each group.
#[derive(Default)]
pub struct PackedProjections {
    by_first: HashMap<ParamId, Tensor<2>>,
}

impl std::fmt::Debug for PackedProjections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedProjections({} packed)", self.by_first.len())
    }
}

impl PackedProjections {
    /// How many groups are packed.
    pub fn len(&self) -> usize {
        self.by_first.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_first.is_empty()
    }

    /// Packs `linears` (alike in shape and dtype, none with a LoRA adapter) under the first
    /// one's id, and makes each weight a view of its columns. Groups that do not qualify are
    /// left as they are.
    fn add(&mut self, linears: &mut [&mut Linear]) {
        if linears
            .iter()
            .any(|linear| linear.weight.adapter().is_some())
        {
            return;
        }
        let weights: Vec<Tensor<2>> = linears.iter().map(|linear| linear.weight.val()).collect();
        let (dims, dtype) = (weights[0].dims(), weights[0].dtype());
        if weights
            .iter()
            .any(|w| w.dims() != dims || w.dtype() != dtype)
        {
            return;
        }
        let [d_in, d_out] = dims;
        let matrix = crate::kernels::pack_columns(weights, dtype);
        for (i, linear) in linears.iter_mut().enumerate() {
            let columns = matrix.clone().slice([0..d_in, i * d_out..(i + 1) * d_out]);
            linear.weight = linear.weight.clone().map(|_| columns);
        }
        self.by_first.insert(linears[0].weight.id, matrix);
    }
}

impl T5ForConditionalGeneration {
    /// Packs the projections that read the same input for inference (see
    /// [`super::packed_projections`]): on a device that tracks no gradients, computing in f32
    /// or f16, where `cpu_weights` do not multiply. Elsewhere, or with
    /// `MIXTUNE_PACKED_PROJECTIONS=0` (for A/B runs), drops them; the weights stay views
    /// of the last packing, which read as the weights they replaced.
    pub fn pack_projections(&mut self) {
        self.packed_projections = None;
        let wanted = !self.device().is_autodiff()
            && self.cpu_weights.is_none()
            && matches!(self.compute_dtype, DType::F32 | DType::F16)
            && std::env::var("MIXTUNE_PACKED_PROJECTIONS").map_or(true, |v| v != "0");
        if wanted {
            self.packed_projections = pack(self).map(Arc::new);
        }
    }
}

/// Packs every self-attention's query, key and value and every cross-attention's key and
/// value of `model` (see the module's doc); `None` when no group qualifies. The device is
/// synced after each block, so the weights the views replace are freed as it goes rather
/// than all at the end.
pub fn pack(model: &mut T5ForConditionalGeneration) -> Option<PackedProjections> {
    let device = model.device();
    let mut packed = PackedProjections::default();
    for block in &mut model.encoder.blocks {
        let attention = &mut block.self_attention.self_attention;
        packed.add(&mut [&mut attention.q, &mut attention.k, &mut attention.v]);
        let _ = device.sync();
    }
    for block in &mut model.decoder.blocks {
        let attention = &mut block.self_attention.self_attention;
        packed.add(&mut [&mut attention.q, &mut attention.k, &mut attention.v]);
        let cross = &mut block.cross_attention.enc_dec_attention;
        packed.add(&mut [&mut cross.k, &mut cross.v]);
        let _ = device.sync();
    }
    (!packed.is_empty()).then_some(packed)
}

thread_local! {
    /// The packed projections of the model whose forward pass runs on this thread.
    static CURRENT: Slot<PackedProjections> = const { RefCell::new(None) };
}

/// Makes `packed` current on this thread until the guard drops (the previous ones then come
/// back, so nested entry points are fine).
pub fn enter(packed: Option<&Arc<PackedProjections>>) -> Current<PackedProjections> {
    super::thread_current::enter(&CURRENT, packed)
}

/// The current packed matrix of `linears` (`[W_1 | W_2 | ...]`, found by the first one's
/// id), when none of them has a LoRA adapter (attached after the packing, it would be left
/// out) and it can multiply `input` (its width, device and dtype); `None` otherwise (nothing
/// current: training, `cpu_gemm`'s products, a model not packed).
pub fn packed<const D: usize>(linears: &[&Linear], input: &Tensor<D>) -> Option<Tensor<2>> {
    let first = linears.first()?;
    CURRENT.with(|current| {
        // Looked up first: in training (nothing current) that is all it costs.
        let current = current.borrow();
        let matrix = current.as_ref()?.by_first.get(&first.weight.id)?;
        let adapted = (linears.iter()).any(|linear| linear.weight.adapter().is_some());
        let fits = !adapted
            && matrix.dims()[1] == linears.len() * first.weight.dims()[1]
            && matrix.dtype() == input.dtype()
            && matrix.device() == input.device();
        fits.then(|| matrix.clone())
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, Device, Int, Tensor};

    use crate::model::{to_precision, Precision, T5Config, T5ForConditionalGeneration};

    fn small() -> T5Config {
        crate::model::cpu_gemm::tests::small(false)
    }

    /// Logits of a teacher-forced pass, then of three decode steps on preallocated caches.
    fn logits(model: &T5ForConditionalGeneration, device: &Device) -> Vec<f32> {
        let ids = Tensor::<2, Int>::from_ints([[5, 9, 17, 1], [7, 3, 1, 0]], device);
        let mask = Tensor::<2>::from_floats([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]], device);
        let decoder_ids = Tensor::<2, Int>::from_ints([[0, 4, 8], [0, 6, 2]], device);
        let read = |t: Tensor<3>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let mut out = read(model.forward(ids.clone(), mask.clone(), decoder_ids));
        let encoded = model.encode(ids, mask.clone());
        let mut state = model.start_decoding(encoded, mask, Some(4));
        for step in 0..3 {
            let next = Tensor::<2, Int>::from_ints([[step], [step + 2]], device);
            out.extend(read(model.decode(next, &mut state)));
        }
        out
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    /// Packed projections give the logits of separate ones, in f32 (on the CPU with
    /// `cpu_gemm`'s packing off) and f16, and the weights, now views of the packed matrices,
    /// read as before.
    #[test]
    fn packed_projections_decode_as_separate_ones() {
        let device = Device::flex();
        device.seed(11);
        let mut model = T5ForConditionalGeneration::random(&small(), &device);
        model.cpu_weights = None;
        let value = |model: &T5ForConditionalGeneration| -> Vec<f32> {
            let attention = &model.decoder.blocks[1].self_attention.self_attention;
            attention.v.weight.val().into_data().try_to_vec().unwrap()
        };
        let separate = logits(&model, &device);
        let mut packed = model.clone();
        packed.pack_projections();
        // Per layer: the self-attention, and the decoder's cross-attention.
        let groups = packed.packed_projections.as_ref().map(|p| p.len());
        assert_eq!(groups, Some(2 + 2 * 2));
        assert_eq!(value(&packed), value(&model));
        let diff = max_diff(&logits(&packed, &device), &separate);
        assert!(diff < 1e-4, "f32: {diff}");
        assert!(separate.iter().any(|v| *v != 0.0));
        // The packed matrices are what multiplies, in the teacher-forced pass and in every
        // decode step: zeroed (the weights' views left as they are), both change.
        let zeroed = super::PackedProjections {
            by_first: (packed.packed_projections.as_ref().unwrap().by_first.iter())
                .map(|(id, matrix)| (*id, matrix.zeros_like()))
                .collect(),
        };
        let mut broken = packed.clone();
        broken.packed_projections = Some(std::sync::Arc::new(zeroed));
        let (forced, steps) = separate.split_at(2 * 3 * 96);
        let got = logits(&broken, &device);
        assert!(max_diff(&got[..forced.len()], forced) > 1e-3);
        for (step, want) in steps.chunks(2 * 96).enumerate() {
            let got = &got[forced.len() + step * 2 * 96..][..2 * 96];
            assert!(max_diff(got, want) > 1e-3, "decode step {step}");
        }

        let half = to_precision(model, Precision::F16);
        assert!(half.cpu_weights.is_none());
        let groups = half.packed_projections.as_ref().map(|p| p.len());
        assert_eq!(groups, Some(6), "f16 multiplies through Burn: packed");
        let mut unpacked = half.clone();
        unpacked.packed_projections = None;
        let peak = separate.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let diff = max_diff(&logits(&half, &device), &logits(&unpacked, &device));
        assert!(diff < 2e-3 * peak, "f16: {diff} of {peak}");
        // Beam search reorders the caches (in the packed layout here) between steps.
        let beams = |model: &T5ForConditionalGeneration| {
            let config = crate::generate::GenerationConfig {
                max_new_tokens: 6,
                num_beams: 3,
                ..Default::default()
            };
            let decoding = crate::generate::Decoding {
                config: &config,
                defaults: &crate::model::GenerationDefaults::from_config(&model.config),
                vocab_limit: 96,
            };
            crate::generate::generate(model, &[vec![5, 9, 17, 1], vec![7, 3, 1]], decoding).unwrap()
        };
        assert_eq!(beams(&half), beams(&unpacked));
        let back = to_precision(half, Precision::F32);
        assert!(back.cpu_weights.is_some() && back.packed_projections.is_none());
        let wo = back.decoder.blocks[0].ff.dense_relu_dense.wo().weight.val();
        assert_eq!(wo.dtype(), DType::F32);
    }

    #[test]
    fn a_training_device_packs_nothing() {
        let device = Device::flex().autodiff();
        let mut model = T5ForConditionalGeneration::random(&small(), &device);
        model.pack_projections();
        assert!(model.packed_projections.is_none());
    }
}
