//! The fixture forward on a wgpu device (a real GPU, or lavapipe in CI), against the same
//! HF reference as the CPU parity tests. Built only with `--features wgpu`; without a usable
//! adapter each test prints why it skipped.
#![cfg(feature = "wgpu")]

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::*;
use mixtune::device::{select, DeviceChoice};
use mixtune::generate::{generate, Decoding, GenerationConfig};
use mixtune::model::loader::load_dir;

/// f32 on a GPU sums in another order than PyTorch on CPU; 1e-4 still holds on this model.
const TOLERANCE: f32 = 1e-4;

#[test]
fn gpu_forward_and_greedy_match_reference() {
    let selected = match select(DeviceChoice::Gpu) {
        Ok(selected) => selected,
        Err(reason) => {
            println!("skipped: no wgpu device: {reason}");
            return;
        }
    };
    println!("device: {}", selected.label);
    let device = selected.device;
    let pretrained = load_dir(&tiny_flan(), &device).unwrap();
    let ids = reference_tensor("input_ids");
    let mask = reference_tensor("attention_mask");
    let [b, s] = [ids.shape[0], ids.shape[1]];
    let mask_f: Vec<f32> = mask.i64.iter().map(|&m| m as f32).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.i64.clone(), [b, s]), &device);
    let mask_t = Tensor::<2>::from_data(TensorData::new(mask_f, [b, s]), &device);
    let hidden = pretrained.model.encode(input, mask_t);
    let hidden: Vec<f32> = hidden.into_data().convert::<f32>().try_into_vec().unwrap();
    let diff = max_abs_diff(&hidden, &reference_tensor("encoder_last_hidden_state").f32);
    assert!(diff < TOLERANCE, "encoder on GPU differs by {diff}");

    let (prompts, _) = prompts_and_targets();
    let prompt_ids = pretrained.tokenizer.encode_batch(&prompts).unwrap();
    let config = GenerationConfig {
        max_new_tokens: 24,
        ..Default::default()
    };
    let out = generate(
        &pretrained.model,
        &prompt_ids,
        Decoding {
            config: &config,
            defaults: &pretrained.defaults,
            vocab_limit: 32128,
        },
    )
    .unwrap();
    let expected: Vec<Vec<u32>> = reference_json()["generate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["greedy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    assert_eq!(out, expected);
}
