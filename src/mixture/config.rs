//! Mixture config files (TOML, meant for version control). Relative paths resolve against
//! the config file's folder.
//!
//! ```toml
//! [mixture]
//! strategy = "proportional"   # or "temperature", "explicit"
//! cap = 3000                  # per-task cap K on example counts
//! temperature = 2.0           # for strategy = "temperature"
//! seed = 42
//! max_source_tokens = 512
//! max_target_tokens = 128
//!
//! [[task]]
//! name = "dialogsum"
//! data = "data/dialogsum.train.jsonl"
//! template = "dialogue_summary"        # built-in name, or a path to a .toml file
//! weight = 1.0                         # optional
//! columns = { dialogue = "dialogue" }  # optional column mapping
//!
//! [[watch]]                            # evaluated, never trained on (forgetting report)
//! name = "topic"
//! data = "data/dialogsum.test.jsonl"
//! template = "dialogue_topic"
//! split = "validation"                 # or eval_data = "..."
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::MixtureError;
use super::sampler::Strategy;
use crate::data::{ColumnMapping, Format, SpeakerStyle, Split};

/// A whole mixture config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct MixtureConfig {
    /// Global settings.
    #[serde(default)]
    pub mixture: MixtureSettings,
    /// The tasks, in order.
    #[serde(rename = "task", default)]
    pub tasks: Vec<TaskConfig>,
    /// Tasks scored at every validation pass but never sampled for training, so the run
    /// shows what tuning on `tasks` did to them (catastrophic forgetting).
    #[serde(rename = "watch", default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchConfig>,
}

/// The `[mixture]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct MixtureSettings {
    /// How task rates are computed.
    pub strategy: Strategy,
    /// Per-task cap K on example counts (proportional and temperature strategies).
    pub cap: Option<usize>,
    /// Temperature T (temperature strategy), > 0.
    pub temperature: f64,
    /// Seed of splits, sampling and phrasing choice.
    pub seed: u64,
    /// Longest model input, in tokens; longer ones are truncated.
    pub max_source_tokens: usize,
    /// Longest target, in tokens; longer ones are truncated.
    pub max_target_tokens: usize,
    /// Share of examples held out for validation when a file has no split column.
    pub validation_fraction: f64,
    /// Share of examples held out for test when a file has no split column.
    pub test_fraction: f64,
    /// How dialogue speakers are written (`keep` or `person-tags`).
    pub speakers: SpeakerStyle,
    /// A folder searched for template names before the built-in templates.
    pub templates_dir: Option<PathBuf>,
}

impl Default for MixtureSettings {
    fn default() -> Self {
        Self {
            strategy: Strategy::Proportional,
            cap: None,
            temperature: 1.0,
            seed: 0,
            max_source_tokens: 512,
            max_target_tokens: 128,
            validation_fraction: 0.1,
            test_fraction: 0.1,
            speakers: SpeakerStyle::Keep,
            templates_dir: None,
        }
    }
}

/// One `[[task]]`: a dataset, a template set and an optional weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// Unique task name.
    pub name: String,
    /// Dataset file.
    pub data: PathBuf,
    /// Built-in template name or path to a template file.
    pub template: String,
    /// Weight: the rate under `explicit`, a multiplier otherwise (default 1).
    pub weight: Option<f64>,
    /// Canonical field -> column mapping.
    #[serde(default)]
    pub columns: ColumnMapping,
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Treat the whole file as this split instead of splitting it.
    pub split: Option<Split>,
    /// A separate file of held-out examples for validation during training (same columns
    /// and format as `data`); when absent, `data`'s validation split is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_data: Option<PathBuf>,
}

/// One `[[watch]]`: a task's data source without a weight. Its evaluation rows are
/// `eval_data`'s records, else `data`'s validation split (all of it with
/// `split = "validation"`); the sampler never draws from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Unique name among tasks and watched tasks.
    pub name: String,
    /// Dataset file.
    pub data: PathBuf,
    /// Built-in template name or path to a template file.
    pub template: String,
    /// Canonical field -> column mapping.
    #[serde(default)]
    pub columns: ColumnMapping,
    /// Force a format instead of detecting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Treat the whole file as this split instead of splitting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
    /// A separate file of evaluation rows (same columns and format as `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_data: Option<PathBuf>,
}

impl WatchConfig {
    /// The watched task as a task entry (weight 0), to load it the way tasks are loaded.
    pub fn as_task(&self) -> TaskConfig {
        TaskConfig {
            name: self.name.clone(),
            data: self.data.clone(),
            template: self.template.clone(),
            weight: Some(0.0),
            columns: self.columns.clone(),
            format: self.format,
            split: self.split,
            eval_data: self.eval_data.clone(),
        }
    }
}

/// A parsed config with the folder its relative paths resolve against.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The config file.
    pub path: PathBuf,
    /// Its folder.
    pub base_dir: PathBuf,
    /// Its content.
    pub config: MixtureConfig,
}

impl LoadedConfig {
    /// A task's data path, resolved against the config folder.
    pub fn data_path(&self, task: &TaskConfig) -> PathBuf {
        self.base_dir.join(&task.data)
    }

    /// A task's validation file, resolved against the config folder.
    pub fn eval_data_path(&self, task: &TaskConfig) -> Option<PathBuf> {
        task.eval_data.as_ref().map(|path| self.base_dir.join(path))
    }
}

/// Reads and validates a mixture config file.
pub fn load(path: &Path) -> Result<LoadedConfig, MixtureError> {
    let text = fs::read_to_string(path).map_err(|source| MixtureError::io(path, source))?;
    parse(path, &text)
}

/// Parses and validates config text; `path` locates relative paths and names errors.
pub fn parse(path: &Path, text: &str) -> Result<LoadedConfig, MixtureError> {
    let config: MixtureConfig =
        toml::from_str(text).map_err(|error| MixtureError::toml(path, text, &error))?;
    validate(path, &config)?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(LoadedConfig {
        path: path.into(),
        base_dir,
        config,
    })
}

fn validate(path: &Path, config: &MixtureConfig) -> Result<(), MixtureError> {
    let invalid = |message: String| {
        Err(MixtureError::InvalidConfig {
            path: path.into(),
            message,
        })
    };
    let settings = &config.mixture;
    if config.tasks.is_empty() {
        return invalid("no [[task]] entries".into());
    }
    if !(settings.temperature.is_finite() && settings.temperature > 0.0) {
        return invalid(format!(
            "[mixture] temperature must be > 0, got {}",
            settings.temperature
        ));
    }
    if settings.cap == Some(0) {
        return invalid("[mixture] cap must be at least 1".into());
    }
    if settings.max_source_tokens == 0 || settings.max_target_tokens == 0 {
        return invalid(
            "[mixture] max_source_tokens and max_target_tokens must be at least 1".into(),
        );
    }
    let most = crate::data::lengths::MAX_TOKENS;
    for (key, value) in [
        ("max_source_tokens", settings.max_source_tokens),
        ("max_target_tokens", settings.max_target_tokens),
    ] {
        if value > most {
            return invalid(format!(
                "[mixture] {key} = {value} is above the most, {most}"
            ));
        }
    }
    let fractions = [settings.validation_fraction, settings.test_fraction];
    if fractions.iter().any(|f| !(0.0..=1.0).contains(f)) || fractions.iter().sum::<f64>() >= 1.0 {
        return invalid(
            "[mixture] validation_fraction and test_fraction must be in [0, 1) and sum below 1"
                .into(),
        );
    }
    let mut names = BTreeSet::new();
    for watch in &config.watch {
        if config.tasks.iter().any(|task| task.name == watch.name) {
            return invalid(format!(
                "[[watch]] `{}` is also a [[task]]: a watched task is never trained on",
                watch.name
            ));
        }
        if !names.insert(watch.name.as_str()) {
            return invalid(format!("[[watch]] name `{}` is used twice", watch.name));
        }
    }
    for task in &config.tasks {
        if !names.insert(task.name.as_str()) {
            return invalid(format!("task name `{}` is used twice", task.name));
        }
        if let Some(weight) = task.weight {
            if !(weight.is_finite() && weight >= 0.0) {
                return invalid(format!(
                    "task `{}`: weight must be >= 0, got {weight}",
                    task.name
                ));
            }
        }
    }
    if settings.strategy == Strategy::Explicit
        && config.tasks.iter().all(|task| task.weight == Some(0.0))
    {
        return invalid("strategy \"explicit\" needs at least one task with weight > 0".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let text = r#"
[mixture]
strategy = "temperature"
cap = 100
temperature = 2.0
seed = 5

[[task]]
name = "sum"
data = "data/a.jsonl"
template = "dialogue_summary"
weight = 2.0
columns = { dialogue = "chat" }
split = "train"
"#;
        let loaded = parse(Path::new("cfg/mix.toml"), text).unwrap();
        let settings = &loaded.config.mixture;
        assert_eq!(
            (settings.strategy, settings.cap, settings.seed),
            (Strategy::Temperature, Some(100), 5)
        );
        assert_eq!(settings.max_source_tokens, 512);
        let task = &loaded.config.tasks[0];
        assert_eq!(loaded.data_path(task), Path::new("cfg/data/a.jsonl"));
        assert_eq!(task.columns["dialogue"], "chat");
        assert_eq!(task.split, Some(Split::Train));
    }

    #[test]
    fn reports_syntax_and_semantic_errors() {
        let error = parse(Path::new("m.toml"), "[mixture]\nstrategy = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("m.toml:2:"), "{error}");
        let error = parse(Path::new("m.toml"), "[mixture\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("m.toml:1:"), "{error}");
        let text = "[[task]]\nname = \"a\"\ndata = \"x\"\ntemplate = \"t\"\n[[task]]\nname = \"a\"\ndata = \"y\"\ntemplate = \"t\"\n";
        let error = parse(Path::new("m.toml"), text).unwrap_err().to_string();
        assert!(error.contains("`a` is used twice"), "{error}");
    }

    #[test]
    fn watch_entries_parse_and_are_checked() {
        let task =
            "[[task]]\nname = \"sum\"\ndata = \"a.jsonl\"\ntemplate = \"dialogue_summary\"\n";
        let watch = "[[watch]]\nname = \"topic\"\ndata = \"b.jsonl\"\ntemplate = \"dialogue_topic\"\nsplit = \"validation\"\n";
        let loaded = parse(Path::new("m.toml"), &format!("{task}{watch}")).unwrap();
        let watched = &loaded.config.watch[0];
        assert_eq!(
            (watched.name.as_str(), watched.split),
            ("topic", Some(Split::Validation))
        );
        assert_eq!(watched.as_task().weight, Some(0.0));
        // A weight makes no sense on a task that is never trained on.
        let error = parse(Path::new("m.toml"), &format!("{task}{watch}weight = 1.0\n"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("m.toml:10:") && error.contains("weight"),
            "{error}"
        );
        let same = watch.replace("topic\"\ndata", "sum\"\ndata");
        let error = parse(Path::new("m.toml"), &format!("{task}{same}"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[[watch]] `sum` is also a [[task]]"),
            "{error}"
        );
    }
}
