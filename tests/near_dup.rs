//! Near duplicates between training and evaluation data, on DialogSum, whose dev and test
//! files share dialogues written with different spacing (e.g. test_63 and dev_40): `data
//! inspect --against`, a mixture across tasks, and a run folder's training data.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::shared;
use mixtune::data::lengths::LengthMeasure;
use mixtune::data::near_dup::NearDuplicates;
use mixtune::data::report::{inspect_with, Limits, NearDupSettings};
use mixtune::data::LoadOptions;
use mixtune::mixture::{preview_at, Mixture};
use mixtune::train::contamination::check_run;

/// Every (test, dev) dialogue pair with Jaccard ≥ 0.8 over 5-word shingles, found by an
/// all-pairs Python scan of the two files (250,000 pairs). The next closest pair,
/// test_248 ~ dev_299, is 0.790 and must not be reported.
const EXPECTED: [(&str, &str); 11] = [
    ("test_63", "dev_40"),
    ("test_59", "dev_87"),
    ("test_480", "dev_479"),
    ("test_462", "dev_288"),
    ("test_410", "dev_434"),
    ("test_170", "dev_41"),
    ("test_112", "dev_433"),
    ("test_436", "dev_404"),
    ("test_121", "dev_85"),
    ("test_363", "dev_141"),
    ("test_410", "dev_113"),
];

fn expected() -> BTreeSet<(String, String)> {
    EXPECTED
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn dialogsum(name: &str) -> PathBuf {
    shared().join("data/dialogsum").join(name)
}

/// The dialogue of every row of a DialogSum JSONL file, by `fname`, as written in the file.
fn raw_dialogues(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                row["fname"].as_str().unwrap().to_string(),
                row["dialogue"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Jaccard of 5-word shingle sets, computed here independently of the engine (a set of
/// word tuples, from the raw text of the file rather than the normalised dialogue).
fn reference_jaccard(a: &str, b: &str) -> f64 {
    let shingles = |text: &str| -> HashSet<Vec<String>> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        words
            .windows(5.min(words.len()))
            .map(<[String]>::to_vec)
            .collect()
    };
    let (a, b) = (shingles(a), shingles(b));
    a.intersection(&b).count() as f64 / a.union(&b).count() as f64
}

/// Checks the reported pairs (a = dev, b = test when `dev_first`) against the scan, and
/// each Jaccard against the reference computation.
fn assert_dialogsum_pairs(found: &NearDuplicates, dev_first: bool) {
    let dev = raw_dialogues(&dialogsum("dialogsum.dev.jsonl"));
    let test = raw_dialogues(&dialogsum("dialogsum.test.jsonl"));
    let pairs: BTreeSet<(String, String)> = found
        .pairs
        .iter()
        .map(|pair| {
            let (dev_row, test_row) = if dev_first {
                (&pair.a, &pair.b)
            } else {
                (&pair.b, &pair.a)
            };
            let reference = reference_jaccard(&test[&test_row.id], &dev[&dev_row.id]);
            assert!(
                (pair.jaccard - reference).abs() < 1e-12,
                "{} ~ {}: reported {} but the shingle sets give {reference}",
                test_row.id,
                dev_row.id,
                pair.jaccard
            );
            assert!(pair.jaccard >= found.threshold);
            (test_row.id.clone(), dev_row.id.clone())
        })
        .collect();
    assert_eq!(pairs, expected());
    assert_eq!(found.pairs_found, expected().len());
    // Sorted by Jaccard, highest first.
    assert!(found.pairs.windows(2).all(|w| w[0].jaccard >= w[1].jaccard));
}

#[test]
fn inspect_against_finds_dialogsum_dev_test_pairs() {
    let test_file = dialogsum("dialogsum.test.jsonl");
    let dev_file = dialogsum("dialogsum.dev.jsonl");
    let near = NearDupSettings {
        threshold: 0.8,
        against: Some((dev_file.clone(), LoadOptions::default())),
    };
    let measure = LengthMeasure::new(None).unwrap();
    let report = inspect_with(
        &test_file,
        &LoadOptions::default(),
        &measure,
        Limits::default(),
        0,
        &near,
    )
    .unwrap();
    let found = &report.near_duplicates;
    assert_eq!((found.rows_a, found.rows_b), (500, 500));
    assert_dialogsum_pairs(found, false);
    // The pair from the issue names both files and rows (line = row: one row per line).
    let pair = found
        .pairs
        .iter()
        .find(|pair| pair.a.id == "test_63")
        .unwrap();
    assert_eq!(
        (pair.a.file.as_path(), pair.a.line),
        (test_file.as_path(), Some(64))
    );
    assert_eq!(
        (pair.b.file.as_path(), pair.b.line),
        (dev_file.as_path(), Some(41))
    );
    assert_eq!(pair.jaccard, 1.0);
    let text = report.to_text();
    assert!(text.contains("Jaccard ≥ 0.80"), "{text}");
    assert!(text.contains("test_63"), "{text}");
    // A lower threshold reaches the 0.790 pair too.
    let lower = NearDupSettings {
        threshold: 0.78,
        ..near
    };
    let report = inspect_with(
        &test_file,
        &LoadOptions::default(),
        &measure,
        Limits::default(),
        0,
        &lower,
    )
    .unwrap();
    let ids: Vec<(&str, &str)> = report
        .near_duplicates
        .pairs
        .iter()
        .map(|p| (p.a.id.as_str(), p.b.id.as_str()))
        .collect();
    assert!(ids.contains(&("test_248", "dev_299")), "{ids:?}");
    assert_eq!(report.near_duplicates.pairs_found, expected().len() + 1);
}

#[test]
fn cli_reports_near_duplicates_as_json_and_refuses_bad_thresholds() {
    let out = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["data", "inspect", "--json"])
        .arg(dialogsum("dialogsum.test.jsonl"))
        .arg("--against")
        .arg(dialogsum("dialogsum.dev.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = &json["near_duplicates"];
    assert_eq!(found["threshold"], 0.8);
    assert_eq!(found["pairs_found"], 11);
    assert_eq!(found["shingle_words"], 5);
    let first = &found["pairs"][0];
    assert_eq!(first["jaccard"], 1.0);
    assert!(first["a"]["id"].as_str().unwrap().starts_with("test_"));
    assert!(first["b"]["file"]
        .as_str()
        .unwrap()
        .ends_with("dialogsum.dev.jsonl"));

    let out = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["data", "inspect", "--threshold", "1.5"])
        .arg(dialogsum("dialogsum.dev.jsonl"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--threshold") && stderr.contains("1.5"),
        "{stderr}"
    );
}

/// A mixture whose first task trains on DialogSum dev and whose second task trains on a few
/// unrelated rows and validates on DialogSum test (`eval_data`).
fn write_mixture(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(dialogsum("dialogsum.dev.jsonl"), data.join("dev.jsonl")).unwrap();
    let other: String = (0..20)
        .map(|i| {
            format!(
                "{{\"id\": \"other_{i}\", \"dialogue\": \"A: ticket {i} is about a printer that jams on page {i}\\nB: restart it\", \"summary\": \"printer {i}\"}}\n"
            )
        })
        .collect();
    std::fs::write(data.join("other.jsonl"), other).unwrap();
    let mix = dir.join("mix.toml");
    std::fs::write(
        &mix,
        format!(
            r#"[mixture]
seed = 1

[[task]]
name = "dev"
data = "data/dev.jsonl"
template = "dialogue_summary"
split = "train"

[[task]]
name = "support"
data = "data/other.jsonl"
template = "dialogue_summary"
split = "train"
eval_data = "{}"
"#,
            dialogsum("dialogsum.test.jsonl").display()
        ),
    )
    .unwrap();
    mix
}

#[test]
fn mix_preview_finds_near_duplicates_across_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mixture = Mixture::load(&write_mixture(dir.path())).unwrap();
    let words = |text: &str| text.split_whitespace().count();
    let preview = preview_at(&mixture, &words, "words", 10, 0.8).unwrap();
    let found = &preview.near_duplicates;
    assert_eq!(found.rows_a, 520);
    assert_eq!(found.rows_b, 500);
    assert_dialogsum_pairs(found, true);
    let pair = &found.pairs[0];
    assert_eq!(pair.a.task.as_deref(), Some("dev"));
    assert_eq!(pair.b.task.as_deref(), Some("support"));
    assert!(preview.to_string().contains("near duplicates"));
}

#[test]
fn a_run_folder_names_its_training_data() {
    let dir = tempfile::tempdir().unwrap();
    write_mixture(dir.path());
    let run = dir.path().join("runs/first");
    std::fs::create_dir_all(&run).unwrap();
    let run_toml = "model = \"google/flan-t5-small\"\nmixture = \"mix.toml\"\noutput_dir = \"runs/first\"\nmax_steps = 10\n";
    std::fs::write(run.join("run.toml"), run_toml).unwrap();
    // The run folder keeps a copy of the mixture, whose relative paths point beside the
    // original.
    std::fs::copy(dir.path().join("mix.toml"), run.join("mixture.toml")).unwrap();
    let found = check_run(&run, &dialogsum("dialogsum.test.jsonl"), None, 0.8).unwrap();
    // Training rows: dev (500) and the support task's 20; its eval_data is not training data.
    assert_eq!((found.rows_a, found.rows_b), (520, 500));
    assert_dialogsum_pairs(&found, true);
    assert_eq!(found.rows_b_affected, 10);
    let limited = check_run(&run, &dialogsum("dialogsum.test.jsonl"), Some(60), 0.8).unwrap();
    assert_eq!((limited.rows_b, limited.pairs_found), (60, 1));
    assert_eq!(limited.pairs[0].b.id, "test_59");

    let error = check_run(dir.path(), &dialogsum("dialogsum.test.jsonl"), None, 0.8).unwrap_err();
    assert!(error.to_string().contains("not a run folder"), "{error}");
}
