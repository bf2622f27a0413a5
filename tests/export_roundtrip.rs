//! A T5 v1.0-style model (ReLU, tied embeddings, scaled decoder output, a decoder deeper
//! than the encoder) exported as an HF folder loads back with identical outputs.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::shared;
use mixtune::data::tokenizer::T5Tokenizer;
use mixtune::model::export::export_hf_dir;
use mixtune::model::loader::load_dir;
use mixtune::model::GenerationDefaults;
use mixtune::model::{T5Config, T5ForConditionalGeneration};

fn v1_0_config() -> T5Config {
    let mut config = T5Config::flan_t5_small();
    config.d_model = 16;
    config.d_kv = 4;
    config.d_ff = 24;
    config.num_heads = 4;
    config.num_layers = 2;
    config.num_decoder_layers = Some(3);
    config.feed_forward_proj = "relu".into();
    config.tie_word_embeddings = true;
    config.scale_decoder_outputs = None;
    config
}

fn logits(model: &T5ForConditionalGeneration, device: &Device) -> Vec<f32> {
    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(vec![37i64, 423, 9, 1, 55, 1, 0, 0], [2, 4]),
        device,
    );
    let mask = Tensor::<2>::from_data(
        TensorData::new(vec![1f32, 1., 1., 1., 1., 1., 0., 0.], [2, 4]),
        device,
    );
    let dec =
        Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 5, 8, 0, 3, 3], [2, 3]), device);
    model
        .forward(ids, mask, dec)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn relu_tied_scaled_model_round_trips_through_hf_folder() {
    let device = Device::flex();
    let config = v1_0_config();
    let model = T5ForConditionalGeneration::random(&config, &device);
    let tokenizer =
        T5Tokenizer::from_file(&shared().join("models/t5-tokenizer/tokenizer.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    export_hf_dir(
        &model,
        &tokenizer,
        &GenerationDefaults::from_config(&config),
        dir.path(),
    )
    .unwrap();

    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(written["feed_forward_proj"], "relu");
    assert_eq!(written["num_decoder_layers"], 3);
    assert_eq!(written["scale_decoder_outputs"], true);

    let loaded = load_dir(dir.path(), &device).unwrap();
    assert_eq!(loaded.model.decoder.blocks.len(), 3);
    assert!(loaded.model.lm_head.is_none());
    assert!(matches!(
        loaded.model.encoder.blocks[0].ff.dense_relu_dense,
        mixtune::model::layers::DenseReluDense::Act(_)
    ));
    let (a, b) = (logits(&model, &device), logits(&loaded.model, &device));
    assert_eq!(a, b, "reloaded model computes something else");
}

#[test]
fn tied_head_is_scaled_by_inverse_sqrt_d_model_unless_disabled() {
    let device = Device::flex();
    let mut model = T5ForConditionalGeneration::random(&v1_0_config(), &device);
    let scaled = logits(&model, &device);
    model.config.scale_decoder_outputs = Some(false);
    let unscaled = logits(&model, &device);
    let factor = (16f32).powf(-0.5);
    for (s, u) in scaled.iter().zip(&unscaled) {
        assert!(
            (s - u * factor).abs() < 1e-4 * u.abs().max(1.0),
            "{s} vs {u} * {factor}"
        );
    }
    assert!(unscaled.iter().any(|u| u.abs() > 1e-3));
}

#[test]
fn generation_defaults_come_from_generation_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("generation_config.json"),
        r#"{"decoder_start_token_id": 5, "eos_token_id": [1, 7], "pad_token_id": 3}"#,
    )
    .unwrap();
    let defaults = GenerationDefaults::from_dir(dir.path(), &v1_0_config()).unwrap();
    assert_eq!(defaults.decoder_start_token_id, 5);
    assert_eq!(defaults.eos_token_ids, vec![1, 7]);
    assert_eq!(defaults.pad_token_id, 3);
    std::fs::write(
        dir.path().join("generation_config.json"),
        r#"{"eos_token_id": "x"}"#,
    )
    .unwrap();
    let error = GenerationDefaults::from_dir(dir.path(), &v1_0_config())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("generation_config.json") && error.contains("eos_token_id"),
        "{error}"
    );
}
