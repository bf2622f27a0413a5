//! Comparing runs (`mixtune runs --compare`, `mixtune::train::compare`): the config keys that
//! differ with each run's value, the best metrics side by side, an invented-facts rate when
//! the log carries one, and clear errors for folders that are not runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::runs::write_run;
use mixtune::train::compare::{compare_runs, flat_config};
use mixtune::train::events::{read_events, RunEvent};
use mixtune::train::RunControl;

fn mixtune(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mixtune"));
    command.args(args);
    command.args(paths);
    command.output().unwrap()
}

/// A finished two-step run under `parent/name/out` with `extra` config keys.
fn trained_run(parent: &Path, name: &str, extra: &str) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    write_run(
        &dir,
        8,
        2,
        &format!("max_steps = 2\neval_every = 1\neval_examples = 2\neval_max_new_tokens = 4\nlog_every = 1\n{extra}"),
    );
    common::runs::run(&dir, false, &RunControl::new(), &mut |_| {}).unwrap();
    dir.join("out")
}

#[test]
fn two_trained_runs_differ_in_the_keys_their_configs_set() {
    let root = tempfile::tempdir().unwrap();
    let a = trained_run(root.path(), "a", "seed = 1\n");
    let b = trained_run(
        root.path(),
        "b",
        "seed = 2\nmethod = \"lora\"\n[lora]\nrank = 4\n",
    );
    let comparison = compare_runs(&[a.clone(), b.clone()]).unwrap();
    let diff: std::collections::BTreeMap<&str, &Vec<Option<String>>> = comparison
        .config_diff
        .iter()
        .map(|d| (d.key.as_str(), &d.values))
        .collect();
    assert_eq!(
        diff["seed"],
        &vec![Some("1".to_string()), Some("2".to_string())]
    );
    assert_eq!(
        diff["method"],
        &vec![Some("full".to_string()), Some("lora".to_string())]
    );
    assert_eq!(
        diff["lora.rank"],
        &vec![Some("8".to_string()), Some("4".to_string())],
        "defaults are filled in before comparing"
    );
    // Keys set the same way (a default written out or not) and the run's own paths are not
    // differences; the mixture's keys are compared too.
    for same in [
        "learning_rate",
        "batch_size",
        "output_dir",
        "mixture",
        "mixture.seed",
    ] {
        assert!(!diff.contains_key(same), "{same} listed: {diff:?}");
    }
    let flat = flat_config(&a).unwrap();
    assert_eq!(flat["mixture.strategy"], "proportional");
    assert_eq!(flat["task[summary].template"], "dialogue_summary");
    assert!(comparison.keys_compared >= flat.len());

    // Best metrics are the extremes of each log's eval events.
    for (run, dir) in comparison.runs.iter().zip([&a, &b]) {
        let evals: Vec<_> = read_events(dir)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                RunEvent::Eval(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(run.best.evals, evals.len());
        assert_eq!(run.best.steps, 2);
        let lowest = evals
            .iter()
            .map(|e| e.val_loss)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(run.best.best_val_loss, Some(lowest));
        let best_summary = evals
            .iter()
            .map(|e| e.tasks["summary"].rouge.rouge_l)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(run.best.tasks["summary"].rouge_l, best_summary);
        // Eval events carry each task's `invented_rate`: the best is the lowest pass mean.
        let lowest_invented = evals
            .iter()
            .map(|e| {
                let rates: Vec<f64> = e.tasks.values().map(|t| t.invented_rate).collect();
                rates.iter().sum::<f64>() / rates.len() as f64
            })
            .fold(f64::INFINITY, f64::min);
        let found = run
            .best
            .invented_facts_rate
            .expect("an invented-facts rate");
        assert!(
            (found - lowest_invented).abs() < 1e-12,
            "{found} {lowest_invented}"
        );
    }

    // The CLI prints the same, as a table and as JSON.
    let out = mixtune(&["runs", "--compare"], &[&a, &b]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("keys differ"), "{text}");
    let seed_line = text.lines().find(|l| l.starts_with("seed ")).unwrap();
    assert!(seed_line.contains('1') && seed_line.contains('2'), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("best val_loss")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("summary ROUGE-L")),
        "{text}"
    );
    let out = mixtune(&["runs", "--json", "--compare"], &[&a, &b]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    let seed = json["config_diff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == "seed")
        .unwrap();
    assert_eq!(seed["values"], serde_json::json!(["1", "2"]));
    assert_eq!(
        json["runs"][0]["best"]["best_val_loss"],
        serde_json::json!(comparison.runs[0].best.best_val_loss)
    );
}

/// A run folder written by hand: a config and a log of the given eval events.
fn logged_run(dir: &Path, config: &str, evals: &[serde_json::Value]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("run.toml"),
        format!(
            "model = \"m\"\nmixture = \"mix.toml\"\noutput_dir = \".\"\nmax_steps = 10\n{config}"
        ),
    )
    .unwrap();
    let mut log = String::from("{\"kind\":\"started\",\"output_dir\":\".\",\"device\":\"cpu\",\"total_steps\":10,\"start_step\":0,\"trainable_parameters\":1,\"total_parameters\":1}\n");
    for eval in evals {
        log.push_str(&eval.to_string());
        log.push('\n');
    }
    log.push_str("not json: a line cut by a crash\n");
    std::fs::write(dir.join("metrics.jsonl"), log).unwrap();
}

fn eval(step: usize, val_loss: f64, rouge_l: f64, facts: Option<f64>) -> serde_json::Value {
    let mut value = serde_json::json!({"kind": "eval", "step": step, "val_loss": val_loss,
        "tasks": {"summary": {"loss": val_loss, "rouge1": rouge_l, "rouge2": rouge_l / 2.0,
                              "rougeL": rouge_l, "rougeLsum": rouge_l, "examples": 2}},
        "metric": val_loss, "best": false, "samples": [], "seconds": 0.1});
    if let Some(rate) = facts {
        value["invented_facts_rate"] = serde_json::json!(rate);
    }
    value
}

#[test]
fn invented_facts_rates_are_compared_when_the_logs_have_them() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    logged_run(
        &a,
        "learning_rate = 0.001\n",
        &[eval(5, 2.0, 0.2, Some(0.5)), eval(10, 1.5, 0.3, Some(0.25))],
    );
    logged_run(&b, "", &[eval(5, 1.0, 0.4, None)]);
    logged_run(&c, "learning_rate = 0.0003\n", &[]);
    // a and b kept their mixture, c did not: mixture keys are left out, and said so.
    for dir in [&a, &b] {
        let mix = "[mixture]\nstrategy = \"proportional\"\n\n[[task]]\nname = \"s\"\ndata = \"d.jsonl\"\ntemplate = \"dialogue_summary\"\n";
        std::fs::write(dir.join("mixture.toml"), mix).unwrap();
    }
    let comparison = compare_runs(&[a.clone(), b.clone(), c.clone()]).unwrap();
    assert_eq!(comparison.notes.len(), 1, "{:?}", comparison.notes);
    assert!(comparison.notes[0].contains(&c.display().to_string()));
    let keys: Vec<&str> = comparison
        .config_diff
        .iter()
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(keys, ["learning_rate"], "{keys:?}");
    let lr = comparison
        .config_diff
        .iter()
        .find(|d| d.key == "learning_rate")
        .unwrap();
    // b leaves learning_rate at its default, 3e-4: the same value as c's.
    assert_eq!(
        lr.values,
        vec![
            Some("0.001".into()),
            Some("0.0003".into()),
            Some("0.0003".into())
        ]
    );
    let best: Vec<_> = comparison.runs.iter().map(|r| &r.best).collect();
    assert_eq!(best[0].invented_facts_rate, Some(0.25));
    assert_eq!(best[0].best_val_loss, Some(1.5));
    assert_eq!(best[0].best_val_loss_step, Some(10));
    assert_eq!(best[0].rouge.unwrap().rouge_l, 0.3);
    assert_eq!(best[1].invented_facts_rate, None);
    assert_eq!(best[2].evals, 0);
    assert_eq!(best[2].best_val_loss, None);

    let out = mixtune(
        &[
            "runs",
            root.path().to_str().unwrap(),
            "--compare",
            "a",
            "b",
            "c",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let facts = text
        .lines()
        .find(|l| l.starts_with("invented facts"))
        .unwrap();
    assert!(facts.contains("25.0%") && facts.contains('-'), "{text}");
    assert!(
        text.contains("note: ") && text.contains("no mixture.toml"),
        "{text}"
    );

    // A folder that does not exist is an error, not an empty list.
    let out = mixtune(&["runs"], &[&root.path().join("nope")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no such folder"), "{stderr}");
}

#[test]
fn folders_that_are_not_runs_are_named() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("run");
    logged_run(&run, "", &[]);
    let missing = root.path().join("nope");
    let out = mixtune(&["runs", "--compare"], &[&run, &missing]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nope") && stderr.contains("no such run folder"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let error = compare_runs(&[run.clone(), empty]).unwrap_err().to_string();
    assert!(
        error.contains("empty") && error.contains("no run.toml"),
        "{error}"
    );

    std::fs::write(
        run.join("run.toml"),
        "model = \"m\"\nbatch_size = \"big\"\n",
    )
    .unwrap();
    let error = compare_runs(&[run.clone(), run.clone()])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("run.toml") && error.contains("line 2"),
        "{error}"
    );

    // One run is not a comparison.
    let out = mixtune(&["runs", "--compare"], &[&run]);
    assert!(!out.status.success());
}

/// A run whose eval events carry a forgetting report: `runs --compare` shows the worst
/// task's change and `runs` lists the tasks it forgot.
#[test]
fn forgetting_reaches_the_comparison_and_the_history() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let mut forgetful = eval(10, 1.5, 0.3, None);
    forgetful["forgetting"] = serde_json::json!({
        "metric": "rougeL", "threshold": 0.02, "baseline_step": 0, "step": 10,
        "tasks": [
            {"task": "summary", "watched": false, "baseline": 0.3, "now": 0.31, "delta": 0.01, "dropped": false},
            {"task": "topic", "watched": true, "baseline": 0.5, "now": 0.42, "delta": -0.08, "dropped": true}
        ]
    });
    logged_run(&a, "", &[eval(5, 2.0, 0.2, None), forgetful]);
    logged_run(&b, "learning_rate = 0.001\n", &[eval(5, 1.0, 0.4, None)]);
    let comparison = compare_runs(&[a.clone(), b.clone()]).unwrap();
    let report = comparison.runs[0]
        .best
        .forgetting
        .as_ref()
        .expect("a's report");
    assert_eq!(report.step, 10);
    assert!(comparison.runs[1].best.forgetting.is_none());

    let out = mixtune(
        &["runs", root.path().to_str().unwrap(), "--compare", "a", "b"],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with("forgetting"))
        .expect(&text);
    assert!(
        row.contains("-0.0800 topic, 1 dropped") && row.contains('-'),
        "{row}"
    );

    let out = mixtune(&["runs"], &[root.path()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with('a')).expect(&text);
    assert!(line.contains("forgot: topic"), "{line}");
}
