//! Data checks: empty or whitespace fields, exact duplicates, train/eval overlap within a
//! dataset and across datasets, over-long examples. Each finding has a count and example ids.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use super::split::{hash_str, mix, Split};
use super::Record;

/// How many example ids a finding keeps.
const MAX_EXAMPLE_IDS: usize = 5;

/// One kind of problem: how often it occurs and a few ids to look at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Finding {
    /// Number of examples affected.
    pub count: usize,
    /// Up to five example ids (prefixed `dataset/` when checking several datasets).
    pub example_ids: Vec<String>,
}

impl Finding {
    /// Counts one more example, keeping its id while there is room.
    pub(crate) fn add(&mut self, id: impl FnOnce() -> String) {
        self.count += 1;
        if self.example_ids.len() < MAX_EXAMPLE_IDS {
            self.example_ids.push(id());
        }
    }
}

/// Everything the checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct CheckReport {
    /// Records checked.
    pub records: usize,
    /// Field name -> records where it is empty or whitespace.
    pub empty_fields: BTreeMap<String, Finding>,
    /// Records identical (all fields) to an earlier one of the same dataset.
    pub duplicates: Finding,
    /// Inputs found in both the train split and an eval split of one dataset.
    pub split_overlap: Finding,
    /// Inputs in one dataset's train split and another dataset's eval split.
    pub cross_dataset_overlap: Finding,
    /// Inputs longer than the input limit.
    pub over_long_inputs: Finding,
    /// Targets longer than the target limit.
    pub over_long_targets: Finding,
    /// Field name -> records whose column held a number, read as its text (a Parquet int
    /// column mapped to `summary`): right for a label, a mapping mistake for a text.
    pub numeric_fields: BTreeMap<String, Finding>,
}

impl CheckReport {
    /// Total number of problems found.
    pub fn problem_count(&self) -> usize {
        self.empty_fields
            .values()
            .map(|finding| finding.count)
            .sum::<usize>()
            + self.duplicates.count
            + self.split_overlap.count
            + self.cross_dataset_overlap.count
            + self.over_long_inputs.count
            + self.over_long_targets.count
            + self
                .numeric_fields
                .values()
                .map(|finding| finding.count)
                .sum::<usize>()
    }
}

/// Length limits for the over-long check, measured by `measure` (e.g. token count).
pub struct LengthLimits<'a> {
    /// Length of a text, e.g. its token count.
    pub measure: &'a dyn Fn(&str) -> usize,
    /// Longest allowed input.
    pub max_input: usize,
    /// Longest allowed target.
    pub max_target: usize,
}

/// First id seen for an input in one (dataset, split).
struct Sighting {
    dataset: usize,
    split: Split,
    id: String,
}

/// Accumulates checks over records of one or more datasets, streamed one at a time.
pub struct Checker<'a> {
    limits: Option<LengthLimits<'a>>,
    datasets: Vec<String>,
    report: CheckReport,
    seen_records: HashSet<u64>,
    inputs: HashMap<u64, Vec<Sighting>>,
}

impl<'a> Checker<'a> {
    /// A checker; `limits` enables the over-long check.
    pub fn new(limits: Option<LengthLimits<'a>>) -> Self {
        Self {
            limits,
            datasets: Vec::new(),
            report: CheckReport::default(),
            seen_records: HashSet::new(),
            inputs: HashMap::new(),
        }
    }

    /// Registers a dataset and returns its index for [`Checker::add`].
    pub fn dataset(&mut self, name: &str) -> usize {
        self.datasets.push(name.to_string());
        self.datasets.len() - 1
    }

    fn label(&self, dataset: usize, id: &str) -> String {
        if self.datasets.len() > 1 {
            format!("{}/{id}", self.datasets[dataset])
        } else {
            id.to_string()
        }
    }

    /// Checks one record of dataset `dataset`.
    pub fn add(&mut self, dataset: usize, record: &Record) {
        self.report.records += 1;
        for (field, text) in &record.fields {
            if text.trim().is_empty() {
                let label = self.label(dataset, &record.id);
                self.report
                    .empty_fields
                    .entry(field.clone())
                    .or_default()
                    .add(|| label);
            }
        }
        let words: Vec<u64> = std::iter::once(dataset as u64)
            .chain(
                record
                    .fields
                    .iter()
                    .flat_map(|(field, text)| [hash_str(field), hash_str(text)]),
            )
            .collect();
        if !self.seen_records.insert(mix(&words)) {
            let label = self.label(dataset, &record.id);
            self.report.duplicates.add(|| label);
        }
        let input = record.input_text().trim();
        if !input.is_empty() {
            let sightings = self.inputs.entry(hash_str(input)).or_default();
            if !sightings
                .iter()
                .any(|sighting| sighting.dataset == dataset && sighting.split == record.split)
            {
                sightings.push(Sighting {
                    dataset,
                    split: record.split,
                    id: record.id.clone(),
                });
            }
        }
        if let Some(limits) = &self.limits {
            if (limits.measure)(record.input_text()) > limits.max_input {
                let label = self.label(dataset, &record.id);
                self.report.over_long_inputs.add(|| label);
            }
            if let Some(target) = record.target_text() {
                if (limits.measure)(target) > limits.max_target {
                    let label = self.label(dataset, &record.id);
                    self.report.over_long_targets.add(|| label);
                }
            }
        }
    }

    /// Finishes the overlap checks and returns the report.
    pub fn finish(mut self) -> CheckReport {
        let mut inputs: Vec<_> = self.inputs.drain().collect();
        inputs.sort_by_key(|(hash, _)| *hash);
        for (_, sightings) in inputs {
            let train = sightings.iter().filter(|s| s.split == Split::Train);
            let mut within = None;
            let mut across = None;
            for trained in train {
                for held_out in sightings.iter().filter(|s| s.split != Split::Train) {
                    let pair = format!(
                        "{} ~ {}",
                        self.label(trained.dataset, &trained.id),
                        self.label(held_out.dataset, &held_out.id)
                    );
                    if held_out.dataset == trained.dataset {
                        within.get_or_insert(pair);
                    } else {
                        across.get_or_insert(pair);
                    }
                }
            }
            if let Some(pair) = within {
                self.report.split_overlap.add(|| pair);
            }
            if let Some(pair) = across {
                self.report.cross_dataset_overlap.add(|| pair);
            }
        }
        self.report
    }
}

/// Writes the non-empty findings of a check report, one per line.
pub fn write_checks(f: &mut dyn fmt::Write, checks: &CheckReport) -> fmt::Result {
    let mut findings: Vec<(String, &Finding)> = checks
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
    findings.extend(
        checks
            .numeric_fields
            .iter()
            .map(|(field, finding)| (format!("numbers read as text in `{field}`"), finding)),
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Location;

    fn record(id: &str, split: Split, dialogue: &str, summary: &str) -> Record {
        Record {
            id: id.into(),
            split,
            location: Location { row: 1, line: None },
            fields: [("dialogue", dialogue), ("summary", summary)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn finds_each_kind_of_problem() {
        let words = |text: &str| text.split_whitespace().count();
        let mut checker = Checker::new(Some(LengthLimits {
            measure: &words,
            max_input: 3,
            max_target: 1,
        }));
        let a = checker.dataset("a");
        let b = checker.dataset("b");
        checker.add(a, &record("1", Split::Train, "A: hi", "greeting"));
        checker.add(a, &record("2", Split::Train, "A: hi", "greeting"));
        checker.add(a, &record("3", Split::Test, "A: hi", "other"));
        checker.add(a, &record("4", Split::Train, "A: one two three four", "  "));
        checker.add(
            b,
            &record("5", Split::Validation, "A: one two three four", "x y"),
        );
        let report = checker.finish();
        assert_eq!(report.records, 5);
        assert_eq!(report.duplicates.count, 1);
        assert_eq!(report.duplicates.example_ids, vec!["a/2"]);
        assert_eq!(report.empty_fields["summary"].example_ids, vec!["a/4"]);
        assert_eq!(report.split_overlap.count, 1);
        assert_eq!(report.split_overlap.example_ids, vec!["a/1 ~ a/3"]);
        assert_eq!(report.cross_dataset_overlap.example_ids, vec!["a/4 ~ b/5"]);
        assert_eq!(report.over_long_inputs.count, 2);
        assert_eq!(report.over_long_targets.example_ids, vec!["b/5"]);
        assert_eq!(report.problem_count(), 1 + 1 + 1 + 1 + 2 + 1);
    }
}
