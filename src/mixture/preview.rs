//! Mixture preview: each task's configured and observed share, one rendered example per
//! phrasing, source/target length histograms and how many samples would be truncated.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Mixture, MixtureError, RenderedExample};
use crate::data::tokenizer::T5Tokenizer;
use crate::data::{CheckReport, Checker};

/// Histogram buckets below the limit; one more bucket counts what exceeds it.
const BUCKETS: usize = 8;

/// Length statistics of a set of texts against a limit.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct LengthStats {
    /// Texts measured.
    pub count: usize,
    /// Shortest.
    pub min: usize,
    /// Median.
    pub median: usize,
    /// 95th percentile.
    pub p95: usize,
    /// Longest.
    pub max: usize,
    /// Mean.
    pub mean: f64,
    /// The limit (e.g. max source tokens).
    pub limit: usize,
    /// Texts longer than the limit (would be truncated).
    pub over_limit: usize,
    /// `BUCKETS` equal buckets up to the limit, then one for longer texts.
    pub histogram: Vec<Bucket>,
}

/// One histogram bucket: lengths in `low..=high` (`high` is `None` for "above the limit").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Bucket {
    /// Smallest length in the bucket.
    pub low: usize,
    /// Largest length in the bucket; `None` for the open-ended last one.
    pub high: Option<usize>,
    /// Texts in the bucket.
    pub count: usize,
}

impl LengthStats {
    /// Statistics of `lengths` against `limit`.
    pub fn new(lengths: &[usize], limit: usize) -> Self {
        let mut sorted = lengths.to_vec();
        sorted.sort_unstable();
        let quantile = |q: f64| {
            if sorted.is_empty() {
                0
            } else {
                sorted[((sorted.len() - 1) as f64 * q).round() as usize]
            }
        };
        let width = limit.div_ceil(BUCKETS).max(1);
        let mut histogram: Vec<Bucket> = (0..BUCKETS)
            .map(|index| Bucket {
                low: if index == 0 { 0 } else { index * width + 1 },
                high: Some(((index + 1) * width).min(limit)),
                count: 0,
            })
            .filter(|bucket| bucket.high.is_some_and(|high| bucket.low <= high))
            .collect();
        histogram.push(Bucket {
            low: limit + 1,
            high: None,
            count: 0,
        });
        for &length in &sorted {
            let index = histogram
                .iter()
                .position(|bucket| bucket.high.is_none_or(|high| length <= high))
                .unwrap_or(histogram.len() - 1);
            histogram[index].count += 1;
        }
        let total: usize = sorted.iter().sum();
        Self {
            count: sorted.len(),
            min: sorted.first().copied().unwrap_or(0),
            median: quantile(0.5),
            p95: quantile(0.95),
            max: sorted.last().copied().unwrap_or(0),
            mean: if sorted.is_empty() {
                0.0
            } else {
                total as f64 / sorted.len() as f64
            },
            limit,
            over_limit: sorted.iter().filter(|&&length| length > limit).count(),
            histogram,
        }
    }
}

impl fmt::Display for LengthStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "min {}  median {}  mean {:.1}  p95 {}  max {}  over {}: {} of {}",
            self.min,
            self.median,
            self.mean,
            self.p95,
            self.max,
            self.limit,
            self.over_limit,
            self.count
        )?;
        let widest = self
            .histogram
            .iter()
            .map(|bucket| bucket.count)
            .max()
            .unwrap_or(0)
            .max(1);
        for bucket in &self.histogram {
            let label = match bucket.high {
                Some(high) => format!("{:>5}-{:<5}", bucket.low, high),
                None => format!("{:>5}+     ", bucket.low),
            };
            let bar = "#".repeat((bucket.count * 40).div_ceil(widest));
            writeln!(f, "    {label} {:>6} {bar}", bucket.count)?;
        }
        Ok(())
    }
}

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
}

/// Previews `mixture` over its first `samples` samples, measuring lengths with
/// `count_tokens` (whose unit, e.g. `tokens`, is `length_unit`).
pub fn preview(
    mixture: &Mixture,
    count_tokens: &dyn Fn(&str) -> usize,
    length_unit: &str,
    samples: usize,
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
        write_checks(f, &self.checks)
    }
}

/// Writes the non-empty findings of a check report, one per line.
pub fn write_checks(f: &mut dyn fmt::Write, checks: &CheckReport) -> fmt::Result {
    let mut findings: Vec<(String, &crate::data::Finding)> = checks
        .empty_fields
        .iter()
        .map(|(field, finding)| (format!("empty `{field}`"), finding))
        .collect();
    findings.extend([
        ("exact duplicates".to_string(), &checks.duplicates),
        ("train/eval overlap".to_string(), &checks.split_overlap),
        (
            "cross-dataset train/eval overlap".to_string(),
            &checks.cross_dataset_overlap,
        ),
        ("over-long inputs".to_string(), &checks.over_long_inputs),
        ("over-long targets".to_string(), &checks.over_long_targets),
    ]);
    for (label, finding) in findings {
        if finding.count > 0 {
            writeln!(
                f,
                "  {label}: {} (e.g. {})",
                finding.count,
                finding.example_ids.join(", ")
            )?;
        }
    }
    Ok(())
}

/// Shortens `text` to `limit` characters, marking the cut, on one line.
pub fn clip(text: &str, limit: usize) -> String {
    let flat = text.replace('\n', "⏎");
    match flat.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// Loads a `tokenizer.json` (through [`T5Tokenizer`], which drops baked-in truncation and
/// padding) and returns a function counting tokens, `</s>` included.
pub fn token_counter(path: &Path) -> Result<impl Fn(&str) -> usize, MixtureError> {
    let tokenizer = T5Tokenizer::from_file(path)?;
    Ok(move |text: &str| tokenizer.encode(text).map_or(0, |ids| ids.len()))
}

/// Counts whitespace-separated words: the length measure when no tokenizer is given.
pub fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// A way to measure text length and the name of its unit.
pub struct LengthMeasure {
    /// `tokens` or `words`.
    pub unit: &'static str,
    /// Length of a text in `unit`.
    pub count: Box<dyn Fn(&str) -> usize>,
}

impl LengthMeasure {
    /// Token counts from `tokenizer` (a `tokenizer.json`), else whitespace word counts.
    pub fn new(tokenizer: Option<&Path>) -> Result<Self, MixtureError> {
        Ok(match tokenizer {
            Some(path) => Self {
                unit: "tokens",
                count: Box::new(token_counter(path)?),
            },
            None => Self {
                unit: "words",
                count: Box::new(count_words),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_stats_and_histogram() {
        let stats = LengthStats::new(&[1, 2, 3, 8, 9, 16, 17, 40], 16);
        assert_eq!(
            (stats.min, stats.median, stats.max, stats.over_limit),
            (1, 9, 40, 2)
        );
        let counts: Vec<usize> = stats.histogram.iter().map(|bucket| bucket.count).collect();
        // Buckets 0-2, 3-4, 5-6, ..., 15-16, then 17+.
        assert_eq!(counts, vec![2, 1, 0, 1, 1, 0, 0, 1, 2]);
        assert_eq!(stats.histogram[8].low, 17);
        assert_eq!(stats.histogram[1].low, 3);
    }

    #[test]
    fn clip_marks_cuts() {
        assert_eq!(clip("ab\ncd", 10), "ab⏎cd");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
