//! Shared helpers of the integration tests: the tiny Flan-T5 fixture and its reference values.
#![allow(dead_code)]

pub mod runs;

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::SafeTensors;

/// `../shared` beside the checkout.
pub fn shared() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"))
}

/// The tiny random Flan-T5 saved by HF transformers.
pub fn tiny_flan() -> PathBuf {
    shared().join("fixtures/tiny-flan")
}

/// `reference.json` of the fixture.
pub fn reference_json() -> serde_json::Value {
    let text = std::fs::read_to_string(tiny_flan().join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json parses")
}

/// A tensor of `reference.safetensors` as (shape, f32 values) or (shape, i64 values).
pub struct RefTensor {
    pub shape: Vec<usize>,
    pub f32: Vec<f32>,
    pub i64: Vec<i64>,
}

pub fn reference_tensor(name: &str) -> RefTensor {
    let bytes =
        std::fs::read(tiny_flan().join("reference.safetensors")).expect("reference.safetensors");
    let tensors = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let view = tensors.tensor(name).expect(name);
    let data = view.data();
    let (f32s, i64s) = match view.dtype() {
        safetensors::Dtype::F32 => (
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            vec![],
        ),
        safetensors::Dtype::I64 => (
            vec![],
            data.chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        ),
        other => panic!("unexpected dtype {other:?}"),
    };
    RefTensor {
        shape: view.shape().to_vec(),
        f32: f32s,
        i64: i64s,
    }
}

/// Largest absolute difference, asserting equal lengths.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The fixture prompts and targets.
pub fn prompts_and_targets() -> (Vec<String>, Vec<String>) {
    let r = reference_json();
    let strings = |key: &str| -> Vec<String> {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    (strings("prompts"), strings("targets"))
}

/// The fixture's padded input batch (`input_ids`, `attention_mask`) as tensors.
pub fn reference_inputs(device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
    let ids = reference_tensor("input_ids");
    let mask = reference_tensor("attention_mask");
    let [b, s] = [ids.shape[0], ids.shape[1]];
    let mask_f: Vec<f32> = mask.i64.iter().map(|&m| m as f32).collect();
    (
        Tensor::from_data(TensorData::new(ids.i64.clone(), [b, s]), device),
        Tensor::from_data(TensorData::new(mask_f, [b, s]), device),
    )
}

/// The fixture's labels, one row per example.
pub fn reference_labels() -> Vec<Vec<i64>> {
    let labels = reference_tensor("labels");
    labels
        .i64
        .chunks(labels.shape[1])
        .map(<[i64]>::to_vec)
        .collect()
}

/// The fixture's reference batch as a training batch.
pub fn reference_batch(device: &Device) -> mixtune::train::TrainBatch {
    let (input_ids, attention_mask) = reference_inputs(device);
    let labels = reference_labels();
    let target_tokens = labels.iter().flatten().filter(|&&l| l >= 0).count();
    let source_tokens = reference_tensor("attention_mask")
        .i64
        .iter()
        .filter(|&&m| m == 1)
        .count();
    mixtune::train::TrainBatch {
        input_ids,
        attention_mask,
        tasks: vec!["summary".into(); labels.len()],
        labels,
        source_tokens,
        target_tokens,
    }
}
