//! Mixture configs, mixing proportions, deterministic and resumable sampling, and preview.

use std::fs;
use std::path::{Path, PathBuf};

use mixtune::mixture::{preview, Mixture, MixtureError, Sampler, SamplerState, Strategy};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");

fn dialogsum(name: &str) -> String {
    format!("{SHARED}/data/dialogsum/{name}")
}

/// Writes `rows` SAMSum-style rows (id, dialogue, summary) as JSONL.
fn write_small(path: &Path, rows: usize) {
    let text: String = (0..rows)
        .map(|index| {
            serde_json::json!({
                "id": format!("s{index}"),
                "dialogue": format!("Ann: message number {index}\nBen: reply {index}"),
                "summary": format!("Ann and Ben talk about {index}."),
            })
            .to_string()
                + "\n"
        })
        .collect();
    fs::write(path, text).unwrap();
}

/// Writes a config with three tasks: DialogSum dev (500), DialogSum test (500), small (60).
fn write_config(dir: &Path, mixture_table: &str, weights: [&str; 3]) -> PathBuf {
    write_small(&dir.join("small.jsonl"), 60);
    let config = format!(
        r#"{mixture_table}

[[task]]
name = "dev-summary"
data = "{dev}"
template = "dialogue_summary"
split = "train"
{w0}

[[task]]
name = "test-topic"
data = "{test}"
template = "dialogue_topic"
split = "train"
{w1}

[[task]]
name = "small-summary"
data = "small.jsonl"
template = "dialogue_summary"
split = "train"
{w2}
"#,
        dev = dialogsum("dialogsum.dev.jsonl"),
        test = dialogsum("dialogsum.test.jsonl"),
        w0 = weights[0],
        w1 = weights[1],
        w2 = weights[2],
    );
    let path = dir.join("mix.toml");
    fs::write(&path, config).unwrap();
    path
}

fn shares(mixture: &Mixture, samples: usize) -> Vec<f64> {
    let mut counts = vec![0usize; mixture.tasks.len()];
    for sample in mixture.sampler().unwrap().take(samples) {
        counts[sample.task] += 1;
    }
    counts
        .iter()
        .map(|&count| count as f64 / samples as f64)
        .collect()
}

fn assert_shares_within_one_percent(mixture: &Mixture, expected: &[f64]) {
    for (rate, want) in mixture.rates.iter().zip(expected) {
        assert!(
            (rate - want).abs() < 1e-9,
            "configured rates {:?}, expected {expected:?}",
            mixture.rates
        );
    }
    let observed = shares(mixture, 10_000);
    for (got, want) in observed.iter().zip(expected) {
        assert!(
            (got - want).abs() < 0.01,
            "observed {observed:?}, expected {expected:?}"
        );
    }
}

#[test]
fn proportional_with_cap_matches_shares() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[mixture]\nstrategy = \"proportional\"\ncap = 200\nseed = 1",
        ["", "", ""],
    );
    let mixture = Mixture::load(&path).unwrap();
    assert_eq!(mixture.tasks[2].train.len(), 60);
    assert_shares_within_one_percent(&mixture, &[200.0 / 460.0, 200.0 / 460.0, 60.0 / 460.0]);
}

#[test]
fn temperature_scaling_matches_shares() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[mixture]\nstrategy = \"temperature\"\ntemperature = 2.0\nseed = 2",
        ["", "", ""],
    );
    let mixture = Mixture::load(&path).unwrap();
    let root = [500f64.sqrt(), 500f64.sqrt(), 60f64.sqrt()];
    let total: f64 = root.iter().sum();
    assert_shares_within_one_percent(&mixture, &root.map(|value| value / total));
}

#[test]
fn explicit_weights_match_shares() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[mixture]\nstrategy = \"explicit\"\nseed = 3",
        ["weight = 5", "weight = 3", "weight = 2"],
    );
    let mixture = Mixture::load(&path).unwrap();
    assert_eq!(mixture.config.config.mixture.strategy, Strategy::Explicit);
    assert_shares_within_one_percent(&mixture, &[0.5, 0.3, 0.2]);
}

#[test]
fn resumed_sampler_continues_with_the_same_examples() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "[mixture]\nseed = 11", ["", "", ""]);
    let mixture = Mixture::load(&path).unwrap();
    let mut sampler = mixture.sampler().unwrap();
    for _ in 0..1_777 {
        sampler.next();
    }
    let saved = serde_json::to_string(&sampler.state()).unwrap();
    let expected: Vec<_> = sampler
        .take(600)
        .map(|sample| mixture.render(&sample).unwrap())
        .collect();

    // A fresh process: reload the mixture and restore the saved state.
    let reloaded = Mixture::load(&path).unwrap();
    let state: SamplerState = serde_json::from_str(&saved).unwrap();
    assert_eq!(state.position, 1_777);
    let resumed = Sampler::restore(reloaded.plan(), state).unwrap();
    let got: Vec<_> = resumed
        .take(600)
        .map(|sample| reloaded.render(&sample).unwrap())
        .collect();
    assert_eq!(got.len(), expected.len());
    let first_difference = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "resumed samples differ");
    assert!(got.iter().any(|example| example.task == "small-summary"));
}

#[test]
fn state_of_another_mixture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "[mixture]\nseed = 11", ["", "", ""]);
    let mixture = Mixture::load(&path).unwrap();
    let state = mixture.sampler().unwrap().state();
    write_small(&dir.path().join("small.jsonl"), 61);
    let changed = Mixture::load(&path).unwrap();
    let error = Sampler::restore(changed.plan(), state).unwrap_err();
    assert!(
        matches!(error, MixtureError::StateMismatch { .. }),
        "{error}"
    );
}

#[test]
fn sampling_and_phrasing_are_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_config(dir.path(), "[mixture]\nseed = 5", ["", "", ""]);
    let render = |path: &Path| -> Vec<(String, String, String)> {
        let mixture = Mixture::load(path).unwrap();
        let sampler = mixture.sampler().unwrap();
        sampler
            .take(300)
            .map(|sample| {
                let example = mixture.render(&sample).unwrap();
                (example.task, example.example_id, example.phrasing)
            })
            .collect()
    };
    let once = render(&first);
    assert_eq!(once, render(&first));
    let phrasings: std::collections::BTreeSet<&str> = once
        .iter()
        .filter(|(task, _, _)| task == "dev-summary")
        .map(|(_, _, phrasing)| phrasing.as_str())
        .collect();
    assert_eq!(
        phrasings.len(),
        9,
        "every phrasing should be used: {phrasings:?}"
    );
    let other_dir = tempfile::tempdir().unwrap();
    let second = write_config(other_dir.path(), "[mixture]\nseed = 6", ["", "", ""]);
    let differ = once
        .iter()
        .zip(render(&second))
        .filter(|(a, b)| **a != *b)
        .count();
    assert!(
        differ > 200,
        "a different seed should change most samples, changed {differ}"
    );
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("configs")).unwrap();
    fs::create_dir_all(dir.path().join("my_templates")).unwrap();
    write_small(&dir.path().join("chats.jsonl"), 30);
    fs::write(
        dir.path().join("my_templates/gist.toml"),
        "fields = [\"dialogue\", \"summary\"]\n[[phrasing]]\ninput = \"Gist: {{ dialogue }}\"\ntarget = \"{{ summary }}\"\n",
    )
    .unwrap();
    let config = dir.path().join("configs/mix.toml");
    fs::write(
        &config,
        "[mixture]\nseed = 1\nvalidation_fraction = 0.2\ntest_fraction = 0.0\n\n[[task]]\nname = \"gist\"\ndata = \"../chats.jsonl\"\ntemplate = \"../my_templates/gist.toml\"\n",
    )
    .unwrap();
    let mixture = Mixture::load(&config).unwrap();
    let task = &mixture.tasks[0];
    assert_eq!(task.dataset.records.len(), 30);
    assert!(
        task.train.len() < 30 && task.train.len() > 15,
        "seeded split kept {} of 30",
        task.train.len()
    );
    let sample = mixture.sampler().unwrap().next().unwrap();
    let example = mixture.render(&sample).unwrap();
    assert!(
        example.source.starts_with("Gist: Ann: message number"),
        "{}",
        example.source
    );
}

#[test]
fn template_needing_a_missing_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_small(&dir.path().join("samsum.jsonl"), 5);
    let config = dir.path().join("mix.toml");
    fs::write(
        &config,
        "[[task]]\nname = \"topics\"\ndata = \"samsum.jsonl\"\ntemplate = \"dialogue_topic\"\nsplit = \"train\"\n",
    )
    .unwrap();
    let message = Mixture::load(&config).unwrap_err().to_string();
    assert!(
        message.contains("template `dialogue_topic` needs field `topic`"),
        "{message}"
    );
    assert!(
        message.contains("samsum.jsonl has only: dialogue, summary"),
        "{message}"
    );
}

#[test]
fn config_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mix.toml");
    fs::write(&config, "[mixture]\nseed = 1\nstrategy = \"loud\"\n").unwrap();
    let message = Mixture::load(&config).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}:3:", config.display())),
        "{message}"
    );
    fs::write(
        &config,
        "[[task]]\nname = \"x\"\ndata = \"x.jsonl\"\ntemplate = \"no_such_task\"\n",
    )
    .unwrap();
    let message = Mixture::load(&config).unwrap_err().to_string();
    assert!(
        message.contains("task `x`: no template `no_such_task`"),
        "{message}"
    );
}

#[test]
fn preview_reports_shares_phrasings_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[mixture]\ncap = 200\nseed = 1\nmax_source_tokens = 64\nmax_target_tokens = 16",
        ["", "", ""],
    );
    let mixture = Mixture::load(&path).unwrap();
    let words = |text: &str| text.split_whitespace().count();
    let report = preview(&mixture, &words, "words", 2_000).unwrap();
    assert_eq!(report.tasks.len(), 3);
    assert_eq!(report.tasks[0].phrasings.len(), 9);
    assert_eq!(report.tasks[1].phrasings.len(), 5);
    let canonical = &report.tasks[0].phrasings[0];
    assert_eq!(canonical.phrasing, "summarize-following");
    assert!(canonical
        .source
        .starts_with("Summarize the following conversation.\n\n#Person1#: Hello"));
    for task in &report.tasks {
        assert!(
            (task.observed_share - task.rate).abs() < 0.02,
            "{}: {} vs {}",
            task.name,
            task.observed_share,
            task.rate
        );
    }
    let sources = &report.source_lengths;
    assert_eq!(sources.count, 2_000);
    assert_eq!(
        sources
            .histogram
            .iter()
            .map(|bucket| bucket.count)
            .sum::<usize>(),
        2_000
    );
    assert_eq!(sources.histogram.last().unwrap().count, sources.over_limit);
    // DialogSum dialogues are mostly longer than 64 words; the small task's are not.
    assert!(
        sources.over_limit > 800 && sources.over_limit < 2_000,
        "{}",
        sources.over_limit
    );
    let text = report.to_string();
    assert!(
        text.contains("dev-summary") && text.contains("over 64"),
        "{text}"
    );
}

#[test]
fn real_t5_tokenizer_counts_without_baked_in_truncation() {
    let path = PathBuf::from(format!("{SHARED}/models/t5-tokenizer/tokenizer.json"));
    let count = mixtune::data::lengths::token_counter(&path).unwrap();
    // "Hello world" is ["▁Hello", "▁world", "</s>"].
    assert_eq!(count("Hello world"), 3);
    let long = "word ".repeat(100);
    assert_eq!(
        count(&long),
        101,
        "the tokenizer's baked-in truncation (32) must be off"
    );
}
