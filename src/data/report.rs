//! The dataset-inspect report: one streaming pass over a file for its format, schema, row
//! counts per split, preview records, length statistics and data-check problems. Shared by
//! `mixtune data inspect` and the desktop app's `inspect_dataset`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::checks::write_checks;
use super::lengths::{LengthMeasure, LengthStats};
use super::near_dup::{NearDuplicates, DEFAULT_THRESHOLD};
use super::near_dup_files::{FileNearDups, SIDE_A, SIDE_B};
use super::split::Split;
use super::{
    CheckReport, Checker, DataError, Format, LengthLimits, LoadOptions, Record, RecordReader,
    Schema,
};

/// Length limits of the over-long check (in the measure's unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub source: usize,
    pub target: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            source: 512,
            target: 128,
        }
    }
}

/// What the near-duplicate check of [`inspect_with`] compares.
#[derive(Debug, Clone)]
pub struct NearDupSettings {
    /// Jaccard at and above which two rows are near duplicates.
    pub threshold: f64,
    /// Another file whose rows are compared with this file's (`--against`); without one, the
    /// file's train split is compared with its validation and test splits.
    pub against: Option<(PathBuf, LoadOptions)>,
}

impl Default for NearDupSettings {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            against: None,
        }
    }
}

/// What `data inspect` reports (`--json` prints it as is).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct InspectReport {
    pub file: PathBuf,
    pub format: Format,
    pub columns: Vec<String>,
    pub schema: Schema,
    pub rows: usize,
    /// Split name -> rows.
    pub splits: BTreeMap<String, usize>,
    /// The first records.
    pub preview: Vec<Record>,
    /// `tokens` or `words`.
    pub length_unit: String,
    pub input_lengths: LengthStats,
    pub target_lengths: Option<LengthStats>,
    pub checks: CheckReport,
    /// Near-duplicate inputs: train split ~ eval splits, or this file ~ the `--against` file.
    pub near_duplicates: NearDuplicates,
}

/// Streams the whole file once: counts, lengths, checks and the first `preview_count` records;
/// near duplicates between its train split and its eval splits at the default threshold.
pub fn inspect(
    file: &Path,
    options: &LoadOptions,
    measure: &LengthMeasure,
    limits: Limits,
    preview_count: usize,
) -> Result<InspectReport, DataError> {
    inspect_with(
        file,
        options,
        measure,
        limits,
        preview_count,
        &NearDupSettings::default(),
    )
}

/// [`inspect`] with the near-duplicate check as `near` says (the candidates' rows are read
/// a second time for their texts).
pub fn inspect_with(
    file: &Path,
    options: &LoadOptions,
    measure: &LengthMeasure,
    limits: Limits,
    preview_count: usize,
    near: &NearDupSettings,
) -> Result<InspectReport, DataError> {
    let mut near_dups = FileNearDups::new(near.threshold)?;
    let this_file = near_dups.file(file.to_path_buf(), options.clone());
    let mut reader = RecordReader::open(file, options)?;
    let format = reader.format();
    let columns = reader.columns().to_vec();
    let schema = reader.schema().clone();
    let count = &*measure.count;
    let mut checker = Checker::new(Some(LengthLimits {
        measure: count,
        max_input: limits.source,
        max_target: limits.target,
    }));
    let dataset = checker.dataset(&file.display().to_string());
    let mut splits = BTreeMap::new();
    let mut preview = Vec::new();
    let mut input_lengths = Vec::new();
    let mut target_lengths = Vec::new();
    let mut rows = 0;
    for record in reader.by_ref() {
        let record = record?;
        rows += 1;
        *splits.entry(record.split.to_string()).or_insert(0) += 1;
        input_lengths.push(count(record.input_text()));
        if let Some(target) = record.target_text() {
            target_lengths.push(count(target));
        }
        checker.add(dataset, &record);
        let group = match (&near.against, record.split) {
            (Some(_), _) | (None, Split::Train) => SIDE_A,
            (None, _) => SIDE_B,
        };
        near_dups.push(this_file, group, &record);
        if preview.len() < preview_count {
            preview.push(record);
        }
    }
    let compared = match &near.against {
        Some((other, other_options)) => {
            let other_file = near_dups.file(other.clone(), other_options.clone());
            near_dups.push_file(other_file, SIDE_B)?;
            format!("{} ~ {}", file.display(), other.display())
        }
        None => "train split ~ validation/test splits".to_string(),
    };
    Ok(InspectReport {
        file: file.into(),
        format,
        columns,
        schema,
        rows,
        splits,
        preview,
        length_unit: measure.unit.to_string(),
        input_lengths: LengthStats::new(&input_lengths, limits.source),
        target_lengths: (!target_lengths.is_empty())
            .then(|| LengthStats::new(&target_lengths, limits.target)),
        checks: CheckReport {
            numeric_fields: reader.numeric_fields().clone(),
            ..checker.finish()
        },
        near_duplicates: near_dups.finish(compared)?,
    })
}

impl InspectReport {
    /// The human-readable report `data inspect` prints.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let mut line = |line: String| {
            text.push_str(&line);
            text.push('\n');
        };
        line(format!("file:    {}", self.file.display()));
        line(format!("format:  {}", self.format));
        line(format!("columns: {}", self.columns.join(", ")));
        line(format!("schema:  {}", self.schema.kind));
        for (field, column) in &self.schema.fields {
            line(format!("  {field:<10} <- {column}"));
        }
        line(format!(
            "  id: {}  split: {}",
            self.schema.id_column.as_deref().unwrap_or("(row number)"),
            self.schema.split_column.as_deref().unwrap_or("(seeded)")
        ));
        let splits: Vec<String> = self
            .splits
            .iter()
            .map(|(split, count)| format!("{split} {count}"))
            .collect();
        line(format!("rows:    {} ({})", self.rows, splits.join(", ")));
        for record in &self.preview {
            line(format!(
                "\n-- {} [{}] {}",
                record.id, record.split, record.location
            ));
            for (field, value) in &record.fields {
                line(format!("  {field}: {}", clip(value, 300)));
            }
        }
        line(
            format!(
                "\ninput length ({}): {}",
                self.length_unit, self.input_lengths
            )
            .trim_end()
            .to_string(),
        );
        if let Some(target) = &self.target_lengths {
            line(
                format!("target length ({}): {}", self.length_unit, target)
                    .trim_end()
                    .to_string(),
            );
        }
        line(format!("\nproblems: {}", self.checks.problem_count()));
        let mut findings = String::new();
        // Writing into a String cannot fail.
        let _ = write_checks(&mut findings, &self.checks);
        text.push_str(&findings);
        text.push('\n');
        text.push_str(&self.near_duplicates.to_text());
        text
    }
}

/// Shortens `text` to `limit` characters, marking the cut, on one line.
pub fn clip(text: &str, limit: usize) -> String {
    let flat = text.replace('\n', "⏎");
    match flat.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn clip_marks_cuts() {
        assert_eq!(clip("ab\ncd", 10), "ab⏎cd");
        assert_eq!(clip("abcdef", 3), "abc…");
    }

    use super::*;

    /// Writes `text` to `name` in a new folder and inspects it with the default options,
    /// keeping `preview` records.
    fn inspect_text(name: &str, text: &str, preview: usize) -> InspectReport {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let measure = LengthMeasure::new(None).unwrap();
        inspect(
            &path,
            &LoadOptions::default(),
            &measure,
            Limits::default(),
            preview,
        )
        .unwrap()
    }

    #[test]
    fn inspects_a_jsonl_file() {
        let rows: String = (0..5)
            .map(|i| {
                format!(
                    "{{\"id\": \"d{i}\", \"dialogue\": \"#Person1#: hi {i}\\n#Person2#: hello\", \"summary\": \"they greet\"}}\n"
                )
            })
            .collect();
        let report = inspect_text("chats.jsonl", &rows, 2);
        assert_eq!(report.rows, 5);
        assert_eq!(report.format, Format::Jsonl);
        assert_eq!(report.preview.len(), 2);
        assert_eq!(report.length_unit, "words");
        assert!(report.to_text().contains("rows:    5"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rows"], 5);
    }

    #[test]
    fn numbers_read_as_text_are_reported() {
        // A numeric column mapped to a text field (a Parquet int `summary`) is used as
        // text, as before, but no longer silently.
        let rows = "{\"id\": \"a\", \"dialogue\": \"#Person1#: hi\", \"summary\": 42}\n\
                    {\"id\": \"b\", \"dialogue\": \"#Person1#: yo\", \"summary\": \"text\"}\n";
        let report = inspect_text("numbers.jsonl", rows, 2);
        let found = &report.checks.numeric_fields["summary"];
        assert_eq!(
            (found.count, found.example_ids.clone()),
            (1, vec!["a".to_string()])
        );
        assert_eq!(report.preview[0].fields["summary"], "42");
        assert!(
            report
                .to_text()
                .contains("numbers read as text in `summary`: 1"),
            "{}",
            report.to_text()
        );
    }

    #[test]
    fn finds_near_duplicates_between_train_and_eval_splits() {
        let long: String = (0..80).map(|i| format!("word{i} ")).collect();
        let edited = long.replace("word20 ", "other ");
        let rows = [
            ("t1", "train", long.as_str()),
            (
                "t2",
                "train",
                "A: something else entirely, nothing alike at all",
            ),
            ("e1", "test", edited.as_str()),
            ("e2", "validation", long.as_str()),
            ("t3", "train", long.as_str()),
        ];
        let text: String = rows
            .iter()
            .map(|(id, split, input)| {
                format!("{{\"id\": \"{id}\", \"split\": \"{split}\", \"input\": \"{input}\", \"output\": \"x\"}}\n")
            })
            .collect();
        let report = inspect_text("split.jsonl", &text, 0);
        let found = &report.near_duplicates;
        assert_eq!((found.rows_a, found.rows_b), (3, 2));
        // t1 and t3 each near e1 and equal to e2; train rows are not compared with each other.
        let pairs: Vec<(&str, &str)> = found
            .pairs
            .iter()
            .map(|p| (p.a.id.as_str(), p.b.id.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("t1", "e2"), ("t3", "e2"), ("t1", "e1"), ("t3", "e1")]
        );
        assert_eq!(found.pairs[0].jaccard, 1.0);
        assert_eq!(found.rows_b_affected, 2);
        assert!(report.to_text().contains("near duplicates (train split"));
    }
}
