//! The model's linear products on the CPU at inference, through `rten-gemm` with every
//! weight packed once at load, in f32 or quantized to int8 (`--dtype int8`).
//!
//! Burn's CPU backend (flex) multiplies through the `gemm` crate, which packs the weight on
//! every call and runs small products (a decode step's few rows) on one thread. `rten-gemm`
//! takes a weight packed once for its kernels ([`PackedBMatrix`]) and threads every shape.
//! Measured on this project's 2-core EPYC (Zen 5, AVX-512), f32, weights prepacked, against
//! flex's `matmul` on the same shapes: `[1600, 768]·[768, 2048]` (T5-base encoder, batch 8)
//! 10.7–12.5 vs 38 ms, `[1, 768]·[768, 2048]` (decoding, batch 1) 37–86 vs 213 µs, the
//! `[1, 768]·[768, 32128]` head 1.7 vs 4.8 ms. Results agree with an f64 reference to ~1e-6.
//!
//! The packed weights live in the model (`T5ForConditionalGeneration::cpu_weights`, packed
//! by `pack_for_cpu` in `keys.rs`, which walks the model's weights), keyed by parameter id,
//! and are found through [`enter`]: the model's forward entry points make them current for
//! the calling thread, and [`project`] uses them for any linear map whose weight is packed. Training never packs (its device tracks gradients), so no packed copy
//! can go stale under an optimizer; `to_precision` packs again or drops them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use burn::module::ParamId;
use burn::nn::Linear;
use burn::tensor::{DType, Tensor, TensorData};
use rten_gemm::{GemmExecutor, GemmInputA, GemmInputB, GemmOptions, PackedBMatrix, QuantParams};
use rten_tensor::NdTensorView;

use super::thread_current::{Current, Slot};

thread_local! {
    /// The executor (one per thread: it is not `Send`). Each picks the same kernel, the best
    /// this CPU has, so a matrix packed on one thread multiplies on any.
    static EXECUTOR: GemmExecutor<f32> = GemmExecutor::default();
    /// The int8 executor (`u8` activations × `i8` weights → `i32`): AVX-512 VNNI, AVX2 or
    /// Arm dot products where the CPU has them.
    static INT8_EXECUTOR: GemmExecutor<u8, i8, i32> = GemmExecutor::default();
}

/// A weight `[d_in, d_out]` packed for an executor's kernel.
struct Packed {
    matrix: Matrix,
    d_in: usize,
    d_out: usize,
}

/// The packed values of a weight.
enum Matrix {
    F32(PackedBMatrix<f32>),
    /// Symmetric int8 per output column: `W[k, c] ≈ q[k, c] · scales[c]`.
    Int8 {
        matrix: PackedBMatrix<i8>,
        scales: Vec<f32>,
    },
}

/// The model's weights packed for CPU inference, by parameter id (the head under `shared`'s
/// id when it is tied to the embeddings).
#[derive(Default)]
pub struct CpuWeights {
    by_param: HashMap<ParamId, Packed>,
}

impl std::fmt::Debug for CpuWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuWeights({} packed)", self.by_param.len())
    }
}

impl CpuWeights {
    /// Packs `weight` (`[d_in, d_out]`, or `[d_out, d_in]` when `transposed`) under `id`,
    /// as f32 or (`int8`) quantized per output column.
    /// `None` (nothing added) when the weight is not f32 or cannot be read.
    pub fn add(
        &mut self,
        id: ParamId,
        weight: Tensor<2>,
        transposed: bool,
        int8: bool,
    ) -> Option<()> {
        if weight.dtype() != DType::F32 {
            return None;
        }
        let [rows, cols] = weight.dims();
        let mut values = weight.into_data().try_into_vec::<f32>().ok()?;
        let (d_in, d_out) = if transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        if transposed {
            values = transpose(&values, rows, cols);
        }
        let matrix = if int8 {
            let (quantized, scales) = quantize_columns(&values, d_in, d_out);
            let view = NdTensorView::from_data([d_in, d_out], &quantized[..]);
            let matrix = INT8_EXECUTOR.with(|executor| executor.prepack_b(view));
            Matrix::Int8 { matrix, scales }
        } else {
            let view = NdTensorView::from_data([d_in, d_out], &values[..]);
            Matrix::F32(EXECUTOR.with(|executor| executor.prepack_b(view)))
        };
        let packed = Packed {
            matrix,
            d_in,
            d_out,
        };
        self.by_param.insert(id, packed);
        Some(())
    }
}

thread_local! {
    /// The packed weights of the model whose forward pass runs on this thread.
    static CURRENT: Slot<CpuWeights> = const { RefCell::new(None) };
}

/// Makes `weights` current on this thread until the guard drops (the previous ones then
/// come back, so nested entry points are fine).
pub fn enter(weights: Option<&Arc<CpuWeights>>) -> Current<CpuWeights> {
    super::thread_current::enter(&CURRENT, weights)
}

/// `x · W` for `linear` when its weight is packed in the current weights and `x` is f32;
/// `None` otherwise (the caller multiplies through Burn). Nothing current (a GPU, training,
/// f16): no tensor op at all on the way out.
pub fn project(linear: &Linear, x: &Tensor<3>) -> Option<Tensor<3>> {
    with_packed(linear.weight.id, |packed| {
        let [batch, len, d_in] = x.dims();
        let out = packed.apply(x.clone().reshape([batch * len, d_in]))?;
        let d_out = out.dims()[1];
        Some(out.reshape([batch, len, d_out]))
    })
}

/// `rows · W` for the weight packed under `id` (`[rows, d_in]` f32), if there is one.
pub fn product(id: ParamId, rows: Tensor<2>) -> Option<Tensor<2>> {
    with_packed(id, |packed| packed.apply(rows))
}

/// `f` of the current weights' matrix packed under `id`; `None` when there is none.
fn with_packed<T>(id: ParamId, f: impl FnOnce(&Packed) -> Option<T>) -> Option<T> {
    CURRENT.with(|current| f(current.borrow().as_ref()?.by_param.get(&id)?))
}

/// Flan-T5's gated feed-forward `wo(gelu_new(wi_0·x) ⊙ wi_1·x)` on the host in one go when
/// its three weights are packed: `x` is read once, the activation and the product are one
/// pass over the `[rows, d_ff]` values (with [`gelu_new`]), and one tensor comes back
/// (through Burn: nine passes and as many allocations for the activation alone).
pub fn gated_gelu_new(
    wi_0: &Linear,
    wi_1: &Linear,
    wo: &Linear,
    x: &Tensor<3>,
) -> Option<Tensor<3>> {
    CURRENT.with(|current| {
        let current = current.borrow();
        let weights = current.as_ref()?;
        let get = |linear: &Linear| weights.by_param.get(&linear.weight.id);
        let (gate_w, up_w, out_w) = (get(wi_0)?, get(wi_1)?, get(wo)?);
        let [batch, len, d_model] = x.dims();
        if x.dtype() != DType::F32 || d_model != gate_w.d_in {
            return None;
        }
        let rows = batch * len;
        let device = x.device();
        let values = x.clone().into_data().try_into_vec::<f32>().ok()?;
        let mut gate = gate_w.multiply(&values, rows)?;
        let up = up_w.multiply(&values, rows)?;
        for (g, u) in gate.iter_mut().zip(&up) {
            *g = gelu_new(*g) * u;
        }
        let out = out_w.multiply(&gate, rows)?;
        Some(Tensor::from_data(
            TensorData::new(out, [batch, len, out_w.d_out]),
            &device,
        ))
    })
}

impl Packed {
    /// `rows · W` as a tensor on `rows`' device; `None` unless `rows` is f32 `[m, d_in]`.
    fn apply(&self, rows: Tensor<2>) -> Option<Tensor<2>> {
        let [m, k] = rows.dims();
        if rows.dtype() != DType::F32 || k != self.d_in {
            return None;
        }
        let device = rows.device();
        let values = rows.into_data().try_into_vec::<f32>().ok()?;
        let out = self.multiply(&values, m)?;
        Some(Tensor::from_data(
            TensorData::new(out, [m, self.d_out]),
            &device,
        ))
    }

    /// `a · W` for `a` `[rows, d_in]`, row-major.
    fn multiply(&self, a: &[f32], rows: usize) -> Option<Vec<f32>> {
        let (matrix, scales) = match &self.matrix {
            Matrix::F32(matrix) => {
                let a = NdTensorView::from_data([rows, self.d_in], a);
                let mut out = vec![0f32; rows * self.d_out];
                EXECUTOR
                    .with(|executor| {
                        executor.gemm(
                            &mut out,
                            GemmInputA::Unpacked(a),
                            GemmInputB::Packed(matrix),
                            GemmOptions::default(),
                        )
                    })
                    .ok()?;
                return Some(out);
            }
            Matrix::Int8 { matrix, scales } => (matrix, scales),
        };
        // Without VNNI, x86's int8 kernels add pairs of products in i16 (`vpmaddubsw`), which
        // saturates past 7-bit activations: those get 127 levels, the others 255.
        let levels = if INT8_EXECUTOR.with(|executor| executor.may_saturate()) {
            127
        } else {
            255
        };
        let rows_q = quantize_rows(a, rows, self.d_in, levels);
        let a = NdTensorView::from_data([rows, self.d_in], &rows_q.values[..]);
        let zero_b = vec![0i8; self.d_out];
        let mut sums = vec![0i32; rows * self.d_out];
        INT8_EXECUTOR
            .with(|executor| {
                executor.gemm(
                    &mut sums,
                    GemmInputA::Unpacked(a),
                    GemmInputB::Packed(matrix),
                    GemmOptions {
                        a_quant: Some(QuantParams {
                            zero_point: &rows_q.zeros,
                        }),
                        b_quant: Some(QuantParams {
                            zero_point: &zero_b,
                        }),
                        ..Default::default()
                    },
                )
            })
            .ok()?;
        let mut out = vec![0f32; rows * self.d_out];
        for ((out, sums), row_scale) in out
            .chunks_mut(self.d_out)
            .zip(sums.chunks(self.d_out))
            .zip(&rows_q.scales)
        {
            for ((value, &sum), &column_scale) in out.iter_mut().zip(sums).zip(scales) {
                *value = sum as f32 * row_scale * column_scale;
            }
        }
        Some(out)
    }
}

/// `[rows, cols]` values, row-major, transposed to `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for (r, row) in values.chunks(cols).enumerate() {
        for (c, &value) in row.iter().enumerate() {
            out[c * rows + r] = value;
        }
    }
    out
}

/// Symmetric int8 per column of `w` `[rows, cols]`: `q = round(w / scale)` in −127..=127
/// with `scale = max |w| / 127` over the column (1 for an all-zero column).
fn quantize_columns(w: &[f32], rows: usize, cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut max = vec![0f32; cols];
    for row in w.chunks(cols) {
        for (m, &value) in max.iter_mut().zip(row) {
            *m = m.max(value.abs());
        }
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let mut quantized = Vec::with_capacity(rows * cols);
    for row in w.chunks(cols) {
        quantized.extend(
            row.iter()
                .zip(&scales)
                .map(|(&value, &scale)| (value / scale).round().clamp(-127.0, 127.0) as i8),
        );
    }
    (quantized, scales)
}

/// Rows quantized to `u8` with a zero point each: `x ≈ (q − zero) · scale`. The zero point
/// is the same for every row: with per-row zero points that differ, `rten-gemm` 0.27's int8
/// products came out wrong from 16 rows up (by up to 100% of the values; one row to nine
/// were right), which the test `int8_products_match_f32_at_every_row_count` pins.
struct QuantizedRows {
    values: Vec<u8>,
    scales: Vec<f32>,
    zeros: Vec<u8>,
}

/// Symmetric quantization of each row of `a` `[rows, cols]` around the zero point
/// `levels / 2 + 1` (128 for 255 levels): `q = round(x / scale) + zero`, `scale = max |x|
/// / (levels / 2)`.
fn quantize_rows(a: &[f32], rows: usize, cols: usize, levels: u8) -> QuantizedRows {
    let mut out = QuantizedRows {
        values: Vec::with_capacity(rows * cols),
        scales: Vec::with_capacity(rows),
        zeros: Vec::with_capacity(rows),
    };
    let half = (levels / 2) as f32;
    let zero = half + 1.0;
    for row in a.chunks(cols) {
        let peak = row.iter().fold(0f32, |m, &v| m.max(v.abs()));
        let scale = if peak > 0.0 { peak / half } else { 1.0 };
        out.values.extend(
            row.iter()
                .map(|&v| ((v / scale).round() + zero).clamp(0.0, levels as f32) as u8),
        );
        out.scales.push(scale);
        out.zeros.push(zero as u8);
    }
    out
}

/// HF's `NewGELUActivation`, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, written as
/// `x·σ(2y)` = `x / (1 + e^(−2y))` with a branch-free `exp`, so the loop over a row
/// vectorizes (libm's `tanhf` is a call per element). Within 1.2e-7 of the f64 formula
/// relative to `max(|x|, 1)` (tested).
#[inline(always)]
pub fn gelu_new(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let y = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
    x / (1.0 + exp(-2.0 * y))
}

/// `e^x` for f32 without branches or calls (Cephes' `expf`: `2^n · e^r` with
/// `|r| ≤ ln 2 / 2` and a degree-6 polynomial; relative error ~1e-7). Saturates: below
/// −87.3 gives ~0, above 88.7 gives `f32::MAX`-scale values, never NaN for finite `x`.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding and subtracting it rounds to the nearest integer in f32.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let p = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
    p * scale
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::tensor::{Device, Distribution, Int, Tensor};

    use super::INT8_EXECUTOR;
    use crate::model::{to_precision, Precision, T5Config, T5ForConditionalGeneration};

    /// Flan-T5 small's architecture at 32 wide, two layers, 96 tokens (unit tests' model).
    pub(crate) fn small(tied: bool) -> T5Config {
        let mut config = T5Config::flan_t5_small();
        (config.d_model, config.d_kv, config.d_ff) = (32, 8, 48);
        (
            config.num_layers,
            config.num_decoder_layers,
            config.num_heads,
        ) = (2, Some(2), 4);
        config.vocab_size = 96;
        config.tie_word_embeddings = tied;
        config
    }

    /// Logits of a short teacher-forced pass (encoder, cross-attention keys, decoder, head).
    fn logits(model: &T5ForConditionalGeneration, device: &Device) -> Vec<f32> {
        let ids = Tensor::<2, Int>::from_ints([[5, 9, 17, 1], [7, 3, 1, 0]], device);
        let mask = Tensor::<2>::from_floats([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]], device);
        let decoder_ids = Tensor::<2, Int>::from_ints([[0, 4, 8], [0, 6, 2]], device);
        let out = model.forward(ids, mask, decoder_ids);
        out.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn packed_products_give_burns_logits() {
        for tied in [false, true] {
            let device = Device::flex();
            device.seed(7);
            let mut model = T5ForConditionalGeneration::random(&small(tied), &device);
            model.pack_for_cpu(false);
            let packed = model.cpu_weights.clone().expect("packed on the CPU");
            // 2 × (4 + 3) encoder + 2 × (4 + 4 + 3) decoder linears, and the head.
            assert_eq!(packed.by_param.len(), 14 + 22 + 1, "tied: {tied}");
            // The packed path is taken, not only built: a projection goes through it.
            let q = &model.encoder.blocks[0].self_attention.self_attention.q;
            let x = Tensor::<3>::random([2, 3, 32], Distribution::Normal(0.0, 1.0), &device);
            let through_packed = {
                let _current = super::enter(Some(&packed));
                super::project(q, &x).expect("a packed projection")
            };
            let through_burn = x.matmul(q.weight.val().unsqueeze());
            let gap = (through_packed - through_burn)
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(gap < 1e-5, "tied: {tied}: projection differs by {gap}");
            let with = logits(&model, &device);
            model.cpu_weights = None;
            let without = logits(&model, &device);
            let worst = with
                .iter()
                .zip(&without)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "tied: {tied}: differs by {worst}");
            assert!(with.iter().any(|v| *v != 0.0));
        }
    }

    #[test]
    fn gelu_new_follows_the_formula() {
        let worst = (-40_000..=40_000)
            .map(|i| i as f32 * 2.5e-4 * (1.0 + (i as f32).abs() * 1e-3))
            .map(|x| {
                let exact = 0.5
                    * x as f64
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt()
                            * (x as f64 + 0.044715 * (x as f64).powi(3)))
                        .tanh());
                (super::gelu_new(x) as f64 - exact).abs() / (x.abs() as f64).max(1.0)
            })
            .fold(0f64, f64::max);
        assert!(worst < 1e-6, "{worst}");
        assert_eq!(super::gelu_new(0.0), 0.0);
        assert!(super::gelu_new(-200.0).abs() < 1e-30 && super::gelu_new(200.0) == 200.0);
    }

    #[test]
    fn int8_logits_stay_near_f32s() {
        for tied in [false, true] {
            let device = Device::flex();
            device.seed(7);
            let model = T5ForConditionalGeneration::random(&small(tied), &device);
            let exact = logits(&to_precision(model.clone(), Precision::F32), &device);
            let quantized = to_precision(model, Precision::Int8);
            let weights = quantized.cpu_weights.clone().expect("packed");
            assert!(weights
                .by_param
                .values()
                .all(|packed| matches!(packed.matrix, super::Matrix::Int8 { .. })));
            let quantized = logits(&quantized, &device);
            let range = exact.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = exact
                .iter()
                .zip(&quantized)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            // Quantized, so not equal; within 3% of the logits' range on these weights with
            // 8-bit activations (VNNI, Arm), 6% with the 7-bit ones of x86 without VNNI (half
            // the resolution: 3.8% on an AVX2-only EPYC).
            let seven_bit = INT8_EXECUTOR.with(|executor| executor.may_saturate());
            let budget = if seven_bit { 0.06 } else { 0.03 };
            assert!(
                worst > 0.0 && worst < budget * range,
                "tied {tied}: {worst} of {range} (7-bit activations: {seven_bit})"
            );
        }
    }

    #[test]
    fn int8_products_match_f32_at_every_row_count() {
        let device = Device::flex();
        device.seed(3);
        let linear = crate::model::layers::linear(48, 40, 0.2, &device);
        let mut weights = super::CpuWeights::default();
        weights.add(linear.weight.id, linear.weight.val(), false, true);
        let weights = std::sync::Arc::new(weights);
        let _current = super::enter(Some(&weights));
        for rows in [1, 8, 9, 16, 33, 200, 820] {
            let x = Tensor::<3>::random([2, rows, 48], Distribution::Normal(0.0, 1.0), &device);
            let exact = x.clone().matmul(linear.weight.val().unsqueeze());
            let quantized = super::project(&linear, &x).expect("packed");
            let worst = (exact.clone() - quantized).abs().max().into_scalar::<f32>();
            let peak = exact.abs().max().into_scalar::<f32>();
            assert!(worst < 0.02 * peak, "{rows} rows: {worst} of {peak}");
        }
    }

    #[test]
    fn quantized_values_come_back_within_half_a_step() {
        let w: Vec<f32> = (0..12).map(|i| (i as f32 - 5.0) * 0.37).collect();
        let (q, scales) = super::quantize_columns(&w, 4, 3);
        for (i, (&value, &q)) in w.iter().zip(&q).enumerate() {
            let scale = scales[i % 3];
            assert!(
                (q as f32 * scale - value).abs() <= scale / 2.0 + 1e-6,
                "{i}"
            );
        }
        let rows = super::quantize_rows(&w, 3, 4, 255);
        for (i, &value) in w.iter().enumerate() {
            let (scale, zero) = (rows.scales[i / 4], rows.zeros[i / 4] as f32);
            let back = (rows.values[i] as f32 - zero) * scale;
            assert!(
                (back - value).abs() <= scale / 2.0 + 1e-6,
                "{i}: {back} vs {value}"
            );
        }
    }

    #[test]
    fn int8_is_for_cpu_inference_only() {
        let training = Device::flex().autodiff();
        let err = crate::model::check_precision(&training, Precision::Int8).unwrap_err();
        assert!(err.to_string().contains("CPU only"), "{err}");
        assert!(crate::model::check_precision(&Device::flex(), Precision::Int8).is_ok());
        assert!(crate::model::check_precision(&training, Precision::F16).is_ok());
    }

    #[test]
    fn nothing_is_packed_for_training_or_f16() {
        let device = Device::flex().autodiff();
        let mut model = T5ForConditionalGeneration::random(&small(false), &device);
        model.pack_for_cpu(false);
        assert!(model.cpu_weights.is_none(), "a training device never packs");
        let device = Device::flex();
        let mut model = T5ForConditionalGeneration::random(&small(false), &device);
        model.pack_for_cpu(false);
        assert!(model.cpu_weights.is_some());
        let model = to_precision(model, Precision::F16);
        assert!(model.cpu_weights.is_none(), "f16 multiplies through Burn");
        let model = to_precision(model, Precision::F32);
        assert!(model.cpu_weights.is_some(), "back in f32, packed again");
    }
}
