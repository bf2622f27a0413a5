//! Whole runs on the tiny fixture: resume continues bit-for-bit, a crash in the middle of a
//! checkpoint leaves the previous one loadable, pause/resume/cancel from another thread,
//! early stopping, validation events and the run history.

mod common;

use std::path::Path;
use std::process::Command;

use burn::tensor::Device;
use common::runs::{tensors, write_run, RUN};
use mixtune::train::events::RunEvent;
use mixtune::train::runs::{list_runs, RunStatus};
use mixtune::train::{run_from_file, spawn, RunControl, RunOptions, RunPaths, TrainConfig};

fn run(
    dir: &Path,
    resume: bool,
    control: &RunControl,
    events: &mut Vec<RunEvent>,
) -> mixtune::Result<mixtune::train::events::RunSummary> {
    common::runs::run(dir, resume, control, &mut |e| events.push(e.clone()))
}

fn cli(dir: &Path, args: &[&str], fault: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mixtune"));
    command
        .args(["train", "--device", "cpu", "--json", "--config"])
        .arg(dir.join("run.toml"))
        .args(args);
    if let Some(fault) = fault {
        command.env("MIXTUNE_FAULT_ABORT_IN_CHECKPOINT", fault);
    }
    command.output().unwrap()
}

#[test]
fn resumed_run_ends_with_the_weights_of_an_uninterrupted_one() {
    // With T5's dropout on, so the resumed steps must draw the uninterrupted run's masks.
    let straight = tempfile::tempdir().unwrap();
    write_run(straight.path(), 30, 4, "max_steps = 6\nsave_every = 2\neval_every = 3\neval_examples = 2\neval_max_new_tokens = 8\nkeep_best = false\ndropout_rate = 0.1\n");
    let mut events = Vec::new();
    let summary = run(straight.path(), false, &RunControl::new(), &mut events).unwrap();
    assert_eq!(summary.steps, 6);
    let evals = events
        .iter()
        .filter(|e| matches!(e, RunEvent::Eval(_)))
        .count();
    assert_eq!(evals, 2, "validation at steps 3 and 6");

    // Same run, cancelled after step 3, then resumed.
    let split = tempfile::tempdir().unwrap();
    write_run(split.path(), 30, 4, "max_steps = 6\nsave_every = 2\neval_every = 3\neval_examples = 2\neval_max_new_tokens = 8\nkeep_best = false\ndropout_rate = 0.1\n");
    let control = RunControl::new();
    let mut first = Vec::new();
    {
        let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
        let options = RunOptions::default();
        let c = control.clone();
        let summary = run_from_file(
            &split.path().join("run.toml"),
            &Device::flex(),
            &options,
            &control,
            &mut |e| {
                if matches!(e, RunEvent::Step(m) if m.step == 3) {
                    c.cancel();
                }
                first.push(e.clone());
            },
        )
        .unwrap();
        assert_eq!(summary.steps, 3);
    }
    assert!(
        matches!(
            first.last(),
            Some(RunEvent::Cancelled {
                step: 3,
                checkpoint: Some(_)
            })
        ),
        "{:?}",
        first.last()
    );
    let mut second = Vec::new();
    let summary = run(split.path(), true, &RunControl::new(), &mut second).unwrap();
    assert_eq!(summary.steps, 6);
    assert!(matches!(
        second.first(),
        Some(RunEvent::Started { start_step: 3, .. })
    ));

    let a = tensors(&straight.path().join("out/model/model.safetensors"));
    let b = tensors(&split.path().join("out/model/model.safetensors"));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, (_, values)) in &a {
        assert!(values == &b[name].1, "{name} differs after resume");
    }
    // The resumed log reads as one run: steps 1..=6 once each.
    let log = mixtune::train::runs::read_events(&split.path().join("out")).unwrap();
    let steps: Vec<usize> = log
        .iter()
        .filter_map(|e| match e {
            RunEvent::Step(m) => Some(m.step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5, 6]);
    let losses = |events: &[RunEvent]| -> Vec<f64> {
        events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Step(m) => Some(m.loss),
                _ => None,
            })
            .collect()
    };
    // Equal up to JSON's decimal round trip (serde_json parses floats to within an ulp).
    let (live, logged) = (losses(&events), losses(&log));
    assert_eq!(live.len(), logged.len());
    for (a, b) in live.iter().zip(&logged) {
        assert!((a - b).abs() <= 1e-12 * a.abs(), "{live:?} vs {logged:?}");
    }
}

#[test]
fn crash_mid_checkpoint_keeps_the_previous_checkpoint_loadable() {
    let dir = tempfile::tempdir().unwrap();
    write_run(
        dir.path(),
        30,
        0,
        "max_steps = 6\nsave_every = 2\nkeep_last = 5\n",
    );
    let out = cli(dir.path(), &[], Some("optimizer@4"));
    assert!(
        !out.status.success(),
        "the fault should have killed the process"
    );
    let checkpoints = dir.path().join("out/checkpoints");
    let mut names: Vec<String> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[1], "step-0000002");
    assert!(names[0].starts_with(".tmp-step-0000004"), "{names:?}");
    // The history sees a run that no live process holds: interrupted, resumable.
    let runs = list_runs(dir.path()).unwrap();
    assert_eq!(runs[0].status, RunStatus::Interrupted);
    assert!(
        runs[0].resumable && runs[0].checkpoints == 1,
        "{:?}",
        runs[0]
    );

    let out = cli(dir.path(), &["--resume"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"start_step\":2"), "{stdout}");
    assert!(dir.path().join("out/model/model.safetensors").is_file());
    let left: Vec<String> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|n| !n.starts_with(".tmp")), "{left:?}");
}

#[test]
fn starting_over_an_existing_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 20, 0, "max_steps = 2\n");
    assert!(cli(dir.path(), &[], None).status.success());
    let out = cli(dir.path(), &[], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already holds a run") && stderr.contains("--resume"),
        "{stderr}"
    );
}

#[test]
fn pause_resume_and_cancel_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 20, 0, "max_steps = 50\nsave_every = 100\n");
    let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
    let control = RunControl::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let config_file = dir.path().join("run.toml");
    let config = TrainConfig::from_file(&config_file).unwrap();
    let paths = RunPaths::resolve(&config_file, &config);
    let handle = spawn(
        config.clone(),
        paths.clone(),
        Device::flex(),
        RunOptions::default(),
        control.clone(),
        move |e: &RunEvent| {
            let _ = tx.send(e.clone());
        },
    );
    let mut seen = Vec::new();
    let mut paused_at = None;
    for event in rx.iter() {
        match &event {
            RunEvent::Step(m) if m.step == 2 && paused_at.is_none() => control.pause(),
            RunEvent::Paused { step } => {
                paused_at = Some(*step);
                // Nothing happens while paused.
                std::thread::sleep(std::time::Duration::from_millis(300));
                control.resume();
            }
            RunEvent::Step(m) if paused_at.is_some_and(|p| m.step >= p + 2) => control.cancel(),
            _ => {}
        }
        seen.push(event);
    }
    let summary = handle.join().unwrap().unwrap();
    // The pause lands before whichever step comes after the request arrives.
    let paused_at = paused_at.expect("paused");
    assert!(paused_at >= 2, "{paused_at}");
    let kinds: Vec<String> = seen
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let paused = kinds.iter().position(|k| k == "paused").unwrap();
    assert_eq!(kinds[paused + 1], "resumed", "{kinds:?}");
    assert!(
        summary.steps >= paused_at + 2 && summary.steps < 50,
        "{}",
        summary.steps
    );
    assert_eq!(kinds.last().unwrap(), "cancelled", "{kinds:?}");
    assert!(
        dir.path()
            .join(format!("out/checkpoints/step-{:07}", summary.steps))
            .is_dir(),
        "cancel writes a checkpoint"
    );
    let runs = list_runs(dir.path()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Cancelled);
    assert_eq!((runs[0].steps, runs[0].total_steps), (summary.steps, 50));
    assert!(
        runs[0].resumable,
        "a cancelled run with a checkpoint resumes"
    );

    // Resume through the app's path (`spawn` with `resume`): it goes on from the cancel's
    // checkpoint and finishes.
    let cancelled_at = summary.steps;
    let (tx, rx) = std::sync::mpsc::channel();
    let options = RunOptions {
        show_progress: false,
        resume: true,
        ..Default::default()
    };
    let handle = spawn(
        config,
        paths,
        Device::flex(),
        options,
        RunControl::new(),
        move |e| {
            let _ = tx.send(e.clone());
        },
    );
    let summary = handle.join().unwrap().unwrap();
    let events: Vec<RunEvent> = rx.try_iter().collect();
    assert!(
        matches!(events.first(), Some(RunEvent::Started { start_step, .. }) if *start_step == cancelled_at),
        "{:?}",
        events.first()
    );
    assert_eq!(summary.steps, 50);
    let runs = list_runs(dir.path()).unwrap();
    assert_eq!(runs[0].status, RunStatus::Finished);
    assert!(!runs[0].resumable, "a finished run is not resumed");
}

#[test]
fn early_stopping_ends_the_run_and_keeps_the_best_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // A threshold no pass can beat: the first pass sets the best, the next one is no better.
    write_run(dir.path(), 20, 2, "max_steps = 20\neval_every = 2\neval_examples = 1\neval_max_new_tokens = 4\nearly_stopping_patience = 1\nearly_stopping_threshold = 1000.0\nkeep_last = 1\n");
    let mut events = Vec::new();
    let summary = run(dir.path(), false, &RunControl::new(), &mut events).unwrap();
    assert!(summary.stopped_early);
    assert_eq!(summary.steps, 4);
    let evals: Vec<(usize, bool)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Eval(e) => Some((e.step, e.best)),
            _ => None,
        })
        .collect();
    assert_eq!(evals, vec![(2, true), (4, false)]);
    let best = summary.best_checkpoint.expect("best kept");
    assert!(best.ends_with("step-0000002") && best.is_dir(), "{best:?}");
    let RunEvent::Eval(eval) = events
        .iter()
        .find(|e| matches!(e, RunEvent::Eval(_)))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(eval.tasks.len(), 2, "ROUGE per task");
    assert!(eval.tasks.contains_key("summary") && eval.tasks.contains_key("topic"));
    assert!(!eval.samples.is_empty() && !eval.samples[0].reference.is_empty());
    // The exported model is the best checkpoint's.
    let runs = list_runs(dir.path()).unwrap();
    assert_eq!(runs[0].status, RunStatus::Finished);
}

#[test]
fn a_second_run_on_a_live_folder_is_refused_naming_the_process() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 20, 0, "max_steps = 50\nsave_every = 100\n");
    let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
    let control = RunControl::new();
    let config_file = dir.path().join("run.toml");
    let config = TrainConfig::from_file(&config_file).unwrap();
    let paths = RunPaths::resolve(&config_file, &config);
    let (tx, rx) = std::sync::mpsc::channel();
    let first = control.clone();
    let handle = spawn(
        config,
        paths,
        Device::flex(),
        RunOptions::default(),
        control.clone(),
        move |e| {
            if matches!(e, RunEvent::Step(m) if m.step == 1) {
                first.pause();
            }
            let _ = tx.send(e.clone());
        },
    );
    // Wait until the first run holds the folder (it paused after step 1).
    for event in rx.iter() {
        if matches!(event, RunEvent::Paused { .. }) {
            break;
        }
    }
    // A live run (this process holds the lock) is paused, not interrupted, and not resumable.
    let runs = list_runs(dir.path()).unwrap();
    assert_eq!(runs[0].status, RunStatus::Paused);
    assert!(!runs[0].resumable);
    for resume in [false, true] {
        let options = RunOptions {
            show_progress: false,
            resume,
            ..Default::default()
        };
        let error = run_from_file(
            &config_file,
            &Device::flex(),
            &options,
            &RunControl::new(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(error.kind(), mixtune::error::ErrorKind::Busy);
        let message = error.to_string();
        assert!(
            message.contains(&std::process::id().to_string()) && message.contains("in progress"),
            "{message}"
        );
    }
    control.cancel();
    handle.join().unwrap().unwrap();
    // The lock went with the run: the folder can be resumed now.
    assert!(!dir
        .path()
        .join("out")
        .join(mixtune::train::run_dir::LOCK_FILE)
        .exists());
}

#[test]
fn resume_skips_a_damaged_checkpoint_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write_run(
        dir.path(),
        30,
        0,
        "max_steps = 8\nsave_every = 2\nkeep_last = 5\n",
    );
    let control = RunControl::new();
    let stop = control.clone();
    common::runs::run(dir.path(), false, &control, &mut |e| {
        if matches!(e, RunEvent::Step(m) if m.step == 6) {
            stop.cancel();
        }
    })
    .unwrap();
    let checkpoints = dir.path().join("out/checkpoints");
    let step = |n: usize| checkpoints.join(format!("step-{n:07}"));
    for n in [2, 4, 6] {
        mixtune::train::checkpoint::verify(&step(n)).unwrap();
    }
    // A truncated file and a missing file are named (checked on copies).
    let copies = tempfile::tempdir().unwrap();
    for (name, file, damage) in [
        ("truncated", "optimizer.bpk", true),
        ("missing", "state.json", false),
        ("unchecked", "checksums.json", false),
    ] {
        let copy = copies.path().join(name);
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(step(4)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
        let path = copy.join(file);
        if damage {
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        let problem = mixtune::train::checkpoint::verify(&copy)
            .unwrap_err()
            .to_string();
        assert!(problem.contains(file), "{problem}");
    }
    // Garbled bytes inside the newest checkpoint's weights: resume falls back to step 4.
    let weights = step(6).join("model.bpk");
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&weights, &bytes).unwrap();
    let mut events = Vec::new();
    let summary = run(dir.path(), true, &RunControl::new(), &mut events).unwrap();
    assert_eq!(summary.steps, 8);
    let Some(RunEvent::Started {
        start_step, notes, ..
    }) = events.first()
    else {
        panic!("{:?}", events.first());
    };
    assert_eq!(*start_step, 4);
    let notes = notes.join("\n");
    assert!(
        notes.contains("step-0000006") && notes.contains("model.bpk") && notes.contains("step 4"),
        "{notes}"
    );
}

#[test]
fn resuming_a_finished_run_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 20, 0, "max_steps = 2\n");
    run(dir.path(), false, &RunControl::new(), &mut Vec::new()).unwrap();
    let log = dir.path().join("out/metrics.jsonl");
    let before = std::fs::read(&log).unwrap();
    let error = run(dir.path(), true, &RunControl::new(), &mut Vec::new()).unwrap_err();
    assert!(error.to_string().contains("finished at step 2"), "{error}");
    assert_eq!(std::fs::read(&log).unwrap(), before);
}

#[test]
fn validation_the_data_cannot_give_is_reported_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    // Every row is training data and no task has eval_data: nothing to validate on.
    write_run(dir.path(), 20, 0, "max_steps = 2\neval_every = 15\n");
    let mut events = Vec::new();
    run(dir.path(), false, &RunControl::new(), &mut events).unwrap();
    let Some(RunEvent::Started { notes, .. }) = events.first() else {
        panic!("{:?}", events.first());
    };
    let notes = notes.join("\n");
    for task in ["summary", "topic"] {
        assert!(
            notes.contains(&format!(
                "eval_every = 15, but task `{task}` has no validation rows"
            )),
            "{notes}"
        );
    }
    assert!(!events.iter().any(|e| matches!(e, RunEvent::Eval(_))));
}

/// `mixtune train --json --config CONFIG ARGS` on flex, its standard output piped.
fn spawn_train(config: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["train", "--device", "cpu", "--json", "--config"])
        .arg(config)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads `child`'s JSON event lines until `steps` step events have passed, then sends it
/// `signal` (`INT`, `TERM`); returns the `started` event and the exit with its stderr.
fn signal_after(
    mut child: std::process::Child,
    steps: usize,
    signal: &str,
) -> (serde_json::Value, std::process::Output) {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut started = serde_json::Value::Null;
    let mut seen = 0;
    while seen < steps {
        let line = lines
            .next()
            .expect("the run ended before its steps")
            .unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        match event["kind"].as_str() {
            Some("started") => started = event,
            Some("step") => seen += 1,
            _ => {}
        }
    }
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    for line in lines {
        line.unwrap();
    }
    (started, child.wait_with_output().unwrap())
}

fn last_event(dir: &Path) -> serde_json::Value {
    let log = std::fs::read_to_string(dir.join("out/metrics.jsonl")).unwrap();
    serde_json::from_str(log.lines().last().unwrap()).unwrap()
}

/// Ctrl-C (SIGINT) and SIGTERM stop a run at the end of its step with a checkpoint and a
/// `cancelled` event, exit non-zero naming the resume command; and the run folder's own
/// `run.toml` (relative paths inside) resumes it.
#[cfg(unix)]
#[test]
fn a_signal_stops_training_with_a_checkpoint_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    write_run(
        dir.path(),
        30,
        0,
        "max_steps = 100000\nsave_every = 100000\n",
    );
    let (_, out) = signal_after(spawn_train(&dir.path().join("run.toml"), &[]), 2, "INT");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stopped by a signal after step") && stderr.contains("--resume"),
        "{stderr}"
    );
    let cancelled = last_event(dir.path());
    assert_eq!(cancelled["kind"], "cancelled", "{cancelled}");
    let step = cancelled["step"].as_u64().unwrap();
    assert!(step >= 2, "{cancelled}");
    let checkpoint = cancelled["checkpoint"].as_str().unwrap();
    assert!(
        checkpoint.ends_with(&format!("step-{step:07}")),
        "{checkpoint}"
    );
    mixtune::train::checkpoint::verify(Path::new(checkpoint)).unwrap();

    // The record in the run folder resumes the run, from any working directory.
    let record = dir.path().join("out/run.toml");
    let (started, out) = signal_after(spawn_train(&record, &["--resume"]), 1, "TERM");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        started["start_step"].as_u64(),
        Some(step),
        "{started} {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let again = last_event(dir.path());
    assert_eq!(again["kind"], "cancelled", "{again}");
    assert!(again["step"].as_u64().unwrap() > step, "{again}");
}

/// `train --json | head -1`: the reader goes away, the run goes on to its model.
#[test]
fn a_reader_that_goes_away_does_not_end_the_run() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 30, 0, "max_steps = 4\n");
    let mut child = spawn_train(&dir.path().join("run.toml"), &[]);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"started\""), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("standard output failed"), "{stderr}");
    assert!(dir.path().join("out/model/model.safetensors").is_file());
    assert_eq!(last_event(dir.path())["kind"], "finished");
}

/// A resume with an edited learning rate and mixture is refused, naming the keys and
/// changing nothing; with `--allow-config-change` it goes on and logs the change.
#[test]
fn a_resume_with_a_changed_config_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 30, 0, "max_steps = 4\nsave_every = 2\n");
    let control = RunControl::new();
    let stop = control.clone();
    common::runs::run(dir.path(), false, &control, &mut |event| {
        if matches!(event, RunEvent::Step(m) if m.step == 2) {
            stop.cancel();
        }
    })
    .unwrap();
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{text}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    edit(
        "run.toml",
        "learning_rate = 0.01",
        "learning_rate = 0.02\nkeep_last = 5",
    );
    edit(
        "mix.toml",
        "max_target_tokens = 32",
        "max_target_tokens = 24",
    );
    let log_before = std::fs::read(dir.path().join("out/metrics.jsonl")).unwrap();
    let record_before = std::fs::read(dir.path().join("out/run.toml")).unwrap();

    let out = cli(dir.path(), &["--resume"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for shown in [
        "learning_rate: 0.01 → 0.02",
        "mixture.max_target_tokens: 32 → 24",
        "--allow-config-change",
    ] {
        assert!(stderr.contains(shown), "{shown}: {stderr}");
    }
    assert!(!stderr.contains("keep_last"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("out/metrics.jsonl")).unwrap(),
        log_before
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/run.toml")).unwrap(),
        record_before
    );

    let out = cli(dir.path(), &["--resume", "--allow-config-change"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(dir.path().join("out/metrics.jsonl")).unwrap();
    let changed: serde_json::Value = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["kind"] == "config_changed")
        .expect("a config_changed event");
    assert_eq!(changed["step"], 2);
    let changes = changed["changes"].to_string();
    assert!(changes.contains("learning_rate: 0.01 → 0.02"), "{changes}");
    assert!(
        changes.contains("mixture.max_target_tokens: 32 → 24"),
        "{changes}"
    );
    assert!(std::fs::read_to_string(dir.path().join("out/run.toml"))
        .unwrap()
        .contains("learning_rate = 0.02"));
}
