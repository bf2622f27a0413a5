//! The binary away from its source tree: with no template files to find (an empty
//! `MIXTUNE_TEMPLATES`, run from an empty folder), mixtures naming built-in templates still
//! preview and train, from the copies compiled into the binary.

mod common;

use std::process::Command;

use common::{shared, tiny_flan};

#[test]
fn mix_preview_and_train_use_the_built_in_templates() {
    let work = tempfile::tempdir().unwrap();
    let no_templates = tempfile::tempdir().unwrap();
    let dev = std::fs::read_to_string(shared().join("data/dialogsum/dialogsum.dev.jsonl")).unwrap();
    let rows: Vec<&str> = dev.lines().take(20).collect();
    std::fs::write(work.path().join("dialogs.jsonl"), rows.join("\n")).unwrap();
    std::fs::write(
        work.path().join("mix.toml"),
        "[mixture]\nseed = 3\nmax_source_tokens = 64\nmax_target_tokens = 16\n\n\
         [[task]]\nname = \"summary\"\ndata = \"dialogs.jsonl\"\ntemplate = \"dialogue_summary\"\nsplit = \"train\"\n\n\
         [[task]]\nname = \"topic\"\ndata = \"dialogs.jsonl\"\ntemplate = \"dialogue_topic\"\nsplit = \"train\"\n",
    )
    .unwrap();
    std::fs::write(
        work.path().join("run.toml"),
        format!(
            "model = \"{}\"\nmixture = \"mix.toml\"\noutput_dir = \"out\"\nmax_steps = 2\nbatch_size = 2\n",
            tiny_flan().display()
        ),
    )
    .unwrap();
    let mixtune = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mixtune"))
            .args(args)
            .current_dir(work.path())
            .env("MIXTUNE_TEMPLATES", no_templates.path())
            .output()
            .unwrap()
    };
    let out = mixtune(&["mix", "preview", "--config", "mix.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("summary") && stdout.contains("topic"),
        "{stdout}"
    );
    let out = mixtune(&["train", "--device", "cpu", "--json", "--config", "run.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(work.path().join("out/model/model.safetensors").is_file());
    // An unknown name is still an error naming the file and the task.
    std::fs::write(
        work.path().join("bad.toml"),
        "[mixture]\nseed = 3\n\n[[task]]\nname = \"x\"\ndata = \"dialogs.jsonl\"\ntemplate = \"no_such_task\"\n",
    )
    .unwrap();
    let out = mixtune(&["mix", "preview", "--config", "bad.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml") && stderr.contains("no_such_task"),
        "{stderr}"
    );
}
