//! Task mixtures: datasets paired with template sets and weights, mixed by
//! examples-proportional, temperature-scaled or explicit rates, sampled deterministically,
//! rendered into (source, target) pairs, and previewed.

pub mod config;
pub mod error;
pub mod near_dup;
pub mod preview;
pub mod sampler;
pub mod template;

use std::path::Path;

use serde::Serialize;

pub use crate::data::lengths::LengthStats;
pub use config::{LoadedConfig, MixtureConfig, MixtureSettings, TaskConfig, WatchConfig};
pub use error::MixtureError;
pub use preview::{preview, preview_at, MixturePreview};
pub use sampler::{mixing_rates, Sample, Sampler, SamplerState, SamplingPlan, Strategy};
pub use template::TaskTemplates;

use crate::data::{self, Dataset, LoadOptions, Record, Split, SplitSpec};

/// One task of a mixture: its dataset, templates and training examples.
#[derive(Debug)]
pub struct Task {
    /// Task name from the config.
    pub name: String,
    /// The whole dataset (all splits).
    pub dataset: Dataset,
    /// The task's phrasings.
    pub templates: TaskTemplates,
    /// Indices into `dataset.records` of the train split, which is what gets sampled.
    pub train: Vec<usize>,
    /// Configured weight (1 when not given).
    pub weight: f64,
    /// Held-out records for validation: `eval_data`'s records, else `dataset`'s
    /// validation split.
    pub validation: Vec<Record>,
}

impl Task {
    /// The `index`-th training example.
    pub fn train_record(&self, index: usize) -> Option<&Record> {
        self.train.get(index).map(|&at| &self.dataset.records[at])
    }
}

/// A rendered training example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct RenderedExample {
    /// Task name.
    pub task: String,
    /// Example id.
    pub example_id: String,
    /// Phrasing name.
    pub phrasing: String,
    /// Model input.
    pub source: String,
    /// Expected output.
    pub target: String,
}

/// A loaded mixture: tasks and their mixing rates.
#[derive(Debug)]
pub struct Mixture {
    /// The config it was built from.
    pub config: LoadedConfig,
    /// Tasks in config order.
    pub tasks: Vec<Task>,
    /// Mixing rate per task (sums to 1).
    pub rates: Vec<f64>,
    /// `[[watch]]` tasks in config order: validated, never sampled.
    pub watched: Vec<WatchedTask>,
}

/// A `[[watch]]` task: scored at every validation pass, never trained on.
#[derive(Debug)]
pub struct WatchedTask {
    /// Name from the config (unique among tasks and watched tasks).
    pub name: String,
    /// The task's phrasings (validation uses the first).
    pub templates: TaskTemplates,
    /// The rows it is scored on.
    pub validation: Vec<Record>,
}

/// What a task entry's data source loads to.
struct Source {
    templates: TaskTemplates,
    dataset: Dataset,
    validation: Vec<Record>,
    data_path: std::path::PathBuf,
}

/// Loads a task entry's templates, dataset and held-out rows (`eval_data`'s records, else
/// the dataset's validation split), checking the template's fields against both files.
fn load_source(
    config: &LoadedConfig,
    task: &TaskConfig,
    entry: &'static str,
) -> Result<Source, MixtureError> {
    let settings = &config.config.mixture;
    let templates = load_task_templates(config, task, entry)?;
    let data_path = config.data_path(task);
    let options = LoadOptions {
        format: task.format,
        columns: task.columns.clone(),
        speakers: settings.speakers,
        split: task.split,
        split_spec: SplitSpec {
            validation: settings.validation_fraction,
            test: settings.test_fraction,
        },
        seed: settings.seed,
    };
    let dataset = data::load(&data_path, &options)?;
    templates.require_fields(&data_path, dataset.schema.fields.keys().map(String::as_str))?;
    let validation = match config.eval_data_path(task) {
        Some(eval_path) => {
            let eval_options = LoadOptions {
                split: Some(Split::Validation),
                ..options.clone()
            };
            let eval = data::load(&eval_path, &eval_options)?;
            templates.require_fields(&eval_path, eval.schema.fields.keys().map(String::as_str))?;
            eval.records
        }
        None => dataset.split(Split::Validation).cloned().collect(),
    };
    Ok(Source {
        templates,
        dataset,
        validation,
        data_path,
    })
}

impl Mixture {
    /// Loads a mixture config file and everything it names.
    pub fn load(path: &Path) -> Result<Self, MixtureError> {
        Self::from_config(config::load(path)?)
    }

    /// Loads the datasets and templates of a parsed config and computes the rates.
    pub fn from_config(config: LoadedConfig) -> Result<Self, MixtureError> {
        let settings = &config.config.mixture;
        let mut tasks = Vec::with_capacity(config.config.tasks.len());
        for task in &config.config.tasks {
            let source = load_source(&config, task, "task")?;
            let train: Vec<usize> = source
                .dataset
                .records
                .iter()
                .enumerate()
                .filter(|(_, record)| record.split == Split::Train)
                .map(|(index, _)| index)
                .collect();
            if train.is_empty() {
                return Err(MixtureError::NoExamples {
                    config: config.path.clone(),
                    task: task.name.clone(),
                    split: Split::Train.to_string(),
                    data: source.data_path,
                });
            }
            // Render every phrasing once so template/data mismatches fail before training.
            let first = &source.dataset.records[train[0]];
            for phrasing in 0..source.templates.phrasings.len() {
                source
                    .templates
                    .render(&first.fields, phrasing, &first.id)?;
            }
            tasks.push(Task {
                name: task.name.clone(),
                dataset: source.dataset,
                templates: source.templates,
                train,
                weight: task.weight.unwrap_or(1.0),
                validation: source.validation,
            });
        }
        let mut watched = Vec::with_capacity(config.config.watch.len());
        for watch in &config.config.watch {
            let source = load_source(&config, &watch.as_task(), "[[watch]]")?;
            let Some(first) = source.validation.first() else {
                return Err(MixtureError::NoWatchRows {
                    config: config.path.clone(),
                    watch: watch.name.clone(),
                    data: config
                        .eval_data_path(&watch.as_task())
                        .unwrap_or(source.data_path),
                });
            };
            source.templates.render(&first.fields, 0, &first.id)?;
            watched.push(WatchedTask {
                name: watch.name.clone(),
                templates: source.templates,
                validation: source.validation,
            });
        }
        let sizes: Vec<usize> = tasks.iter().map(|task| task.train.len()).collect();
        let weights: Vec<f64> = tasks.iter().map(|task| task.weight).collect();
        let rates = mixing_rates(
            settings.strategy,
            &sizes,
            &weights,
            settings.cap,
            settings.temperature,
        );
        if rates.iter().all(|&rate| rate == 0.0) {
            return Err(MixtureError::InvalidConfig {
                path: config.path.clone(),
                message: "every task has a zero mixing rate".into(),
            });
        }
        Ok(Self {
            config,
            tasks,
            rates,
            watched,
        })
    }

    /// What the sampler needs: rates, train sizes and phrasing counts.
    pub fn plan(&self) -> SamplingPlan {
        SamplingPlan {
            rates: self.rates.clone(),
            sizes: self.tasks.iter().map(|task| task.train.len()).collect(),
            phrasings: self
                .tasks
                .iter()
                .map(|task| task.templates.phrasings.len())
                .collect(),
        }
    }

    /// A sampler from the start, seeded by the config.
    pub fn sampler(&self) -> Result<Sampler, MixtureError> {
        Sampler::new(self.plan(), self.config.config.mixture.seed)
    }

    /// The first `limit` validation examples of every task, then of every watched task,
    /// rendered with the task's first (default) phrasing.
    pub fn validation_examples(&self, limit: usize) -> Result<Vec<RenderedExample>, MixtureError> {
        let mut out = Vec::new();
        let trained = self
            .tasks
            .iter()
            .map(|task| (&task.name, &task.templates, &task.validation));
        let watched = self
            .watched
            .iter()
            .map(|task| (&task.name, &task.templates, &task.validation));
        for (name, templates, validation) in trained.chain(watched) {
            for record in validation.iter().take(limit) {
                let (source, target) = templates.render(&record.fields, 0, &record.id)?;
                out.push(RenderedExample {
                    task: name.clone(),
                    example_id: record.id.clone(),
                    phrasing: templates.phrasings[0].name.clone(),
                    source,
                    target,
                });
            }
        }
        Ok(out)
    }

    /// Whether `task` names a `[[watch]]` task.
    pub fn is_watched(&self, task: &str) -> bool {
        self.watched.iter().any(|watched| watched.name == task)
    }

    /// Training examples in the mixture (all tasks' train splits).
    pub fn train_examples(&self) -> usize {
        self.tasks.iter().map(|task| task.train.len()).sum()
    }

    /// Renders a sample into its (source, target) texts.
    pub fn render(&self, sample: &Sample) -> Result<RenderedExample, MixtureError> {
        let task = self
            .tasks
            .get(sample.task)
            .ok_or_else(|| MixtureError::StateMismatch {
                message: format!("no task {}", sample.task),
            })?;
        let record =
            task.train_record(sample.example)
                .ok_or_else(|| MixtureError::StateMismatch {
                    message: format!("task `{}` has no example {}", task.name, sample.example),
                })?;
        let (source, target) =
            task.templates
                .render(&record.fields, sample.phrasing, &record.id)?;
        Ok(RenderedExample {
            task: task.name.clone(),
            example_id: record.id.clone(),
            phrasing: task.templates.phrasings[sample.phrasing].name.clone(),
            source,
            target,
        })
    }
}

/// Loads the template set a task names: from `templates_dir`, else built-in, else a path.
fn load_task_templates(
    config: &LoadedConfig,
    task: &TaskConfig,
    entry: &'static str,
) -> Result<TaskTemplates, MixtureError> {
    let mut candidates = Vec::new();
    let is_path = task.template.contains(['/', '\\']) || task.template.ends_with(".toml");
    if !is_path {
        if let Some(dir) = &config.config.mixture.templates_dir {
            candidates.push(
                config
                    .base_dir
                    .join(dir)
                    .join(format!("{}.toml", task.template)),
            );
        }
    }
    candidates.push(template::resolve(&task.template, &config.base_dir));
    if let Some(path) = candidates.iter().find(|path| path.is_file()) {
        return template::load_file(path);
    }
    // A built-in name with no file on disk: the copy compiled into the binary.
    if !is_path && template::is_builtin(&task.template) {
        return template::load_builtin(&format!("{}.toml", task.template));
    }
    Err(MixtureError::UnknownTemplate {
        config: config.path.clone(),
        entry,
        task: task.name.clone(),
        name: task.template.clone(),
        searched: candidates
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
