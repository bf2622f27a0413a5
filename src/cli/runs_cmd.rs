//! `mixtune runs [DIR]`: the run history under a folder, one line per run.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use mixtune::train::runs::list_runs;

#[derive(Args, Debug)]
pub struct RunsArgs {
    /// Folder holding run folders (each a training `output_dir`).
    #[arg(default_value = "runs")]
    dir: PathBuf,
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_runs(args: RunsArgs) -> Result<()> {
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
    let num = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    for run in runs {
        println!(
            "{:24} {:10} {:5} {:>11} {:>9} {:>9} {:>8}  {}{}",
            run.id,
            format!("{:?}", run.status).to_lowercase(),
            format!("{:?}", run.method).to_lowercase(),
            format!("{}/{}", run.steps, run.total_steps),
            num(run.last_loss, 4),
            num(run.val_loss, 4),
            num(run.rouge1, 4),
            run.model,
            run.error.map_or(String::new(), |e| format!("  ({e})"))
        );
    }
    Ok(())
}
