//! `mixtune train --config run.toml [--resume]`: a training run with a progress bar, live
//! validation lines and the event log (`metrics.jsonl`) in the run folder.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use mixtune::device::{self, DeviceChoice};
use mixtune::train::events::RunEvent;
use mixtune::train::{run, RunControl, RunOptions, RunPaths, TrainConfig};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run config (TOML): model, mixture, output_dir, max_steps or epochs, method, optimizer...
    #[arg(long)]
    config: PathBuf,
    /// Continue from the latest checkpoint in the run's output_dir.
    #[arg(long)]
    resume: bool,
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
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        eprintln!("training on {}", selected.label);
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {msg}  [{elapsed} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let json = args.json;
    let on_gpu = selected.is_gpu;
    let mut shapes_seen = 0;
    let mut on_event = |event: &RunEvent| {
        if json {
            if let Ok(line) = serde_json::to_string(event) {
                println!("{line}");
            }
            return;
        }
        match event {
            RunEvent::Started {
                total_steps,
                start_step,
                trainable_parameters,
                total_parameters,
                notes,
                ..
            } => {
                for note in notes {
                    bar.println(format!("note: {note}"));
                }
                bar.set_length(*total_steps as u64);
                bar.set_position(*start_step as u64);
                bar.println(format!(
                    "trainable parameters: {trainable_parameters} of {total_parameters}{}",
                    if *start_step > 0 {
                        format!("; resuming at step {start_step}")
                    } else {
                        String::new()
                    }
                ));
            }
            RunEvent::PreparingKernels { step, .. } => {
                if let Some(message) = event.preparing_message() {
                    bar.println(format!("step {step}: {message}"));
                    bar.set_message(message);
                }
            }
            RunEvent::Step(m) => {
                if m.distinct_shapes > shapes_seen {
                    shapes_seen = m.distinct_shapes;
                    // The cost of a new shape is paid once; show it rather than a slow step.
                    bar.println(format!(
                        "step {}: new batch shape ({} so far): {} took {:.1} s",
                        m.step,
                        m.distinct_shapes,
                        if on_gpu {
                            "preparing its kernels and the step"
                        } else {
                            "the step"
                        },
                        m.seconds,
                    ));
                }
                bar.set_position(m.step as u64);
                bar.set_message(format!(
                    "loss {:.4}  lr {:.2e}  |g| {:.3}  {:.0} tok/s",
                    m.loss, m.learning_rate, m.grad_norm, m.tokens_per_s
                ));
            }
            RunEvent::Eval(e) => {
                let trained = e.tasks.iter().map(|(task, t)| (task, "", t));
                let watched = e.watched.iter().map(|(task, t)| (task, " (watched)", t));
                let tasks: Vec<String> = trained
                    .chain(watched)
                    .map(|(task, kind, t)| {
                        format!(
                            "{task}{kind}: loss {:.3} R1 {:.4} RL {:.4} invented {:.1}%",
                            t.loss,
                            t.rouge1,
                            t.rouge_l,
                            t.invented_rate * 100.0
                        )
                    })
                    .collect();
                bar.println(format!(
                    "step {}: val_loss {:.4}{}  {}",
                    e.step,
                    e.val_loss,
                    if e.best { " (best)" } else { "" },
                    tasks.join("; ")
                ));
                if let Some(report) = &e.forgetting {
                    let now = format!("step {}", report.step);
                    let table = report.table(&format!("step {}", report.baseline_step), &now);
                    bar.println(table.trim_end());
                }
            }
            RunEvent::Checkpoint { path, .. } => {
                bar.println(format!("checkpoint {}", path.display()));
            }
            RunEvent::Cancelled { step, .. } => bar.println(format!("cancelled at step {step}")),
            RunEvent::Failed { .. }
            | RunEvent::Finished(_)
            | RunEvent::Paused { .. }
            | RunEvent::Resumed { .. } => {}
        }
    };
    let options = RunOptions {
        show_progress: !json,
        resume: args.resume,
    };
    let control = RunControl::new();
    let summary = run(
        &config,
        &paths,
        &selected.device,
        &options,
        &control,
        &mut on_event,
    )
    .with_context(|| format!("training with {}", args.config.display()))?;
    bar.finish();
    if let (false, Some(report)) = (json, &summary.forgetting) {
        let now = format!("step {}", report.step);
        print!(
            "{}",
            report.table(&format!("step {}", report.baseline_step), &now)
        );
    }
    if json {
        println!("{}", serde_json::json!({ "summary": summary }));
    } else {
        println!(
            "{} steps, loss {} -> {}{}; model in {}{}",
            summary.steps,
            summary.first_loss.map_or("-".into(), |l| format!("{l:.4}")),
            summary.last_loss.map_or("-".into(), |l| format!("{l:.4}")),
            if summary.stopped_early {
                " (stopped early)"
            } else {
                ""
            },
            summary.model_dir.display(),
            summary
                .adapter_dir
                .as_ref()
                .map_or(String::new(), |d| format!(", adapter in {}", d.display()))
        );
    }
    Ok(())
}
