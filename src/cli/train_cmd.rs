//! `mixtune train --config run.toml [--resume]`: a training run with a progress bar, live
//! validation lines and the event log (`metrics.jsonl`) in the run folder. Ctrl-C or SIGTERM
//! stops it at the end of the current step with a checkpoint; a second signal stops at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;

use mixtune::device::{self, DeviceChoice};
use mixtune::train::{run, RunControl, RunOptions, RunPaths, TrainConfig};

use super::train_progress::ProgressPrinter;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run config (TOML): model, mixture, output_dir, max_steps or epochs, method, optimizer...
    #[arg(long)]
    config: PathBuf,
    /// Continue from the latest checkpoint in the run's output_dir.
    #[arg(long)]
    resume: bool,
    /// With --resume: go on although the config (or its mixture) differs from the run's
    /// record in keys that change training; the change is logged with its step.
    #[arg(long, requires = "resume")]
    allow_config_change: bool,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Print every event as a JSON line instead of a progress bar.
    #[arg(long)]
    json: bool,
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    // Parsed once, up front, so a bad config fails before the model loads.
    let config = TrainConfig::from_file(&args.config)?;
    let paths = RunPaths::resolve(&args.config, &config);
    if !args.json {
        eprintln!("training on {}", selected.label);
    }
    let control = RunControl::new();
    stop_on_signals(&control);
    let mut printer = ProgressPrinter::new(args.json, selected.is_gpu, &paths.output_dir);
    let options = RunOptions {
        show_progress: !args.json,
        resume: args.resume,
        allow_config_change: args.allow_config_change,
        ..Default::default()
    };
    let summary = run(
        &config,
        &paths,
        &selected.device,
        &options,
        &control,
        &mut |event| printer.event(event),
    )
    .with_context(|| format!("training with {}", args.config.display()))?;
    if control.is_cancelled() {
        printer.abandon();
        let resume = format!("mixtune train --config {} --resume", args.config.display());
        match summary.steps {
            0 => bail!("training stopped by a signal before its first step; nothing to resume"),
            steps => bail!(
                "training stopped by a signal after step {steps}, checkpoint written; continue with `{resume}`"
            ),
        }
    }
    printer.finish(&summary);
    Ok(())
}

/// The first Ctrl-C or SIGTERM asks the run to stop after the current step (checkpoint,
/// `cancelled` event); the second ends the process at once. Checkpoints are written
/// through a temporary folder, so even that leaves the previous one whole.
fn stop_on_signals(control: &RunControl) {
    let control = control.clone();
    let signals = Arc::new(AtomicUsize::new(0));
    let handler = move || {
        if signals.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!(
                "\nstopping after this step and writing a checkpoint (press Ctrl-C again to stop at once)"
            );
            control.cancel();
        } else {
            eprintln!("\nstopped at once; the run resumes from its last checkpoint");
            std::process::exit(130);
        }
    };
    if let Err(error) = ctrlc::set_handler(handler) {
        eprintln!("note: Ctrl-C will end training at once ({error})");
    }
}
