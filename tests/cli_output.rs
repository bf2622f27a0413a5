//! The CLI's edges: standard output closed or full, and values clap could misread.

mod common;

use std::process::{Command, Stdio};

use common::{shared, tiny_flan};

fn mixtune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mixtune"))
}

fn inspect_dialogsum() -> Command {
    let mut command = mixtune();
    command
        .args(["data", "inspect"])
        .arg(shared().join("data/dialogsum/dialogsum.dev.jsonl"));
    command
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = inspect_dialogsum()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before anything is read, as `| head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_one_error_line() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = inspect_dialogsum()
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: writing to standard output:") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn negative_and_inconsistent_decoding_values_are_named() {
    let model = tiny_flan();
    let run = |args: &[&str]| {
        let out = mixtune()
            .args([
                "generate", "--device", "cpu", "--prompt", "hello", "--model",
            ])
            .arg(&model)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // `-1` is read as a value (and refused), not as an unknown flag.
    let stderr = run(&["--temperature", "-1"]);
    assert!(
        stderr.contains("temperature") && stderr.contains("positive"),
        "{stderr}"
    );
    let stderr = run(&["--min-new-tokens", "9", "--max-new-tokens", "4"]);
    assert!(
        stderr.contains("min_new_tokens") && stderr.contains("max_new_tokens"),
        "{stderr}"
    );
}
