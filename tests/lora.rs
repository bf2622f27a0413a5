//! LoRA runs on the tiny fixture: only the adapters train, the merged export equals
//! base + B·A·alpha/r, the PEFT adapter folder holds exactly the factors, and a resumed LoRA
//! run with Adafactor ends where an uninterrupted one does.

mod common;

use std::path::Path;

use common::runs::{tensors, write_run};
use common::tiny_flan;
use mixtune::train::events::RunEvent;
use mixtune::train::RunControl;

fn run(
    dir: &Path,
    resume: bool,
    control: &RunControl,
    on: &mut dyn FnMut(&RunEvent),
) -> mixtune::train::events::RunSummary {
    common::runs::run(dir, resume, control, on).unwrap()
}

const LORA: &str = "max_steps = 4\nmethod = \"lora\"\nkeep_best = false\n[lora]\nrank = 4\nalpha = 8.0\ntarget_modules = [\"q\", \"v\"]\n";

#[test]
fn only_adapters_change_and_the_merged_export_is_base_plus_scaled_product() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 20, 0, LORA);
    let base_file = std::fs::read(tiny_flan().join("model.safetensors")).unwrap();
    let mut started = None;
    let summary = run(dir.path(), false, &RunControl::new(), &mut |e| {
        if let RunEvent::Started {
            trainable_parameters,
            total_parameters,
            ..
        } = e
        {
            started = Some((*trainable_parameters, *total_parameters));
        }
    });
    // 2 encoder + 2 decoder self-attention + 2 cross-attention blocks, q and v each:
    // A [32, 4] + B [4, 32] = 256 parameters per adapted matrix.
    let (trainable, total) = started.unwrap();
    assert_eq!(trainable, 6 * 2 * 256);
    assert!(total > 1_000_000);

    let base = tensors(&tiny_flan().join("model.safetensors"));
    let merged = tensors(&summary.model_dir.join("model.safetensors"));
    let adapter_dir = summary.adapter_dir.expect("a LoRA run exports its adapter");
    let adapter = tensors(&adapter_dir.join("adapter_model.safetensors"));
    assert_eq!(
        adapter.len(),
        6 * 2 * 2,
        "lora_A and lora_B for q and v of 6 attentions"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adapter_dir.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 8.0);
    assert_eq!(config["target_modules"], serde_json::json!(["q", "v"]));

    let scale = 8.0f32 / 4.0;
    let mut adapted = 0;
    for (name, (shape, values)) in &base {
        let exported = &merged[name].1;
        let module = name.trim_end_matches(".weight");
        let a_key = format!("base_model.model.{module}.lora_A.weight");
        match adapter.get(&a_key) {
            None => {
                // Everything without an adapter is exactly the base.
                assert!(values == exported, "{name} changed without an adapter");
            }
            Some((a_shape, a)) => {
                adapted += 1;
                let (b_shape, b) = &adapter[&format!("base_model.model.{module}.lora_B.weight")];
                let (out, inp, r) = (shape[0], shape[1], a_shape[0]);
                assert_eq!(
                    (a_shape.as_slice(), b_shape.as_slice()),
                    (&[r, inp][..], &[out, r][..])
                );
                let mut max_delta = 0.0f32;
                for o in 0..out {
                    for i in 0..inp {
                        let delta: f32 =
                            (0..r).map(|k| b[o * r + k] * a[k * inp + i]).sum::<f32>() * scale;
                        let expected = values[o * inp + i] + delta;
                        assert!(
                            (exported[o * inp + i] - expected).abs() < 1e-5,
                            "{name}[{o},{i}]"
                        );
                        max_delta = max_delta.max(delta.abs());
                    }
                }
                assert!(max_delta > 1e-4, "{name}: the adapter did not learn");
            }
        }
    }
    assert_eq!(adapted, 12);
    assert!(
        std::fs::read(tiny_flan().join("model.safetensors")).unwrap() == base_file,
        "the base on disk is untouched"
    );
}

#[test]
fn lora_with_adafactor_resumes_bit_for_bit() {
    let extra = format!("optimizer = \"adafactor\"\nsave_every = 2\n{LORA}")
        .replace("max_steps = 4", "max_steps = 5");
    let straight = tempfile::tempdir().unwrap();
    write_run(straight.path(), 20, 0, &extra);
    let a = run(straight.path(), false, &RunControl::new(), &mut |_| {});

    let split = tempfile::tempdir().unwrap();
    write_run(split.path(), 20, 0, &extra);
    let control = RunControl::new();
    let c = control.clone();
    run(split.path(), false, &control, &mut |e| {
        if matches!(e, RunEvent::Step(m) if m.step == 2) {
            c.cancel();
        }
    });
    let b = run(split.path(), true, &RunControl::new(), &mut |_| {});
    assert_eq!((a.steps, b.steps), (5, 5));
    assert!(a.last_loss.unwrap().is_finite());
    let (x, y) = (
        tensors(&a.adapter_dir.unwrap().join("adapter_model.safetensors")),
        tensors(&b.adapter_dir.unwrap().join("adapter_model.safetensors")),
    );
    assert_eq!(x, y);
    assert!(
        x.iter()
            .any(|(name, (_, v))| name.contains("lora_B") && v.iter().any(|&b| b != 0.0)),
        "Adafactor moved the adapters off their zero init"
    );
}
