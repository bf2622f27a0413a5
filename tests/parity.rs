//! Parity with HF transformers on the tiny Flan-T5 fixture (`../shared/fixtures/tiny-flan`),
//! on Burn's `flex` CPU backend. Tolerance: 1e-4 absolute for tensors and loss; token ids exact.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use mixtune::generate::{generate, pad_batch, Decoding, EarlyStopping, GenerationConfig};
use mixtune::model::loader::load_dir;
use mixtune::model::Pretrained;

const TOLERANCE: f32 = 1e-4;

fn load() -> Pretrained {
    load_dir(&tiny_flan(), &Device::flex()).expect("fixture loads")
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn tokenizer_ids_match_reference_input_ids() {
    let pretrained = load();
    let (prompts, _) = prompts_and_targets();
    let ids = reference_tensor("input_ids");
    let mask = reference_tensor("attention_mask");
    let width = ids.shape[1];
    for (row, prompt) in prompts.iter().enumerate() {
        let expected: Vec<u32> = (0..width)
            .filter(|&t| mask.i64[row * width + t] == 1)
            .map(|t| ids.i64[row * width + t] as u32)
            .collect();
        assert_eq!(
            pretrained.tokenizer.encode(prompt).unwrap(),
            expected,
            "prompt {row}"
        );
    }
    // The shared tokenizer has truncation at 32 baked in: it must not apply.
    let shared = mixtune::data::tokenizer::T5Tokenizer::from_file(
        &shared().join("models/t5-tokenizer/tokenizer.json"),
    )
    .unwrap();
    assert!(shared.encode(&prompts[0]).unwrap().len() > 100);
    assert_eq!(shared.vocab_size(), 32100);
}

#[test]
fn encoder_output_matches_reference() {
    let pretrained = load();
    let device = Device::flex();
    let (ids, mask) = reference_inputs(&device);
    let expected = reference_tensor("encoder_last_hidden_state");
    let hidden = pretrained.model.encode(ids, mask);
    assert_eq!(hidden.dims().to_vec(), expected.shape);
    let diff = max_abs_diff(&host(hidden), &expected.f32);
    assert!(diff < TOLERANCE, "encoder max abs diff {diff}");
}

#[test]
fn decoder_logits_match_reference() {
    let pretrained = load();
    let device = Device::flex();
    let (ids, mask) = reference_inputs(&device);
    let labels = reference_labels();
    let expected = reference_tensor("logits_first8");
    let (batch, steps, vocab) = (expected.shape[0], expected.shape[1], expected.shape[2]);
    // Decoder inputs: labels shifted right after the start token (pad for -100).
    let mut decoder_inputs = Vec::new();
    for row in &labels {
        decoder_inputs.push(0i64);
        decoder_inputs.extend(row[..steps - 1].iter().map(|&l| if l < 0 { 0 } else { l }));
    }
    let decoder_inputs =
        Tensor::<2, Int>::from_data(TensorData::new(decoder_inputs, [batch, steps]), &device);
    let logits = pretrained.model.forward(ids, mask, decoder_inputs);
    assert_eq!(logits.dims(), [batch, steps, vocab]);
    let diff = max_abs_diff(&host(logits), &expected.f32);
    assert!(diff < TOLERANCE, "logits max abs diff {diff}");
}

#[test]
fn incremental_decoding_matches_full_forward() {
    let pretrained = load();
    let device = Device::flex();
    let (ids, mask) = reference_inputs(&device);
    let labels = reference_labels();
    let steps = 6;
    let mut decoder_inputs = Vec::new();
    for row in &labels {
        decoder_inputs.push(0i64);
        decoder_inputs.extend(row[..steps - 1].iter().copied());
    }
    let batch = labels.len();
    let full_inputs = Tensor::<2, Int>::from_data(
        TensorData::new(decoder_inputs.clone(), [batch, steps]),
        &device,
    );
    let full = host(
        pretrained
            .model
            .forward(ids.clone(), mask.clone(), full_inputs),
    );
    let encoded = pretrained.model.encode(ids, mask.clone());
    let vocab = 32128;
    // Caches that grow by concatenation, and caches preallocated (with room to spare) and
    // written in place: both equal the full pass.
    for capacity in [None, Some(steps + 3)] {
        let mut state = pretrained
            .model
            .start_decoding(encoded.clone(), mask.clone(), capacity);
        for t in 0..steps {
            let column: Vec<i64> = (0..batch).map(|b| decoder_inputs[b * steps + t]).collect();
            let step = Tensor::<2, Int>::from_data(TensorData::new(column, [batch, 1]), &device);
            let logits = host(pretrained.model.decode(step, &mut state));
            for b in 0..batch {
                let expected = &full[(b * steps + t) * vocab..(b * steps + t + 1) * vocab];
                let diff = max_abs_diff(&logits[b * vocab..(b + 1) * vocab], expected);
                assert!(
                    diff < TOLERANCE,
                    "capacity {capacity:?}, step {t} row {b}: cached decoding differs by {diff}"
                );
            }
        }
    }
}

#[test]
fn loss_matches_reference() {
    let pretrained = load();
    let device = Device::flex();
    let (ids, mask) = reference_inputs(&device);
    let loss = pretrained.model.loss(ids, mask, &reference_labels());
    let loss: f32 = loss.into_scalar();
    let expected = reference_json()["loss"].as_f64().unwrap() as f32;
    assert!(
        (loss - expected).abs() < TOLERANCE,
        "loss {loss} vs {expected}"
    );
}

#[test]
fn loss_in_chunks_equals_the_whole() {
    let pretrained = load();
    let device = Device::flex();
    let expected = reference_json()["loss"].as_f64().unwrap() as f32;
    // One target position per chunk, an uneven split, and everything at once.
    for chunk_rows in [1, 5, 10_000] {
        let (ids, mask) = reference_inputs(&device);
        let loss: f32 = pretrained
            .model
            .loss_in_chunks(ids, mask, &reference_labels(), chunk_rows)
            .into_scalar();
        assert!(
            (loss - expected).abs() < TOLERANCE,
            "chunks of {chunk_rows}: loss {loss} vs {expected}"
        );
    }
}

fn reference_generation(kind: &str) -> Vec<Vec<u32>> {
    reference_json()["generate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g[kind]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

fn fixture_prompt_ids(pretrained: &Pretrained) -> Vec<Vec<u32>> {
    let (prompts, _) = prompts_and_targets();
    pretrained.tokenizer.encode_batch(&prompts).unwrap()
}

#[test]
fn greedy_ids_match_reference() {
    let pretrained = load();
    let config = GenerationConfig {
        max_new_tokens: 24,
        ..Default::default()
    };
    let prompts = fixture_prompt_ids(&pretrained);
    // Batched with padding, and one prompt at a time: both give the reference ids.
    let batched = generate(
        &pretrained.model,
        &prompts,
        Decoding {
            config: &config,
            defaults: &pretrained.defaults,
            vocab_limit: 32128,
        },
    )
    .unwrap();
    assert_eq!(batched, reference_generation("greedy"));
    let single = generate(
        &pretrained.model,
        &prompts[2..3],
        Decoding {
            config: &config,
            defaults: &pretrained.defaults,
            vocab_limit: 32128,
        },
    )
    .unwrap();
    assert_eq!(single[0], reference_generation("greedy")[2]);
}

#[test]
fn beam4_ids_match_reference() {
    let pretrained = load();
    let config = GenerationConfig {
        max_new_tokens: 24,
        num_beams: 4,
        length_penalty: 1.0,
        early_stopping: EarlyStopping::True,
        ..Default::default()
    };
    let prompts = fixture_prompt_ids(&pretrained);
    let ids = generate(
        &pretrained.model,
        &prompts,
        Decoding {
            config: &config,
            defaults: &pretrained.defaults,
            vocab_limit: 32128,
        },
    )
    .unwrap();
    assert_eq!(ids, reference_generation("beam4"));
}

#[test]
fn padding_does_not_change_encoder_output() {
    let pretrained = load();
    let device = Device::flex();
    let prompts = fixture_prompt_ids(&pretrained);
    let short = &prompts[1];
    let (alone_ids, alone_mask) = pad_batch(std::slice::from_ref(short), 0, &device).unwrap();
    let (batch_ids, batch_mask) = pad_batch(&prompts, 0, &device).unwrap();
    let alone = host(pretrained.model.encode(alone_ids, alone_mask));
    let batched = host(pretrained.model.encode(batch_ids, batch_mask));
    let width = prompts.iter().map(Vec::len).max().unwrap();
    let d = 32;
    let row = &batched[width * d..(width + short.len()) * d];
    assert!(max_abs_diff(&alone, row) < TOLERANCE);
}

#[test]
fn summary_prompt_reproduces_the_reference_prompts() {
    let (prompts, _) = prompts_and_targets();
    let mut checked = 0;
    for prompt in &prompts {
        // The fixture also has a prompt in another format; only the summary ones apply.
        let Some(dialogue) = prompt
            .strip_prefix("Summarize the following conversation.\n\n")
            .and_then(|rest| rest.strip_suffix("\n\nSummary: "))
        else {
            continue;
        };
        checked += 1;
        let built =
            mixtune::inference::summary_prompt(dialogue, mixtune::data::chat::SpeakerStyle::Keep)
                .unwrap();
        assert_eq!(&built, prompt);
    }
    assert!(
        checked >= 3,
        "only {checked} summary prompts in the fixture"
    );
}
