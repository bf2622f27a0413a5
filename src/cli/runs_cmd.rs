//! `mixtune runs [DIR]`: the run history under a folder, one line per run;
//! `mixtune runs --compare A B [C...]`: runs side by side (config keys that differ, best
//! metrics).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use mixtune::train::compare::{compare_runs, RunComparison};
use mixtune::train::runs::list_runs;

#[derive(Args, Debug)]
pub struct RunsArgs {
    /// Folder holding run folders (each a training `output_dir`).
    #[arg(default_value = "runs")]
    dir: PathBuf,
    /// Compare these runs (two or more run folders, or names of folders under DIR): the
    /// config keys that differ and the best metrics, side by side.
    #[arg(long, num_args = 2.., value_name = "RUN")]
    compare: Vec<PathBuf>,
    /// Print the list (or the comparison) as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_runs(args: RunsArgs) -> Result<()> {
    if !args.compare.is_empty() {
        let dirs: Vec<PathBuf> = args
            .compare
            .iter()
            .map(|run| resolve_run(&args.dir, run))
            .collect();
        let comparison = compare_runs(&dirs)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&comparison)?);
        } else {
            print!("{}", comparison_table(&comparison));
        }
        return Ok(());
    }
    if !args.dir.is_dir() {
        bail!(
            "{}: no such folder (give the folder that holds your run folders, e.g. the parent of a run's output_dir)",
            args.dir.display()
        );
    }
    let runs = list_runs(&args.dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    if runs.is_empty() {
        println!("no runs in {}", args.dir.display());
        return Ok(());
    }
    println!(
        "{:24} {:10} {:5} {:>11} {:>9} {:>9} {:>8}  model",
        "run", "status", "kind", "steps", "loss", "val_loss", "ROUGE-1"
    );
    for run in runs {
        println!(
            "{:24} {:10} {:5} {:>11} {:>9} {:>9} {:>8}  {}{}{}",
            run.id,
            format!("{:?}", run.status).to_lowercase(),
            format!("{:?}", run.method).to_lowercase(),
            format!("{}/{}", run.steps, run.total_steps),
            num(run.last_loss, 4),
            num(run.val_loss, 4),
            num(run.rouge1, 4),
            run.model,
            match run.dropped_tasks.is_empty() {
                true => String::new(),
                false => format!("  forgot: {}", run.dropped_tasks.join(", ")),
            },
            run.error.map_or(String::new(), |e| format!("  ({e})"))
        );
    }
    Ok(())
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// A run given as a path, or as the name of a folder under the runs folder.
fn resolve_run(root: &Path, run: &Path) -> PathBuf {
    if run.is_dir() || run.components().count() > 1 {
        run.to_path_buf()
    } else {
        root.join(run)
    }
}

/// Two tables: the config keys that differ, then the best metrics, one column per run.
fn comparison_table(comparison: &RunComparison) -> String {
    let header: Vec<String> = comparison.runs.iter().map(|r| r.id.clone()).collect();
    let mut out = config_section(comparison, &header);
    out.push('\n');
    out.push_str(&grid("metric", &header, &metric_rows(&comparison.runs)));
    out
}

/// The best metrics of each run, one row per metric (tasks, forgetting and invented facts
/// only where some run has them).
fn metric_rows(runs: &[mixtune::train::compare::ComparedRun]) -> Vec<(String, Vec<String>)> {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut metric = |label: &str, values: Vec<String>| rows.push((label.to_string(), values));
    let each = |f: &dyn Fn(&mixtune::train::compare::ComparedRun) -> String| {
        runs.iter().map(f).collect::<Vec<_>>()
    };
    metric("model", each(&|r| r.model.clone()));
    metric(
        "status",
        each(&|r| format!("{:?}", r.status).to_lowercase()),
    );
    metric(
        "steps",
        each(&|r| format!("{}/{}", r.best.steps, r.best.total_steps)),
    );
    metric("last loss", each(&|r| num(r.best.last_loss, 4)));
    metric("lowest loss", each(&|r| num(r.best.min_loss, 4)));
    metric(
        "best val_loss",
        each(
            &|r| match (r.best.best_val_loss, r.best.best_val_loss_step) {
                (Some(loss), Some(step)) => format!("{loss:.4} @{step}"),
                _ => "-".into(),
            },
        ),
    );
    let rouge = |pick: fn(&mixtune::eval::rouge::MeanRouge) -> f64| {
        move |r: &mixtune::train::compare::ComparedRun| num(r.best.rouge.as_ref().map(pick), 4)
    };
    for (name, pick) in mixtune::eval::rouge::MeanRouge::VARIANTS {
        metric(&format!("best {name}"), each(&rouge(pick)));
    }
    let tasks: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|r| r.best.tasks.keys()).collect();
    for task in tasks {
        metric(
            &format!("{task} ROUGE-L"),
            each(&|r| num(r.best.tasks.get(task).map(|m| m.rouge_l), 4)),
        );
    }
    if runs.iter().any(|r| r.best.forgetting.is_some()) {
        metric(
            "forgetting (ROUGE-L)",
            each(&|r| match r.best.forgetting.as_ref() {
                Some(report) => forgetting_cell(report),
                None => "-".into(),
            }),
        );
    }
    if runs.iter().any(|r| r.best.invented_facts_rate.is_some()) {
        metric(
            "invented facts",
            each(&|r| {
                r.best
                    .invented_facts_rate
                    .map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
            }),
        );
    }
    metric(
        "best metric",
        each(&|r| match r.best.best_metric {
            Some(v) => format!("{} {v:.4}", r.best.best_metric_name),
            None => "-".into(),
        }),
    );
    rows
}

/// The config keys that differ between the runs (or that none does), and the notes.
fn config_section(comparison: &RunComparison, header: &[String]) -> String {
    let diff_rows: Vec<(String, Vec<String>)> = comparison
        .config_diff
        .iter()
        .map(|d| {
            let values = d
                .values
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "-".into()))
                .collect();
            (d.key.clone(), values)
        })
        .collect();
    let mut out = String::new();
    if diff_rows.is_empty() {
        out.push_str(&format!(
            "config: the same in every run ({} keys)\n",
            comparison.keys_compared
        ));
    } else {
        out.push_str(&format!(
            "config: {} of {} keys differ\n",
            diff_rows.len(),
            comparison.keys_compared
        ));
        out.push_str(&grid("key", header, &diff_rows));
    }
    for note in &comparison.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// Left-aligned columns sized to their widest cell.
fn grid(corner: &str, header: &[String], rows: &[(String, Vec<String>)]) -> String {
    let first = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .chain([corner.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|(_, values)| values.get(i).map_or(0, |v| v.chars().count()))
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |label: &str, cells: &[String]| {
        let mut text = format!("{label:first$}");
        for (cell, width) in cells.iter().zip(&widths) {
            text.push_str(&format!("  {cell:width$}"));
        }
        text.trim_end().to_string() + "\n"
    };
    let mut out = line(corner, header);
    for (label, values) in rows {
        out.push_str(&line(label, values));
    }
    out
}

/// A forgetting report in one cell: the worst task's ROUGE-L change since step 0, and how
/// many tasks dropped past the threshold.
fn forgetting_cell(report: &mixtune::train::forgetting::ForgettingReport) -> String {
    let Some(worst) = report.worst() else {
        return "-".into();
    };
    let dropped = report.dropped().count();
    let flagged = match dropped {
        0 => String::new(),
        n => format!(", {n} dropped"),
    };
    format!("{:+.4} {}{flagged}", worst.delta, worst.task)
}
