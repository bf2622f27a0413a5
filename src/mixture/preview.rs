//! Mixture preview: each task's configured and observed share, one rendered example per
//! phrasing, source/target length histograms and how many samples would be truncated.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::{Mixture, MixtureError, RenderedExample};
use crate::data::checks::write_checks;
use crate::data::lengths::LengthStats;
use crate::data::near_dup::{NearDuplicates, DEFAULT_THRESHOLD};
use crate::data::report::clip;
use crate::data::{CheckReport, Checker};

/// Preview of one task.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct TaskPreview {
    /// Task name.
    pub name: String,
    /// Dataset file.
    pub data: PathBuf,
    /// Template file.
    pub template: PathBuf,
    /// Records in the file (all splits).
    pub records: usize,
    /// Training examples that are sampled.
    pub train_examples: usize,
    /// Configured mixing rate.
    pub rate: f64,
    /// Share of the previewed samples that came from this task.
    pub observed_share: f64,
    /// The first training example rendered with every phrasing.
    pub phrasings: Vec<RenderedExample>,
}

/// Everything `mix preview` shows.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct MixturePreview {
    /// The config file.
    pub config: PathBuf,
    /// Samples drawn for shares and lengths.
    pub samples: usize,
    /// What lengths are counted in (`tokens` or `words`).
    pub length_unit: String,
    /// Per task.
    pub tasks: Vec<TaskPreview>,
    /// Rendered source lengths against `max_source_tokens`.
    pub source_lengths: LengthStats,
    /// Rendered target lengths against `max_target_tokens`.
    pub target_lengths: LengthStats,
    /// Data checks over all tasks' datasets (limits on raw fields).
    pub checks: CheckReport,
    /// Training rows of any task that near-duplicate held-out rows of any task.
    pub near_duplicates: NearDuplicates,
}

/// Previews `mixture` over its first `samples` samples, measuring lengths with
/// `count_tokens` (whose unit, e.g. `tokens`, is `length_unit`).
pub fn preview(
    mixture: &Mixture,
    count_tokens: &dyn Fn(&str) -> usize,
    length_unit: &str,
    samples: usize,
) -> Result<MixturePreview, MixtureError> {
    preview_at(
        mixture,
        count_tokens,
        length_unit,
        samples,
        DEFAULT_THRESHOLD,
    )
}

/// [`preview`] with near duplicates at Jaccard `near_dup_threshold`.
pub fn preview_at(
    mixture: &Mixture,
    count_tokens: &dyn Fn(&str) -> usize,
    length_unit: &str,
    samples: usize,
    near_dup_threshold: f64,
) -> Result<MixturePreview, MixtureError> {
    let settings = &mixture.config.config.mixture;
    let mut counts = vec![0usize; mixture.tasks.len()];
    let mut source_lengths = Vec::with_capacity(samples);
    let mut target_lengths = Vec::with_capacity(samples);
    for sample in mixture.sampler()?.take(samples) {
        counts[sample.task] += 1;
        let rendered = mixture.render(&sample)?;
        source_lengths.push(count_tokens(&rendered.source));
        target_lengths.push(count_tokens(&rendered.target));
    }
    let mut tasks = Vec::with_capacity(mixture.tasks.len());
    for ((task, &rate), &count) in mixture.tasks.iter().zip(&mixture.rates).zip(&counts) {
        let mut phrasings = Vec::with_capacity(task.templates.phrasings.len());
        if let Some(record) = task.train_record(0) {
            for (index, phrasing) in task.templates.phrasings.iter().enumerate() {
                let (source, target) = task.templates.render(&record.fields, index, &record.id)?;
                phrasings.push(RenderedExample {
                    task: task.name.clone(),
                    example_id: record.id.clone(),
                    phrasing: phrasing.name.clone(),
                    source,
                    target,
                });
            }
        }
        tasks.push(TaskPreview {
            name: task.name.clone(),
            data: task.dataset.path.clone(),
            template: task.templates.path.clone(),
            records: task.dataset.records.len(),
            train_examples: task.train.len(),
            rate,
            observed_share: if samples == 0 {
                0.0
            } else {
                count as f64 / samples as f64
            },
            phrasings,
        });
    }
    let mut checker = Checker::new(None);
    for task in &mixture.tasks {
        let dataset = checker.dataset(&task.name);
        for record in &task.dataset.records {
            checker.add(dataset, record);
        }
    }
    Ok(MixturePreview {
        config: mixture.config.path.clone(),
        samples,
        length_unit: length_unit.to_string(),
        tasks,
        source_lengths: LengthStats::new(&source_lengths, settings.max_source_tokens),
        target_lengths: LengthStats::new(&target_lengths, settings.max_target_tokens),
        checks: checker.finish(),
        near_duplicates: super::near_dup::near_duplicates(mixture, near_dup_threshold)?,
    })
}

impl fmt::Display for MixturePreview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "mixture {} ({} samples previewed)",
            self.config.display(),
            self.samples
        )?;
        writeln!(
            f,
            "\n{:<24} {:>9} {:>9} {:>8} {:>8}",
            "task", "records", "train", "rate", "observed"
        )?;
        for task in &self.tasks {
            writeln!(
                f,
                "{:<24} {:>9} {:>9} {:>7.2}% {:>7.2}%",
                task.name,
                task.records,
                task.train_examples,
                task.rate * 100.0,
                task.observed_share * 100.0
            )?;
        }
        for task in &self.tasks {
            writeln!(f, "\n== {} ({}) ==", task.name, task.template.display())?;
            for example in &task.phrasings {
                writeln!(
                    f,
                    "-- phrasing `{}`, example `{}`",
                    example.phrasing, example.example_id
                )?;
                writeln!(f, "source: {}", clip(&example.source, 400))?;
                writeln!(f, "target: {}", clip(&example.target, 200))?;
            }
        }
        writeln!(f, "\nsource length ({}):", self.length_unit)?;
        write!(f, "{}", self.source_lengths)?;
        writeln!(f, "target length ({}):", self.length_unit)?;
        write!(f, "{}", self.target_lengths)?;
        writeln!(f, "\nchecks: {} problems", self.checks.problem_count())?;
        write_checks(f, &self.checks)?;
        write!(f, "\n{}", self.near_duplicates.to_text())
    }
}
