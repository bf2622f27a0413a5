//! `mixtune data ...`: inspect a dataset file.

use std::path::PathBuf;

use anyhow::Context;

use mixtune::data::lengths::LengthMeasure;
use mixtune::data::near_dup::{check_threshold, DEFAULT_THRESHOLD};
use mixtune::data::report::{inspect_with, Limits, NearDupSettings};
use mixtune::data::{ColumnMapping, Format, LoadOptions, SpeakerStyle};

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
        /// Look for near duplicates between this file's rows and OTHER's (read with the same
        /// columns and speakers) instead of between its train and eval splits.
        #[arg(long, value_name = "OTHER")]
        against: Option<PathBuf>,
        /// Near-duplicate threshold: the Jaccard of 5-word shingle sets, above 0 and at most 1.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f64,
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
            against,
            threshold,
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
            check_threshold(threshold).context("--threshold")?;
            let near = NearDupSettings {
                threshold,
                against: against.map(|other| {
                    let other_options = LoadOptions {
                        format: None,
                        ..options.clone()
                    };
                    (other, other_options)
                }),
            };
            let report = inspect_with(&file, &options, &measure, limits, preview, &near)
                .with_context(|| format!("reading {}", file.display()))?;
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
