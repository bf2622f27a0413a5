//! `mixtune data ...`: inspect a dataset file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use mixtune::data::{
    Checker, ColumnMapping, Format, LengthLimits, LoadOptions, Record, RecordReader, Schema,
    SpeakerStyle,
};
use mixtune::mixture::preview::{clip, write_checks, LengthMeasure};
use mixtune::mixture::LengthStats;

/// Dataset commands.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Detect a file's format and schema, count rows, preview examples, report length stats and problems.
    Inspect {
        /// Dataset file: .jsonl, .json, .csv, .tsv or .parquet.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Map a field to a column, FIELD=COLUMN (repeatable): e.g. --column dialogue=chat --column summary=notes.
        /// `id` and `split` name the id and split columns.
        #[arg(long = "column", value_name = "FIELD=COLUMN", value_parser = parse_column)]
        columns: Vec<(String, String)>,
        /// Read the file as this format instead of detecting it (jsonl, json, csv, tsv, parquet).
        #[arg(long)]
        format: Option<Format>,
        /// Speakers in dialogues: keep names, or person-tags (#Person1#, #Person2#, ...).
        #[arg(long, default_value = "keep")]
        speakers: SpeakerStyle,
        /// tokenizer.json for token lengths; without it lengths are counted in words.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Inputs longer than this are reported as over-long.
        #[arg(long, default_value_t = 512)]
        max_source_tokens: usize,
        /// Targets longer than this are reported as over-long.
        #[arg(long, default_value_t = 128)]
        max_target_tokens: usize,
        /// How many records to show.
        #[arg(long, default_value_t = 3)]
        preview: usize,
        /// Seed of the train/validation/test split when the file has no split column.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// Runs a `data` subcommand.
pub fn run_data(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Inspect {
            file,
            json,
            columns,
            format,
            speakers,
            tokenizer,
            max_source_tokens,
            max_target_tokens,
            preview,
            seed,
        } => {
            let options = LoadOptions {
                format,
                columns: columns.into_iter().collect::<ColumnMapping>(),
                speakers,
                seed,
                ..LoadOptions::default()
            };
            let measure = LengthMeasure::new(tokenizer.as_deref())?;
            let limits = Limits {
                source: max_source_tokens,
                target: max_target_tokens,
            };
            let report = inspect(&file, &options, &measure, limits, preview)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
    }
}

fn parse_column(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((field, column)) if !field.trim().is_empty() && !column.trim().is_empty() => {
            Ok((field.trim().to_string(), column.trim().to_string()))
        }
        _ => Err(format!("expected FIELD=COLUMN, got `{text}`")),
    }
}

/// Length limits of the over-long check.
#[derive(Debug, Clone, Copy)]
struct Limits {
    source: usize,
    target: usize,
}

/// What `data inspect` reports.
#[derive(Debug, Serialize)]
struct InspectReport {
    file: PathBuf,
    format: Format,
    columns: Vec<String>,
    schema: Schema,
    rows: usize,
    splits: BTreeMap<String, usize>,
    preview: Vec<Record>,
    length_unit: String,
    input_lengths: LengthStats,
    target_lengths: Option<LengthStats>,
    checks: mixtune::data::CheckReport,
}

/// Streams the whole file once: counts, lengths, checks and the first records.
fn inspect(
    file: &Path,
    options: &LoadOptions,
    measure: &LengthMeasure,
    limits: Limits,
    preview_count: usize,
) -> anyhow::Result<InspectReport> {
    let reader = RecordReader::open(file, options)?;
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
    for record in reader {
        let record = record.with_context(|| format!("reading {}", file.display()))?;
        rows += 1;
        *splits.entry(record.split.to_string()).or_insert(0) += 1;
        input_lengths.push(count(record.input_text()));
        if let Some(target) = record.target_text() {
            target_lengths.push(count(target));
        }
        checker.add(dataset, &record);
        if preview.len() < preview_count {
            preview.push(record);
        }
    }
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
        checks: checker.finish(),
    })
}

impl InspectReport {
    fn to_text(&self) -> String {
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
        text
    }
}
