//! The forgetting report on DialogSum with the tiny fixture: train `dialogue_summary` only,
//! watch `dialogue_topic`. The watched task is scored at the baseline and at every
//! validation pass, never sampled, left out of `val_loss`, and reported (baseline → now →
//! delta, drops flagged) in the eval events, `eval.json`, the run summary and
//! `mixtune eval --mix --compare`; watching does not change the training trajectory.

mod common;

use std::path::Path;
use std::process::Command;

use burn::tensor::Device;
use common::{shared, tiny_flan};
use mixtune::mixture::Mixture;
use mixtune::train::events::{EvalMetrics, RunEvent, RunSummary, StepMetrics};
use mixtune::train::forgetting::ForgettingReport;
use mixtune::train::{run_from_file, RunControl, RunOptions};

const THRESHOLD: f64 = 0.02;

/// The first `n` lines of a shared DialogSum file, written into `dir`.
fn dialogsum_slice(dir: &Path, name: &str, n: usize) {
    let path = shared().join(format!("data/dialogsum/dialogsum.{name}.jsonl"));
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    std::fs::write(dir.join(format!("{name}.jsonl")), lines.join("\n")).unwrap();
}

const SUMMARY_TASK: &str = "[mixture]\nseed = 3\nmax_source_tokens = 128\nmax_target_tokens = 32\n\n\
    [[task]]\nname = \"summary\"\ndata = \"dev.jsonl\"\ntemplate = \"dialogue_summary\"\nsplit = \"train\"\neval_data = \"test.jsonl\"\n";

const TOPIC_WATCH: &str = "\n[[watch]]\nname = \"topic\"\ndata = \"test.jsonl\"\ntemplate = \"dialogue_topic\"\nsplit = \"validation\"\n";

/// A run folder `dir` with the DialogSum slices, a mixture (watching `topic` or not) and a
/// short full fine-tuning run config.
fn setup(dir: &Path, watch: bool) {
    dialogsum_slice(dir, "dev", 64);
    dialogsum_slice(dir, "test", 6);
    let mix = format!("{SUMMARY_TASK}{}", if watch { TOPIC_WATCH } else { "" });
    std::fs::write(dir.join("mix.toml"), mix).unwrap();
    std::fs::write(
        dir.join("run.toml"),
        format!(
            "model = \"{}\"\nmixture = \"mix.toml\"\noutput_dir = \"out\"\nmax_steps = 4\nbatch_size = 4\n\
             learning_rate = 0.01\nschedule = \"constant\"\neval_at_start = true\neval_every = 2\n\
             eval_examples = 6\neval_max_new_tokens = 12\nkeep_best = false\nforgetting_threshold = {THRESHOLD}\n",
            tiny_flan().display()
        ),
    )
    .unwrap();
}

/// Runs `dir/run.toml`, returning the summary, the validation passes and the steps.
fn train(dir: &Path) -> (RunSummary, Vec<EvalMetrics>, Vec<StepMetrics>) {
    let (mut evals, mut steps) = (Vec::new(), Vec::new());
    let summary = run_from_file(
        &dir.join("run.toml"),
        &Device::flex(),
        &RunOptions::default(),
        &RunControl::new(),
        &mut |event| match event {
            RunEvent::Eval(eval) => evals.push(eval.clone()),
            RunEvent::Step(step) => steps.push(step.clone()),
            _ => {}
        },
    )
    .unwrap();
    (summary, evals, steps)
}

/// Checks a report against the two passes it compares: both tasks, the baseline's and the
/// pass's ROUGE-L, delta = now − baseline, flagged iff the drop exceeds the threshold.
fn assert_report(report: &ForgettingReport, baseline: &EvalMetrics, now: &EvalMetrics) {
    assert_eq!(report.metric, "rougeL");
    assert_eq!(report.threshold, THRESHOLD);
    assert_eq!(
        (report.baseline_step, report.step),
        (baseline.step, now.step)
    );
    let names: Vec<(&str, bool)> = report
        .tasks
        .iter()
        .map(|change| (change.task.as_str(), change.watched))
        .collect();
    assert_eq!(names, [("summary", false), ("topic", true)]);
    let scores = |pass: &EvalMetrics, watched: bool, task: &str| {
        let map = if watched { &pass.watched } else { &pass.tasks };
        map[task].rouge.rouge_l
    };
    for change in &report.tasks {
        assert_eq!(
            change.baseline,
            scores(baseline, change.watched, &change.task)
        );
        assert_eq!(change.now, scores(now, change.watched, &change.task));
        assert_eq!(change.delta, change.now - change.baseline);
        assert_eq!(change.dropped, change.baseline - change.now > THRESHOLD);
    }
}

#[test]
fn watched_task_is_scored_at_baseline_and_each_eval_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), true);
    let (summary, evals, steps) = train(dir.path());
    assert_eq!(summary.steps, 4);
    assert_eq!(
        evals.iter().map(|e| e.step).collect::<Vec<_>>(),
        [0, 2, 4],
        "baseline plus every eval_every"
    );
    for eval in &evals {
        assert_eq!(eval.tasks.keys().collect::<Vec<_>>(), ["summary"]);
        assert_eq!(eval.watched.keys().collect::<Vec<_>>(), ["topic"]);
        assert_eq!(eval.watched["topic"].examples, 6);
        // The watched task stays out of the validation loss.
        assert_eq!(eval.val_loss, eval.tasks["summary"].loss);
    }
    // The sampler never draws the watched task.
    assert!(steps
        .iter()
        .all(|step| step.examples_per_task.keys().collect::<Vec<_>>() == ["summary"]));
    let baseline = &evals[0];
    assert!(baseline.forgetting.is_none());
    for eval in &evals[1..] {
        assert_report(eval.forgetting.as_ref().unwrap(), baseline, eval);
    }
    let last = evals.last().unwrap();
    assert_eq!(summary.forgetting.as_ref(), last.forgetting.as_ref());
    let report = summary.forgetting.as_ref().unwrap();
    for change in &report.tasks {
        eprintln!(
            "{} ({}): ROUGE-L {:.4} -> {:.4} ({:+.4}){}",
            change.task,
            if change.watched { "watched" } else { "trained" },
            change.baseline,
            change.now,
            change.delta,
            if change.dropped { " DROPPED" } else { "" }
        );
    }

    // eval.json and the event log carry the same report.
    let out = dir.path().join("out");
    let eval_json: EvalMetrics =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    // (JSON floats read back may differ in the last bit: compare the report and the tasks.)
    assert_eq!(eval_json.step, last.step);
    assert_eq!(eval_json.forgetting, last.forgetting);
    assert_eq!(
        eval_json.watched.keys().collect::<Vec<_>>(),
        last.watched.keys().collect::<Vec<_>>()
    );
    assert!((eval_json.val_loss - last.val_loss).abs() <= 1e-12 * last.val_loss.abs());
    let logged = mixtune::train::events::read_events(&out).unwrap();
    let finished = logged.iter().find_map(|event| match event {
        RunEvent::Finished(summary) => summary.forgetting.clone(),
        _ => None,
    });
    assert_eq!(finished.as_ref(), Some(report));

    // `eval --mix --compare`: the exported model against the base on the same rows gives
    // the run's own report (keep_best = false: the export is the last step's weights).
    let output = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["eval", "--device", "cpu", "--json", "--mix"])
        .arg(dir.path().join("mix.toml"))
        .arg("--model")
        .arg(out.join("model"))
        .arg("--compare")
        .arg(tiny_flan())
        .args([
            "--eval-examples",
            "6",
            "--max-new-tokens",
            "12",
            "--batch-size",
            "4",
        ])
        .args(["--forgetting-threshold", &THRESHOLD.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let cli: ForgettingReport = serde_json::from_value(json["forgetting"].clone()).unwrap();
    assert_eq!(cli.tasks.len(), 2);
    for (cli, run) in cli.tasks.iter().zip(&report.tasks) {
        assert_eq!((&cli.task, cli.watched), (&run.task, run.watched));
        assert!(
            (cli.baseline - run.baseline).abs() < 1e-6,
            "{cli:?} vs {run:?}"
        );
        assert!((cli.now - run.now).abs() < 1e-6, "{cli:?} vs {run:?}");
        assert_eq!(cli.dropped, cli.baseline - cli.now > THRESHOLD);
    }

    // The plain table names both tasks, their kind and the threshold.
    let output = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["eval", "--device", "cpu", "--mix"])
        .arg(dir.path().join("mix.toml"))
        .arg("--model")
        .arg(out.join("model"))
        .arg("--compare")
        .arg(tiny_flan())
        .args(["--eval-examples", "2", "--max-new-tokens", "4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("a drop of more than 0.020 flagged"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("summary") && l.contains("trained")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("topic") && l.contains("watched")),
        "{text}"
    );
}

#[test]
fn watching_a_task_does_not_change_training() {
    let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    setup(with.path(), true);
    setup(without.path(), false);
    let (_, evals_with, steps_with) = train(with.path());
    let (_, evals_without, steps_without) = train(without.path());
    let losses = |steps: &[StepMetrics]| steps.iter().map(|s| s.loss).collect::<Vec<_>>();
    assert_eq!(losses(&steps_with), losses(&steps_without));
    assert_eq!(steps_with.len(), 4);
    // Same weights at every pass: the trained task scores the same, val_loss included.
    for (a, b) in evals_with.iter().zip(&evals_without) {
        assert_eq!(
            (a.step, a.val_loss, &a.tasks),
            (b.step, b.val_loss, &b.tasks)
        );
        assert!(b.watched.is_empty());
    }
    let weights = |dir: &Path| std::fs::read(dir.join("out/model/model.safetensors")).unwrap();
    assert!(weights(with.path()) == weights(without.path()));
}

#[test]
fn bad_watch_entries_name_the_file_and_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    dialogsum_slice(dir.path(), "dev", 20);
    dialogsum_slice(dir.path(), "test", 4);
    let mix = dir.path().join("mix.toml");
    let load = |watch: &str| {
        std::fs::write(&mix, format!("{SUMMARY_TASK}{watch}")).unwrap();
        Mixture::load(&mix).unwrap_err().to_string()
    };
    let message = load(&TOPIC_WATCH.replace("dialogue_topic", "no_such_template"));
    assert!(
        message.starts_with(&mix.display().to_string())
            && message.contains("[[watch]] `topic`: no template `no_such_template`"),
        "{message}"
    );
    // The whole file is training data: nothing to score the watched task on.
    let message = load(&TOPIC_WATCH.replace("\"validation\"", "\"train\""));
    assert!(
        message.starts_with(&mix.display().to_string())
            && message.contains("[[watch]] `topic`: no evaluation rows in")
            && message.contains("set eval_data"),
        "{message}"
    );
    // A weight on a watched task is refused where it is written.
    let message = load(&format!("{TOPIC_WATCH}weight = 2.0\n"));
    assert!(
        message.contains("mix.toml:18:") && message.contains("unknown field `weight`"),
        "{message}"
    );
    // A watched data file that is not there is named.
    let message = load(&TOPIC_WATCH.replace("data = \"test.jsonl\"", "data = \"gone.jsonl\""));
    assert!(message.contains("gone.jsonl"), "{message}");
    // Loading works and the sampler's plan holds only the trained task.
    std::fs::write(&mix, format!("{SUMMARY_TASK}{TOPIC_WATCH}")).unwrap();
    let mixture = Mixture::load(&mix).unwrap();
    assert_eq!(mixture.plan().rates, [1.0]);
    assert!(mixture.is_watched("topic") && !mixture.is_watched("summary"));
    let validation = mixture.validation_examples(3).unwrap();
    let tasks: Vec<&str> = validation.iter().map(|e| e.task.as_str()).collect();
    assert_eq!(
        tasks,
        ["summary", "summary", "summary", "topic", "topic", "topic"]
    );
    assert!(validation[3].source.starts_with("What is the topic"));
}

/// On a GPU a task's last, smaller validation chunk is padded to the batch (a new batch size
/// would compile and tune kernels of its own): the padding rows change nothing. 6 examples a
/// task at batch 4 leave chunks of 4 and 2; padded or not, the losses agree to float
/// rounding and the predictions, ROUGE and counts are the same.
#[test]
fn padding_a_tasks_last_validation_chunk_to_the_batch_changes_nothing() {
    use mixtune::model::load_pretrained;
    use mixtune::train::validate::Validator;
    use mixtune::train::Batcher;

    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), true);
    let mixture = Mixture::load(&dir.path().join("mix.toml")).unwrap();
    let examples = mixture.validation_examples(6).unwrap();
    assert_eq!(examples.len(), 12, "6 summary and 6 watched topic examples");
    let device = Device::flex();
    let pretrained = load_pretrained(&tiny_flan().display().to_string(), &device, false).unwrap();
    assert!(
        !mixtune::device::kernel_shapes::pads_batches(&device),
        "the CPU does not pad"
    );
    let score = |pad_to_batch| {
        let validator = Validator {
            examples: examples.clone(),
            batcher: Batcher::new(pretrained.tokenizer.clone(), 128, 32).unwrap(),
            tokenizer: pretrained.tokenizer.clone(),
            defaults: pretrained.defaults.clone(),
            batch_size: 4,
            pad_to_batch,
            max_new_tokens: 12,
            samples: 12,
            watched: ["topic".to_string()].into(),
        };
        validator.run(&pretrained.model, 0).unwrap()
    };
    let (plain, padded) = (score(false), score(true));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
    assert!(
        close(plain.val_loss, padded.val_loss),
        "{} vs {}",
        plain.val_loss,
        padded.val_loss
    );
    for (tasks, padded_tasks) in [
        (&plain.tasks, &padded.tasks),
        (&plain.watched, &padded.watched),
    ] {
        assert_eq!(tasks.len(), 1);
        for (name, task) in tasks {
            let other = &padded_tasks[name];
            assert!(
                close(task.loss, other.loss),
                "{name}: {} vs {}",
                task.loss,
                other.loss
            );
            assert_eq!(task.examples, 6, "{name}: the padding rows are not scored");
            assert_eq!(
                (task.examples, task.rouge.rouge_l),
                (other.examples, other.rouge.rouge_l)
            );
        }
    }
    let predictions = |m: &EvalMetrics| {
        m.samples
            .iter()
            .map(|s| s.prediction.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(padded.samples.len(), 12);
    assert_eq!(predictions(&plain), predictions(&padded));
}
