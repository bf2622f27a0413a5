//! `mixtune eval --model M --data F [--compare M2 ...]`: ROUGE of one model or several side by
//! side, the improvement over each, and per-example predictions exported as CSV or JSONL.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use mixtune::device::{self, DeviceChoice};
use mixtune::eval::compare::{evaluate, write_csv, write_jsonl, EvalReport, EvalRequest};
use mixtune::eval::rouge::MeanRouge;
use mixtune::train::contamination::check_run;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model to evaluate: a folder (e.g. a run's `model/`) or a hub id.
    #[arg(long)]
    model: String,
    /// Models to compare with, e.g. the base model (repeat the flag or give several); each
    /// one's improvement is --model minus it.
    #[arg(long, num_args = 1.., action = clap::ArgAction::Append)]
    compare: Vec<String>,
    /// Dataset file (.jsonl, .json, .csv, .tsv, .parquet); every record is used.
    #[arg(long, required_unless_present = "mix")]
    data: Option<PathBuf>,
    /// A mixture config instead of --data: every task and [[watch]] task is scored on its
    /// validation rows, and with --compare each task's ROUGE-L before (--compare) and
    /// after (--model) is listed, drops beyond --forgetting-threshold flagged.
    #[arg(long, conflicts_with_all = ["data", "output"])]
    mix: Option<PathBuf>,
    /// With --mix: validation examples per task.
    #[arg(long, default_value_t = 32, requires = "mix")]
    eval_examples: usize,
    /// With --mix: flag a task whose ROUGE-L fell by more than this (absolute).
    #[arg(long, default_value_t = mixtune::train::forgetting::DEFAULT_FORGETTING_THRESHOLD, requires = "mix")]
    forgetting_threshold: f64,
    /// Template that renders prompt and reference (built-in name or .toml path).
    #[arg(long, default_value = "dialogue_summary")]
    template: String,
    /// Only the first N examples.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Cut longer inputs to this many tokens (Flan-T5 reads 512); the table says how many.
    #[arg(long, default_value_t = mixtune::generate::DEFAULT_MAX_SOURCE_TOKENS)]
    max_source_tokens: usize,
    #[arg(long, default_value_t = 1)]
    num_beams: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Match tokens without Porter stemming.
    #[arg(long)]
    no_stem: bool,
    /// Write the per-example predictions here: .csv or .jsonl.
    #[arg(long)]
    output: Option<PathBuf>,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    device: String,
    /// f32, f16, or int8 (CPU only: linear weights quantized once at load): the precision
    /// the models compute in.
    #[arg(long, default_value = "f32")]
    dtype: mixtune::model::Precision,
    /// Print the report (with every example) as JSON.
    #[arg(long)]
    json: bool,
    /// A training run folder: report the rows of --data that near-duplicate what it trained on.
    #[arg(long, value_name = "DIR")]
    run: Option<PathBuf>,
    /// Jaccard threshold of --run's check (5-word shingles), above 0 and at most 1.
    #[arg(long, default_value_t = mixtune::data::near_dup::DEFAULT_THRESHOLD)]
    near_dup_threshold: f64,
}

pub fn run_eval(args: EvalArgs) -> Result<()> {
    let output_kind = output_kind(&args)?;
    let contamination = contamination(&args)?;
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    if let Some(mix) = &args.mix {
        if args.compare.len() > 1 {
            bail!("--mix compares one model with one base: give a single --compare");
        }
        let options = super::eval_mix::MixEval {
            mix,
            model: &args.model,
            compare: args.compare.first().map(String::as_str),
            eval_examples: args.eval_examples,
            max_new_tokens: args.max_new_tokens,
            batch_size: args.batch_size,
            threshold: args.forgetting_threshold,
            json: args.json,
        };
        return super::eval_mix::run_mix_eval(&options, &selected);
    }
    let Some(data) = args.data else {
        bail!("give --data FILE or --mix MIX.toml");
    };
    let request = EvalRequest {
        model: args.model,
        compare: args.compare,
        data,
        template: args.template,
        limit: args.limit,
        max_new_tokens: args.max_new_tokens,
        max_source_tokens: args.max_source_tokens,
        num_beams: args.num_beams,
        batch_size: args.batch_size,
        stem: !args.no_stem,
        precision: args.dtype,
    };
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        eprintln!("evaluating on {}", selected.label);
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} generations  [{elapsed} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let cancel = AtomicBool::new(false);
    let report = evaluate(
        &request,
        &selected.device,
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
        &cancel,
    )
    .with_context(|| format!("evaluating {}", request.model))?;
    bar.finish_and_clear();
    let report = EvalReport {
        contamination,
        ..report
    };
    if let (Some(path), Some(kind)) = (&args.output, output_kind) {
        match kind {
            "csv" => write_csv(&report, path)?,
            _ => write_jsonl(&report, path)?,
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args.output.as_deref());
    }
    Ok(())
}

/// `--output`'s kind (`csv` or `jsonl`, from its extension), checked not to be an input.
fn output_kind(args: &EvalArgs) -> Result<Option<&'static str>> {
    let Some(path) = &args.output else {
        return Ok(None);
    };
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => "csv",
        Some("jsonl") => "jsonl",
        _ => bail!(
            "--output {}: use a .csv or .jsonl file name",
            path.display()
        ),
    };
    let inputs: Vec<&std::path::Path> = args.data.iter().map(PathBuf::as_path).collect();
    mixtune::fsutil::check_output(path, &inputs).context("--output")?;
    Ok(Some(kind))
}

/// With `--run DIR`: the rows of `--data` that near-duplicate what the run trained on.
fn contamination(args: &EvalArgs) -> Result<Option<mixtune::data::near_dup::NearDuplicates>> {
    let (dir, data) = match (&args.run, &args.data) {
        (Some(_), None) => {
            bail!("--run DIR checks --data FILE against the run's training data: give --data")
        }
        (Some(dir), Some(data)) => (dir, data),
        (None, _) => return Ok(None),
    };
    mixtune::data::near_dup::check_threshold(args.near_dup_threshold)
        .context("--near-dup-threshold")?;
    let found = check_run(dir, data, args.limit, args.near_dup_threshold)
        .with_context(|| format!("checking {} against run {}", data.display(), dir.display()))?;
    if !args.json {
        eprintln!(
            "contamination: {} of {} rows near-duplicate rows run {} trained on (listed after the table)",
            found.rows_b_affected,
            found.rows_b,
            dir.display()
        );
    }
    Ok(Some(found))
}

/// The report as a table, with what was cut, where predictions went, and contamination.
fn print_report(report: &EvalReport, output: Option<&std::path::Path>) {
    print!("{}", table(report));
    if report.cut_inputs > 0 {
        println!(
            "note: {} of {} inputs were cut to {} tokens (--max-source-tokens)",
            report.cut_inputs, report.examples, report.max_source_tokens
        );
    }
    if let Some(path) = output {
        println!("predictions written to {}", path.display());
    }
    if let Some(found) = &report.contamination {
        print!("{}", found.to_text());
    }
}

/// A table column: its header and one cell per row.
type Column = (String, Vec<String>);

/// The table's ROUGE rows (the invented-facts rate follows them).
const VARIANTS: [mixtune::eval::rouge::RougeVariant; 4] = MeanRouge::VARIANTS;

/// Per model, its column group: the scores, and for a compared model `--model`'s
/// improvement over it. Rows: the ROUGE variants, then the invented-facts rate.
fn column_groups(report: &EvalReport) -> Vec<(String, Vec<Column>)> {
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let signed = |v: f64| format!("{:+.2}%", v * 100.0);
    let mut groups = Vec::new();
    for (i, m) in report.models.iter().enumerate() {
        let mut columns = vec![(
            "score".to_string(),
            VARIANTS
                .iter()
                .map(|(_, f)| pct(f(&m.rouge)))
                .chain([pct(m.invented_rate)])
                .collect(),
        )];
        if let Some(gain) = i.checked_sub(1).and_then(|j| report.improvements.get(j)) {
            // For invented facts, lower is better: the change of `--model` against this one.
            let invented_change = report.models[0].invented_rate - m.invented_rate;
            columns.push((
                "improvement".to_string(),
                VARIANTS
                    .iter()
                    .map(|(_, f)| signed(f(gain)))
                    .chain([signed(invented_change)])
                    .collect(),
            ));
        }
        groups.push((m.model.clone(), columns));
    }
    groups
}

/// `cells` right-aligned in `widths`, two spaces apart, the last one `pad` wider.
fn join_cells<'a>(cells: impl Iterator<Item = &'a str>, widths: &[usize], pad: usize) -> String {
    let mut out = String::new();
    for (k, (cell, width)) in cells.zip(widths).enumerate() {
        let width = if k + 1 == widths.len() {
            width + pad
        } else {
            *width
        };
        out.push_str(&format!("{}{cell:>width$}", if k > 0 { "  " } else { "" }));
    }
    out
}

/// The lab's table: one row per ROUGE variant and one for the invented-facts rate, one
/// column group per model (its score, and for each compared model the improvement of
/// `--model` over it), in percent.
fn table(report: &EvalReport) -> String {
    let label_width = 10;
    let mut top = format!("{:label_width$}", "");
    let mut sub = format!("{:label_width$}", "metric");
    // The ROUGE rows, then the invented-facts rate (`mixtune facts`: the share of the
    // predictions' facts their sources lack).
    let mut lines: Vec<String> = VARIANTS
        .iter()
        .map(|(name, _)| *name)
        .chain(["invented"])
        .map(|name| format!("{name:label_width$}"))
        .collect();
    for (model, columns) in &column_groups(report) {
        let widths: Vec<usize> = columns
            .iter()
            .map(|(head, cells)| {
                cells
                    .iter()
                    .map(String::len)
                    .chain([head.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let inner = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        let group_width = inner.max(model.len());
        top.push_str(&format!("  {model:group_width$}"));
        let pad = group_width - inner;
        let heads = columns.iter().map(|(name, _)| name.as_str());
        sub.push_str(&format!("  {}", join_cells(heads, &widths, pad)));
        for (row, line) in lines.iter_mut().enumerate() {
            let cells = columns.iter().map(|(_, values)| values[row].as_str());
            line.push_str(&format!("  {}", join_cells(cells, &widths, pad)));
        }
    }
    let mut out = format!(
        "{} examples from {}\n",
        report.examples,
        report.data.display()
    );
    for line in [top, sub].into_iter().chain(lines) {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if report.models.len() > 1 {
        out.push_str(&format!(
            "improvement: {} minus that model, in ROUGE points\n",
            report.models[0].model
        ));
    }
    out
}
