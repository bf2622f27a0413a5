//! `mixtune eval --model M --data F [--compare M2]`: ROUGE of one model or two side by side,
//! the improvement, and per-example predictions exported as CSV or JSONL.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use mixtune::device::{self, DeviceChoice};
use mixtune::eval::compare::{evaluate, write_csv, write_jsonl, EvalReport, EvalRequest};
use mixtune::train::contamination::check_run;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model to evaluate: a folder (e.g. a run's `model/`) or a hub id.
    #[arg(long)]
    model: String,
    /// A model to compare with, e.g. the base model; the improvement is model minus this.
    #[arg(long)]
    compare: Option<String>,
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
    /// f32 or f16: the precision the models compute in (weights cast once at load).
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
    let contamination = match (&args.run, &args.data) {
        (Some(_), None) => {
            bail!("--run DIR checks --data FILE against the run's training data: give --data")
        }
        (Some(dir), Some(data)) => {
            mixtune::data::near_dup::check_threshold(args.near_dup_threshold)
                .context("--near-dup-threshold")?;
            let found =
                check_run(dir, data, args.limit, args.near_dup_threshold).with_context(|| {
                    format!("checking {} against run {}", data.display(), dir.display())
                })?;
            if !args.json {
                eprintln!(
                    "contamination: {} of {} rows near-duplicate rows run {} trained on (listed after the table)",
                    found.rows_b_affected,
                    found.rows_b,
                    dir.display()
                );
            }
            Some(found)
        }
        (None, _) => None,
    };
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    if let Some(mix) = &args.mix {
        let options = super::eval_mix::MixEval {
            mix,
            model: &args.model,
            compare: args.compare.as_deref(),
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
        if let Some(found) = &report.contamination {
            print!("{}", found.to_text());
        }
    }
    Ok(())
}

/// The lab's table: one line per model, then the improvement, in percent; `invented` is the
/// share of the predictions' facts their sources lack (`mixtune facts`).
fn table(report: &EvalReport) -> String {
    let width = report
        .models
        .iter()
        .map(|m| m.model.len())
        .max()
        .unwrap_or(5)
        .max(11);
    let mut out = format!(
        "{} examples from {}\n{:width$}  {:>8} {:>8} {:>8} {:>9} {:>9}\n",
        report.examples,
        report.data.display(),
        "model",
        "ROUGE-1",
        "ROUGE-2",
        "ROUGE-L",
        "ROUGE-Lsum",
        "invented"
    );
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    for m in &report.models {
        out.push_str(&format!(
            "{:width$}  {:>8} {:>8} {:>8} {:>9} {:>9}\n",
            m.model,
            pct(m.rouge.rouge1),
            pct(m.rouge.rouge2),
            pct(m.rouge.rouge_l),
            pct(m.rouge.rouge_lsum),
            pct(m.invented_rate)
        ));
    }
    if let Some(d) = &report.improvement {
        let signed = |v: f64| format!("{:+.2}%", v * 100.0);
        out.push_str(&format!(
            "{:width$}  {:>8} {:>8} {:>8} {:>9}\n",
            "improvement",
            signed(d.rouge1),
            signed(d.rouge2),
            signed(d.rouge_l),
            signed(d.rouge_lsum)
        ));
    }
    out
}
