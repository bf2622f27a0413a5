//! Comparing runs: the config keys they set differently (`run.toml` and the run's
//! `mixture.toml`, flattened to dotted keys, defaults filled in) and their best metrics side
//! by side. `mixtune runs --compare` prints it; the app's Compare page shows it next to the
//! runs' overlaid curves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::forgetting::ForgettingReport;
use super::run_dir::{RunDir, CONFIG_FILE, METRICS_FILE, MIXTURE_FILE};
use super::runs::{run_info, RunStatus};
use crate::error::{MixtuneError, Result};
use crate::eval::rouge::MeanRouge;

/// `run.toml` keys left out of the diff: they name the run's own files, so they always differ.
pub const IGNORED_KEYS: [&str; 2] = ["output_dir", "mixture"];

/// Names an eval event (or one task's entry in it) may give the share of predictions with
/// invented facts: `invented_rate` is what runs log per task; the others are read from
/// older or hand-written logs. The first one present is used.
pub const FACTS_KEYS: [&str; 4] = [
    "invented_rate",
    "invented_facts_rate",
    "invented_facts",
    "facts_rate",
];

/// One config key that is not the same in every compared run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ConfigDifference {
    /// Dotted key: `learning_rate`, `lora.rank`, `mixture.strategy`,
    /// `task[dialogue_summary].weight`.
    pub key: String,
    /// Each run's value, in the order of [`RunComparison::runs`]; `None` where a run does not
    /// set the key (and it has no default).
    pub values: Vec<Option<String>>,
}

/// The best values a run reached (lowest losses, highest ROUGE), from its event log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct BestMetrics {
    /// Optimizer steps done and planned.
    pub steps: usize,
    pub total_steps: usize,
    /// Training loss of the last step, and the lowest over all steps.
    pub last_loss: Option<f64>,
    pub min_loss: Option<f64>,
    /// Lowest validation loss and the step it was reached at.
    pub best_val_loss: Option<f64>,
    pub best_val_loss_step: Option<usize>,
    /// Highest mean over tasks of each ROUGE variant (each variant's best pass on its own).
    pub rouge: Option<MeanRouge>,
    /// Per task: the highest value of each ROUGE variant.
    pub tasks: BTreeMap<String, MeanRouge>,
    /// Lowest share of predictions with invented facts, when the eval events carry it.
    pub invented_facts_rate: Option<f64>,
    /// The config's `best_metric` and its best value.
    pub best_metric_name: String,
    pub best_metric: Option<f64>,
    /// Validation passes in the log.
    pub evals: usize,
    /// The latest forgetting report (each task's ROUGE-L since the step-0 pass), when the
    /// run had a baseline pass.
    #[serde(default)]
    pub forgetting: Option<ForgettingReport>,
}

/// One compared run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ComparedRun {
    /// The folder name.
    pub id: String,
    pub output_dir: PathBuf,
    pub model: String,
    pub status: RunStatus,
    pub best: BestMetrics,
}

/// Runs side by side: their best metrics and the config keys that differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct RunComparison {
    pub runs: Vec<ComparedRun>,
    /// Keys whose value is not the same in every run, sorted by key.
    pub config_diff: Vec<ConfigDifference>,
    /// Keys compared in all (the same ones are left out of `config_diff`).
    pub keys_compared: usize,
    /// What the comparison could not cover (a run folder without its `mixture.toml`).
    pub notes: Vec<String>,
}

/// Compares the runs in `dirs` (two or more run folders, each holding `run.toml`).
pub fn compare_runs(dirs: &[PathBuf]) -> Result<RunComparison> {
    if dirs.len() < 2 {
        return Err(MixtuneError::Input(format!(
            "comparing runs needs two or more run folders, got {}",
            dirs.len()
        )));
    }
    let mut runs = Vec::with_capacity(dirs.len());
    let mut configs = Vec::with_capacity(dirs.len());
    // The mixture's keys are compared only when every run kept its mixture: one run without
    // it would show every mixture key as differing.
    let without_mixture: Vec<&PathBuf> = dirs
        .iter()
        .filter(|dir| !RunDir::new(&dir).mixture().is_file())
        .collect();
    let notes = without_mixture
        .iter()
        .map(|dir| {
            format!(
                "{}: no {MIXTURE_FILE}, so the task mixtures are not compared",
                dir.display()
            )
        })
        .collect();
    for dir in dirs {
        check_run_dir(dir)?;
        let config_path = RunDir::new(&dir).config();
        let config = TrainConfig::from_file(&config_path)?;
        let mixture = RunDir::new(&dir).mixture();
        let mixture = without_mixture.is_empty().then_some(mixture.as_path());
        configs.push(flat_configs(&config, &config_path, mixture)?);
        let info = run_info(dir)?;
        runs.push(ComparedRun {
            id: info.id,
            output_dir: dir.clone(),
            model: info.model,
            status: info.status,
            best: best_metrics(dir)?,
        });
    }
    let keys_compared = configs
        .iter()
        .flat_map(|c| c.keys())
        .collect::<BTreeSet<_>>()
        .len();
    Ok(RunComparison {
        runs,
        config_diff: config_diff(&configs),
        keys_compared,
        notes,
    })
}

/// Fails with the folder's name unless it is a run folder (`run.toml` and `metrics.jsonl`).
fn check_run_dir(dir: &Path) -> Result<()> {
    let missing = |what: &str| {
        MixtuneError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, what.to_string()),
        )
    };
    if !dir.is_dir() {
        return Err(missing("no such run folder"));
    }
    for file in [CONFIG_FILE, METRICS_FILE] {
        if !dir.join(file).is_file() {
            return Err(missing(&format!("not a run folder (no {file})")));
        }
    }
    Ok(())
}

/// The run's config as dotted keys: `run.toml` parsed with its defaults (without
/// [`IGNORED_KEYS`]), then the run's copy of the mixture, when there is one.
pub fn flat_config(dir: &Path) -> Result<BTreeMap<String, String>> {
    let config_path = RunDir::new(&dir).config();
    let config = TrainConfig::from_file(&config_path)?;
    let mixture_path = RunDir::new(&dir).mixture();
    let mixture = mixture_path.is_file().then_some(mixture_path.as_path());
    flat_configs(&config, &config_path, mixture)
}

/// `config` (read from `config_path`) as dotted keys with its defaults, without
/// [`IGNORED_KEYS`], then the mixture file `mixture`'s keys.
pub fn flat_configs(
    config: &TrainConfig,
    config_path: &Path,
    mixture: Option<&Path>,
) -> Result<BTreeMap<String, String>> {
    let as_toml = |path: &Path, value: std::result::Result<toml::Value, toml::ser::Error>| {
        value.map_err(|e| MixtuneError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    let mut flat = flatten(&as_toml(config_path, toml::Value::try_from(config))?);
    for key in IGNORED_KEYS {
        flat.remove(key);
    }
    if let Some(mixture_path) = mixture {
        let text =
            std::fs::read_to_string(mixture_path).map_err(|e| MixtuneError::io(mixture_path, e))?;
        let mixture = crate::mixture::config::parse(mixture_path, &text)?.config;
        flat.extend(flatten(&as_toml(
            mixture_path,
            toml::Value::try_from(&mixture),
        )?));
    }
    Ok(flat)
}

/// A TOML document as `dotted.key -> value`: tables nest with `.`; arrays of tables are
/// indexed by their entries' `name` when every entry has a distinct one (`task[summary].weight`),
/// else by position (`task[0].weight`); other arrays are one value (`["q", "v"]`). Strings
/// are shown without quotes.
pub fn flatten(value: &toml::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    flatten_into(value, String::new(), &mut out);
    out
}

fn flatten_into(value: &toml::Value, prefix: String, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                flatten_into(value, join(key), out);
            }
        }
        toml::Value::Array(items)
            if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
        {
            let names: Vec<Option<&str>> = items
                .iter()
                .map(|item| item.get("name").and_then(toml::Value::as_str))
                .collect();
            let distinct = names.iter().flatten().collect::<BTreeSet<_>>().len();
            let by_name = names.iter().all(Option::is_some) && distinct == items.len();
            for (i, (item, name)) in items.iter().zip(names).enumerate() {
                let index = match name {
                    Some(name) if by_name => name.to_string(),
                    _ => i.to_string(),
                };
                flatten_into(item, format!("{prefix}[{index}]"), out);
            }
        }
        toml::Value::String(text) => {
            out.insert(prefix, text.clone());
        }
        other => {
            out.insert(prefix, other.to_string());
        }
    }
}

/// The keys whose value is not the same in every config (a key some configs lack counts as
/// differing), each with every config's value, sorted by key.
pub fn config_diff(configs: &[BTreeMap<String, String>]) -> Vec<ConfigDifference> {
    let keys: BTreeSet<&String> = configs.iter().flat_map(|c| c.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let values: Vec<Option<String>> = configs.iter().map(|c| c.get(key).cloned()).collect();
            let first = &values[0];
            values.iter().any(|v| v != first).then(|| ConfigDifference {
                key: key.clone(),
                values,
            })
        })
        .collect()
}

/// The best values in the run's event log. Read as plain JSON, so fields this build does not
/// know (an eval's invented-facts rate) are still seen; lines that do not parse are skipped.
pub fn best_metrics(dir: &Path) -> Result<BestMetrics> {
    let config = TrainConfig::from_file(&RunDir::new(&dir).config())?;
    let path = RunDir::new(&dir).metrics();
    let text = std::fs::read_to_string(&path).map_err(|e| MixtuneError::io(&path, e))?;
    let mut best = BestMetrics {
        total_steps: config.max_steps,
        best_metric_name: config.best_metric.clone(),
        ..BestMetrics::default()
    };
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match event.get("kind").and_then(|k| k.as_str()) {
            Some("started") => {
                if let Some(total) = event.get("total_steps").and_then(|v| v.as_u64()) {
                    best.total_steps = total as usize;
                }
            }
            Some("step") => {
                if let Some(step) = event.get("step").and_then(|v| v.as_u64()) {
                    best.steps = best.steps.max(step as usize);
                }
                if let Some(loss) = number(&event, "loss") {
                    best.last_loss = Some(loss);
                    best.min_loss = Some(best.min_loss.map_or(loss, |m| m.min(loss)));
                }
            }
            Some("eval") => add_eval(&mut best, &event),
            Some("finished") => {
                if let Some(steps) = event.get("steps").and_then(|v| v.as_u64()) {
                    best.steps = steps as usize;
                }
            }
            _ => {}
        }
    }
    Ok(best)
}

fn number(value: &serde_json::Value, key: &str) -> Option<f64> {
    value.get(key).and_then(serde_json::Value::as_f64)
}

/// The invented-facts rate of an eval event (or of one task's entry), under any of
/// [`FACTS_KEYS`].
pub fn facts_rate(value: &serde_json::Value) -> Option<f64> {
    FACTS_KEYS.iter().find_map(|key| number(value, key))
}

fn rouge_of(value: &serde_json::Value) -> Option<MeanRouge> {
    Some(MeanRouge {
        rouge1: number(value, "rouge1")?,
        rouge2: number(value, "rouge2")?,
        rouge_l: number(value, "rougeL")?,
        rouge_lsum: number(value, "rougeLsum")?,
    })
}

fn max_rouge(a: Option<MeanRouge>, b: MeanRouge) -> MeanRouge {
    match a {
        None => b,
        Some(a) => MeanRouge {
            rouge1: a.rouge1.max(b.rouge1),
            rouge2: a.rouge2.max(b.rouge2),
            rouge_l: a.rouge_l.max(b.rouge_l),
            rouge_lsum: a.rouge_lsum.max(b.rouge_lsum),
        },
    }
}

fn add_eval(best: &mut BestMetrics, event: &serde_json::Value) {
    best.evals += 1;
    if let Some(report) = event
        .get("forgetting")
        .and_then(|value| serde_json::from_value::<ForgettingReport>(value.clone()).ok())
    {
        best.forgetting = Some(report);
    }
    let step = event.get("step").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    if let Some(loss) = number(event, "val_loss") {
        if best.best_val_loss.is_none_or(|b| loss < b) {
            best.best_val_loss = Some(loss);
            best.best_val_loss_step = Some(step);
        }
    }
    if event.get("best").and_then(|v| v.as_bool()) == Some(true) {
        best.best_metric = number(event, "metric");
    }
    let mut task_rates = Vec::new();
    let mut sum = MeanRouge::default();
    let mut count = 0usize;
    if let Some(tasks) = event.get("tasks").and_then(|t| t.as_object()) {
        for (name, task) in tasks {
            task_rates.extend(facts_rate(task));
            let Some(rouge) = rouge_of(task) else {
                continue;
            };
            let previous = best.tasks.get(name).copied();
            best.tasks.insert(name.clone(), max_rouge(previous, rouge));
            sum.rouge1 += rouge.rouge1;
            sum.rouge2 += rouge.rouge2;
            sum.rouge_l += rouge.rouge_l;
            sum.rouge_lsum += rouge.rouge_lsum;
            count += 1;
        }
    }
    if count > 0 {
        let n = count as f64;
        let mean = MeanRouge {
            rouge1: sum.rouge1 / n,
            rouge2: sum.rouge2 / n,
            rouge_l: sum.rouge_l / n,
            rouge_lsum: sum.rouge_lsum / n,
        };
        best.rouge = Some(max_rouge(best.rouge, mean));
    }
    // The pass's own rate, else the mean of its tasks' rates.
    let rate = facts_rate(event).or_else(|| {
        (!task_rates.is_empty()).then(|| task_rates.iter().sum::<f64>() / task_rates.len() as f64)
    });
    if let Some(rate) = rate {
        best.invented_facts_rate = Some(best.invented_facts_rate.map_or(rate, |b| b.min(rate)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> BTreeMap<String, String> {
        flatten(&toml::from_str::<toml::Value>(text).unwrap())
    }

    #[test]
    fn flattens_tables_and_named_arrays_of_tables() {
        let keys = flat(
            "lr = 0.001\nmethod = \"lora\"\n[lora]\nrank = 8\ntarget_modules = [\"q\", \"v\"]\n\
             [[task]]\nname = \"summary\"\nweight = 2.0\n[[task]]\nname = \"topic\"\nweight = 1.0\n",
        );
        assert_eq!(keys["lr"], "0.001");
        assert_eq!(keys["method"], "lora");
        assert_eq!(keys["lora.rank"], "8");
        assert_eq!(keys["lora.target_modules"], "[\"q\", \"v\"]");
        assert_eq!(keys["task[summary].weight"], "2.0");
        assert_eq!(keys["task[topic].name"], "topic");
    }

    #[test]
    fn arrays_of_tables_without_distinct_names_go_by_position() {
        let keys = flat("[[task]]\nweight = 1\n[[task]]\nweight = 2\n");
        assert_eq!(keys["task[0].weight"], "1");
        assert_eq!(keys["task[1].weight"], "2");
    }

    #[test]
    fn diff_keeps_only_keys_that_differ_or_are_missing() {
        let a = flat("a = 1\nb = 2\nc = 3\n");
        let b = flat("a = 1\nb = 5\n");
        let c = flat("a = 1\nb = 2\nc = 3\n");
        let diff = config_diff(&[a, b, c]);
        assert_eq!(
            diff,
            vec![
                ConfigDifference {
                    key: "b".into(),
                    values: vec![Some("2".into()), Some("5".into()), Some("2".into())],
                },
                ConfigDifference {
                    key: "c".into(),
                    values: vec![Some("3".into()), None, Some("3".into())],
                },
            ]
        );
    }

    #[test]
    fn facts_rate_is_read_from_the_pass_or_its_tasks() {
        let mut best = BestMetrics::default();
        let event = serde_json::json!({"kind": "eval", "step": 4, "val_loss": 2.0,
            "tasks": {"s": {"rouge1": 0.2, "rouge2": 0.1, "rougeL": 0.2, "rougeLsum": 0.2,
                            "invented_facts_rate": 0.5},
                      "t": {"rouge1": 0.4, "rouge2": 0.3, "rougeL": 0.4, "rougeLsum": 0.4,
                            "invented_facts_rate": 0.25}}});
        add_eval(&mut best, &event);
        assert_eq!(best.invented_facts_rate, Some(0.375));
        assert!((best.rouge.unwrap().rouge1 - 0.3).abs() < 1e-12);
        let event = serde_json::json!({"kind": "eval", "step": 8, "val_loss": 1.0,
            "invented_facts_rate": 0.125, "tasks": {}});
        add_eval(&mut best, &event);
        assert_eq!(best.invented_facts_rate, Some(0.125));
        assert_eq!(best.best_val_loss_step, Some(8));
        assert_eq!(best.evals, 2);
    }
}
