//! Bad model folders fail with one clear error naming the file and key, never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use common::tiny_flan;
use mixtune::model::loader::load_dir;
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;

/// A copy of the fixture folder in a temp dir, to break on purpose.
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
    ] {
        std::fs::copy(tiny_flan().join(file), dir.path().join(file)).unwrap();
    }
    let path = dir.path().to_path_buf();
    (dir, path)
}

fn load_error(dir: &Path) -> String {
    match load_dir(dir, &Device::flex()) {
        Ok(_) => panic!("{} loaded although it is broken", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// Rewrites model.safetensors through `edit(name, shape, bytes) -> Option<(shape, bytes)>`.
fn rewrite_weights(
    dir: &Path,
    edit: impl Fn(&str, &[usize], &[u8]) -> Option<(Vec<usize>, Vec<u8>)>,
) {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let mut kept: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in tensors.tensors() {
        if let Some((shape, data)) = edit(&name, view.shape(), view.data()) {
            kept.push((name, shape, data));
        }
    }
    let views: Vec<(String, TensorView)> = kept
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    let out = safetensors::serialize(views, None).unwrap();
    std::fs::write(dir.join("model.safetensors"), out).unwrap();
}

#[test]
fn missing_config_names_the_file() {
    let (_keep, dir) = fixture_copy();
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let message = load_error(&dir);
    assert!(message.contains("config.json"), "{message}");
}

#[test]
fn corrupt_config_names_file_and_line() {
    let (_keep, dir) = fixture_copy();
    std::fs::write(
        dir.join("config.json"),
        "{\n  \"d_model\": 32,\n  \"d_kv\": oops\n}",
    )
    .unwrap();
    let message = load_error(&dir);
    assert!(
        message.contains("config.json") && message.contains("line 3"),
        "{message}"
    );
}

#[test]
fn unknown_feed_forward_proj_is_named() {
    let (_keep, dir) = fixture_copy();
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        text.replace("\"gated-gelu\"", "\"gated-tanh\""),
    )
    .unwrap();
    let message = load_error(&dir);
    assert!(
        message.contains("feed_forward_proj") && message.contains("gated-tanh"),
        "{message}"
    );
}

#[test]
fn missing_weights_file_is_named() {
    let (_keep, dir) = fixture_copy();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let message = load_error(&dir);
    assert!(message.contains("model.safetensors"), "{message}");
}

#[test]
fn truncated_weights_file_is_reported() {
    let (_keep, dir) = fixture_copy();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let message = load_error(&dir);
    assert!(
        message.contains("model.safetensors") && message.contains("corrupt"),
        "{message}"
    );
}

#[test]
fn wrong_shape_names_tensor_and_shapes() {
    let (_keep, dir) = fixture_copy();
    rewrite_weights(&dir, |name, shape, data| {
        if name == "decoder.block.1.layer.2.DenseReluDense.wo.weight" {
            Some((vec![shape[1], shape[0]], data.to_vec()))
        } else {
            Some((shape.to_vec(), data.to_vec()))
        }
    });
    let message = load_error(&dir);
    assert!(
        message.contains("decoder.block.1.layer.2.DenseReluDense.wo.weight")
            && message.contains("[64, 32]"),
        "{message}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let (_keep, dir) = fixture_copy();
    rewrite_weights(&dir, |name, shape, data| {
        (name != "encoder.block.1.layer.0.SelfAttention.k.weight")
            .then(|| (shape.to_vec(), data.to_vec()))
    });
    let message = load_error(&dir);
    assert!(
        message.contains("missing weight `encoder.block.1.layer.0.SelfAttention.k.weight`"),
        "{message}"
    );
}

#[test]
fn unexpected_tensor_is_named() {
    let (_keep, dir) = fixture_copy();
    rewrite_weights(&dir, |_, shape, data| Some((shape.to_vec(), data.to_vec())));
    // Add a stray tensor by renaming a real one's copy.
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let mut views: Vec<(String, TensorView)> = tensors.tensors();
    let extra = tensors.tensor("encoder.final_layer_norm.weight").unwrap();
    views.push(("encoder.block.9.layer.0.layer_norm.weight".into(), extra));
    let out = safetensors::serialize(views, None).unwrap();
    std::fs::write(dir.join("model.safetensors"), out).unwrap();
    let message = load_error(&dir);
    assert!(
        message.contains("encoder.block.9.layer.0.layer_norm.weight"),
        "{message}"
    );
}

#[test]
fn half_precision_checkpoints_load_as_f32() {
    let (_keep, dir) = fixture_copy();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let converted: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data: Vec<u8> = view
                .data()
                .chunks_exact(4)
                .flat_map(|b| {
                    half::bf16::from_f32(f32::from_le_bytes(b.try_into().unwrap())).to_le_bytes()
                })
                .collect();
            (name, view.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, TensorView)> = converted
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(safetensors::Dtype::BF16, s.clone(), d).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    let bf16 = load_dir(&dir, &Device::flex()).expect("bf16 checkpoint loads");
    let f32_model = load_dir(&tiny_flan(), &Device::flex()).unwrap();
    let a: Vec<f32> = bf16
        .model
        .shared
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let b: Vec<f32> = f32_model
        .model
        .shared
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let rounded: Vec<f32> = b
        .iter()
        .map(|&x| half::bf16::from_f32(x).to_f32())
        .collect();
    assert_eq!(a, rounded);
}

#[test]
fn cli_reports_bad_model_in_one_line_with_nonzero_exit() {
    let (_keep, dir) = fixture_copy();
    std::fs::write(dir.join("config.json"), "not json").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["generate", "--device", "cpu", "--prompt", "hi", "--model"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("config.json") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn cli_rejects_a_path_that_is_no_model() {
    let out = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args([
            "generate",
            "--device",
            "cpu",
            "--prompt",
            "hi",
            "--model",
            "./no/such/dir",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("./no/such/dir") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn sharded_checkpoint_loads_like_the_single_file() {
    let (_keep, dir) = fixture_copy();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = tensors.names().into_iter().map(String::from).collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let views: Vec<(String, TensorView)> = part
            .iter()
            .map(|n| (n.clone(), tensors.tensor(n).unwrap()))
            .collect();
        std::fs::write(
            dir.join(shard),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
        for name in part {
            weight_map.insert(name.clone(), serde_json::Value::from(shard));
        }
    }
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let sharded = load_dir(&dir, &Device::flex()).expect("sharded checkpoint loads");
    let single = load_dir(&tiny_flan(), &Device::flex()).unwrap();
    let host = |t: burn::tensor::Tensor<2>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    assert_eq!(
        host(
            sharded.model.decoder.blocks[1]
                .ff
                .dense_relu_dense
                .wo()
                .weight
                .val()
        ),
        host(
            single.model.decoder.blocks[1]
                .ff
                .dense_relu_dense
                .wo()
                .weight
                .val()
        )
    );

    // An index without `weight_map` is named.
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        "{\"metadata\": {}}",
    )
    .unwrap();
    let message = load_error(&dir);
    assert!(
        message.contains("model.safetensors.index.json") && message.contains("weight_map"),
        "{message}"
    );
}
