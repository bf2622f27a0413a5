//! `mixtune train --config run.toml`: a training run with a progress bar and a metrics log.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use mixtune::device::{self, DeviceChoice};
use mixtune::train::run::run_from_file;
use mixtune::train::{StepMetrics, TrainConfig};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run config (TOML): model, mixture, output_dir, max_steps, optimizer settings.
    #[arg(long)]
    config: PathBuf,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Print each step's metrics and the summary as JSON lines instead of a progress bar.
    #[arg(long)]
    json: bool,
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    // Read once up front so a bad config fails before the model loads.
    let config = TrainConfig::from_file(&args.config)?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        eprintln!("training on {}", selected.label);
        ProgressBar::new(config.max_steps as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {msg}  [{elapsed} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let json = args.json;
    let mut on_step = |m: &StepMetrics| {
        if json {
            if let Ok(line) = serde_json::to_string(m) {
                println!("{line}");
            }
        } else {
            bar.set_position(m.step as u64);
            bar.set_message(format!(
                "loss {:.4}  lr {:.2e}  |g| {:.3}  {:.0} tok/s",
                m.loss, m.learning_rate, m.grad_norm, m.tokens_per_s
            ));
        }
    };
    let summary = run_from_file(&args.config, &selected.device, !json, &mut on_step)
        .with_context(|| format!("training with {}", args.config.display()))?;
    bar.finish();
    if json {
        println!("{}", serde_json::json!({ "summary": summary }));
    } else {
        println!(
            "{} steps, loss {} -> {}; model in {}",
            summary.steps,
            summary.first_loss.map_or("-".into(), |l| format!("{l:.4}")),
            summary.last_loss.map_or("-".into(), |l| format!("{l:.4}")),
            summary.model_dir.display()
        );
    }
    Ok(())
}
