//! The CLI's edges: standard output closed or full, and values clap could misread.

mod common;

use std::path::Path;
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
    // Absurd sizes are named before any work, not an aborted allocation (exit 134).
    for (flag, field) in [
        ("--max-new-tokens", "max_new_tokens"),
        ("--beams", "num_beams"),
        ("--max-source-tokens", "max_source_tokens"),
    ] {
        let stderr = run(&[flag, "1000000"]);
        assert!(
            stderr.contains(field)
                && stderr.contains("above the most")
                && !stderr.contains("panicked"),
            "{flag}: {stderr}"
        );
    }
}

/// `summarize --chats F --output F` and `eval --data F --output F` (by the same name, a
/// hard link or a symlink) are refused before any work, and F is left as it was.
#[cfg(unix)]
#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let chats = dir.path().join("refs.csv");
    let text = "id,dialogue,summary\n1,\"#Person1#: Hi. #Person2#: Hello.\",They greet.\n";
    std::fs::write(&chats, text).unwrap();
    let rows = dir.path().join("mydata.jsonl");
    let line = "{\"id\":\"1\",\"dialogue\":\"#Person1#: Hi.\",\"summary\":\"A greeting.\"}\n";
    std::fs::write(&rows, line).unwrap();
    let linked = dir.path().join("linked.jsonl");
    std::os::unix::fs::symlink("mydata.jsonl", &linked).unwrap();
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&chats, &hard).unwrap();
    let runs: [(Vec<&str>, &std::path::Path, &std::path::Path); 3] = [
        (vec!["summarize", "--chats"], &chats, &chats),
        (vec!["summarize", "--chats"], &chats, &hard),
        (vec!["eval", "--data"], &rows, &linked),
    ];
    for (args, input, output) in runs {
        let out = mixtune()
            .args(&args)
            .arg(input)
            .arg("--output")
            .arg(output)
            .arg("--model")
            .arg(tiny_flan())
            .args(["--device", "cpu"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is the input file") && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(std::fs::read_to_string(&chats).unwrap(), text);
    assert_eq!(std::fs::read_to_string(&rows).unwrap(), line);
    assert!(std::fs::symlink_metadata(&linked)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// Memory follows the work: a chat is read as far as the model can see, a file read whole
/// has a size limit, and a JSON Lines file without line breaks ends with an error.
#[cfg(unix)]
#[test]
fn inputs_are_read_as_far_as_the_work_needs() {
    let dir = tempfile::tempdir().unwrap();
    let chat = dir.path().join("chat.txt");
    let line = "#Person1#: Where is my order 1234? #Person2#: It ships today.\n";
    std::fs::write(&chat, line.repeat(20 << 20 >> 6)).unwrap();
    let out = mixtune()
        .args(["summarize", "--device", "cpu", "--model"])
        .arg(tiny_flan())
        .arg("--chat")
        .arg(&chat)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("goes on past what the model can see"),
        "{stderr}"
    );

    let big = dir.path().join("big.txt");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let out = mixtune()
        .args(["facts", "--summary", "Bob paid 5 dollars", "--source"])
        .arg(&big)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("larger than 64 MiB"), "{stderr}");

    // A device and a pipe are named, not read without end or as empty.
    let fifo = dir.path().join("rows.jsonl");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (path, what) in [(Path::new("/dev/zero"), "a device"), (&fifo, "a pipe")] {
        let out = mixtune()
            .args(["data", "inspect", "--format", "jsonl"])
            .arg(path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("is {what}, not a file")),
            "{stderr}"
        );
    }
}

/// `prepare-gpu` checks what it is asked before it looks for a GPU (a bad config or batch is
/// one error line naming it), and on the CPU, which compiles nothing, says so and succeeds.
#[test]
fn prepare_gpu_names_bad_input_and_has_nothing_to_do_on_the_cpu() {
    let run = |args: &[&str]| {
        let out = mixtune().arg("prepare-gpu").args(args).output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = run(&["--device", "cpu", "--shapes", "small"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("nothing to prepare"), "{stdout}");
    let (code, stdout, _) = run(&["--device", "cpu", "--json"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["prepared"], serde_json::json!([]), "{json}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("run.toml");
    let (code, _, stderr) = run(&["--device", "cpu", "--config", missing.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("run.toml") && !stderr.contains("panicked"),
        "{stderr}"
    );
    for (args, says) in [
        (&["--device", "cpu", "--batch", "0"][..], "--batch"),
        (
            &["--device", "cpu", "--shapes", "large"][..],
            "--shapes `large`",
        ),
        (&["--device", "cpu", "--dtype", "int8"][..], "--dtype int8"),
    ] {
        let (code, _, stderr) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
