//! Run folders for the training tests: DialogSum dev rows as training data, test rows as
//! validation data, a two-task mixture and a run config on the tiny fixture.
#![allow(dead_code)]

use std::path::Path;

use super::{shared, tiny_flan};

/// Writes `dialogs.jsonl` (the first `train_rows` dev rows), `heldout.jsonl` (the first
/// `eval_rows` test rows), `mix.toml` (summary + topic tasks, validation from heldout) and
/// `run.toml` (tiny fixture, `out/`, `extra` appended) into `dir`.
pub fn write_run(dir: &Path, train_rows: usize, eval_rows: usize, extra: &str) {
    let dev = std::fs::read_to_string(shared().join("data/dialogsum/dialogsum.dev.jsonl")).unwrap();
    let rows: Vec<&str> = dev.lines().take(train_rows).collect();
    std::fs::write(dir.join("dialogs.jsonl"), rows.join("\n")).unwrap();
    let test =
        std::fs::read_to_string(shared().join("data/dialogsum/dialogsum.test.jsonl")).unwrap();
    let rows: Vec<&str> = test.lines().take(eval_rows).collect();
    std::fs::write(dir.join("heldout.jsonl"), rows.join("\n")).unwrap();
    let eval = if eval_rows > 0 {
        "eval_data = \"heldout.jsonl\"\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("mix.toml"),
        format!("[mixture]\nstrategy = \"proportional\"\nseed = 3\nmax_source_tokens = 96\nmax_target_tokens = 32\n\n\
         [[task]]\nname = \"summary\"\ndata = \"dialogs.jsonl\"\ntemplate = \"dialogue_summary\"\nsplit = \"train\"\n{eval}\n\
         [[task]]\nname = \"topic\"\ndata = \"dialogs.jsonl\"\ntemplate = \"dialogue_topic\"\nsplit = \"train\"\n{eval}",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("run.toml"),
        format!(
            "model = \"{}\"\nmixture = \"mix.toml\"\noutput_dir = \"out\"\nbatch_size = 2\nlearning_rate = 0.01\n{extra}",
            tiny_flan().display()
        ),
    )
    .unwrap();
}

/// The f32 tensors of a safetensors file by name.
pub fn tensors(path: &Path) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

/// Runs seed the (process-wide) device generator: one at a time per test binary.
pub static RUN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `dir/run.toml` on flex (holding [`RUN`]), handing every event to `on`.
pub fn run(
    dir: &Path,
    resume: bool,
    control: &mixtune::train::RunControl,
    on: &mut dyn FnMut(&mixtune::train::events::RunEvent),
) -> mixtune::Result<mixtune::train::events::RunSummary> {
    let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
    let options = mixtune::train::RunOptions {
        show_progress: false,
        resume,
        ..Default::default()
    };
    mixtune::train::run_from_file(
        &dir.join("run.toml"),
        &burn::tensor::Device::flex(),
        &options,
        control,
        on,
    )
}
