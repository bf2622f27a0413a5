//! Mixed precision: the `f32` / `f16` switch (`precision` in `run.toml`, `--dtype` of
//! `generate`, `summarize` and `eval`), and the f16 numerics T5 needs.
//!
//! The model computes in its `T5ForConditionalGeneration::compute_dtype`: token embeddings
//! are cast to it, and every weight is cast to the dtype of the activations it meets (a no-op
//! when they already agree, so an f32 model runs exactly as before). Training keeps f32 master
//! weights and casts them at use (gradients flow back through the casts in f32); generation
//! casts the weights once at load ([`cast_weights`], through `model::to_precision`). What T5 needs kept in f32, as HF's
//! `modeling_t5.py` does:
//!
//! - the layer norm's variance and normalisation (cast back to f16 before the scale);
//! - attention scores plus position bias and masks, and their softmax (`f32::MIN` masks would
//!   be `-inf` in f16);
//! - the feed-forward's output projection `wo` (HF's `_keep_in_fp32_modules = ["wo"]`: Flan-T5's
//!   `wo` activations overflow f16), its result cast back to f16; except in training on a GPU
//!   with cooperative matrices, where it is an f16 product summed in f32, as under HF's fp16
//!   autocast (`layers::project_out`);
//! - the logits and the loss;
//! - and the residual stream is clamped after each sub-layer, so an overflow does not become
//!   NaN: an inf becomes ±(f16's max − 1000), HF's `clamp_value` ([`clamp_f16`] says where it
//!   differs from HF's tensor-wide clamp).
//!
//! There is no bf16: the wgpu path (Vulkan) has none.

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, FloatDType, Tensor};
use serde::{Deserialize, Deserializer, Serialize};

/// Largest finite f16 value (`torch.finfo(torch.float16).max`).
pub const F16_MAX: f64 = 65504.0;

/// The floating-point precision the model computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Single precision everywhere (the default).
    #[default]
    F32,
    /// Half precision compute; see the module docs for what stays in f32.
    F16,
    /// Inference on the CPU only: linear weights (and the head) quantized once at load to
    /// int8 per output channel, activations to 8 bits per row at each product, accumulated
    /// in i32; everything else f32 (see `cpu_gemm`). Training refuses it.
    Int8,
}

/// A precision name other than `f32` / `f16`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown precision `{0}`: expected `f32`, `f16` or (inference on the CPU) `int8` (no bf16: the wgpu/Vulkan path has none)"
)]
pub struct UnknownPrecision(pub String);

impl Precision {
    /// Every precision, by name.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Int8];

    /// The dtype activations are computed in (int8: f32 between the quantized products).
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 | Self::Int8 => DType::F32,
            Self::F16 => DType::F16,
        }
    }

    /// `"f32"`, `"f16"` or `"int8"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Int8 => "int8",
        }
    }

    /// The precision of `dtype` (`None` for a dtype the model does not compute in).
    pub fn of(dtype: DType) -> Option<Self> {
        match dtype {
            DType::F32 => Some(Self::F32),
            DType::F16 => Some(Self::F16),
            _ => None,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = UnknownPrecision;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Self::F32),
            "f16" | "fp16" | "float16" | "half" => Ok(Self::F16),
            "int8" | "i8" => Ok(Self::Int8),
            _ => Err(UnknownPrecision(s.to_string())),
        }
    }
}

impl<'de> Deserialize<'de> for Precision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// `tensor` in `dtype` (a no-op when it already is; differentiable: the gradient is cast
/// back).
pub fn cast<const D: usize>(tensor: Tensor<D>, dtype: DType) -> Tensor<D> {
    if tensor.dtype() == dtype {
        tensor
    } else {
        tensor.cast(dtype)
    }
}

/// The f16 clamp of T5 hidden states after each sub-layer, so an overflow does not become
/// NaN further on: an overflowed element (±inf, or exactly ±f16's max) becomes ±(max − 1000),
/// every other element is kept. Other dtypes pass through.
///
/// HF clamps the whole tensor to ±(max − 1000) once any element is inf (`isinf(x).any()`),
/// else to ±max, which keeps every finite f16. The two agree except for finite elements above
/// max − 1000 in a tensor that also holds an inf: HF lowers them, this keeps them. Per element,
/// the clamp is one fused element-wise kernel; HF's tensor-wide `any` cost an unfused `isinf`,
/// a reduction and the clamp (about 4.6 launches a sub-layer: 146 of a small model's 400 per
/// f16 decode step, measured on lavapipe).
pub fn clamp_f16<const D: usize>(hidden: Tensor<D>) -> Tensor<D> {
    if hidden.dtype() != DType::F16 {
        return hidden;
    }
    #[cfg(feature = "wgpu")]
    if crate::kernels::clamp_f16_runs(&hidden) {
        // f16 training on a GPU: the same clamp, its backward in one fused kernel.
        return crate::kernels::clamp_f16(hidden);
    }
    let overflowed = hidden.clone().abs().greater_equal_elem(F16_MAX);
    let limit = F16_MAX - 1000.0;
    let clamped = hidden.clone().clamp(-limit, limit);
    hidden.mask_where(overflowed, clamped)
}

/// Casts every float weight of `module` to `precision` once, except those under a `wo`
/// module, which stay f32 (see the module docs). `F32` restores f32 weights.
pub fn cast_weights<M: Module>(module: M, precision: Precision) -> M {
    let mut mapper = CastWeights {
        dtype: precision.dtype(),
        path: Vec::new(),
    };
    module.map(&mut mapper)
}

/// Casts float parameters to `dtype`, except those under a `wo` module.
struct CastWeights {
    dtype: DType,
    path: Vec<String>,
}

impl ModuleMapper for CastWeights {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let target = if self.path.iter().any(|name| name == "wo") {
            DType::F32
        } else {
            self.dtype
        };
        let float: FloatDType = target.into();
        param.map(|tensor| {
            if tensor.dtype() == target {
                tensor
            } else {
                tensor.cast(float)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bf16_is_refused_by_name() {
        assert_eq!("f16".parse::<Precision>(), Ok(Precision::F16));
        assert_eq!("F32".parse::<Precision>(), Ok(Precision::F32));
        let err = "bf16".parse::<Precision>().unwrap_err().to_string();
        assert!(
            err.contains("bf16") && err.contains("f32") && err.contains("f16"),
            "{err}"
        );
        assert_eq!(Precision::default(), Precision::F32);
    }

    #[test]
    fn clamp_turns_overflow_into_large_finite_values_and_keeps_the_rest() {
        let device = burn::tensor::Device::flex();
        let values = [
            1.0,
            -2.0,
            60000.0,
            65000.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        let x = Tensor::<1>::from_floats(values, &device).cast(DType::F16);
        let out = clamp_f16(x).into_data().convert::<f32>();
        let out = out.try_to_vec::<f32>().unwrap();
        // Finite values stay exactly (65000 is 64992 in f16), even above 65504 - 1000 and
        // beside an inf.
        assert_eq!(out[..4], [1.0, -2.0, 60000.0, 64992.0]);
        // ±inf become ±(65504 - 1000), i.e. the nearest f16, 64512.
        assert_eq!(out[4..6], [64512.0, -64512.0]);
        assert!(out[6].is_nan(), "NaN is no overflow: {out:?}");
        // f32 passes through untouched.
        let wide = Tensor::<1>::from_floats([f32::INFINITY, 1e6], &device);
        let kept = clamp_f16(wide).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(kept, vec![f32::INFINITY, 1e6]);
    }
}
