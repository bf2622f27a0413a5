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
    #[arg(long)]
    data: PathBuf,
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
    /// Print the report (with every example) as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_eval(args: EvalArgs) -> Result<()> {
    let output_kind = match &args.output {
        Some(path) => match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Some("csv"),
            Some("jsonl") => Some("jsonl"),
            _ => bail!(
                "--output {}: use a .csv or .jsonl file name",
                path.display()
            ),
        },
        None => None,
    };
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    let request = EvalRequest {
        model: args.model,
        compare: args.compare,
        data: args.data,
        template: args.template,
        limit: args.limit,
        max_new_tokens: args.max_new_tokens,
        max_source_tokens: args.max_source_tokens,
        num_beams: args.num_beams,
        batch_size: args.batch_size,
        stem: !args.no_stem,
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
    if let (Some(path), Some(kind)) = (&args.output, output_kind) {
        match kind {
            "csv" => write_csv(&report, path)?,
            _ => write_jsonl(&report, path)?,
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
        if report.cut_inputs > 0 {
            println!(
                "note: {} of {} inputs were cut to {} tokens (--max-source-tokens)",
                report.cut_inputs, report.examples, report.max_source_tokens
            );
        }
        if let Some(path) = &args.output {
            println!("predictions written to {}", path.display());
        }
    }
    Ok(())
}

/// One ROUGE variant of a score.
type Pick = fn(&MeanRouge) -> f64;
/// A table column: its header and one cell per row.
type Column = (String, Vec<String>);

/// The lab's table: one row per ROUGE variant, one column group per model (its score, and
/// for each compared model the improvement of `--model` over it), in percent.
fn table(report: &EvalReport) -> String {
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let signed = |v: f64| format!("{:+.2}%", v * 100.0);
    let variants: [(&str, Pick); 4] = [
        ("ROUGE-1", |m| m.rouge1),
        ("ROUGE-2", |m| m.rouge2),
        ("ROUGE-L", |m| m.rouge_l),
        ("ROUGE-Lsum", |m| m.rouge_lsum),
    ];
    // Each group's sub-columns: a header and one cell per variant.
    let mut groups: Vec<(String, Vec<Column>)> = Vec::new();
    for (i, m) in report.models.iter().enumerate() {
        let mut columns = vec![(
            "score".to_string(),
            variants.iter().map(|(_, f)| pct(f(&m.rouge))).collect(),
        )];
        if let Some(gain) = i.checked_sub(1).and_then(|j| report.improvements.get(j)) {
            columns.push((
                "improvement".to_string(),
                variants.iter().map(|(_, f)| signed(f(gain))).collect(),
            ));
        }
        groups.push((m.model.clone(), columns));
    }
    let label_width = 10;
    let mut top = format!("{:label_width$}", "");
    let mut sub = format!("{:label_width$}", "metric");
    let mut lines: Vec<String> = variants
        .iter()
        .map(|(name, _)| format!("{name:label_width$}"))
        .collect();
    for (model, columns) in &groups {
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
        let mut head = String::new();
        for (k, ((name, _), width)) in columns.iter().zip(&widths).enumerate() {
            let width = if k + 1 == columns.len() {
                width + pad
            } else {
                *width
            };
            head.push_str(&format!("{}{name:>width$}", if k > 0 { "  " } else { "" }));
        }
        sub.push_str(&format!("  {head}"));
        for (row, line) in lines.iter_mut().enumerate() {
            let mut cells = String::new();
            for (k, ((_, values), width)) in columns.iter().zip(&widths).enumerate() {
                let width = if k + 1 == columns.len() {
                    width + pad
                } else {
                    *width
                };
                cells.push_str(&format!(
                    "{}{:>width$}",
                    if k > 0 { "  " } else { "" },
                    values[row]
                ));
            }
            line.push_str(&format!("  {cells}"));
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
