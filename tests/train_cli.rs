//! `mixtune train --config run.toml` end to end on the tiny fixture and DialogSum dev rows:
//! metrics log, the run config kept, a trained HF-format model that loads; bad configs fail
//! in one line before anything is written.

mod common;

use std::path::Path;
use std::process::Command;

use burn::tensor::Device;
use common::{shared, tiny_flan};
use mixtune::model::loader::load_dir;

fn write_run(dir: &Path, extra: &str) {
    let dev = std::fs::read_to_string(shared().join("data/dialogsum/dialogsum.dev.jsonl")).unwrap();
    let rows: Vec<&str> = dev.lines().take(40).collect();
    std::fs::write(dir.join("dialogs.jsonl"), rows.join("\n")).unwrap();
    std::fs::write(
        dir.join("mix.toml"),
        "[mixture]\nstrategy = \"proportional\"\nseed = 3\nmax_source_tokens = 96\nmax_target_tokens = 32\n\n\
         [[task]]\nname = \"summary\"\ndata = \"dialogs.jsonl\"\ntemplate = \"dialogue_summary\"\nsplit = \"train\"\n\n\
         [[task]]\nname = \"topic\"\ndata = \"dialogs.jsonl\"\ntemplate = \"dialogue_topic\"\nsplit = \"train\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("run.toml"),
        format!(
            "model = \"{}\"\nmixture = \"mix.toml\"\noutput_dir = \"out\"\nmax_steps = 4\nbatch_size = 2\nlearning_rate = 0.01\n{extra}",
            tiny_flan().display()
        ),
    )
    .unwrap();
}

fn train(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["train", "--device", "cpu", "--json", "--config"])
        .arg(dir.join("run.toml"))
        .output()
        .unwrap()
}

#[test]
fn train_writes_metrics_and_a_loadable_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), "");
    let base_bytes = std::fs::read(tiny_flan().join("model.safetensors")).unwrap();
    let out = train(dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out_dir = dir.path().join("out");
    let metrics = std::fs::read_to_string(out_dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|event| event["kind"] == "step")
        .collect();
    assert_eq!(steps.len(), 4);
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["step"], i + 1);
        assert!(step["loss"].as_f64().unwrap().is_finite());
    }
    let tasks_seen: u64 = steps[3]["examples_per_task"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(tasks_seen, 8, "4 steps of 2 examples");
    assert!(std::fs::read_to_string(out_dir.join("run.toml"))
        .unwrap()
        .contains("max_steps = 4"));

    let trained = load_dir(&out_dir.join("model"), &Device::flex()).expect("trained model loads");
    let base = load_dir(&tiny_flan(), &Device::flex()).unwrap();
    let host = |t: burn::tensor::Tensor<2>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (
        host(trained.model.shared.val()),
        host(base.model.shared.val()),
    );
    assert_ne!(a, b, "training left the weights unchanged");
    // The base model's file is untouched.
    assert!(std::fs::read(tiny_flan().join("model.safetensors")).unwrap() == base_bytes);
}

#[test]
fn bad_run_config_fails_in_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), "learning_rat = 0.1\n");
    let out = train(dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("run.toml") && stderr.contains("learning_rat"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());

    // Absurd sizes are named in one line before any work (they aborted the process).
    for (extra, key) in [
        ("eval_max_new_tokens = 1000000\n", "eval_max_new_tokens"),
        ("grad_accumulation = 1000000000\n", "grad_accumulation"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), extra);
        let out = train(dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(key) && stderr.contains("above the most"),
            "{stderr}"
        );
        assert!(!dir.path().join("out").exists());
    }
    // A LoRA rank above the model's sizes is named once the model is known.
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), "method = \"lora\"\n[lora]\nrank = 100000000\n");
    let out = train(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("lora.rank") && stderr.contains("at most"),
        "{stderr}"
    );
}
